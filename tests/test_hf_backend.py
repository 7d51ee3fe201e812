"""The hf backend: batched sampling with logprobs, per-row limits and stops, adapter routing."""
import pytest
import torch

from coevo.models.hf import HFPolicies
from coevo.models.logprobs import completion_logprobs

LORA = {"r": 4, "alpha": 8, "target_modules": "all-linear"}
PROMPTS = ["What is 2 + 3?", "Tom has 3 apples and buys 4 more. How many?", "hi"]


@pytest.fixture(scope="module")
def policies(tiny_model_path):
    pol = HFPolicies(tiny_model_path, ["a0", "a1"], LORA, dtype="float32", device="cpu")
    torch.manual_seed(1)  # make the adapters differ from each other and from the base (B starts at 0)
    for agent in ("a0", "a1"):
        pol.set_adapter(agent, {k: v + 0.3 * torch.randn_like(v) for k, v in pol.get_adapter(agent).items()})
    return pol


def test_sampling_logprobs_equal_learner_recompute(policies):
    """The rollout's recorded logprobs are what a learner recomputes, per adapter, at temperature 0.7."""
    torch.manual_seed(0)
    agents = ["a0", "a1", "a0"]
    outs = policies.generate(agents, PROMPTS, max_new_tokens=12, temperature=0.7)
    for agent, out in zip(agents, outs):
        policies.model.set_adapter(agent)
        lp, mask = completion_logprobs(policies.model, [out.prompt_ids], [out.completion_ids], 0.7,
                                       policies.tokenizer.pad_token_id)
        assert mask.sum() == len(out.completion_ids) > 0
        assert torch.allclose(lp[0], torch.tensor(out.logprobs), atol=1e-4)


def test_mixed_adapter_batch_matches_each_adapter_alone(policies):
    mixed = policies.generate(["a0", "a1", "__base__"], [PROMPTS[0]] * 3, max_new_tokens=10, greedy=True)
    for agent, got in zip(["a0", "a1", "__base__"], mixed):
        alone = policies.generate([agent], [PROMPTS[0]], max_new_tokens=10, greedy=True)[0]
        assert got.completion_ids == alone.completion_ids
    # three different policies: the adapters really do route rows
    assert len({tuple(c.completion_ids) for c in mixed}) > 1


def test_per_row_limits_and_stop_strings(policies):
    torch.manual_seed(0)
    free = policies.generate(["a0"] * 3, PROMPTS, max_new_tokens=[5, 9, 3], greedy=True)
    assert [len(c.completion_ids) for c in free] == [5, 9, 3]  # greedy tiny model never says eos this soon
    # stop on a piece of what row 1 would write anyway: it ends as soon as that text has appeared
    piece = policies.tokenizer.decode(free[1].completion_ids[:4])[-2:]
    stopped = policies.generate(["a0"] * 3, PROMPTS, max_new_tokens=[5, 9, 3], stop=[[], [piece], []], greedy=True)
    row = stopped[1]
    assert piece in row.text
    assert piece not in policies.tokenizer.decode(row.completion_ids[:-1])
    assert stopped[0].completion_ids == free[0].completion_ids
    assert row.completion_ids == free[1].completion_ids[: len(row.completion_ids)]


def test_adapter_state_round_trip(policies, tiny_model_path):
    other = HFPolicies(tiny_model_path, ["a0"], LORA, dtype="float32", device="cpu")
    before = other.generate(["a0"], [PROMPTS[1]], max_new_tokens=8, greedy=True)[0]
    other.set_adapter("a0", policies.get_adapter("a1"))
    after = other.generate(["a0"], [PROMPTS[1]], max_new_tokens=8, greedy=True)[0]
    want = policies.generate(["a1"], [PROMPTS[1]], max_new_tokens=8, greedy=True)[0]
    assert after.completion_ids == want.completion_ids != before.completion_ids


def test_device_cuda_without_gpu_is_a_clear_error(tiny_model_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="device=cpu or auto"):
        HFPolicies(tiny_model_path, ["a0"], LORA, device="cuda")


def test_prefix_is_prefilled_into_the_prompt(policies):
    plain, = policies.encode_prompts([PROMPTS[0]])
    prefilled, = policies.encode_prompts([PROMPTS[0]], ["<score>"])
    assert policies.tokenizer.decode(prefilled).endswith("<score>")
    assert policies.tokenizer.decode(prefilled[len(plain):]) == "<score>"
    out = policies.generate(["a0"], [PROMPTS[0]], max_new_tokens=4, greedy=True, prefixes=["<score>"])[0]
    assert out.prompt_ids == prefilled and len(out.completion_ids) == 4
