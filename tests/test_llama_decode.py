"""A Llama or Qwen2 model's decoding step in plain ops (coevo/models/llama_decode.py) gives
transformers' logits bit for bit and writes the same keys and values, in a mixed-adapter batch whose
KV buffers grow and whose finished rows leave; the sampling loop checks that once per model and
decodes through transformers' forward where the plain step would differ or does not apply."""
import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from coevo.models import llama_decode, sampling
from coevo.models.hf import HFPolicies

LORA = {"r": 4, "alpha": 8, "target_modules": "all-linear"}
AGENTS = ["a0", "a1"]
PROMPTS = ["What is 2 + 3?", "Tom has 3 apples and buys 4 more. How many apples does Tom have now?", "hi",
           "Solve the following math problem step by step."]


def small(config_class, **kw):
    """A config of the tiny model's size (4 heads of 16 sharing 2 key/value heads)."""
    return config_class(vocab_size=768, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, **kw)


@pytest.fixture(scope="module")
def tiny_qwen2_path(tmp_path_factory) -> str:
    """A random Qwen2 (biases on q, k, v) with the tiny model's tokenizer."""
    from coevo.models.tiny import build_tokenizer

    path = tmp_path_factory.mktemp("tiny-qwen2")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = Qwen2ForCausalLM(small(Qwen2Config, tie_word_embeddings=True))
        for name, p in model.named_parameters():  # biases that matter (they start at zero)
            if name.endswith("_proj.bias"):
                p.data.normal_(0, 0.5)
    model.save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    return str(path)


def with_adapters(model_path, dtype: str) -> HFPolicies:
    pol = HFPolicies(model_path, AGENTS, LORA, dtype=dtype, device="cpu")
    for i, agent in enumerate(AGENTS):  # adapters that change the logits (B starts at zero)
        g = torch.Generator().manual_seed(i)
        pol.set_adapter(agent, {k: v + 0.3 * torch.randn(v.shape, generator=g) for k, v in pol.get_adapter(agent).items()})
    return pol


@pytest.fixture(scope="module")
def policies(tiny_model_path):
    return with_adapters(tiny_model_path, "float32")


@pytest.mark.parametrize("family, dtype, adapters", [("llama", "float32", True), ("llama", "bfloat16", True),
                                                     ("qwen2", "float32", True), ("llama", "float32", False)])
def test_each_step_is_transformers_bits_in_a_mixed_batch(tiny_model_path, tiny_qwen2_path, family, dtype, adapters):
    """From one prefilled state, transformers' forward and `decode_step` on copies of the cache:
    the same logits and the same cached keys and values at every step, through a buffer that
    grows (2 spare columns) and rows that leave mid-way (the loop's `keep`), down to one row
    with no padding, where transformers passes sdpa no mask. bfloat16: the rollout_dtype opt-in.
    Without adapters: a full-weight agent's model (`model.lora=null`), plain nn.Linear layers."""
    path = tiny_model_path if family == "llama" else tiny_qwen2_path
    policies = with_adapters(path, dtype) if adapters else HFPolicies(path, AGENTS, None, dtype=dtype, device="cpu")
    model, pad = policies.model, policies.tokenizer.pad_token_id
    assert all(type(m.self_attn.q_proj) is torch.nn.Linear for m in model.model.layers) != adapters
    assert model.dtype == getattr(torch, dtype) and model.config.model_type == family
    assert llama_decode.supports(model)
    assert model.config.num_key_value_heads < model.config.num_attention_heads  # the GQA packing is exercised
    agents = ["a0", "__base__", "a1", "a0"]
    prompts = policies.encode_prompts(PROMPTS)
    rows = list(range(len(prompts)))

    def use_rows(rr):
        if adapters:
            policies.lora.set_rows([agents[i] for i in rr], model.dtype, "cpu")

    cache_arg = sampling.cache_kwarg(model)
    transformers_step = llama_decode.PlainDecoder(model, cache_arg).forward  # transformers' own forward
    with torch.no_grad():
        logits, plain_kv, attention = sampling._prefill(model, prompts, [0] * len(prompts), {}, pad, "cpu", 2,
                                                        use_rows, cache_arg)
        hf_kv = copy.deepcopy(plain_kv)
        use_rows(rows)
        positions, token = attention.sum(-1, keepdim=True) - 1, logits.argmax(-1)
        widths, unpadded = set(), 0
        for step in range(12):
            if step in (5, 9):  # rows finish: the cache keeps the others, without the columns no row needs
                keep = torch.tensor([0, 2] if step == 5 else [0])  # the last: one row, no padding left
                rows = [rows[j] for j in keep.tolist()]
                attention, positions, token = attention[keep], positions[keep], token[keep]
                first_col = int(attention.any(0).nonzero()[0])
                attention = attention[:, first_col:]
                for layer in [*plain_kv.layers, *hf_kv.layers]:
                    layer.keep(keep, first_col)
                use_rows(rows)
            unpadded += bool(attention.all())
            attention = torch.cat([attention, attention.new_ones(len(rows), 1)], 1)
            positions = positions + 1
            hf = transformers_step(token, attention, positions, hf_kv)
            plain = llama_decode.decode_step(model, token, attention, positions, plain_kv)
            assert torch.equal(plain, hf), step
            for a, b in zip(plain_kv.layers, hf_kv.layers):
                assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values), step
            widths.add(plain_kv.layers[0].k_buf.shape[2])
            token = hf.argmax(-1)
    assert len(widths) > 1  # the buffer grew while decoding
    assert 0 < unpadded < 12  # steps with left padding (a mask) and without (none), as transformers passes them


