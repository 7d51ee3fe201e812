"""`spc`: SPC's zero-sum rewards (PAPERS.md section 2) for `spc_v0` episodes.

| turn | reward |
|---|---|
| sneaky_0, valid rewrite, the critic fooled (its verdict on the altered step is not Incorrect) | +1 |
| sneaky_0, valid rewrite, the critic says Incorrect | -1 |
| sneaky_0, invalid rewrite (empty, unchanged, or the solvers did not do worse) | `invalid_reward` (default 0: it earns nothing) |
| critic_0, each judgement | +1 when its verdict is the truth, else -1 (an unparseable verdict is wrong) |
| solver_0 / solver_1 | 0, and `train=False`: the solvers only measure |

On the altered step the game is zero-sum: the critic's reward is minus the sneaky's. The
judgement of the original step (`judge_original`) is the critic's alone: it keeps the critic from
learning "every step I am shown is wrong".

The k-th critic turn in `episode.turns` (play order) is judgement k of `outcome["judgements"]`;
a mismatch is a framework bug and raises ValueError.

Learner: SPC trains with an offline clipped importance-ratio loss plus 0.15 x SFT NLL on the
chosen samples: `algo=spc` (loss `spc`; the learner marks turns with reward > 0 as chosen).

Metrics: `arbiter/valid_rate` (valid rewrites / games), `arbiter/invalid/<reason>` (share of
games), `arbiter/mean_drop` (success drop over games whose solvers played), `arbiter/success_original`,
`arbiter/success_altered`, `arbiter/fool_rate` (fooled / valid rewrites; absent without one),
`arbiter/critic_accuracy` and `/altered`, `/original`, `arbiter/verdict_parse_rate`,
`arbiter/mean_reward/{sneaky,critic}`.
"""
from __future__ import annotations

from collections import defaultdict

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from coevo.arbiters import register_arbiter
from coevo.episode import Episode


def sneaky_reward(outcome: dict, invalid_reward: float = 0.0) -> float:
    """The generator's reward for one game: the whole rule, as a pure function."""
    if not outcome["valid"]:
        return invalid_reward
    return 1.0 if outcome["fooled"] else -1.0


def judgement_reward(judgement: dict) -> float:
    return 1.0 if judgement["right"] else -1.0


@register_arbiter("spc")
class SpcArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # outcome keys it reads: a game whose outcome lacks one is refused at config time
    READS: ClassVar[tuple[str, ...]] = ("judgements", "valid", "fooled")

    invalid_reward: float = 0.0  # the sneaky's reward for a rewrite that does not break the solution

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        if not episodes:
            return {}
        per_role: dict[str, list[float]] = defaultdict(list)
        right: dict[str, list[bool]] = defaultdict(list)
        invalid: dict[str, int] = defaultdict(int)
        drops, success = [], {"original": [], "altered": []}
        valid = fooled = parsed = verdicts = 0
        for ep in episodes:
            out = ep.outcome
            if "judgements" not in out or "valid" not in out:
                raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}) has no outcome['judgements']: "
                                 "the spc arbiter reads spc_v0 outcomes")
            critic_turns = ep.turns_of("critic_0")
            if len(critic_turns) != len(out["judgements"]):
                raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}): {len(critic_turns)} critic turns "
                                 f"but {len(out['judgements'])} judgements in the outcome")
            for t in ep.turns:
                t.reward = 0.0
                if t.seat.startswith("solver_"):
                    t.train = False
            for t in ep.turns_of("sneaky_0"):
                t.reward = sneaky_reward(out, self.invalid_reward)
                per_role["sneaky"].append(t.reward)
            for t, j in zip(critic_turns, out["judgements"]):
                t.reward = judgement_reward(j)
                per_role["critic"].append(t.reward)
                right[j["step"]].append(bool(j["right"]))
                parsed += j["verdict"] is not None
                verdicts += 1
            valid += bool(out["valid"])
            fooled += bool(out["valid"] and out["fooled"])
            if out["invalid_reason"]:
                invalid[out["invalid_reason"]] += 1
            if out["drop"] is not None:
                drops.append(out["drop"])
                for v in success:
                    success[v].append(out[f"success_{v}"])
        n = len(episodes)
        metrics = {"arbiter/valid_rate": valid / n}
        metrics.update({f"arbiter/invalid/{reason.replace(' ', '_')}": k / n for reason, k in sorted(invalid.items())})
        if drops:
            metrics["arbiter/mean_drop"] = sum(drops) / len(drops)
            metrics.update({f"arbiter/success_{v}": sum(s) / len(s) for v, s in success.items()})
        if valid:
            metrics["arbiter/fool_rate"] = fooled / valid
        all_right = [r for rs in right.values() for r in rs]
        if all_right:
            metrics["arbiter/critic_accuracy"] = sum(all_right) / len(all_right)
            metrics["arbiter/verdict_parse_rate"] = parsed / verdicts
        metrics.update({f"arbiter/critic_accuracy/{v}": sum(rs) / len(rs) for v, rs in sorted(right.items())})
        metrics.update({f"arbiter/mean_reward/{k}": sum(v) / len(v) for k, v in per_role.items()})
        return metrics
