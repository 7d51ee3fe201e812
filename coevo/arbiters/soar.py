"""`soar`: the teacher earns the student's gain on a hard set after a few steps on its problems (PAPERS.md 5).

For the `soar_v0` games of one iteration (each: one teacher problem, n student answers):

1. The first call fixes the hard set: `hard_pool` problems of `hard_tasks` (drawn from its TRAIN
   split with `seed`; a held-out evaluation, `eval.tasks`, draws the TEST split: for a JSONL
   source those are other problems; the procedural arithmetic source has one distribution, so the
   two draws are separate random streams that share a problem only by chance) that the student
   answers wrong, greedy and alone, at that moment; at most `hard_size` of them.
   It never changes after that, and it is saved in checkpoints (`state_dict`), so a resumed run
   measures on the same problems. (SOAR uses fail@128 MATH problems; at CPU scale a greedy
   failure is the stand-in.)
2. acc_0 = the student's hard-set accuracy now.
3. The games are cut into batches of `problems_per_batch` consecutive games. For each batch, from
   the same saved student state (its learner's adapter and optimizer, `InnerLoop.snapshot`):
   `inner_steps` ordinary learner steps of the student on the batch's student turns, each answer
   rewarded 1 when it equals the teacher's answer, else 0, grouped per problem (so RLOO compares
   the n answers to one problem); then gain_b = hard-set accuracy - acc_0.
4. Every teacher turn of batch b earns gain_b; a teacher turn whose problem was illegal earns
   `invalid_problem_reward` instead (it taught nothing). All teacher turns of the iteration form one
   group, so RLOO compares batches with each other.
5. Promotion: if the best gain > `tau`, the student keeps the weights it had after training on that
   batch; otherwise it goes back to the saved state. Either way its turns are marked
   `train=False`: the student learns only here, never in the iteration's ordinary step.

The student learns only through its own learner (`InnerLoop.learn` is `Learner.step`), so the
inner loop is the normal learner with the run's algo settings, not a second trainer.

The seats must keep their agents for the whole iteration (`population.seating: fixed`), and the
student must be a trainable agent (not in `population.base_roles`); otherwise a ValueError.

Metrics: `arbiter/hard_size`, `arbiter/hard_acc_before`, `arbiter/gain_mean`, `arbiter/gain_best`,
`arbiter/promoted` (0/1), `arbiter/valid_problem_rate`, `arbiter/student_agreement` (share of
student answers equal to the teacher's answer), and `arbiter/validity_share`: the share of the
variance of the teacher's rewards that well-formed vs malformed problems explain (between-group
variance / total; 1: the teacher learns only to write parseable problems, 0: only the student's
real gains tell its batches apart; 0 when the rewards do not vary).
"""
from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from coevo.arbiters import register_arbiter
from coevo.episode import BASE_AGENT, Episode
from games.tasks import Task, TaskSourceConfig, make_task_source


def validity_share(rewards: list[tuple[bool, float]]) -> float:
    """Between-group (valid / invalid) variance over total variance of the teacher's rewards."""
    if not rewards:
        return 0.0
    mean = sum(r for _, r in rewards) / len(rewards)
    total = sum((r - mean) ** 2 for _, r in rewards)
    if total == 0:
        return 0.0
    between = 0.0
    for group in (True, False):
        rs = [r for v, r in rewards if v == group]
        if rs:
            between += len(rs) * (sum(rs) / len(rs) - mean) ** 2
    return between / total


def batches(n_games: int, size: int) -> list[range]:
    """Consecutive game indices, `size` at a time (the last batch may be smaller)."""
    return [range(i, min(i + size, n_games)) for i in range(0, n_games, size)]


