"""Policies on several models: each agent's rows go to the model it lives on.

A population whose agents all share `model` is one `HFPolicies` (one base, stacked adapters). With
`population.models` some agents sit on bases of their own (RLCCF's crowd of different models):
`RoutedPolicies` holds one `HFPolicies` per base, with the same interface, and splits each tick's
batch by base. Full-weight agents (`model.lora=null`) are routed the same way: each is a model of
its own. By default the bases generate one after another in the rollout worker (on a CPU,
generating them at once would only split the same cores); with `population.rollout_per_base=true`
each base is a Ray actor of its own (a GPU each on a cluster) and they generate at once. Each row
samples from its own seed (sampling.uniform), so what a row samples does not depend on which
part or process generates it. The first part is always `model`: it also serves the frozen base
(`"__base__"`) and any name it does not know.
"""
from __future__ import annotations

import contextlib

import ray
import torch

from coevo.models.hf import Completion, HFPolicies
from coevo.models.sampling import row_seeds
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


def backend_policies(path: str, agents: list[str], model_cfg: dict):
    """The policies of one model on its backend (`model.backend`): hf, or vllm on a GPU."""
    if model_cfg.get("backend") == "vllm":
        from coevo.models.vllm_backend import VLLMPolicies

        return VLLMPolicies.from_config(path, agents, model_cfg)
    return HFPolicies.from_config(path, agents, model_cfg)


def make_policies(parts: list[tuple[str, dict, list[str]]], actor_options: dict | None = None,
                  threads: int | None = None):
    """One base: plain `HFPolicies` (what single-base runs have always used); several: routed,
    each part in a Ray actor of its own when `actor_options` are given (`RoutedPolicies`)."""
    if len(parts) == 1:
        path, model_cfg, agents = parts[0]
        return backend_policies(path, agents, model_cfg)
    return RoutedPolicies(parts, actor_options, threads)


class PolicyPart:
    """One model of a routed rollout and its agents: in the rollout worker, or (with
    `population.rollout_per_base`) in a Ray actor of its own, on its own GPU on a cluster."""

    def __init__(self, path: str, model_cfg: dict, agents: list[str], threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        # a part without agents is the untouched base: it serves only "__base__" rows
        self.policies = backend_policies(path, agents, {**model_cfg, "lora": model_cfg["lora"] if agents else None})
        self._keeping = contextlib.ExitStack()

    def keep_prompts(self, on: bool) -> None:
        """Enter (True) or leave (False) the policies' `keeping_prompts`, where they have one (hf)."""
        if not on:
            self._keeping.close()
        elif hasattr(self.policies, "keeping_prompts"):
            self._keeping.enter_context(self.policies.keeping_prompts())

    def set_adapter(self, agent: str, state) -> None:
        self.policies.set_adapter(agent, state)

    def get_adapter(self, agent: str):
        return self.policies.get_adapter(agent)

    def generate(self, agents, prompts, max_new, stop, temperature, greedy, prefixes, seeds) -> list[Completion]:
        return self.policies.generate(agents, prompts, max_new, stop=stop, temperature=temperature, greedy=greedy,
                                      prefixes=prefixes, seeds=seeds)


class RoutedPolicies:
    """`HFPolicies`' interface over several models. `actor_options` None: the parts live here and
    generate one after another; else each part is a Ray actor with these options (a GPU each, a
    custom resource) and a tick's parts generate at once. Either way the same row seeds give
    the same completions (test_mixed_models.py)."""

    def __init__(self, parts: list[tuple[str, dict, list[str]]], actor_options: dict | None = None,
                 threads: int | None = None):
        self.remote = actor_options is not None
        if self.remote:
            actor = ray.remote(PolicyPart).options(**actor_options)
            self.parts = [actor.remote(path, model_cfg, agents, threads) for path, model_cfg, agents in parts]
        else:
            self.parts = [PolicyPart(path, model_cfg, agents) for path, model_cfg, agents in parts]
        self.route = {agent: k for k, (_, _, agents) in enumerate(parts) for agent in agents}

    def _start(self, k: int, method: str, *args):
        """Call part k's method: its result here, or a Ray reference to it (`_results` waits)."""
        fn = getattr(self.parts[k], method)
        return fn.remote(*args) if self.remote else fn(*args)

    def _results(self, started: list) -> list:
        return ray.get(started) if self.remote else started

    @contextlib.contextmanager
    def keeping_prompts(self):
        """Every part keeps its prompts' keys and values while inside (`HFPolicies.keeping_prompts`)."""
        self._results([self._start(k, "keep_prompts", True) for k in range(len(self.parts))])
        try:
            yield
        finally:
            self._results([self._start(k, "keep_prompts", False) for k in range(len(self.parts))])

    def set_adapter(self, agent: str, state) -> None:
        self._results([self._start(self.route.get(agent, 0), "set_adapter", agent, state)])

    def get_adapter(self, agent: str):
        return self._results([self._start(self.route.get(agent, 0), "get_adapter", agent)])[0]

    def generate(self, agents: list[str], prompts: list[str], max_new_tokens: list[int] | int,
                 stop: list[list[str]] | None = None, temperature: float = 1.0, greedy: bool = False,
                 prefixes: list[str] | None = None, seeds: list[int] | None = None) -> list[Completion]:
        """`HFPolicies.generate`, row i on agent i's model; results in row order."""
        n = len(prompts)
        max_new = [max_new_tokens] * n if isinstance(max_new_tokens, int) else list(max_new_tokens)
        seeds = None if greedy else row_seeds(seeds, n)
        by_part: dict[int, list[int]] = {}
        for i, agent in enumerate(agents):
            by_part.setdefault(self.route.get(agent, 0), []).append(i)
        started = []
        for k, rows in sorted(by_part.items()):
            pick = lambda xs: [xs[i] for i in rows] if xs is not None else None  # noqa: E731
            started.append(self._start(k, "generate", pick(agents), pick(prompts), pick(max_new), pick(stop),
                                       temperature, greedy, pick(prefixes), pick(seeds)))
        out: list[Completion | None] = [None] * n
        for (_, rows), done in zip(sorted(by_part.items()), self._results(started)):
            for i, completion in zip(rows, done):
                out[i] = completion
        return out
