"""Prefill speed by chunk size, side by side in one process: the same prompts, the same adapters.

    python bench/prefill.py [--model smollm2-135m] [--rows 12 36] [--budgets 4096 2048 1024 512]

coevo prefills a tick's prompts sorted by length in chunks of at most `budget` padded tokens
(coevo/models/sampling.py, PREFILL_TOKENS). Each line times one `HFPolicies.generate` call that
samples a single token for every row, so it is all prefill: prompts of 60-500 words of real text
(GSM8K where ../shared has it, else a fixed paragraph), rows on three non-zero adapters mixed.
Each budget runs `--repeats` times, interleaved with the others; the best time counts. Ratios are
against the first budget.
"""
import argparse
import random
import time

import torch

import coevo.models.sampling as sampling
from generation import AGENTS, trained_policies
from learner import text_corpus


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--rows", type=int, nargs="+", default=[12, 36])
    ap.add_argument("--budgets", type=int, nargs="+", default=[4096, 2048, 1024, 512])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pol = trained_policies(args.model)
    words = text_corpus().split()
    rng = random.Random(0)
    print(f"{args.model}, {args.threads} threads, fp32, 3 adapters mixed; prefill = generate 1 token a row")
    print(f"{'rows':>4} {'budget':>6} {'prompt tokens':>13} {'best s':>7} {'tok/s':>7} {'vs ' + str(args.budgets[0]):>8}")
    for n in args.rows:
        prompts = []
        for _ in range(n):
            start = rng.randrange(0, len(words) - 500)
            prompts.append(" ".join(words[start:start + rng.randint(60, 500)]))
        agents = [AGENTS[i % len(AGENTS)] for i in range(n)]
        pol.generate(agents[:2], prompts[:2], max_new_tokens=1, temperature=0.8)  # warm-up
        best: dict[int, float] = {}
        for _ in range(args.repeats):
            for budget in args.budgets:
                sampling.PREFILL_TOKENS["cpu"] = budget
                t0 = time.perf_counter()
                outs = pol.generate(agents, prompts, max_new_tokens=1, temperature=0.8)
                best[budget] = min(best.get(budget, float("inf")), time.perf_counter() - t0)
        tokens = sum(len(o.prompt_ids) for o in outs)
        for budget in args.budgets:
            print(f"{n:>4} {budget:>6} {tokens:>13} {best[budget]:7.2f} {tokens / best[budget]:7.0f} "
                  f"{best[args.budgets[0]] / best[budget]:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
