"""One decoding step of a Llama-family model (Llama, Qwen2) in plain torch ops: transformers'
arithmetic without transformers' Python around it.

A decoding step feeds one token a row through every decoder layer. transformers' forward wraps
each op in module calls, decorators, an attention-interface lookup, mask construction and a cache
object. On 2 CPU cores, leaving that out makes a SmolLM2-135M step at 12 rows 1.08-1.11x faster,
and its LM head in vocabulary slices below 16 rows (`_lm_head`) 1.16-1.18x in all
(`python bench/decode_step.py --part lean`). `decode_step` calls the same ops, in the same order
and on the same shapes, as transformers 5.24's `modeling_llama.py` (and `modeling_qwen2.py`: the
same ops with biases on q, k and v) on its sdpa path for a single query token: with left padding,
a boolean mask [B, 1, 1, L] and GQA packed as [B, kv heads, groups, D]; with none, no mask and
sdpa's own `enable_gqa`. So its logits are the same bits. It writes keys and values through the
sampling loop's own cache layers.

tests/test_llama_decode.py checks the bits step by step, with and without padding, through a
growing cache and rows that leave. At run time `PlainDecoder` also runs each model's first step
both ways and keeps to transformers' forward, with a warning, if they differ in one bit: that
catches a transformers release that reorders an op, though not a change that only shows in
another case than that first step's. Other models, Qwen2 with sliding windows, and RoPE types
whose frequencies change with length always take transformers' forward.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaForCausalLM, Qwen2ForCausalLM

# RoPE types whose frequencies are fixed at load time (dynamic and longrope rescale them per call)
_FIXED_ROPE = ("default", "linear", "llama3", "yarn")


def supports(model: nn.Module) -> bool:
    """Whether `decode_step` covers this model: a Llama causal LM, or a Qwen2 one (Llama with
    biases on q, k and v) whose layers all attend to the whole sequence, on the sdpa attention
    path, with SiLU MLPs and a RoPE whose frequencies do not depend on the sequence."""
    if type(model) not in (LlamaForCausalLM, Qwen2ForCausalLM):
        return False
    cfg = model.config
    rope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_type", "default")
    windows = any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or [])
    return cfg._attn_implementation == "sdpa" and cfg.hidden_act == "silu" and rope in _FIXED_ROPE and not windows


def _rms(x: torch.Tensor, norm: nn.Module) -> torch.Tensor:
    """LlamaRMSNorm, op for op (it computes in float32 whatever the model's dtype)."""
    dtype = x.dtype
    x = x.to(torch.float32)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    return norm.weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _linear(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A plain nn.Linear as F.linear; coevo's stacked-adapter layer (or any other) by its forward."""
    if type(module) is nn.Linear:
        return F.linear(x, module.weight, module.bias)
    return module.forward(x)


# The LM head of a few rows, 49,152 x 576 for SmolLM2, runs faster as one matmul per slice of this many
# vocabulary rows than as one whole matmul (MKL on 2 cores: 1.08x a whole decoding step at 12 rows,
# 1.01x at 6; same bits, since each logit is the same dot product); from 16 rows on the whole one is faster.
# A BLAS whose slices rounded otherwise would fail PlainDecoder's first-step check: transformers' forward then.
HEAD_SLICE, SLICED_BELOW = 512, 16


def head_in_slices(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """h [B, D] times weight [V, D] transposed, HEAD_SLICE vocabulary rows at a time, into one output."""
    out = h.new_empty(h.shape[0], weight.shape[0])
    for start in range(0, weight.shape[0], HEAD_SLICE):
        torch.mm(h, weight[start:start + HEAD_SLICE].t(), out=out[:, start:start + HEAD_SLICE])
    return out


def _lm_head(head: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """Logits [B, V] of the last hidden states h [B, D]: a plain Linear head of fewer than
    SLICED_BELOW rows in slices (`head_in_slices`), any other head as it is."""
    if type(head) is not nn.Linear or head.bias is not None or h.shape[0] >= SLICED_BELOW:
        return head(h)
    return head_in_slices(h, head.weight)


def decode_step(model: LlamaForCausalLM, token: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor,
                cache) -> torch.Tensor:
    """Logits [B, V] of the next token after `token` [B], at `positions` [B, 1], with `attention`
    [B, L] the mask of every cached column plus this one; each layer's keys and values go through
    `cache.layers[i].update`, as in transformers' forward."""
    base, cfg = model.model, model.config
    rows = token.shape[0]
    head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    groups = cfg.num_attention_heads // cfg.num_key_value_heads
    h = F.embedding(token[:, None], base.embed_tokens.weight, base.embed_tokens.padding_idx)
    rope = base.rotary_emb
    freqs = positions[..., None].float() * rope.inv_freq.to(device=h.device, dtype=torch.float)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = (emb.cos() * rope.attention_scaling).to(h.dtype)[:, None]
    sin = (emb.sin() * rope.attention_scaling).to(h.dtype)[:, None]
    # transformers drops a mask that hides nothing and lets sdpa repeat the key/value heads itself
    mask = None if bool(attention.all()) else attention.bool()[:, None, None, :]
    for layer, kv in zip(base.layers, cache.layers):
        attn, mlp = layer.self_attn, layer.mlp
        x = _rms(h, layer.input_layernorm)
        q = _linear(attn.q_proj, x).view(rows, 1, -1, head).transpose(1, 2)
        k = _linear(attn.k_proj, x).view(rows, 1, -1, head).transpose(1, 2)
        v = _linear(attn.v_proj, x).view(rows, 1, -1, head).transpose(1, 2)
        q = (q * cos) + (_rotate_half(q) * sin)
        k = (k * cos) + (_rotate_half(k) * sin)
        keys, values = kv.update(k, v)
        if mask is None:
            out = F.scaled_dot_product_attention(q, keys, values, dropout_p=0.0, scale=attn.scaling, is_causal=False,
                                                 enable_gqa=groups > 1)
        else:  # one query token: the heads that share a key/value head become its query rows
            out = F.scaled_dot_product_attention(q.reshape(rows, -1, groups, head) if groups > 1 else q, keys, values,
                                                 attn_mask=mask, dropout_p=0.0, scale=attn.scaling, is_causal=False)
        out = out.reshape(rows, -1, 1, head).transpose(1, 2).reshape(rows, 1, -1)
        h = h + _linear(attn.o_proj, out)
        x = _rms(h, layer.post_attention_layernorm)
        h = h + _linear(mlp.down_proj, F.silu(_linear(mlp.gate_proj, x)) * _linear(mlp.up_proj, x))
    return _lm_head(model.lm_head, _rms(h, base.norm)[:, -1])


class PlainDecoder:
    """The sampling loop's decoding step for one model: `decode_step` where it gives transformers'
    bits, transformers' forward elsewhere. The first call on a supported model runs both (the
    cache's new column written twice, the second write over the first) and keeps the verdict on
    the model, so each process checks once per model. A plain step that raises counts as one that
    differs."""

    def __init__(self, model: nn.Module, cache_arg: str):
        self.model, self.cache_arg = model, cache_arg
        if not supports(model):
            model._coevo_plain_decode = False

    def forward(self, token, attention, positions, cache) -> torch.Tensor:
        return self.model(input_ids=token[:, None], attention_mask=attention, position_ids=positions,
                          use_cache=True, **{self.cache_arg: cache}).logits[:, -1]

    def __call__(self, token, attention, positions, cache) -> torch.Tensor:
        verdict = getattr(self.model, "_coevo_plain_decode", None)
        if verdict:
            return decode_step(self.model, token, attention, positions, cache)
        if verdict is False:
            return self.forward(token, attention, positions, cache)
        written = [layer.length for layer in cache.layers]
        try:
            plain, failure = decode_step(self.model, token, attention, positions, cache), None
        except Exception as e:  # a model of the family built otherwise: transformers' forward runs it
            plain, failure = None, f"it failed: {type(e).__name__}: {e}"
        for layer, n in zip(cache.layers, written):  # take its columns back; transformers' forward writes them
            layer.drop_last(layer.length - n)
        logits = self.forward(token, attention, positions, cache)
        self.model._coevo_plain_decode = plain is not None and torch.equal(plain, logits)
        if not self.model._coevo_plain_decode:
            failure = failure or f"max difference {(plain - logits).abs().max().item():.3g}"
            warnings.warn(f"coevo's plain decoding step does not give transformers' logits for "
                          f"{type(self.model).__name__} ({failure}); decoding through transformers' forward",
                          stacklevel=2)
        return logits
