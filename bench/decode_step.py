"""Where one decoding step of coevo's sampling loop goes, and what the LM head alone costs by rows.

    flock /tmp/coevo-bench.lock python bench/decode_step.py [--rows 12] [--part lean|fusions]

Part 1 profiles the sampling loop's decoding step (`PlainDecoder`: `decode_step` where it gives
transformers' bits; SmolLM2-135M, 3 adapters mixed, prompts of about 280 tokens): 64 greedy steps
after a prefill that the profiler does not see. (It once profiled a 65-token `sampling.sample` less
a 1-token one; the prefill, larger than the 64 steps, made that difference noisy.) CPU time a step is
grouped by what the op is: the 210 base projections, the LM head, the stacked LoRA ops, attention,
and everything else. Part 2 times the LM head (49,152 x 576) alone, whole and in 512-row vocabulary
slices, by rows: `decode_step` slices it below 16 rows (`llama_decode.SLICED_BELOW`).

`--part fusions` times, on the model's own weights and a decoding step's shapes, each way of
doing a step's projections and norms in fewer or other ops that is left: q/k/v in one matmul and
gate/up in one (each layer's weights concatenated), weights stored transposed, and torch's fused
RMSNorm, each against the ops `decode_step` runs, taking turns, with whether the bits are the same.

`--part lean` asks how much of a step is Python around the ops: from one prefilled state it runs
40 greedy decoding steps through transformers' forward and, on a copy of the KV buffers, through
coevo's `llama_decode.decode_step` (the same ops in the same order, called directly: no module
calls, decorators, attention-interface lookup or mask and cache objects), the two taking turns step
by step. It prints ms a step for each and whether every step's logits were the same bits.
"""
from __future__ import annotations

import argparse
import copy
import functools
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from coevo.models import sampling
from coevo.models.llama_decode import HEAD_SLICE, PlainDecoder, _rms, decode_step, head_in_slices
from coevo.models.hf import HFPolicies
from coevo.models.store import resolve_model

LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}
STEPS = 64


def group(name: str, shapes: list, vocab: int, lora_cols: int) -> str:
    """Which part of the step an op belongs to, from its name and input shapes."""
    if "scaled_dot_product" in name:
        return "attention"
    if name in ("aten::mm", "aten::addmm_"):
        dims = [d for s in shapes if s for d in s]
        if vocab in dims or HEAD_SLICE in dims:  # decode_step's head runs in HEAD_SLICE-row slices below 16 rows
            return "LM head"
        return "LoRA" if lora_cols in dims else "projections"
    if name == "aten::mul_" and shapes and shapes[0] and shapes[0][-1] == lora_cols:
        return "LoRA"  # the route mask
    return "everything else"


def prefilled(pol: HFPolicies, prompts: list[list[int]], use_rows, steps: int):
    """The sampling loop's state after prefilling `prompts`, room for `steps` more columns, every row
    routed: (next token, KV cache, attention mask, positions)."""
    logits, kv, attention = sampling._prefill(pol.model, prompts, [0] * len(prompts), {}, pol.tokenizer.pad_token_id,
                                              "cpu", steps + 1, use_rows, sampling.cache_kwarg(pol.model))
    use_rows(list(range(len(prompts))))
    return logits.argmax(-1), kv, attention, attention.sum(-1, keepdim=True) - 1


