"""Every config group as a pydantic model, and `validate`, which turns a composed dict into a Config.

pydantic validates with extra="forbid"; a mistake ends up as one `ConfigError` whose message names
the field and what is allowed, never as a stack trace. How CLI overrides become that dict (hydra's
composition of `configs/`, or a run's saved config.yaml) is coevo/compose.py.

The larger sections have files of their own: `model` in model.py, `population` in population.py;
what they are all built on (`Strict`, `ConfigError`) in base.py. Import them from here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from coevo.config.base import CONFIG_DIR, ConfigError, Strict, pydantic_lines, registered
from coevo.config.model import AgentModel, LoraSettings, ModelConfig
from coevo.config.population import LeagueConfig, PopulationConfig, TrainSchedule
from coevo.evaluate import measures_of
from games.tasks import TaskSourceConfig

__all__ = ["CONFIG_DIR", "AgentModel", "AlgoConfig", "ArbiterConfig", "Config", "ConfigError", "EvalConfig",
           "GameConfig", "LeagueConfig", "LoggerConfig", "LoraSettings", "ModelConfig", "PopulationConfig",
           "RayConfig", "SamplingConfig", "ScaleConfig", "Strict", "TournamentConfig", "TrainSchedule",
           "check_machine", "validate"]


class SamplingConfig(Strict):
    temperature: float = Field(0.8, gt=0.0)


class GameConfig(Strict):
    name: str | None = "comas_v0"  # None only in configs/game/custom.yaml, until the user names the game
    options: dict[str, Any] = Field(default_factory=dict)  # validated by the game's own Options model
    # your own game, outside coevo: a module that registers it on import (dotted name or a .py path)
    module: str | None = None

    @model_validator(mode="after")
    def _known_game(self):
        import games

        if self.module:
            try:
                games.import_game_module(self.module)
            except Exception as e:  # noqa: BLE001 - any failure to import is the user's to see, in one line
                raise ValueError(f"game.module {self.module!r} failed to import: {type(e).__name__}: {e}") from None

        if self.name is None:
            raise ValueError(f"name your game: game.name=<id>; registered games: {', '.join(sorted(games.GAMES))}")
        if self.name not in games.GAMES:
            raise ValueError(f"unknown game {self.name!r}; registered games: {', '.join(sorted(games.GAMES))}")
        try:
            games.GAMES[self.name].Options(**self.options)
        except ValidationError as e:
            raise ValueError(f"options of {self.name}: " + pydantic_lines(e, "game.options")) from None
        return self


class AlgoConfig(Strict):
    advantage: str = "reinforce_pp"
    loss: str = "ppo"
    clip_eps: float = Field(0.2, gt=0.0)
    kl_coef: float = Field(0.0, ge=0.0)
    sft_coef: float = Field(0.0, ge=0.0)
    lr: float = Field(1e-4, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    ppo_epochs: int = Field(1, ge=1)
    micro_batch_size: int = Field(2, ge=1)  # sized for CPU memory (configs/algo); raise it on a GPU
    # The rollout's logprobs (the ratio's denominator) can differ from the learner's recomputation
    # (another kernel, dtype or engine). none: use the rollout's as they are; tis: the learner's own
    # logprobs before the update are the denominator, and each token's policy-gradient term is
    # weighted by min(p_learner / p_rollout, tis_cap) (truncated importance sampling). Identical
    # when the two agree (tests/test_learner.py); learner/<agent>/rollout_logprob_gap reports it.
    rollout_correction: Literal["none", "tis"] = "none"
    tis_cap: float = Field(2.0, ge=1.0)

    @field_validator("advantage")
    @classmethod
    def _known_advantage(cls, v: str) -> str:
        from coevo.learners.advantages import ADVANTAGES

        return registered(ADVANTAGES, v)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str) -> str:
        from coevo.learners.losses import LOSSES

        return registered(LOSSES, v)


class ArbiterConfig(Strict):
    name: str = "comas"
    params: dict[str, Any] = Field(default_factory=dict)  # validated by the arbiter itself

    @model_validator(mode="after")
    def _known_arbiter(self):
        from coevo.arbiters import ARBITERS, make_arbiter

        registered(ARBITERS, self.name)
        try:
            make_arbiter(self.name, **self.params)
        except ValidationError as e:
            raise ValueError(f"params of arbiter {self.name}: " + pydantic_lines(e, "arbiter.params")) from None
        return self


class EvalConfig(Strict):
    """Held-out evaluation before training, after it, and every `every` iterations (coevo/evaluate.py)."""

    num_tasks: int = Field(32, ge=0)  # held-out tasks; 0 = off
    max_new_tokens: int = Field(48, ge=1)
    every: int = Field(0, ge=0)  # also evaluate every k iterations (0: only before and after)
    # accuracy (greedy, alone), sampled (pass@1 at the training temperature, own majority, crowd
    # votes), vs_base (each agent against the frozen base in every seat), or a measure the game
    # ships (spc_v0: critic)
    measures: list[str] = Field(default_factory=lambda: ["accuracy"], min_length=1)
    samples: int = Field(4, ge=1, le=64)  # `sampled`: answers per agent and task
    # the held-out task set; None: the game's own test split. Studies of different games set one
    # shared set here so their held-out accuracies compare (docs/results.md)
    tasks: TaskSourceConfig | None = None


class LoggerConfig(Strict):
    wandb: Literal["offline", "online", "disabled"] = "offline"
    project: str = "coevo"


class RayConfig(Strict):
    address: str | None = None  # None: start a local Ray; "auto": join a running cluster
    num_cpus: int | None = Field(None, ge=1)
    # an actor that dies (a killed process, a lost node) is survived this many times per run: new
    # actors resume from the last checkpoint and the iteration is replayed
    max_restarts: int = Field(2, ge=0)
    get_timeout_s: float = Field(3600.0, gt=0)  # a call to an actor that takes longer is an error naming it


class TournamentConfig(Strict):
    """`coevo tournament`: who plays, how often, and how they are rated (coevo/tournament)."""

    # `base`, `RUN_DIR:AGENT`, `RUN_DIR@ITER:AGENT` or `scripted:NAME` (a player the game ships)
    players: list[str] = Field(default_factory=list)
    games_per_pairing: int = Field(2, ge=1)  # a multiple of the seatings a pair has (2 in a 2-seat game)
    schedule: Literal["round_robin", "swiss"] = "round_robin"
    rounds: int | None = Field(None, ge=1)  # swiss only; None: ceil(log2(players))
    # games with more than 2 seats: `cycle` seats the pair alternately (A, B, A, ...), `base` puts
    # the frozen base model in the seats the pair does not hold
    fill: Literal["cycle", "base"] = "cycle"
    rating: str = "plackett_luce"  # openskill model: a key of coevo/tournament/ratings.py MODELS
    # skill drift per game (openskill's tau). Tournament players are fixed checkpoints: 0. openskill's
    # default 25/300 suits a changing player and keeps sigma above ~3.5 however many games are played
    tau: float = Field(0.0, ge=0.0)
    split: Literal["train", "test"] = "test"  # which task split the games draw their questions from

    @field_validator("rating")
    @classmethod
    def _known_rating_model(cls, v: str) -> str:
        from coevo.tournament.ratings import MODELS

        if v not in MODELS:
            raise ValueError(f"unknown rating model {v!r}; known: {', '.join(MODELS)}")
        return v


class ScaleConfig(Strict):
    """scale=paper applies configs/paper_scale/<experiment>_paper.yaml (the paper's own scale)."""

    name: Literal["default", "paper"] = "default"


class Config(Strict):
    experiment: str = "custom"
    seed: int = 0
    iterations: int = Field(3, ge=0)
    run_dir: str = "runs/latest"
    resume: bool = False
    checkpoint_every: int = Field(1, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    threads: int | None = Field(None, ge=1)  # torch threads of each worker; None = share the cores
    model: ModelConfig = Field(default_factory=ModelConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    game: GameConfig = Field(default_factory=GameConfig)
    algo: AlgoConfig = Field(default_factory=AlgoConfig)
    arbiter: ArbiterConfig = Field(default_factory=ArbiterConfig)
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    logger: LoggerConfig = Field(default_factory=LoggerConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    tournament: TournamentConfig = Field(default_factory=TournamentConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)
    out_dir: str | None = None  # where `coevo tournament` writes; None: runs/tournament-<experiment>
    sweep_dir: str | None = None  # `coevo train -m`: the sweep's folder; None: runs/sweeps/<experiment>

    def model_of(self, agent: str) -> ModelConfig:
        """The model an agent generates and learns on: its own (`population.models`) or `model`."""
        own = self.population.models.get(agent)
        if own is None:
            return self.model
        return self.model.model_copy(update={"name": own.name, "lora": own.lora or self.model.lora})

    @model_validator(mode="after")
    def _full_weights_without_league(self):
        if self.model.lora is None and self.population.league.snapshot_every:
            raise ValueError("model.lora=null (full-weight agents) with population.league.snapshot_every: league "
                             "snapshots are LoRA adapters; set model.lora or population.league.snapshot_every=0")
        return self

    @model_validator(mode="after")
    def _paper_scale_exists(self):
        if self.scale.name == "paper" and not (CONFIG_DIR / "paper_scale" / f"{self.experiment}_paper.yaml").exists():
            have = sorted(p.stem.removesuffix("_paper") for p in (CONFIG_DIR / "paper_scale").glob("*_paper.yaml"))
            raise ValueError(f"scale=paper: experiment {self.experiment!r} has no paper scale "
                             f"(configs/paper_scale/); experiments that have one: {', '.join(have)}")
        return self

    @model_validator(mode="after")
    def _base_roles_of_the_game(self):
        import games

        spec = games.GAMES[self.game.name]
        roles = spec.roles
        if spec.check_population is not None:
            problem = spec.check_population(spec.Options(**self.game.options), self.population.agents)
            if problem:
                raise ValueError(f"population.agents / game.options: {problem}")
        reads = getattr(_arbiter_class(self.arbiter.name), "READS", ())
        if reads:  # what the arbiter reads must be in the game's outcome (read off a fresh game)
            probe = games.make(self.game.name, **self.game.options)
            probe.reset(seed=0)
            missing = [k for k in reads if k not in probe.outcome]
            probe.close()
            if missing:
                raise ValueError(f"arbiter {self.arbiter.name} reads outcome {missing}, which {self.game.name} does "
                                 f"not record; {self.game.name} is played with arbiter={spec.arbiter} "
                                 f"population={spec.population}")
        if self.eval.tasks is not None:  # an empty or malformed task file stops here, before anything starts
            from games.tasks import make_task_source

            try:
                make_task_source(self.eval.tasks)
            except ValueError as e:
                raise ValueError(f"eval.tasks: {e}") from None
        known = measures_of(self.game.name)
        unknown = [m for m in self.eval.measures if m not in known]
        if unknown:
            raise ValueError(f"eval.measures: {unknown} unknown for {self.game.name}; measures: {sorted(known)}")
        schedule = self.population.train_schedule
        if schedule.mode == "every" and schedule.roles:
            raise ValueError(f"population.train_schedule.roles: {schedule.roles} has no effect with mode=every "
                             f"(every role trains every iteration); to train only these roles, in turns, "
                             f"set population.train_schedule.mode=alternate")
        if schedule.mode == "alternate" and not schedule.roles:
            raise ValueError(f"population.train_schedule.roles: name the roles that take turns, e.g. {list(roles)}")
        not_roles = [r for r in schedule.roles if r not in roles]
        if not_roles:
            raise ValueError(f"population.train_schedule.roles: {not_roles} are not roles of {self.game.name} "
                             f"(its roles: {list(roles)})")
        unknown = [r for r in self.population.base_roles if r not in roles]
        if unknown:
            raise ValueError(f"population.base_roles: {unknown} are not roles of {self.game.name} "
                             f"(its roles: {list(roles)})")
        if set(roles) <= set(self.population.base_roles):
            raise ValueError(f"population.base_roles: every role of {self.game.name} is played by the base; "
                             "nothing would train")
        return self


def check_machine(cfg: Config) -> None:
    """What a valid config still needs from this machine, checked before anything starts (a
    config itself is valid anywhere: a paper-scale config validates on a laptop)."""
    import os

    if cfg.model.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("model.device=cuda: torch sees no CUDA device on this machine; use cpu or auto")
    if cfg.logger.wandb == "online" and not os.environ.get("WANDB_API_KEY") and not (Path.home() / ".netrc").exists():
        raise ConfigError("logger.wandb=online needs a wandb login (WANDB_API_KEY or `wandb login`); "
                          "logger=wandb_offline writes the same files locally")


def _arbiter_class(name: str):
    from coevo.arbiters import ARBITERS

    return ARBITERS.lookup(name)


def validate(raw: dict[str, Any]) -> Config:
    try:
        return Config(**raw)
    except ValidationError as e:
        raise ConfigError("invalid config: " + pydantic_lines(e)) from None

