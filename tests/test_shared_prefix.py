"""A prompt's leading tokens shared by all prompts of its adapter are prefilled once
(coevo/models/sampling.py): the completions and logprobs are those of prefilling every prompt whole,
in a mixed batch where each agent's prompts share a different prefix under a different adapter."""
import contextlib
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


def counted(pol, monkeypatch, run):
    """run()'s result and the positions its prefill forwards computed."""
    computed = []
    forward = pol.model.forward

    @functools.wraps(forward)  # the same signature: the loop reads its cache argument's name off it
    def counting(*a, **k):
        if k["input_ids"].shape[1] > 1:  # a prefill forward (decoding feeds one token a row)
            computed.append(k["input_ids"].numel())
        return forward(*a, **k)

    monkeypatch.setattr(pol.model, "forward", counting)
    try:
        return run(), sum(computed)
    finally:
        monkeypatch.undo()


def generate(pol, monkeypatch, share: bool, **kw):
    """Generate the rows, counting the positions the prefill forwards compute."""
    agents, prompts = rows()
    pol.share_prefixes = share
    try:
        return counted(pol, monkeypatch, lambda: pol.generate(agents, prompts, max_new_tokens=[6, 9, 0, 7, 5, 8, 1, 4],
                                                              **kw))
    finally:
        pol.share_prefixes = True


def assert_same(ours, reference):
    """The same prompt and completion ids row by row, logprobs within 1e-5."""
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference):
        assert a.prompt_ids == b.prompt_ids and a.completion_ids == b.completion_ids
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)


@pytest.mark.parametrize("prefill_tokens", [4096, 40])
def test_shared_prefixes_change_nothing_but_the_work(policies, monkeypatch, prefill_tokens):
    monkeypatch.setattr(sampling, "PREFILL_TOKENS", {"cpu": prefill_tokens})  # 40: many chunks
    whole, work_whole = generate(policies, monkeypatch, share=False, greedy=True)
    monkeypatch.setattr(sampling, "PREFILL_TOKENS", {"cpu": prefill_tokens})
    shared, work_shared = generate(policies, monkeypatch, share=True, greedy=True)
    assert_same(shared, whole)
    assert [len(c.completion_ids) for c in shared][2] == 0  # a row with no tokens to write
    # the prefixes really were shared: every agent's rows skip at least the rules' tokens
    enc = policies.encode_prompts(rows()[1])
    assert work_shared < work_whole - sum(len(p) for p in enc) // 4, (work_shared, work_whole)


def test_shared_prefixes_sample_the_same_tokens(policies, monkeypatch):
    seeds = list(range(8))
    whole, _ = generate(policies, monkeypatch, share=False, temperature=0.9, seeds=seeds)
    shared, _ = generate(policies, monkeypatch, share=True, temperature=0.9, seeds=seeds)
    assert_same(shared, whole)


# -- kept prompts: a game one turn later starts from the agent's earlier prompt ------------------
MESSAGES = ["Seller: I ask 9 for it.", "Buyer: I offer 4, no more.", "Seller: Meet me at 7 then?",
            "Buyer: Six, and we shake on it."]


def turn(k: int):
    """Turn k's rows: each agent's prompt is the rules, the first k + 2 messages, then the ask. At
    k = 1 the last a1 row carries a0's text (its tokens start like a0's kept prompt, under another
    adapter), and a __base__ row goes on from turn 0's."""
    agents = ["a0", "a1", "__base__"] + (["a1"] if k else [])
    texts = ["a0", "a1", "__base__", "a0"]
    return agents, [RULES.get(t, "You are nobody in particular. ") + "So far: " + " ".join(MESSAGES[:k + 2])
                    + f" Your move now, turn {k}?" for t in texts[:len(agents)]]