def generate(pol, monkeypatch, plain: bool | None, **kw):
    """`pol.generate` of a mixed batch with the model's verdict set beforehand (None: unchecked)."""
    monkeypatch.setattr(pol.model, "_coevo_plain_decode", plain, raising=False)
    agents = ["a0", "a1", "__base__", "a1"]
    outs = pol.generate(agents, PROMPTS, max_new_tokens=[9, 4, 12, 7], **kw)
    return [(o.completion_ids, o.logprobs) for o in outs], pol.model._coevo_plain_decode


def test_the_loop_checks_once_then_decodes_as_transformers_does(policies, monkeypatch):
    """Sampled at T=0.8 and greedy: the same tokens and logprobs with the plain step as through
    transformers' forward; an unchecked model is checked on its first step and found equal."""
    for kw in ({"temperature": 0.8, "seeds": [11, 12, 13, 14]}, {"greedy": True}):
        reference, _ = generate(policies, monkeypatch, False, **kw)
        checked, verdict = generate(policies, monkeypatch, None, **kw)
        assert verdict is True
        plain, _ = generate(policies, monkeypatch, True, **kw)
        assert checked == reference and plain == reference
        assert any(len(ids) > 1 for ids, _ in reference)  # rows that decoded, not only prefilled


def other_rms(x, norm):
    """RMSNorm that divides by the root instead of multiplying by its inverse: other roundings."""
    return norm.weight * (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon))


def failing_in_layer_1():
    """RMSNorm that raises at layer 1's first norm, after layer 0 wrote its keys and values."""
    rms, calls = llama_decode._rms, []

    def fails(x, norm):
        calls.append(norm)
        if len(calls) == 3:
            raise AttributeError("'MyNorm' object has no attribute 'variance_epsilon'")
        return rms(x, norm)
    return fails


@pytest.mark.parametrize("make_rms, says", [(lambda: other_rms, "max difference"),
                                            (failing_in_layer_1, "it failed: AttributeError")])
def test_a_plain_step_that_differs_or_fails_is_dropped_with_a_warning(policies, monkeypatch, make_rms, says):
    """A plain step that rounds otherwise, or raises (a model of the family built otherwise),
    fails the first-step check: a warning names the model and what went wrong, and the run
    decodes through transformers' forward, its tokens and logprobs unchanged."""
    reference, _ = generate(policies, monkeypatch, False, greedy=True)
    monkeypatch.setattr(llama_decode, "_rms", make_rms())
    with pytest.warns(UserWarning, match=f"does not give transformers' logits for LlamaForCausalLM \\({says}"):
        got, verdict = generate(policies, monkeypatch, None, greedy=True)
    assert verdict is False and got == reference


@pytest.mark.parametrize("config", [small(LlamaConfig, rope_parameters={"rope_type": "dynamic", "factor": 2.0,
                                                                       "rope_theta": 10000.0}),
                                    small(Qwen2Config, use_sliding_window=True, sliding_window=4, max_window_layers=1)])
def test_a_model_the_plain_step_does_not_cover_decodes_through_transformers(config):
    """A RoPE that rescales with length, or Qwen2 with sliding windows, is not the plain step's:
    the loop marks the model so without trying, and decodes what transformers' greedy `generate`
    does, past the window."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = (LlamaForCausalLM if config.model_type == "llama" else Qwen2ForCausalLM)(config).eval()
    assert not llama_decode.supports(model)
    prompt = [5, 17, 33, 2, 60, 8]
    with torch.no_grad():
        ids, _ = sampling.sample(model, [prompt], [6], temperature=1.0, greedy=True, eos_id=-1, pad_id=0)
        want = model.generate(input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                              do_sample=False, max_new_tokens=6, min_new_tokens=6, pad_token_id=0)
    assert model._coevo_plain_decode is False
    assert ids[0] == want[0, len(prompt):].tolist()