def profile_step(pol: HFPolicies, rows: int) -> None:
    model, n_agents = pol.model, len(pol.lora.agents)
    gen = torch.Generator().manual_seed(0)
    prompts = [torch.randint(100, 40000, (270 + i,), generator=gen).tolist() for i in range(rows)]
    agents = [pol.lora.agents[i % n_agents] for i in range(rows)]

    def use_rows(rr):
        pol.lora.set_rows([agents[i] for i in rr], model.dtype, "cpu")

    # warm-up, and the loop's first-step check, which leaves its verdict on the model
    sampling.sample(model, prompts, [4] * rows, temperature=0.8, greedy=False, eos_id=-1,
                    pad_id=pol.tokenizer.pad_token_id, seeds=list(range(rows)), use_rows=use_rows)
    step = PlainDecoder(model, sampling.cache_kwarg(model))  # the loop's own step: decode_step where it gives transformers' bits

    def parts() -> dict[str, float]:
        """CPU time by group of STEPS greedy decoding steps from a fresh prefill (not profiled)."""
        token, kv, attention, positions = prefilled(pol, prompts, use_rows, STEPS)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            for _ in range(STEPS):
                attention = torch.cat([attention, attention.new_ones(rows, 1)], 1)
                positions = positions + 1
                token = step(token, attention, positions, kv).argmax(-1)
        out: dict[str, float] = {}
        vocab, cols = model.get_output_embeddings().weight.shape[0], n_agents * LORA["r"]
        for e in p.key_averages(group_by_input_shape=True):
            g = group(e.key, e.input_shapes, vocab, cols)
            out[g] = out.get(g, 0.0) + e.self_cpu_time_total / 1000 / STEPS
        return out

    a, b = parts(), parts()  # each group's least of two runs: less noise
    per_step = {k: min(a.get(k, 0.0), b.get(k, 0.0)) for k in a.keys() | b.keys()}
    print(f"-- one decoding step, {rows} rows of 270-{269 + rows} prompt tokens, {n_agents} adapters mixed "
          f"(profiler CPU time of {STEPS} greedy steps after a prefill, a step; each group's least of 2 runs)")
    for k in ("projections", "LM head", "attention", "LoRA", "everything else"):
        print(f"{k:<18} {per_step.get(k, 0.0):7.1f} ms")
    print(f"{'step':<18} {sum(per_step.values()):7.1f} ms", flush=True)


def best_ms(fn, repeats: int) -> float:
    """The least of `repeats` timings of fn(), in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def lm_head_by_rows(pol: HFPolicies, repeats: int = 20) -> None:
    weight = pol.model.get_output_embeddings().weight.detach()
    best = functools.partial(best_ms, repeats=repeats)

    print(f"-- the LM head ({weight.shape[0]} x {weight.shape[1]}) alone, best of {repeats}")
    print(f"{'rows':>4} {'whole ms':>9} {f'{HEAD_SLICE}-row slices ms':>18}")
    for rows in (1, 4, 8, 12, 14, 16, 36):
        x = torch.randn(rows, weight.shape[1])
        print(f"{rows:>4} {best(lambda: x @ weight.t()):9.2f} {best(lambda: head_in_slices(x, weight)):18.2f}", flush=True)


def lean_step(pol: HFPolicies, rows: int, steps: int = 40) -> None:
    """transformers' forward against `decode_step` on the same decoding state, taking turns."""
    model, n_agents = pol.model, len(pol.lora.agents)
    gen = torch.Generator().manual_seed(0)
    for module in model.modules():  # adapters that change the output (B starts at zero)
        if hasattr(module, "B_t"):
            module.B_t.normal_(0, 0.02, generator=gen)
    prompts = [torch.randint(100, 40000, (270 + 3 * i,), generator=gen).tolist() for i in range(rows)]
    step = {"hf": PlainDecoder(model, sampling.cache_kwarg(model)).forward, "plain": functools.partial(decode_step, model)}
    print(f"-- {steps} greedy decoding steps, {rows} rows of 270-{267 + 3 * rows} prompt tokens: transformers' "
          f"forward and decode_step taking turns on copies of one state")
    print(f"{'adapters':<10} {'transformers ms':>16} {'decode_step ms':>15} {'speed-up':>9}  same bits")
    for mixed in (False, True):
        agents = [pol.lora.agents[i % n_agents] if mixed else None for i in range(rows)]

        def use_rows(rr):
            pol.lora.set_rows([agents[i] for i in rr], model.dtype, "cpu")

        token, kv, attention, positions = prefilled(pol, prompts, use_rows, steps)
        sides = {name: [attention, positions, token, state, 0.0] for name, state in (("hf", kv), ("plain", copy.deepcopy(kv)))}
        same = True
        for _ in range(steps):
            out = {}
            for name, side in sides.items():
                side[0] = torch.cat([side[0], side[0].new_ones(rows, 1)], 1)
                side[1] = side[1] + 1
                t0 = time.perf_counter()
                out[name] = step[name](side[2], side[0], side[1], side[3])
                side[4] += time.perf_counter() - t0
                side[2] = out[name].argmax(-1)
            same = same and torch.equal(out["hf"], out["plain"])
        hf, plain = sides["hf"][4] / steps * 1000, sides["plain"][4] / steps * 1000
        print(f"{'3 mixed' if mixed else 'none':<10} {hf:16.1f} {plain:15.1f} {hf / plain:8.2f}x  {same}", flush=True)


