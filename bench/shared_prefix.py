"""Shared prompt prefixes and kept earlier prompts, against prefilling every prompt whole.

    flock /tmp/coevo-bench.lock python bench/shared_prefix.py [--games 12] [--repeats 2]

The same work on three sides, in one process, the sides taking turns (the best of `--repeats`
counts): `whole` (`HFPolicies.share_prefixes` off), `shared` (on: within one generate call), `kept`
(on, and the calls run inside `HFPolicies.keeping_prompts`, as `rollout.play` runs them: a prompt
also starts from an earlier call's prompt of its agent):
- eval: the held-out accuracy batch of experiment=comas (24 tasks x 3 agents, greedy, 48 tokens);
- comas_v0 and negotiation_v0: the generate calls of `--games` games, played once through
  `coevo.rollout.play` with three non-zero adapters and recorded (rows, prompts, limits, stop
  strings, row seeds), then replayed on both sides: the same prompts, whatever each side samples.
  (Playing the games on each side would not compare the same work: a draw that rounding moves
  across a token boundary changes the rest of that game.)
Each line prints the seconds, the positions the prefill forwards computed (rows x padded columns),
the completion tokens, and how many rows' completions differ from the `whole` side's.
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch

from coevo.compose import load_config
from coevo.evaluate import heldout_tasks
from coevo.models.hf import HFPolicies
from coevo.rollout import plan_games, play
from games.tasks import answer_prompt
from generation import AGENTS, COMAS, trained_policies

SIDES = ("whole", "shared", "kept")


def counted(pol: HFPolicies, run) -> tuple[float, int, list]:
    """(seconds, prefill positions, completions) of `run()`."""
    positions = []
    forward = pol.model.forward

    def counting(*a, **k):
        if k["input_ids"].shape[1] > 1:  # prefill (a decoding step feeds one token a row)
            positions.append(k["input_ids"].numel())
        return forward(*a, **k)

    counting.__wrapped__ = forward  # the loop reads the cache argument's name off the signature
    pol.model.forward = counting
    try:
        t0 = time.perf_counter()
        out = run()
        return time.perf_counter() - t0, sum(positions), out
    finally:
        del pol.model.forward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--games", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pol = trained_policies(args.model)
    tasks = heldout_tasks(load_config(["experiment=comas"]))
    eval_rows = [(a, t) for a in AGENTS for t in tasks]

    def held_out():
        outs = pol.generate([a for a, _ in eval_rows], [answer_prompt(t) for _, t in eval_rows], max_new_tokens=48,
                            greedy=True)
        return [o.completion_ids for o in outs]

    def rollout(game: str, options: dict):
        calls = []  # the generate calls of one play-through, to replay
        generate = pol.generate

        def recording(*a, **k):
            calls.append((a, k))
            return generate(*a, **k)

        pol.generate = recording
        try:
            play(pol, game, options, plan_games(game, options, AGENTS, args.games, 1, "rotate", seed=0, iteration=1),
                 temperature=0.8)
        finally:
            del pol.generate

        def run():
            return [o.completion_ids for a, k in calls for o in pol.generate(*a, **k)]
        return run, len(calls)

    work = [(f"eval: {len(tasks)} tasks x {len(AGENTS)} agents, greedy", held_out)]
    for game, options in [("comas_v0", COMAS), ("negotiation_v0", {})]:
        run, ticks = rollout(game, options)
        work.append((f"{game}: {args.games} games, {ticks} ticks", run))
    print(f"# bench/shared_prefix.py  {args.model} fp32  threads={args.threads}  "
          f"cpu={torch.backends.cpu.get_cpu_capability()}  best of {args.repeats}, sides taking turns")
    print(f"{'what':<40} {'side':<7} {'s':>6} {'prefill positions':>17} {'tokens':>7} {'speed-up':>8} "
          f"{'rows differing from whole':>26}")
    held_out()  # warm-up
    for what, run in work:
        best, seen = {}, {}
        for _ in range(args.repeats):
            for side in SIDES:
                pol.share_prefixes = side != "whole"
                with pol.keeping_prompts() if side == "kept" else contextlib.nullcontext():
                    s, positions, out = counted(pol, run)
                if s < best.get(side, (float("inf"), 0))[0]:
                    best[side] = (s, positions)
                seen[side] = out
        for side in SIDES:
            ratio = best["whole"][0] / best[side][0]
            differ = sum(a != b for a, b in zip(seen["whole"], seen[side]))
            print(f"{what:<40} {side:<7} {best[side][0]:6.1f} {best[side][1]:17d} "
                  f"{sum(len(c) for c in seen[side]):7d} {ratio:7.2f}x {differ:>21}/{len(seen[side]):<4}", flush=True)


if __name__ == "__main__":
    main()