def second_turn(pol, monkeypatch, keep: bool, **kw):
    """Turn 1's completions and prefill positions: after turn 0 inside `keeping_prompts`, or alone."""
    with pol.keeping_prompts() if keep else contextlib.nullcontext():
        if keep:
            pol.generate(*turn(0), max_new_tokens=5, **{k: v[:3] if k == "seeds" else v for k, v in kw.items()})
        return counted(pol, monkeypatch, lambda: pol.generate(*turn(1), max_new_tokens=[6, 3, 7, 5], **kw))


@pytest.mark.parametrize("prefill_tokens", [4096, 40])
def test_kept_prompts_change_nothing_but_the_work(policies, monkeypatch, prefill_tokens):
    monkeypatch.setattr(sampling, "PREFILL_TOKENS", {"cpu": prefill_tokens})
    alone, work_alone = second_turn(policies, monkeypatch, keep=False, greedy=True)
    monkeypatch.setattr(sampling, "PREFILL_TOKENS", {"cpu": prefill_tokens})
    kept, work_kept = second_turn(policies, monkeypatch, keep=True, greedy=True)
    assert_same(kept, alone)
    # the three rows that go on from turn 0 skip at least their first two messages' tokens
    skipped = len(policies.tokenizer(" ".join(MESSAGES[:2]))["input_ids"])
    assert work_kept <= work_alone - 3 * skipped, (work_kept, work_alone, skipped)
    assert policies.prompt_cache is None  # kept only inside keeping_prompts


def test_kept_prompts_sample_the_same_tokens(policies, monkeypatch):
    seeds = {"seeds": [11, 12, 13, 14]}
    alone, _ = second_turn(policies, monkeypatch, keep=False, temperature=0.9, **seeds)
    kept, _ = second_turn(policies, monkeypatch, keep=True, temperature=0.9, **seeds)
    assert_same(kept, alone)


def test_reuse_is_counted_and_new_weights_drop_what_was_kept(policies):
    """Keys and values made under an agent's old adapter are not reused after set_adapter."""
    with policies.keeping_prompts() as kept:
        policies.generate(*turn(0), max_new_tokens=2, greedy=True)
        assert len(kept.entries) == 3 and kept.reused_tokens == 0
        policies.generate(*turn(1), max_new_tokens=2, greedy=True)
        reused = kept.reused_tokens  # the three rows that go on from turn 0, counted
        assert reused >= 3 * len(policies.tokenizer(" ".join(MESSAGES[:2]))["input_ids"])
        policies.set_adapter("a0", policies.get_adapter("a0"))
        assert kept.entries == [] and kept.nbytes == 0 and kept.reused_tokens == reused
        with policies.keeping_prompts() as inner:  # a play inside another keeps its own, then gives it back
            assert policies.prompt_cache is inner is not kept
        assert policies.prompt_cache is kept
    assert policies.prompt_cache is None


def test_a_budget_of_zero_keeps_nothing(policies, monkeypatch):
    """`model.prompt_cache_mb=0`: inside keeping_prompts the second turn prefills as if alone."""
    alone, work_alone = second_turn(policies, monkeypatch, keep=False, greedy=True)
    policies.prompt_cache_bytes = 0
    try:
        with policies.keeping_prompts() as kept:
            assert policies.prompt_cache is None
            policies.generate(*turn(0), max_new_tokens=5, greedy=True)
            again, work_again = counted(policies, monkeypatch,
                                        lambda: policies.generate(*turn(1), max_new_tokens=[6, 3, 7, 5], greedy=True))
            assert kept.entries == [] and kept.reused_tokens == 0
    finally:
        policies.prompt_cache_bytes = 2 << 30
    assert_same(again, alone)
    assert work_again == work_alone


def test_the_budget_comes_from_the_model_config(tiny_model_path):
    from coevo.config import ModelConfig

    cfg = ModelConfig(name=tiny_model_path, lora=LORA, prompt_cache_mb=3).model_dump()
    assert HFPolicies.from_config(tiny_model_path, AGENTS, cfg).prompt_cache_bytes == 3 << 20
    with pytest.raises(ValueError, match="prompt_cache_mb"):
        ModelConfig(prompt_cache_mb=-1)
