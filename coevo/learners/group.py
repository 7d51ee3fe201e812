"""Several agents' learners in one process, for learners that step one after another anyway.

On a machine with fewer than two cores per learner the driver steps the learners one after another
(`population.parallel_learners: auto`), so a process per learner buys nothing and costs twice: every
Ray worker imports torch and transformers and loads its model before the run starts (most of a
small run's start-up), and each keeps the memory of its largest step after it is done. A
`LearnerGroup` is one actor holding them all; a step's memory is reused by the next learner's. In a
SmolLM2 comas iteration the actors' summed peak memory went from 8.3 to 5.6 GB, the same numbers
coming out (docs/performance.md, "Learners in one process"). LoRA learners on the same base then
share one copy of it, each adapter beside the others on one peft model.

`GroupMember` is one agent's learner seen from the driver: it is called like an actor of its own
(`learners[agent].step.remote(turns)`), so the loop does not care which layout it runs on.
"""
from __future__ import annotations

from coevo.learners.learner import Learner


class LearnerGroup:
    """`Learner(agent, *args)` for each agent of `specs` ({agent: args}), built in that order."""

    def __init__(self, specs: dict[str, tuple]):
        self.learners: dict[str, Learner] = {}
        for agent, args in specs.items():
            # LoRA agents on the same base and model settings hold their adapters on one model: one
            # copy of the frozen base instead of one each (args: model path, model settings, ...)
            twin = next((a for a, other in specs.items() if a in self.learners and other[:2] == args[:2]
                         and args[1]["lora"] is not None), None)
            self.learners[agent] = Learner(agent, *args, share_with=self.learners.get(twin))

    def call(self, agent: str, method: str, *args):
        return getattr(self.learners[agent], method)(*args)


class GroupMember:
    """One agent's learner inside a LearnerGroup actor, with the methods of a Learner actor:
    `member.step.remote(turns)` is `group.call.remote(agent, "step", turns)`."""

    def __init__(self, group, agent: str):
        self.group, self.agent = group, agent

    def __getattr__(self, method: str):  # only for names the instance lacks: Learner's methods
        if method.startswith("_") or "group" not in self.__dict__:  # copy and pickle probing, or unpickling
            raise AttributeError(method)
        return _RemoteMethod(self.group, self.agent, method)


class _RemoteMethod:
    def __init__(self, group, agent: str, method: str):
        self.group, self.agent, self.method = group, agent, method

    def remote(self, *args):
        return self.group.call.remote(self.agent, self.method, *args)
