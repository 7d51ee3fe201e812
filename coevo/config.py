"""Every config group as a pydantic model, and `validate`, which turns a composed dict into a Config.

pydantic validates with extra="forbid"; a mistake ends up as one `ConfigError` whose message names
the field and what is allowed, never as a stack trace. How CLI overrides become that dict (hydra's
composition of `configs/`, or a run's saved config.yaml) is coevo/compose.py.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coevo.evaluate import measures_of
from games.tasks import TaskSourceConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class ConfigError(ValueError):
    """A config the run cannot start with; the message is meant for the user as is."""


class Strict(BaseModel):
    # inf and nan are never a setting (algo.lr=inf trained all-NaN adapters and exited 0)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LoraSettings(Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"  # "all-linear", a regex, or module name suffixes

    @field_validator("target_modules")
    @classmethod
    def _some_modules(cls, v):
        if not v:  # peft would stop inside the learner with NoMatchingPeftModuleError
            raise ValueError("name at least one module, e.g. all-linear or [q_proj,v_proj]")
        return v


class ModelConfig(Strict):
    name: str = "smollm2-135m"  # a known local name (`coevo models list`), a directory or a hub id
    backend: Literal["hf", "vllm"] = "hf"  # vllm: the rollout on a vLLM engine (coevo/models/vllm_backend.py)
    vllm_gpu_memory: float = Field(0.8, gt=0.0, le=1.0)  # backend=vllm: the share of its GPU the engine takes
    device: Literal["cpu", "cuda", "auto"] = "auto"
    # auto: bfloat16 on CUDA, float32 on CPU. On a CPU without native bf16 (AVX2 only) bf16 is slower:
    # `bench/cpu_dtype.py` printed bf16/fp32 generation throughput 0.69x and learner step time 25.5x there.
    rollout_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    learner_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    autocast: bool | Literal["auto"] = "auto"  # learner forward under bf16 autocast; auto = on CUDA only
    # learners recompute activations layer by layer in the backward pass: on SmolLM2, 12 turns of
    # ~400 tokens, micro-batch 4: peak 6.5 GB -> 3.3 GB for 1.2x the step time (micro-batch 2
    # without it: 3.9 GB and faster than either; bench/learner.py --part memory)
    gradient_checkpointing: bool = False
    # null = full-weight agents: each agent is a whole copy of the model (small models; CPU or one GPU each)
    lora: LoraSettings | None = Field(default_factory=LoraSettings)
    max_prompt_tokens: int = Field(1024, ge=16)
    system_prompt: str | None = None
    # while a rollout plays, each model keeps its prompts' keys and values (at most this many MB) so
    # that an agent's next prompt in a game prefills only its new tokens (models/prompt_cache.py).
    # 0 keeps none: games of one turn per agent (comas) reuse nothing and save ~1% and the memory
    # (32 comas games of SmolLM2 in float32 keep about 700 MB); 12 negotiation games took 46.3 s
    # instead of 53.3 s with them (bench/shared_prefix.py)
    prompt_cache_mb: int = Field(2048, ge=0)

    @field_validator("name")
    @classmethod
    def _a_path_must_exist(cls, v: str) -> str:
        # a local path (absolute, relative, ~) that is not there would be taken for a hub id
        if v.startswith(("/", "./", "../", "~")) and not Path(v).expanduser().is_dir():
            raise ValueError(f"{v!r} is not a directory (a local model is a folder with config.json; "
                             "a known name: `coevo models list`)")
        return v

    @model_validator(mode="after")
    def _vllm_needs_its_package_and_lora(self):
        if self.backend == "vllm":
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                raise ValueError("backend: vllm is not installed here (pip install -e \".[vllm]\", on a machine "
                                 "with a CUDA GPU); model.backend=hf runs everywhere")
            if self.lora is None:
                raise ValueError("backend: vllm serves LoRA agents; full-weight agents (lora=null) need backend=hf")
        return self


class AgentModel(Strict):
    """An agent on a base model of its own (`population.models`); the other agents use `model`."""

    name: str  # as model.name: a known name (`coevo models list`), a directory or a hub id
    lora: LoraSettings | None = None  # None: model.lora

    _a_path_must_exist = field_validator("name")(ModelConfig._a_path_must_exist.__func__)


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
            raise ValueError(f"options of {self.name}: " + _pydantic_lines(e, "game.options")) from None
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

        return _registered(ADVANTAGES, v)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str) -> str:
        from coevo.learners.losses import LOSSES

        return _registered(LOSSES, v)


def _registered(registry, name: str) -> str:
    try:
        registry.lookup(name)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    return name


class ArbiterConfig(Strict):
    name: str = "comas"
    params: dict[str, Any] = Field(default_factory=dict)  # validated by the arbiter itself

    @model_validator(mode="after")
    def _known_arbiter(self):
        from coevo.arbiters import ARBITERS, make_arbiter

        _registered(ARBITERS, self.name)
        try:
            make_arbiter(self.name, **self.params)
        except ValidationError as e:
            raise ValueError(f"params of arbiter {self.name}: " + _pydantic_lines(e, "arbiter.params")) from None
        return self


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


def _pydantic_lines(err: ValidationError, prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        # a whole section (a model validator's input) is no help to show
        got = "" if e["type"] == "missing" or isinstance(e.get("input"), dict) else f" (got {e.get('input')!r})"
        lines.append((f"{where}: {msg}{got}" if where else f"{msg}{got}")[:400])
    return "; ".join(lines)


def validate(raw: dict[str, Any]) -> Config:
    try:
        return Config(**raw)
    except ValidationError as e:
        raise ConfigError("invalid config: " + _pydantic_lines(e)) from None

