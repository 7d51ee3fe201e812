"""What an arbiter that trains inside its judgement may do with the population's actors.

SOAR's teacher is rewarded by how much a few RL steps on its problems improve the student
(PAPERS.md section 5). That needs the student's own learner (the inner loop is the normal learner,
not a second trainer) and the rollout worker (to measure the student). The driver hands an
`InnerLoop` to any arbiter that has a `bind` method; every call blocks until the actor is done.
"""
from __future__ import annotations

from coevo.remote import get


class InnerLoop:
    def __init__(self, learners: dict, rollout, max_new_tokens: int, timeout_s: float = 3600.0):
        self._learners, self._rollout, self._max_new_tokens = learners, rollout, max_new_tokens
        self._timeout_s = timeout_s

    def snapshot(self, agent: str):
        """The agent's learner state (adapter, optimizer), kept in Ray's object store."""
        return self._learners[agent].snapshot.remote()

    def restore(self, agent: str, snap) -> None:
        get(self._learners[agent].restore.remote(snap), f"learner {agent} (restore)", self._timeout_s)

    def learn(self, agent: str, turns: list) -> dict[str, float]:
        """One ordinary learner step of `agent` on `turns` (their `reward` and `group` set)."""
        return get(self._learners[agent].step.remote(turns), f"learner {agent} (inner step)", self._timeout_s)

    def solved(self, agent: str, tasks: list) -> list[bool]:
        """Per task, whether the agent's CURRENT learner weights answer it right (greedy, alone).
        It loads those weights into the rollout worker; the driver re-syncs every agent after the
        iteration's learner step, so nothing here leaks into the next rollout."""
        state = get(self._learners[agent].adapter.remote(), f"learner {agent} (adapter)", self._timeout_s)
        get(self._rollout.set_adapters.remote({agent: state}), "rollout worker (set_adapters)", self._timeout_s)
        return get(self._rollout.solved.remote(agent, tasks, self._max_new_tokens), "rollout worker (solved)",
                   self._timeout_s)
