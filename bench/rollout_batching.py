"""Batched rollout vs one game at a time, same games, same model, in one run; prints the ratio.
Then, for comas and negotiation, how many decoding steps any batching could still save.

    flock /tmp/coevo-bench.lock python bench/rollout_batching.py [--model smollm2-135m] [--games 12]

The batched path is what `coevo train` does: every tick, one generate call for all pending turns.
The sequential path plays each game alone (one row per generate call).

Decoding steps: a tick of lockstep batching decodes until its longest completion ends, so a
rollout takes the sum over ticks of each tick's longest completion. Continuous batching (a game's
next turn joins the running batch as soon as its last one ends) still decodes a game's turns one
after another, so it needs at least as many steps as the longest game has completion tokens. The
ratio of the two is the most that continuous batching could cut from the number of decoding steps
(the weight reads that dominate a small batch's step), counted on the batched run's own games.
"""
import argparse
import time

import torch

from coevo.models.hf import HFPolicies
from coevo.models.store import resolve_model
from coevo.rollout import plan_games, play

AGENTS = ["agent_0", "agent_1", "agent_2"]
# this bench's comas budgets, smaller than bench/generation.py's COMAS (its tables were printed with these)
COMAS_OPTIONS = {"max_new_tokens": {"solver": 64, "evaluator": 48, "scorer": 8}}


def decoding_steps(episodes) -> tuple[int, int, int]:
    """(steps of lockstep ticks, completion tokens of the longest game, all completion tokens), for
    games in which one seat moves a tick (comas, negotiation), so a game's turn t is in tick t."""
    lengths = [[len(t.completion_ids) for t in ep.turns] for ep in episodes]
    ticks = max(map(len, lengths), default=0)
    lockstep = sum(max(game[t] for game in lengths if len(game) > t) for t in range(ticks))
    return lockstep, max(map(sum, lengths), default=0), sum(map(sum, lengths))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--games", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    policies = HFPolicies(resolve_model(args.model), AGENTS, {"r": 16, "alpha": 32, "target_modules": "all-linear"},
                          dtype="float32", device="cpu")
    plans = plan_games("comas_v0", COMAS_OPTIONS, AGENTS, args.games, 1, "rotate", seed=0, iteration=1)
    results = {}
    for name, batches in [("batched", [plans]), ("one game at a time", [[p] for p in plans])]:
        torch.manual_seed(0)
        t0, tokens, calls = time.perf_counter(), 0, 0
        for batch in batches:
            episodes, stats = play(policies, "comas_v0", COMAS_OPTIONS, batch, temperature=0.8)
            tokens, calls = tokens + stats.completion_tokens, calls + stats.generate_calls
        seconds = time.perf_counter() - t0
        results[name] = tokens / seconds
        if name == "batched":  # one play of all the games: the episodes the step count reads
            batched = episodes
        print(f"{name:<20} {args.games} games  {calls:3d} generate calls  {tokens:5d} tokens  "
              f"{seconds:7.1f} s  {tokens / seconds:6.1f} tokens/s")
    print(f"batched / one-at-a-time throughput: {results['batched'] / results['one game at a time']:.2f}x")

    negotiation = plan_games("negotiation_v0", {}, AGENTS, 32, 1, "rotate", seed=0, iteration=1)
    torch.manual_seed(0)
    runs = [("comas_v0", args.games, batched),
            ("negotiation_v0", 32, play(policies, "negotiation_v0", {}, negotiation, temperature=0.8)[0])]
    print(f"{'decoding steps':<16} {'games':>5} {'lockstep ticks':>15} {'longest game':>13} {'most saved':>11} "
          f"{'rows a step':>12}")
    for game, n, episodes in runs:
        lockstep, longest, tokens = decoding_steps(episodes)
        print(f"{game:<16} {n:>5} {lockstep:>15} {longest:>13} {lockstep / longest:>10.2f}x {tokens / lockstep:>12.1f}")


if __name__ == "__main__":
    main()