def fusions(pol: HFPolicies, rows: int, repeats: int = 15) -> None:
    """Each fusion over all decoder layers' weights (so they stream from memory as in a step),
    against the ops decode_step runs, the two taking turns; ms for all layers, and same bits."""
    layers = pol.model.model.layers
    gen = torch.Generator().manual_seed(0)
    hidden = pol.model.config.hidden_size
    x = torch.randn(rows, hidden, generator=gen)
    mid = torch.randn(rows, pol.model.config.intermediate_size, generator=gen)

    def w(module):  # the base weight of a plain or an adapter-wrapped projection
        return module.weight.detach()

    attn = [layer.self_attn for layer in layers]
    mlp = [layer.mlp for layer in layers]
    qkv = [torch.cat([w(a.q_proj), w(a.k_proj), w(a.v_proj)]) for a in attn]
    gate_up = [torch.cat([w(m.gate_proj), w(m.up_proj)]) for m in mlp]
    weights = [w(p) for a, m in zip(attn, mlp) for p in (a.q_proj, a.k_proj, a.v_proj, a.o_proj, m.gate_proj, m.up_proj)]
    inputs = [x] * len(weights) + [mid] * len(mlp)  # down_proj reads the MLP's inner width
    weights += [w(m.down_proj) for m in mlp]
    transposed = [t.t().contiguous() for t in weights]
    norms = [n for layer in layers for n in (layer.input_layernorm, layer.post_attention_layernorm)]
    cases = [
        ("q, k, v in one matmul", lambda: [F.linear(x, w(p)) for a in attn for p in (a.q_proj, a.k_proj, a.v_proj)],
         lambda: [y for t, a in zip(qkv, attn)
                  for y in F.linear(x, t).split([w(a.q_proj).shape[0], w(a.k_proj).shape[0], w(a.v_proj).shape[0]], -1)]),
        ("gate, up in one matmul", lambda: [F.linear(x, w(p)) for m in mlp for p in (m.gate_proj, m.up_proj)],
         lambda: [y for t, m in zip(gate_up, mlp) for y in F.linear(x, t).split(w(m.gate_proj).shape[0], -1)]),
        ("weights stored transposed", lambda: [F.linear(i, t) for i, t in zip(inputs, weights)],
         lambda: [i @ t for i, t in zip(inputs, transposed)]),
        ("torch's fused RMSNorm", lambda: [_rms(x, n) for n in norms],
         lambda: [F.rms_norm(x, (hidden,), n.weight, n.variance_epsilon) for n in norms]),
    ]
    print(f"-- {len(layers)} layers' weights, {rows} rows; best of {repeats}, the two sides taking turns")
    print(f"{'fusion':<28} {'ops now ms':>11} {'fused ms':>9} {'speed-up':>9}  same bits")
    for name, now, fused in cases:
        same = all(torch.equal(a, b) for a, b in zip(now(), fused()))
        a = b = float("inf")
        for _ in range(repeats):
            a, b = min(a, best_ms(now, 1)), min(b, best_ms(fused, 1))
        print(f"{name:<28} {a:11.2f} {b:9.2f} {a / b:8.2f}x  {same}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--part", choices=["profile", "lean", "fusions"], default="profile")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pol = HFPolicies(resolve_model("smollm2-135m"), ["a0", "a1", "a2"], LORA)
    print(f"# bench/decode_step.py  smollm2-135m fp32  threads={args.threads}  "
          f"cpu={torch.backends.cpu.get_cpu_capability()}", flush=True)
    with torch.no_grad():
        if args.part == "lean":
            lean_step(pol, args.rows)
            return
        if args.part == "fusions":
            fusions(pol, args.rows)
            return
        profile_step(pol, args.rows)
        lm_head_by_rows(pol)


if __name__ == "__main__":
    main()
