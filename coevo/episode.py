"""Records of what happened in a game: one Turn per action, one Episode per game instance.

These are the only objects that travel between rollout, arbiter and learners, so they are plain
dataclasses that pickle cheaply (Ray) and serialise to JSON (transcripts.jsonl).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The frozen base model with no adapter, as an agent name: it plays the seats of
# `population.base_roles` (a solver that only measures, a rule-keeping moderator) and never trains.
BASE_AGENT = "__base__"


@dataclass
class Turn:
    """One action: `agent` (a policy of the population) acting in game seat `seat` (e.g. solver_0)."""

    agent: str
    seat: str
    prompt_text: str
    completion_text: str
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)  # sampling logprob of each completion token
    reward: float = 0.0  # training reward, written by the arbiter
    group: str = ""  # turns in one group are compared by group-normalised advantages (GRPO, RLOO)
    # False: the agent's learner skips this turn in the iteration's update (an arbiter that already
    # trained on it, like soar's inner loop, clears it)
    train: bool = True

    def to_json(self, with_ids: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_ids:
            for k in ("prompt_ids", "completion_ids", "logprobs"):
                d.pop(k)
        return d


@dataclass
class Episode:
    """One finished game instance."""

    game: str
    seed: int
    seats: dict[str, str]  # seat -> agent
    task: dict[str, Any] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)  # what the game recorded (infos)
    native_rewards: dict[str, float] = field(default_factory=dict)  # PettingZoo rewards per seat

    def turns_of(self, seat: str) -> list[Turn]:
        return [t for t in self.turns if t.seat == seat]

    def turns_per_answer(self, answers: dict[str, list]) -> dict[str, list[Turn]]:
        """seat -> its turns in play order, where the outcome records one entry per turn of each
        seat (`answers[seat]`, e.g. rlccf's samples); a count that differs is a framework bug."""
        turns = {seat: self.turns_of(seat) for seat in answers}
        for seat, ts in turns.items():
            if len(ts) != len(answers[seat]):
                raise ValueError(f"episode (game {self.game!r}, seed {self.seed}): {len(ts)} turns of "
                                 f"{seat} but {len(answers[seat])} answers in the outcome")
        return turns

    def to_json(self, with_ids: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d["turns"] = [t.to_json(with_ids) for t in self.turns]
        return d