@register_arbiter("soar")
class SoarArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # outcome keys it reads: a game whose outcome lacks one is refused at config time
    READS: ClassVar[tuple[str, ...]] = ("student_correct", "valid")

    problems_per_batch: int = Field(2, ge=1, description="n: problems the student trains on together")
    inner_steps: int = Field(1, ge=1, description="student learner steps per batch")
    tau: float = Field(0.01, description="promotion threshold on the hard-set accuracy gain")
    hard_tasks: TaskSourceConfig = Field(default_factory=lambda: TaskSourceConfig(difficulty=3))
    hard_pool: int = Field(32, ge=1, description="candidate problems screened for the hard set")
    hard_size: int = Field(16, ge=1, description="at most this many failed problems form the hard set")
    seed: int = 0
    invalid_problem_reward: float = -1.0

    _inner: Any = PrivateAttr(default=None)
    _hard: list[Task] | None = PrivateAttr(default=None)

    # ---- what the driver calls -------------------------------------------------------------------
    def bind(self, inner_loop) -> None:
        self._inner = inner_loop

    def state_dict(self) -> dict:
        return {"hard_set": None if self._hard is None else [asdict(t) for t in self._hard]}

    def load_state_dict(self, state: dict) -> None:
        hard = state.get("hard_set")
        self._hard = None if hard is None else [Task(**t) for t in hard]

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        if not episodes:
            return {}
        if self._inner is None:
            raise RuntimeError("the soar arbiter trains the student: the driver must bind() it to the learners")
        teacher, student = self._agents(episodes)
        inner = self._inner
        if self._hard is None:
            source, rng = make_task_source(self.hard_tasks), random.Random(f"soar-hard/{self.seed}")
            pool = [source.sample(rng, "train") for _ in range(self.hard_pool)]
            ok = inner.solved(student, pool)
            self._hard = [t for t, right in zip(pool, ok) if not right][: self.hard_size]
        acc0 = self._accuracy(student)
        start = inner.snapshot(student)
        gains, best, best_state = [], None, None
        for b, idx in enumerate(batches(len(episodes), self.problems_per_batch)):
            turns = []
            for i in idx:
                ep = episodes[i]
                for k, t in enumerate(ep.turns_of("student_0")):
                    t.reward = float(ep.outcome["student_correct"][k])
                    t.group = f"soar/{b}/{i}"  # RLOO over the n answers to one problem
                    t.train = False  # trained here; the ordinary step must not train on it again
                    turns.append(t)
            if not turns:  # no valid problem in the batch: nothing to learn, no gain
                gains.append(0.0)
                continue
            inner.restore(student, start)
            for _ in range(self.inner_steps):
                inner.learn(student, turns)
            gains.append(self._accuracy(student) - acc0)
            if best is None or gains[-1] > best:
                best, best_state = gains[-1], inner.snapshot(student)
        promoted = best is not None and best > self.tau
        inner.restore(student, best_state if promoted else start)
        for b, idx in enumerate(batches(len(episodes), self.problems_per_batch)):
            for i in idx:
                ep = episodes[i]
                for t in ep.turns_of("teacher_0"):
                    t.reward = gains[b] if ep.outcome["valid"] else self.invalid_problem_reward
                    t.group = "soar/teacher"  # RLOO compares the batches' gains
        answers = [c for ep in episodes for c in ep.outcome["student_correct"]]
        rewards = [(ep.outcome["valid"], t.reward) for ep in episodes for t in ep.turns_of("teacher_0")]
        return {
            "arbiter/validity_share": validity_share(rewards),
            "arbiter/hard_size": float(len(self._hard)),
            "arbiter/hard_acc_before": acc0,
            "arbiter/gain_mean": sum(gains) / len(gains),
            "arbiter/gain_best": max(gains),
            "arbiter/promoted": float(promoted),
            "arbiter/valid_problem_rate": sum(ep.outcome["valid"] for ep in episodes) / len(episodes),
            "arbiter/student_agreement": sum(answers) / len(answers) if answers else 0.0,
        }

    # ---- helpers -------------------------------------------------------------------------------
    def _accuracy(self, student: str) -> float:
        if not self._hard:
            return 0.0
        ok = self._inner.solved(student, self._hard)
        return sum(ok) / len(ok)

    @staticmethod
    def _agents(episodes: list[Episode]) -> tuple[str, str]:
        teachers = {ep.seats["teacher_0"] for ep in episodes}
        students = {ep.seats["student_0"] for ep in episodes}
        if len(teachers) != 1 or len(students) != 1:
            raise ValueError(f"soar needs one teacher and one student for the whole iteration (population.seating: "
                             f"fixed); got teachers {sorted(teachers)}, students {sorted(students)}")
        (teacher,), (student,) = teachers, students
        if student == BASE_AGENT or student == teacher:
            raise ValueError(f"soar's student must be its own trainable agent, got {student!r} "
                             f"(teacher {teacher!r}); check population.agents and base_roles")
        return teacher, student
