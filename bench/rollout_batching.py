"""Batched rollout vs one game at a time, same games, same model, in one run; prints the ratio.

    python bench/rollout_batching.py [--model smollm2-135m] [--games 12]

The batched path is what `coevo train` does: every tick, one generate call for all pending turns.
The sequential path plays each game alone (one row per generate call).
"""
import argparse
import time

import torch

from coevo.models.hf import HFPolicies
from coevo.models.store import resolve_model
from coevo.rollout import plan_games, play

AGENTS = ["agent_0", "agent_1", "agent_2"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--games", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    options = {"max_new_tokens": {"solver": 64, "evaluator": 48, "scorer": 8}}
    policies = HFPolicies(resolve_model(args.model), AGENTS, {"r": 16, "alpha": 32, "target_modules": "all-linear"},
                          dtype="float32", device="cpu")
    plans = plan_games("comas_v0", options, AGENTS, args.games, 1, "rotate", seed=0, iteration=1)
    results = {}
    for name, batches in [("batched", [plans]), ("one game at a time", [[p] for p in plans])]:
        torch.manual_seed(0)
        t0, tokens, calls = time.perf_counter(), 0, 0
        for batch in batches:
            _, stats = play(policies, "comas_v0", options, batch, temperature=0.8)
            tokens, calls = tokens + stats.completion_tokens, calls + stats.generate_calls
        seconds = time.perf_counter() - t0
        results[name] = tokens / seconds
        print(f"{name:<20} {args.games} games  {calls:3d} generate calls  {tokens:5d} tokens  "
              f"{seconds:7.1f} s  {tokens / seconds:6.1f} tokens/s")
    print(f"batched / one-at-a-time throughput: {results['batched'] / results['one game at a time']:.2f}x")


if __name__ == "__main__":
    main()
