"""Rollout-worker memory: N agents as LoRA adapters on one base vs N full copies of the model.

    python bench/memory.py [--model smollm2-135m] [--agents 1 2 4 8]

Each configuration runs in a fresh process (peak RSS only grows), loads the policies and samples
one mixed batch (8 rows, 16 new tokens) so activations and the KV cache are counted too. Prints
peak RSS and what each agent beyond the first adds, as a share of one full copy.
"""
import argparse
import json
import resource
import subprocess
import sys

LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
PROMPT = "Tom has 3 apples and buys 4 more. How many apples does Tom have now?"


def child(kind: str, n: int, model: str) -> None:
    import torch

    from coevo.models.hf import HFPolicies
    from coevo.models.store import resolve_model

    torch.set_num_threads(2)
    path = resolve_model(model)
    agents = [f"agent_{i}" for i in range(n)]
    rows = [agents[i % n] for i in range(8)]
    if kind == "lora":
        pols = {a: HFPolicies(path, agents, LORA) for a in agents[:1]}
        pols[agents[0]].generate(rows, [PROMPT] * 8, max_new_tokens=16, temperature=0.8)
    else:  # one full model per agent, each sampling its own rows
        pols = {a: HFPolicies(path, [], None) for a in agents}
        for a in agents:
            pols[a].generate(["__base__"] * rows.count(a), [PROMPT] * rows.count(a), max_new_tokens=16,
                             temperature=0.8)
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(kind: str, n: int, model: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(n), "--model", model],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mb"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--agents", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.model)
    peak = {(k, n): measure(k, n, args.model) for k in ("lora", "full") for n in args.agents}
    first = args.agents[0]
    copy_mb = (peak[("full", args.agents[-1])] - peak[("full", first)]) / (args.agents[-1] - first)
    print(f"{args.model}: peak RSS of a rollout worker (MB), one mixed batch of 8 rows sampled")
    print(f"{'agents':>6} {'LoRA r=16 adapters':>19} {'full copies':>12} {'LoRA / full':>12} "
          f"{'per extra LoRA agent':>21} {'share of a full copy':>21}")
    for n in args.agents:
        lora, full = peak[("lora", n)], peak[("full", n)]
        extra = (lora - peak[("lora", first)]) / (n - first) if n > first else 0.0
        share = f"{extra / copy_mb:20.1%}" if n > first else f"{'-':>20}"
        print(f"{n:>6} {lora:>19.0f} {full:>12.0f} {lora / full:>12.2f} {extra:>21.1f} {share}")
    print(f"one full copy adds {copy_mb:.0f} MB")


if __name__ == "__main__":
    main()
