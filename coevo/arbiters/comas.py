"""`comas`: CoMAS interaction rewards (PAPERS.md section 1) for `comas_v0` episodes.

Per round with score tau in {1, 2, 3} (parsed by the game from the scorer's own text):

| turn of round r | tau parsed | tau None (the scorer's text held no valid score) |
|---|---|---|
| solver_0's r-th turn | (tau - 1) / 2 | 0 |
| evaluator_0's r-th turn | 1 - (tau - 1) / 2 | 0 |
| scorer_0's r-th turn | 0 | `unparsed_penalty` (default -1) |

With `scorer_reward=False` (the paper's ablation) the scorer always gets 0, so nothing stops it
from drifting towards high scores and the mean solver reward towards 1.0 (reward hacking).

Why 0 for the solver and evaluator when tau is None: the round carries no judgement of their
work, and inventing one (e.g. the middle score, 0.5 each) is exactly the fallback the paper warns
against; 0 is also what the game's native rewards give a non-result. Only the scorer is blamed.

The r-th turn of seat `solver_0` in `episode.turns` (play order) is round r's solution, likewise
for `evaluator_0` and `scorer_0`; an episode whose turn counts do not match its outcome's rounds
is a framework bug and raises ValueError.

Metrics: `arbiter/score_parse_rate` (rounds with a valid score), `arbiter/mean_score` (over
parsed rounds; absent when none parsed), `arbiter/final_correct_rate` (games whose final answer
is right), `arbiter/mean_reward/{solver,evaluator,scorer}`.
"""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from coevo.arbiters import register_arbiter
from coevo.episode import Episode

SEATS = {"solver": "solver_0", "evaluator": "evaluator_0", "scorer": "scorer_0"}


def round_rewards(score: int | None, scorer_reward: bool = True,
                  unparsed_penalty: float = -1.0) -> dict[str, float]:
    """Rewards of one round by role: the whole rule, as a pure function."""
    if score is None:
        return {"solver": 0.0, "evaluator": 0.0, "scorer": unparsed_penalty if scorer_reward else 0.0}
    if score not in (1, 2, 3):
        raise ValueError(f"a comas score is 1, 2, 3 or None, not {score!r}")
    r = (score - 1) / 2
    return {"solver": r, "evaluator": 1.0 - r, "scorer": 0.0}


@register_arbiter("comas")
class ComasArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # outcome keys it reads: a game whose outcome lacks one is refused at config time
    READS: ClassVar[tuple[str, ...]] = ("rounds", "correct")

    scorer_reward: bool = True  # False: the paper's ablation, the scorer is never penalised
    unparsed_penalty: float = -1.0  # the scorer's reward when its score does not parse

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        scores: list[int] = []
        rounds_total = 0
        correct = 0
        rewards: dict[str, list[float]] = {role: [] for role in SEATS}
        for ep in episodes:
            rounds = ep.outcome.get("rounds")
            if not isinstance(rounds, list):
                raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}) has no outcome['rounds']: "
                                 "the comas arbiter reads comas_v0 outcomes")
            turns = {role: ep.turns_of(seat) for role, seat in SEATS.items()}
            for role, ts in turns.items():
                if len(ts) != len(rounds):
                    raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}): {len(ts)} turns of "
                                     f"{SEATS[role]} but {len(rounds)} rounds in the outcome")
            for t in ep.turns:
                t.reward = 0.0  # turns of seats this rule does not know get 0, never a stale value
            for r, rnd in enumerate(rounds):
                score = rnd.get("score")
                for role, value in round_rewards(score, self.scorer_reward, self.unparsed_penalty).items():
                    turns[role][r].reward = value
                    rewards[role].append(value)
                rounds_total += 1
                if score is not None:
                    scores.append(score)
            correct += bool(ep.outcome.get("correct"))
        if not episodes:
            return {}
        metrics = {
            "arbiter/score_parse_rate": len(scores) / max(rounds_total, 1),
            "arbiter/final_correct_rate": correct / len(episodes),
        }
        if scores:
            metrics["arbiter/mean_score"] = sum(scores) / len(scores)
        for role, values in rewards.items():
            if values:
                metrics[f"arbiter/mean_reward/{role}"] = sum(values) / len(values)
        return metrics
