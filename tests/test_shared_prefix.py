"""A prompt's leading tokens shared by all prompts of its adapter are prefilled once
(coevo/models/sampling.py): the completions and logprobs are those of prefilling every prompt whole,
in a mixed batch where each agent's prompts share a different prefix under a different adapter."""
import functools

import pytest
import torch

from coevo.models import sampling
from coevo.models.hf import HFPolicies

LORA = {"r": 4, "alpha": 8, "target_modules": "all-linear"}
AGENTS = ["a0", "a1"]
RULES = {"a0": "You are the seller. The rules of this market are long and the same every turn. ",
         "a1": "You are the buyer. Your budget is fixed and the same every turn of the game. "}


@pytest.fixture(scope="module")
def policies(tiny_model_path):
    pol = HFPolicies(tiny_model_path, AGENTS, LORA, dtype="float32", device="cpu")
    for i, agent in enumerate(AGENTS):  # two different non-zero adapters: a prefix run under the
        g = torch.Generator().manual_seed(i)  # wrong one would change every later token
        pol.set_adapter(agent, {k: v + 0.3 * torch.randn(v.shape, generator=g) for k, v in pol.get_adapter(agent).items()})
    return pol


def rows():
    agents = ["a0", "a1", "a0", "__base__", "a1", "a0", "a1", "__base__"]
    tails = ["Offer 5?", "Counter with 3, and say why in one short sentence.", "Offer 5?", "Hello there.",
             "Accept.", "Make an offer between 4 and 9 and explain it at length, step by step.", "Reject.",
             "Hello there, how are you?"]
    prompts = [RULES.get(a, "You are nobody in particular; this prefix is shared as well. ") + t
               for a, t in zip(agents, tails)]
    return agents, prompts


def generate(pol, monkeypatch, share: bool, **kw):
    """Generate the rows, counting the positions the prefill forwards compute."""
    agents, prompts = rows()
    computed = []
    forward = pol.model.forward

    @functools.wraps(forward)  # the same signature: the loop reads its cache argument's name off it
    def counting(*a, **k):
        if k["input_ids"].shape[1] > 1:  # a prefill forward (decoding feeds one token a row)
            computed.append(k["input_ids"].numel())
        return forward(*a, **k)

    monkeypatch.setattr(pol.model, "forward", counting)
    monkeypatch.setattr(pol, "share_prefixes", share)
    out = pol.generate(agents, prompts, max_new_tokens=[6, 9, 0, 7, 5, 8, 1, 4], **kw)
    monkeypatch.undo()
    return out, sum(computed)


@pytest.mark.parametrize("prefill_tokens", [4096, 40])
def test_shared_prefixes_change_nothing_but_the_work(policies, monkeypatch, prefill_tokens):
    monkeypatch.setattr(sampling, "PREFILL_TOKENS", {"cpu": prefill_tokens})  # 40: many chunks
    whole, work_whole = generate(policies, monkeypatch, share=False, greedy=True)
    monkeypatch.setattr(sampling, "PREFILL_TOKENS", {"cpu": prefill_tokens})
    shared, work_shared = generate(policies, monkeypatch, share=True, greedy=True)
    for a, b in zip(whole, shared):
        assert a.prompt_ids == b.prompt_ids and a.completion_ids == b.completion_ids
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)
    assert [len(c.completion_ids) for c in shared][2] == 0  # a row with no tokens to write
    # the prefixes really were shared: every agent's rows skip at least the rules' tokens
    enc = policies.encode_prompts(rows()[1])
    assert work_shared < work_whole - sum(len(p) for p in enc) // 4, (work_shared, work_whole)


def test_shared_prefixes_sample_the_same_tokens(policies, monkeypatch):
    seeds = list(range(8))
    whole, _ = generate(policies, monkeypatch, share=False, temperature=0.9, seeds=seeds)
    shared, _ = generate(policies, monkeypatch, share=True, temperature=0.9, seeds=seeds)
    for a, b in zip(whole, shared):
        assert a.completion_ids == b.completion_ids
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)
