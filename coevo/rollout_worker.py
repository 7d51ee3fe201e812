"""The rollout side as a Ray actor: the shared base model with every agent's adapter (or, with
agents on bases of their own, one such model per base, here or in actors of their own:
coevo/models/routed.py).

It plays an iteration's games and answers held-out evaluation; after every learner step it loads
the new adapter weights, fetched straight from the learners (`set_adapters`), so it never reloads
the base.
"""
from __future__ import annotations

import ray
import torch

import games

from coevo.evaluate import EvalContext, evaluate, solved
from coevo.models.routed import make_policies
from coevo.rollout import GamePlan, play


class RolloutWorker:
    def __init__(self, parts: list[tuple[str, dict, list[str]]], threads: int | None = None,
                 game_module: str | None = None, part_options: dict | None = None):
        """`parts`: (model path, model config, agents) per base model (`policy_parts`);
        `part_options`: each part a Ray actor of its own with these options (`rollout_options`)."""
        if threads:
            torch.set_num_threads(threads)
        if game_module:  # a user's game registers itself in the process that plays it
            games.import_game_module(game_module)
        self.policies = make_policies(parts, part_options, threads and max(1, threads // len(parts)))

    def set_adapters(self, states: dict[str, dict[str, torch.Tensor] | ray.ObjectRef]) -> None:
        """Load each named adapter: a state dict, or a reference to one (a learner's `adapter()`
        call, fetched here rather than through the driver)."""
        refs = {name: s for name, s in states.items() if isinstance(s, ray.ObjectRef)}
        fetched = dict(zip(refs, ray.get(list(refs.values())))) if refs else {}
        for name, state in states.items():
            self.policies.set_adapter(name, fetched.get(name, state))

    def adapters(self, names: list[str]) -> dict[str, dict[str, torch.Tensor]]:
        """The named adapters' weights (the league's snapshots, for a checkpoint)."""
        return {n: self.policies.get_adapter(n) for n in names}

    def play(self, game: str, options: dict, plans: list[GamePlan], temperature: float):
        # sampling is a function of the plans' game seeds (rollout.play): resumed runs replay it
        return play(self.policies, game, options, plans, temperature)

    def evaluate(self, agents: list[str], tasks: list, measures: list[str], ctx: EvalContext) -> dict[str, float]:
        return evaluate(self.policies, agents, tasks, measures, ctx)

    def solved(self, agent: str, tasks: list, max_new_tokens: int) -> list[bool]:
        return solved(self.policies, [agent], tasks, max_new_tokens)[agent]


RolloutActor = ray.remote(RolloutWorker)
