"""`gold`: 1 when a sample's answer equals the task's gold answer, else 0 (the labelled baseline).

The reward of ordinary RL with verifiable rewards. coevo's methods learn without labels; this
arbiter is their control arm: `experiment=rlccf arbiter=gold population.agents=[agent_1]
game.options.crowd_size=1` trains one model on its own samples, each paid by the label (SOAR's
hard-only baseline: the student trained directly on hard problems, experiments/soar).

Reads rlccf_v0-style outcomes: `answers` (seat -> its answers, one per turn, in play order) and
`gold`. Metrics: `arbiter/individual_accuracy` (= the mean reward) and per agent, and
`arbiter/no_answer_rate`.
"""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from coevo.arbiters import register_arbiter
from coevo.episode import Episode
from games.tasks import answers_match


@register_arbiter("gold")
class GoldArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    READS: ClassVar[tuple[str, ...]] = ("answers", "gold")

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        per_agent: dict[str, list[bool]] = {}
        none = 0
        for ep in episodes:
            for t in ep.turns:
                t.reward = 0.0
            for seat, turns in ep.turns_per_answer(ep.outcome["answers"]).items():
                for t, a in zip(turns, ep.outcome["answers"][seat]):
                    ok = answers_match(a, ep.outcome["gold"])
                    t.reward = float(ok)
                    per_agent.setdefault(t.agent, []).append(ok)
                    none += a is None
        oks = [ok for v in per_agent.values() for ok in v]
        if not oks:
            return {}
        metrics = {"arbiter/individual_accuracy": sum(oks) / len(oks), "arbiter/no_answer_rate": none / len(oks)}
        metrics.update({f"arbiter/individual_accuracy/{a}": sum(v) / len(v) for a, v in sorted(per_agent.items())})
        return metrics
