"""Policies on several models: each agent's rows go to the model it lives on.

A population whose agents all share `model` is one `HFPolicies` (one base, stacked adapters). With
`population.models` some agents sit on bases of their own (RLCCF's crowd of different models):
`RoutedPolicies` holds one `HFPolicies` per base, with the same interface, and splits each tick's
batch by base. Full-weight agents (`model.lora=null`) are routed the same way: each is a model of
its own. The bases generate one after another, in a fixed order, so sampling stays a
function of the seed (runs replay exactly on resume); on this CPU, generating them at once would
only split the same cores. The first part is always `model`: it also serves the frozen base
(`"__base__"`) and any name it does not know.
"""
from __future__ import annotations

from coevo.models.hf import Completion, HFPolicies
from coevo.models.store import resolve_model


def policy_parts(cfg, agents: list[str]) -> list[tuple[str, dict, list[str]]]:
    """(model path, model config, agents) per model the rollout holds, `cfg.model` first; agents keep
    their order. LoRA agents on one base share it; a full-weight agent (`model.lora=null`) is a
    model of its own, and the first part is then the untouched base."""
    parts: dict[tuple, tuple[str, dict, list[str]]] = {}
    default = cfg.model.model_dump()
    parts[(default["name"], str(default["lora"]), None)] = (resolve_model(default["name"]), default, [])
    for agent in agents:
        own = cfg.model_of(agent).model_dump()
        key = (own["name"], str(own["lora"]), agent if own["lora"] is None else None)
        parts.setdefault(key, (resolve_model(own["name"]), own, []))[2].append(agent)
    return list(parts.values())


def make_policies(parts: list[tuple[str, dict, list[str]]]):
    """One base: plain `HFPolicies` (what single-base runs have always used); several: routed."""
    if len(parts) == 1:
        path, model_cfg, agents = parts[0]
        return HFPolicies.from_config(path, agents, model_cfg)
    return RoutedPolicies(parts)


class RoutedPolicies:
    def __init__(self, parts: list[tuple[str, dict, list[str]]]):
        self.parts = [HFPolicies.from_config(path, agents, {**model_cfg, "lora": model_cfg["lora"] if agents else None})
                      for path, model_cfg, agents in parts]
        self.route = {agent: k for k, (_, _, agents) in enumerate(parts) for agent in agents}

    def _part(self, agent: str) -> HFPolicies:
        return self.parts[self.route.get(agent, 0)]

    def set_adapter(self, agent: str, state) -> None:
        self._part(agent).set_adapter(agent, state)

    def get_adapter(self, agent: str):
        return self._part(agent).get_adapter(agent)

    def generate(self, agents: list[str], prompts: list[str], max_new_tokens: list[int] | int,
                 stop: list[list[str]] | None = None, temperature: float = 1.0, greedy: bool = False,
                 prefixes: list[str] | None = None) -> list[Completion]:
        """`HFPolicies.generate`, row i on agent i's base; results in row order."""
        n = len(prompts)
        max_new = [max_new_tokens] * n if isinstance(max_new_tokens, int) else list(max_new_tokens)
        by_part: dict[int, list[int]] = {}
        for i, agent in enumerate(agents):
            by_part.setdefault(self.route.get(agent, 0), []).append(i)
        out: list[Completion | None] = [None] * n
        for k in sorted(by_part):  # a fixed order: the sampling RNG is drawn the same way every run
            rows = by_part[k]
            pick = lambda xs: [xs[i] for i in rows] if xs is not None else None  # noqa: E731
            done = self.parts[k].generate(pick(agents), pick(prompts), pick(max_new), stop=pick(stop),
                                          temperature=temperature, greedy=greedy, prefixes=pick(prefixes))
            for i, completion in zip(rows, done):
                out[i] = completion
        return out
