"""Four ways to compute a mixed batch's LoRA deltas, timed side by side in one process.

    flock /tmp/coevo-bench.lock python bench/lora_layouts.py [--rows 16] [--prompt-tokens 50 100]

Every side decodes the same rows (SmolLM2-135M, float32, three non-zero adapters, greedy, eos
unreachable so every row runs `--new-tokens`) through coevo's sampling loop; only
`MultiLoraLinear.forward` differs. Rows are ordered by agent, which the third layout needs.
- stacked (coevo's, `multi_lora.py`): x A_all^T, times each row's 0/1 route, then B_all: three
  ops a layer, every row computing all three adapters' rank-r columns;
- siblings: the layers that read the same input (q/k/v, gate/up) compute x A^T for all of them in
  one matmul, and each takes its columns: fewer ops a decoder layer (15 instead of 21);
- slices: each adapter's rows, one contiguous slice, with its own two matmuls: one adapter's
  arithmetic a row, in 2 ops per adapter present instead of 3;
- concat: every adapter's A stacked under the base weight, [W; A_all], so x A^T comes out of the
  base's own matmul (which runs at the BLAS's full rate) and only the B side is a separate op: two
  ops a layer instead of three, and no rank-r matmul on the input side.
Printed: seconds (best of `--repeats`), speed relative to no adapter, and whether the greedy tokens
equal the stacked layout's. No side but stacked is coevo's code.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from coevo.models import sampling
from coevo.models.hf import HFPolicies
from coevo.models.multi_lora import MultiLoraLinear
from coevo.models.store import resolve_model

AGENTS = ["a0", "a1", "a2"]
LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
SIBLINGS = [("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")]  # Llama's layers that share an input
STACKED = MultiLoraLinear.forward


def siblings_forward(self, x):
    group = getattr(self, "group", None)
    router = self.router
    if group is None or (router.single is None and router.route is None):
        return STACKED(self, x)
    out = F.linear(x, self.weight, self.bias)
    if group["x"] is not x:  # the first of the siblings: x A^T of all of them, in one matmul
        flat_x = x.reshape(-1, x.shape[-1])
        if router.single is not None:
            group["h"] = F.linear(flat_x, group["A_one"][router.single])
        else:
            n = len(group["layers"])
            if getattr(router, "tiled_from", None) is not router.route:  # tiled once per batch, not per layer
                router.tiled_from, router.tiled = router.route, {}
            if n not in router.tiled:
                router.tiled[n] = router.route.repeat(1, 1, n)
            group["h"] = F.linear(x, group["A"]).mul_(router.tiled[n]).view(flat_x.shape[0], -1)
        group["x"] = x
    j, width = self.sibling, (router.r if router.single is not None else router.n * router.r)
    b_t = self.B_t[router.cols(router.single)] if router.single is not None else self.B_t
    out.view(-1, out.shape[-1]).addmm_(group["h"][:, j * width:(j + 1) * width], b_t, alpha=self.scaling)
    if j == len(group["layers"]) - 1:
        group["x"] = group["h"] = None
    return out


def slices_forward(self, x):
    router = self.router
    if router.single is not None or router.route is None:
        return STACKED(self, x)
    out = F.linear(x, self.weight, self.bias)
    per_row = x.shape[1]
    flat_x, flat_out = x.reshape(-1, x.shape[-1]), out.view(-1, out.shape[-1])
    for start, end, k in router.spans:
        if k is not None:
            rows, cols = slice(start * per_row, end * per_row), router.cols(k)
            flat_out[rows].addmm_(F.linear(flat_x[rows], self.A[cols]), self.B_t[cols], alpha=self.scaling)
    return out


def concat_forward(self, x):
    """[W; A_all] in one matmul: the adapters' x A^T comes out of the base's own matmul."""
    router = self.router
    if router.single is None and router.route is None:
        return STACKED(self, x)
    out_f = self.weight.shape[0]
    y = F.linear(x, self.W_cat)
    flat_y = y.view(-1, y.shape[-1])
    if router.single is not None:
        cols = router.cols(router.single)
        h, b_t = flat_y[:, out_f + cols.start:out_f + cols.stop], self.B_t[cols]
    else:
        h, b_t = (y[..., out_f:] * router.route).view(flat_y.shape[0], -1), self.B_t
    return torch.addmm(flat_y[:, :out_f], h, b_t, alpha=self.scaling).view(*x.shape[:-1], out_f)


def add_concat(pol: HFPolicies) -> None:
    for layer in pol.lora.layers.values():
        assert layer.bias is None
        layer.W_cat = torch.cat([layer.weight, layer.A])


def add_siblings(pol: HFPolicies) -> None:
    """Each sibling group's A side by side (for every adapter, and per adapter for a one-adapter batch)."""
    groups: dict[tuple, list] = {}
    for name, layer in pol.lora.layers.items():
        parent, _, child = name.rpartition(".")
        for names in SIBLINGS:
            if child in names:
                groups.setdefault((parent, names), []).append((names.index(child), layer))
    for members in groups.values():
        layers = [layer for _, layer in sorted(members, key=lambda m: m[0])]
        router = layers[0].router
        group = {"layers": layers, "x": None, "h": None,
                 "A": torch.cat([layer.A for layer in layers]),
                 "A_one": [torch.cat([layer.A[router.cols(k)] for layer in layers]) for k in range(router.n)]}
        for j, layer in enumerate(layers):
            layer.group, layer.sibling = group, j


