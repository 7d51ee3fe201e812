"""`population`: who the agents are, on which bases, how many games they play, where their actors
run, which roles train when, and the league of their frozen snapshots."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from coevo.config.base import Strict
from coevo.config.model import AgentModel


class LeagueConfig(Strict):
    """Games against frozen snapshots of the agents (coevo/league.py)."""

    snapshot_every: int = Field(0, ge=0)  # put every agent's adapter in the pool every k iterations; 0: no league
    opponents: Literal["uniform", "latest", "rated", "none"] = "uniform"  # which snapshot a league game seats
    share: float = Field(0.5, ge=0.0, le=1.0)  # fraction of the games (task groups) played against the pool
    max_snapshots: int = Field(8, ge=1)  # pool size: the oldest snapshot leaves when a new one does not fit


class TrainSchedule(Strict):
    """Which roles' turns train in which iteration (coevo/loop.py `trains_now`)."""

    # every: all roles every iteration; alternate: `roles` take turns, `block` iterations each
    # (SPC's alternating rounds: roles=[sneaky, critic]); a role not in `roles` never trains
    # (a frozen-opponent arm: mode=alternate roles=[critic]). `roles` with mode=every is refused:
    # every role would train, whatever the list says
    mode: Literal["every", "alternate"] = "every"
    block: int = Field(1, ge=1)
    roles: list[str] = Field(default_factory=list)


class PopulationConfig(Strict):
    agents: list[str] = Field(default_factory=lambda: ["agent_0", "agent_1", "agent_2"], min_length=1)
    # agents on base models of their own, e.g. {agent_1: {name: tiny-wide}} (a crowd of different
    # models); also written inline: agents=[{name: agent_0, model: smollm2-135m}, agent_1]. The
    # rest, and the frozen base of base_roles and vs_base, use `model`.
    models: dict[str, AgentModel] = Field(default_factory=dict)
    seating: Literal["rotate", "fixed"] = "rotate"  # rotate: every agent plays every seat over a batch
    games_per_iteration: int = Field(12, ge=1)
    games_per_task: int = Field(1, ge=1)  # >1 gives GRPO/RLOO groups of games on the same task
    # where the actors run on a Ray cluster (coevo/placement.py): what each learner and the rollout
    # worker ask for; a custom resource ({trainer: 1}) pins them to the nodes that offer it
    learner_num_cpus: float = Field(0.5, gt=0.0)
    learner_num_gpus: float = Field(0.0, ge=0.0)
    learner_resources: dict[str, float] = Field(default_factory=dict)
    # none, or a Ray placement group of the learners: PACK/STRICT_PACK (few nodes), SPREAD/STRICT_SPREAD
    learner_strategy: Literal["none", "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "none"
    rollout_num_gpus: float = Field(0.0, ge=0.0)
    rollout_resources: dict[str, float] = Field(default_factory=dict)
    # agents on several models (`models`, full weights): each model in a rollout actor of its own,
    # asking for rollout_num_gpus / rollout_resources, the models generating at once
    rollout_per_base: bool = False
    # learners step at once (Ray actors in parallel) or one after another, each with every core.
    # auto: at once when each gets 2 cores or more, a GPU, or a cluster. On 2 cores, 3 learners at
    # once (1 thread each) took 1.14x as long as one after another (bench/learner.py --part parallel).
    parallel_learners: bool | Literal["auto"] = "auto"
    # roles played by the frozen base model (no adapter, never trained), e.g. spc's solver
    base_roles: list[str] = Field(default_factory=list)
    league: LeagueConfig = Field(default_factory=LeagueConfig)
    train_schedule: TrainSchedule = Field(default_factory=TrainSchedule)

    @model_validator(mode="before")
    @classmethod
    def _inline_agent_models(cls, data):
        """agents=[{name: a0, model: M, lora: {...}}, a1] -> agents=[a0, a1], models={a0: {name: M, lora}}."""
        if not isinstance(data, dict) or not any(isinstance(a, dict) for a in data.get("agents") or []):
            return data
        agents, models = [], dict(data.get("models") or {})
        for entry in data["agents"]:
            if not isinstance(entry, dict):
                agents.append(entry)
                continue
            entry = dict(entry)
            name = entry.pop("name", None)
            if not isinstance(name, str):
                raise ValueError(f"agents: {entry} needs a name (an agent is a name, or {{name, model, lora}})")
            if "model" in entry:
                models[name] = {"name": entry.pop("model"), **({"lora": entry.pop("lora")} if "lora" in entry else {})}
            if entry:
                raise ValueError(f"agents: {name} has unknown keys {sorted(entry)} (an agent has name, model, lora)")
            agents.append(name)
        return {**data, "agents": agents, "models": models}

    @field_validator("models", "learner_resources", "rollout_resources", mode="before")
    @classmethod
    def _none_is_empty(cls, v):
        return {} if v is None else v  # the yaml says null, so that an override sets the mapping whole

    @model_validator(mode="after")
    def _models_of_agents(self):
        strangers = [a for a in self.models if a not in self.agents]
        if strangers:
            raise ValueError(f"models: {strangers} are not agents of the population ({self.agents})")
        if self.models and self.league.snapshot_every:  # a snapshot is an adapter of `model`
            raise ValueError("league: snapshots of agents on base models of their own are not supported yet; "
                             "leave population.models empty or population.league.snapshot_every=0")
        league = self.league
        if league.snapshot_every and league.max_snapshots < len(self.agents):
            # every agent enters the pool at once: a smaller pool evicts some of them on arrival
            raise ValueError(f"league.max_snapshots={league.max_snapshots}: each snapshot adds all "
                             f"{len(self.agents)} agents to the pool; make it at least {len(self.agents)}")
        return self

    @field_validator("learner_resources", "rollout_resources")
    @classmethod
    def _custom_resources(cls, v: dict[str, float]) -> dict[str, float]:
        if any(k in ("CPU", "GPU", "memory") for k in v):
            raise ValueError("CPU and GPU are asked for by *_num_cpus / *_num_gpus; name custom resources here")
        bad = {k: x for k, x in v.items() if not x > 0}
        if bad:
            raise ValueError(f"amounts must be positive, got {bad}")
        return v

    @field_validator("agents")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"agent names must be unique, got {v}")
        if "__base__" in v:
            raise ValueError("'__base__' names the frozen base model; choose another agent name")
        if any(a == "league" or re.fullmatch(r"league_\d+", a) for a in v):
            raise ValueError("league and league_<k> name the league's snapshots; choose another agent name")
        bad = [a for a in v if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", a)]
        if bad:  # a name is a folder of the checkpoint and a metric key: no '/', no spaces
            raise ValueError(f"agent names are letters, digits, '_', '.', '-' (up to 64), got {bad}")
        return v
