"""Where the actors run: Ray resource requests for the learners and the rollout worker.

On one machine every actor fits the local Ray and nothing here matters. On a cluster the same run
is placed by configuration (configs/population/*.yaml):

- `population.learner_num_cpus` / `learner_num_gpus` / `learner_resources`: what each learner asks for;
  a custom resource (`{trainer: 1}`, given to nodes by `ray start --resources='{"trainer": 4}'`)
  pins the learners to the nodes that offer it.
- `population.rollout_num_gpus` / `rollout_resources`: the same for the rollout worker; with
  `population.rollout_per_base=true` (agents on several models), for each model's rollout actor
  instead, and the worker that plays the games asks for nothing.
- Learners that step one after another (`population.parallel_learners`) and ask for no placement
  share one actor process (`one_learner_process`).
- `population.learner_strategy`: PACK, SPREAD, STRICT_PACK or STRICT_SPREAD puts the learners in one
  Ray placement group (one bundle per learner): packed on as few nodes as possible, or spread
  across nodes. The rollout is one actor: it needs no strategy.

A request no node can ever meet would make Ray wait forever, so `check_resources` stops the run
first with one line naming the field.
"""
from __future__ import annotations

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from coevo.config import Config, ConfigError


def _nonzero(request: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in request.items() if v}


def check_resources(cfg: Config) -> None:
    """Every resource the actors ask for must exist on some node of the cluster Ray is connected to."""
    pop = cfg.population
    wanted = {"population.learner_num_gpus": {"GPU": pop.learner_num_gpus},
              "population.rollout_num_gpus": {"GPU": pop.rollout_num_gpus},
              "population.learner_resources": pop.learner_resources,
              "population.rollout_resources": pop.rollout_resources}
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for field, request in wanted.items():
        for name, amount in _nonzero(request).items():
            if not any(node.get(name, 0) >= amount for node in nodes):
                have = sorted({k for node in nodes for k in node if not k.startswith("node:")})
                raise ConfigError(f"{field}: no node of this Ray cluster has {amount:g} {name} (the nodes offer: "
                                  f"{', '.join(have)}); start nodes with `ray start --resources=...` or change "
                                  f"{field}")
    if cfg.ray.address:  # on a local Ray the loop caps the learners' CPU request so that they fit
        one = _nonzero({"CPU": pop.learner_num_cpus, "GPU": pop.learner_num_gpus, **pop.learner_resources})
        if not any(all(node.get(k, 0) >= v for k, v in one.items()) for node in nodes):
            raise ConfigError(f"population.learner_num_cpus / learner_num_gpus / learner_resources: no node of "
                              f"this Ray cluster offers one learner's {one} at once; lower the request or add "
                              "a node that has it all")
    if pop.learner_strategy == "STRICT_SPREAD" and len(pop.agents) > len(nodes):
        raise ConfigError(f"population.learner_strategy=STRICT_SPREAD: {len(pop.agents)} learners need as many "
                          f"nodes, the cluster has {len(nodes)}")


def one_learner_process(cfg: Config, parallel: bool) -> bool:
    """Whether the learners share one actor process (coevo/learners/group.py): when they step one
    after another and nothing asks to place them (no strategy, GPU or custom resource)."""
    pop = cfg.population
    return not parallel and pop.learner_strategy == "none" and not pop.learner_num_gpus and not pop.learner_resources


def learner_options(cfg: Config, learner_cpus: float, cleanup) -> list[dict]:
    """`.options(...)` of each learner, in agent order; a placement group when a strategy is set
    (removed by `cleanup`, the run attempt's ExitStack)."""
    pop = cfg.population
    request = _nonzero({"CPU": learner_cpus, "GPU": pop.learner_num_gpus, **pop.learner_resources})
    base = {"num_cpus": learner_cpus, "num_gpus": pop.learner_num_gpus, "resources": pop.learner_resources or None}
    if pop.learner_strategy == "none":
        return [dict(base) for _ in pop.agents]
    group = placement_group([dict(request) for _ in pop.agents], strategy=pop.learner_strategy)
    cleanup.callback(remove_placement_group, group)
    if not group.wait(timeout_seconds=120):
        raise ConfigError(f"population.learner_strategy={pop.learner_strategy}: Ray could not place "
                          f"{len(pop.agents)} learners of {request} in 120 s on this cluster")
    return [{**base, "scheduling_strategy": PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i)}
            for i in range(len(pop.agents))]


def rollout_options(cfg: Config, num_parts: int) -> tuple[dict, dict | None]:
    """The rollout worker's options, and each of its `num_parts` models' (None: the models live in
    the worker, as a single model always does). Neither reserves CPU: the rollout runs while
    learners wait (torch threads share cores)."""
    pop = cfg.population
    request = {"num_cpus": 0, "num_gpus": pop.rollout_num_gpus, "resources": pop.rollout_resources or None}
    if pop.rollout_per_base and num_parts > 1:
        return {"num_cpus": 0}, request
    return request, None