def spans(slots: list) -> list[tuple[int, int, int | None]]:
    """(start, end, adapter) of each run of equal slots."""
    out, start = [], 0
    for b in range(1, len(slots) + 1):
        if b == len(slots) or slots[b] != slots[start]:
            out.append((start, b, slots[start]))
            start = b
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--prompt-tokens", type=int, nargs="+", default=[50, 100])
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pol = HFPolicies(resolve_model("smollm2-135m"), AGENTS, LORA)
    g = torch.Generator().manual_seed(0)
    for agent in AGENTS:  # B starts at 0: make every adapter compute something, and differently
        pol.set_adapter(agent, {k: v + 0.02 * torch.randn(v.shape, generator=g) for k, v in pol.get_adapter(agent).items()})
    add_siblings(pol)
    add_concat(pol)
    slots = {a: k for k, a in enumerate(AGENTS)}
    print(f"# bench/lora_layouts.py  smollm2-135m fp32  threads={args.threads}  "
          f"cpu={torch.backends.cpu.get_cpu_capability()}  {args.rows} rows, {args.new_tokens} new tokens, "
          f"greedy, best of {args.repeats}", flush=True)
    print(f"{'prompt':>6} {'layout':<9} {'adapters':<22} {'s':>6} {'vs none':>8} {'same tokens':>12}")
    for prompt_tokens in args.prompt_tokens:
        prompts = [torch.randint(100, 40000, (prompt_tokens,), generator=g).tolist() for _ in range(args.rows)]
        mixed = sorted(AGENTS[i % len(AGENTS)] for i in range(args.rows))

        def decode(agents: list[str]) -> tuple[float, list]:
            def use_rows(rows):
                pol.lora.set_rows([agents[i] for i in rows], pol.model.dtype, "cpu")
                pol.lora.router.spans = spans([slots.get(agents[i]) for i in rows])
            t0 = time.perf_counter()
            ids, _ = sampling.sample(pol.model, prompts, [args.new_tokens] * args.rows, temperature=1.0,
                                     greedy=True, eos_id=-1, pad_id=pol.tokenizer.pad_token_id, use_rows=use_rows)
            return time.perf_counter() - t0, ids

        sides = [("stacked", "none", ["__base__"] * args.rows), ("stacked", "one on every row", ["a0"] * args.rows),
                 ("stacked", "3 mixed", mixed), ("siblings", "one on every row", ["a0"] * args.rows),
                 ("siblings", "3 mixed", mixed), ("slices", "3 mixed", mixed),
                 ("concat", "one on every row", ["a0"] * args.rows), ("concat", "3 mixed", mixed)]
        forwards = {"stacked": STACKED, "siblings": siblings_forward, "slices": slices_forward, "concat": concat_forward}
        best: dict[int, float] = {}
        tokens: dict[int, list] = {}
        try:
            decode(mixed)  # warm-up
            for _ in range(args.repeats):  # the sides take turns, so drift on the machine hits all alike
                for s, (layout, _, agents) in enumerate(sides):
                    MultiLoraLinear.forward = forwards[layout]
                    seconds, tokens[s] = decode(agents)
                    best[s] = min(best.get(s, seconds), seconds)
        finally:
            MultiLoraLinear.forward = STACKED
        for s, (layout, what, agents) in enumerate(sides):
            reference = next(k for k, (lay, _, a) in enumerate(sides) if lay == "stacked" and a == agents)
            same = sum(a == b for a, b in zip(tokens[s], tokens[reference]))
            print(f"{prompt_tokens:>6} {layout:<9} {what:<22} {best[s]:6.2f} {best[0] / best[s]:8.3f} "
                  f"{same:>6}/{args.rows} rows", flush=True)


if __name__ == "__main__":
    with torch.no_grad():
        main()
