"""The driver: rollout -> arbitrate -> learn (one learner per agent) -> sync -> log -> checkpoint.

Read top to bottom, `train` is the whole algorithm. Heavy work happens in Ray actors: one
`RolloutWorker` holding the base model with every agent's adapter (a model per base when agents sit
on bases of their own, or per agent when they are full copies: coevo/models/routed.py), one
`Learner` per trainable agent, placed on a cluster by coevo/placement.py. The driver only plans
games, calls the arbiter and moves adapter state dicts.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

import ray
import yaml
from ray.exceptions import RayActorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

import games
from coevo.arbiters import make_arbiter
from coevo.checkpoint import ADAPTER_FILE, latest_checkpoint, load_driver_state, save_checkpoint
from coevo.config import Config, ConfigError, check_machine
from coevo.evaluate import eval_context, heldout_tasks
from coevo.inner_loop import InnerLoop
from coevo.learners.group import GroupMember, LearnerGroup
from coevo.learners.learner import Learner
from coevo.league import League
from coevo.models.routed import policy_parts
from coevo.models.store import resolve_model
from coevo.placement import check_resources, learner_options, one_learner_process, rollout_options
from coevo.remote import died
from coevo.remote import get as remote_get
from coevo.resume import config_conflict
from coevo.rollout import plan_games
from coevo.rollout_worker import RolloutActor
from coevo.tracking import METRICS, TRANSCRIPTS, RunTracker, replace_file, truncate_after

LearnerActor = ray.remote(Learner)  # one per trainable agent (learner.py itself does without Ray)
LearnerGroupActor = ray.remote(LearnerGroup)  # or all of them in one, where they step one after another


def check_run_dir(cfg: Config) -> Path:
    """Whether the run dir can take this run, writing nothing; raises ConfigError naming the
    problem. train() calls it before Ray starts, so a bad run_dir costs no Ray start."""
    run_dir = Path(cfg.run_dir).expanduser().resolve()
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run_dir {run_dir} is a file, not a directory")
    parent = run_dir
    while not parent.exists():  # the folder mkdir would create it in
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"run_dir {run_dir} is not writable" if parent == run_dir else
                          f"run_dir {run_dir} cannot be created: {parent} is not writable")
    if not cfg.resume and (run_dir / METRICS).exists():
        raise ConfigError(f"run_dir {run_dir} already holds a run: pass resume=true to continue it, "
                          "or choose another run_dir")
    changes = config_conflict(run_dir, cfg.model_dump()) if cfg.resume and latest_checkpoint(run_dir) else []
    if changes:  # continuing would make a run of neither config, and overwrite the config.yaml that says so
        raise ConfigError(f"run_dir {run_dir} holds a run made with another config ({'; '.join(changes)}): "
                          "resume it with the settings it was started with, or choose another run_dir")
    return run_dir


def prepare_run_dir(cfg: Config) -> tuple[Path, Path | None]:
    """Create the run dir, or find the checkpoint to resume. Never overwrites an earlier run."""
    run_dir = check_run_dir(cfg)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # e.g. a parent that is a file
        raise ConfigError(f"run_dir {run_dir} cannot be created: {e.strerror}") from None
    ckpt = latest_checkpoint(run_dir) if cfg.resume else None
    if cfg.resume and ckpt is None:
        print(f"resume=true: {run_dir} holds no checkpoint yet, starting from iteration 0")
    if ckpt is None:  # a fresh start (also resume=true with nothing saved yet): no stale lines
        for name in (METRICS, TRANSCRIPTS):
            (run_dir / name).unlink(missing_ok=True)
    # whole or not at all: a resume compares its settings with this file
    replace_file(run_dir / "config.yaml", yaml.safe_dump(cfg.model_dump(), sort_keys=False).encode())
    return run_dir, ckpt


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def reward_metrics(episodes, skip=()) -> dict[str, float]:
    """`reward/<agent>` over all its turns and `reward/<agent>/<role>` per role it played
    (agents in `skip`, the league's frozen snapshots, have none). A seat that never moved because
    the game ended by a forfeit (`outcome["forfeit"]`, the opponent's illegal first move) still won:
    it counts once, with its native reward, so these metrics agree with the game's result (and
    with tournament ratings). Seats a game skips for other reasons (soar's student of an invalid
    problem) have no reward."""
    by_key: dict[str, list[float]] = {}
    for ep in episodes:
        moved = {t.seat for t in ep.turns}
        values = [(t.agent, t.seat, t.reward) for t in ep.turns]
        if ep.outcome.get("forfeit"):  # a seat that never moved won (or lost) by the forfeit
            values += [(agent, seat, ep.native_rewards.get(seat, 0.0)) for seat, agent in ep.seats.items()
                       if seat not in moved and seat in ep.native_rewards]
        for agent, seat, reward in values:
            if agent in skip:
                continue
            role = seat.rsplit("_", 1)[0]
            by_key.setdefault(f"reward/{agent}", []).append(reward)
            by_key.setdefault(f"reward/{agent}/{role}", []).append(reward)
    return {k: mean(v) for k, v in by_key.items()}


def trains_now(schedule: dict, role: str, iteration: int) -> bool:
    """Does `role` train in `iteration` (1-based) under `population.train_schedule`?"""
    if schedule["mode"] == "every":
        return True
    roles = schedule["roles"]
    return role in roles and roles[((iteration - 1) // schedule["block"]) % len(roles)] == role


class PhaseClock:
    """Wall seconds of each phase of an iteration: `with clock("learn"): ...` -> perf/learn_s."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def metrics(self) -> dict[str, float]:
        return {f"perf/{phase}_s": s for phase, s in self.seconds.items()}


def arbiter_state(arbiter) -> dict:
    """What a stateful arbiter (soar's fixed hard set) needs to resume, as JSON; {} for the rest."""
    return {"arbiter": arbiter.state_dict()} if hasattr(arbiter, "state_dict") else {}


LEAGUE_DIR = "league"  # in a checkpoint: the snapshots' adapters, one folder per rollout slot


def save_snapshots(directory: str, league: League, rollout, get) -> None:
    states = get(rollout.adapters.remote([s.slot for s in league.pool]), "rollout worker (league adapters)")
    for slot, state in states.items():
        (Path(directory) / slot).mkdir(parents=True, exist_ok=True)
        save_file(state, str(Path(directory) / slot / ADAPTER_FILE))


def load_snapshots(ckpt: Path, league: League) -> dict:
    return {s.slot: load_file(str(ckpt / LEAGUE_DIR / s.slot / ADAPTER_FILE)) for s in league.pool}


def start_ray(cfg: Config) -> bool:
    """Start a local Ray (`ray.num_cpus` cores), or join the cluster at `ray.address` and say which
    one; True when this call started it (the caller shuts it down). Nothing is written before."""
    address = cfg.ray.address
    try:
        if address and ":" in address and not address.startswith("ray://"):  # Ray itself would retry for minutes
            host, _, port = address.rpartition(":")
            socket.create_connection((host, int(port)), timeout=5).close()
    except (ValueError, OSError) as e:
        raise _no_cluster(address, e) from None
    if ray.is_initialized():  # a notebook, a sweep, a test session: the Ray this process already has
        _check_running_ray(address)
        return False
    if not address:
        ray.init(num_cpus=cfg.ray.num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        return True
    if cfg.ray.num_cpus:
        print(f"ray.num_cpus={cfg.ray.num_cpus} is ignored: joining the cluster at ray.address={address} uses "
              "its own resources")
    try:
        ctx = ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, OSError) as e:
        raise _no_cluster(address, e) from None
    res = ray.cluster_resources()
    print(f"joined the Ray cluster at {ctx.address_info.get('gcs_address', address)}: {len(ray.nodes())} nodes, "
          f"{res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs")
    return True


def _no_cluster(address: str, error: Exception) -> ConfigError:
    return ConfigError(f"ray.address={address}: no Ray cluster to join ({str(error).splitlines()[0]}); start one "
                       "with `ray start --head`, or leave ray.address unset for a local Ray")


def _check_running_ray(address: str | None) -> None:
    """`ray.address` names a cluster, but this process is already connected to a Ray: it goes on
    with that one, and says so where the two addresses differ (a host name and the node's IP may
    name the same cluster, so that is not an error; an address with nothing behind it failed before)."""
    if not address or address == "auto" or address.startswith("ray://"):
        return
    running = ray.get_runtime_context().gcs_address
    if address != running:
        print(f"ray.address={address}: this process is already connected to the Ray at {running}; using that one")


def train(cfg: Config, progress: bool = True) -> Path:
    """Run (or resume) `cfg`'s co-evolution. An actor that dies mid-run is survived up to
    `ray.max_restarts` times: its iteration is dropped, new actors resume from the last checkpoint
    and replay it exactly (a resume is exact), with a warning."""
    check_machine(cfg)  # what this machine lacks, and a cluster that is not there, stop before anything is written
    check_run_dir(cfg)  # a run_dir that cannot take the run stops before Ray starts (writing nothing)
    own_ray = start_ray(cfg)
    try:
        for restart in range(cfg.ray.max_restarts + 1):
            try:
                with contextlib.ExitStack() as cleanup:  # the attempt's actors and tracker go, however it ends
                    return _train(cfg, progress, cleanup)
            except RayActorError as e:
                if e.actor_init_failed:  # it could not even start (a bad model, no memory): a retry fails too
                    raise
                if restart == cfg.ray.max_restarts:
                    raise RuntimeError(f"{died(e)} died, {restart + 1} time(s) in this run (ray.max_restarts="
                                       f"{cfg.ray.max_restarts}); resume later with resume=true") from e
                print(f"warning: {died(e)} died mid-iteration; restart {restart + 1} of {cfg.ray.max_restarts}: new "
                      f"actors resume {cfg.run_dir} from its last checkpoint", file=sys.stderr)
                cfg = cfg.model_copy(update={"resume": True})
    finally:
        if own_ray:
            ray.shutdown()


def _train(cfg: Config, progress: bool, cleanup: contextlib.ExitStack) -> Path:
    t_setup = time.perf_counter()  # to the first eval (actors started, models loaded): perf/setup_s
    check_resources(cfg)  # a resource no node has would make Ray wait forever; nothing is written yet
    run_dir, ckpt = prepare_run_dir(cfg)

    def get(refs, what: str):
        return remote_get(refs, what, cfg.ray.get_timeout_s)

    agents = cfg.population.agents
    cores = cfg.ray.num_cpus or os.cpu_count() or 1

    algo_cfg = cfg.algo.model_dump()
    parallel = cfg.population.parallel_learners
    if parallel == "auto":
        parallel = bool(cfg.ray.address) or cfg.population.learner_num_gpus > 0 or cores >= 2 * len(agents)
    # learners stepping at once share the cores; one after another, each has them all
    learner_threads = cfg.threads or (max(1, cores // len(agents)) if parallel else cores)
    # Ray's CPU counts are reservations: on a local Ray, cap them so every learner fits at once
    # (an actor that does not fit would wait forever). The rollout runs while learners wait, so
    # it reserves none; torch thread counts do the real sharing of cores.
    learner_cpus = cfg.population.learner_num_cpus
    if not cfg.ray.address:
        learner_cpus = min(learner_cpus, ray.cluster_resources().get("CPU", cores) / len(agents))
    specs = {  # each learner on its agent's base model (population.models; by default `model`)
        agent: (resolve_model(cfg.model_of(agent).name), cfg.model_of(agent).model_dump(), algo_cfg,
                cfg.sampling.temperature, cfg.seed * 1000 + i, learner_threads)
        for i, agent in enumerate(agents)
    }
    placed = learner_options(cfg, learner_cpus, cleanup)
    if one_learner_process(cfg, parallel):  # one after another: one process, reserving one learner's CPUs
        group = LearnerGroupActor.options(**placed[0]).remote(specs)
        learners, learner_actors = {agent: GroupMember(group, agent) for agent in agents}, [group]
    else:
        learners = {agent: LearnerActor.options(**opts).remote(agent, *specs[agent])
                    for agent, opts in zip(agents, placed)}
        learner_actors = list(learners.values())
    # league training: frozen snapshots of the agents are extra adapters of the rollout worker
    league = League(cfg.population.league.model_dump(), agents)
    rollout_agents = agents + (league.slots if league.enabled else [])
    parts = policy_parts(cfg, rollout_agents)
    worker_options, part_options = rollout_options(cfg, len(parts))
    rollout = RolloutActor.options(**worker_options).remote(parts, cfg.threads or cores, cfg.game.module, part_options)
    for actor in [rollout, *learner_actors]:
        cleanup.callback(ray.kill, actor)
    arbiter = make_arbiter(cfg.arbiter.name, **cfg.arbiter.params)
    if hasattr(arbiter, "bind"):  # an arbiter that trains inside its judgement (soar) gets the actors
        arbiter.bind(InnerLoop(learners, rollout, cfg.eval.max_new_tokens, cfg.ray.get_timeout_s))
    options = cfg.game.options
    probe = games.make(cfg.game.name, **options)
    heldout, eval_ctx = heldout_tasks(cfg), eval_context(cfg)

    start, wandb_id = 0, None
    if ckpt is not None:
        get([learners[a].load.remote(str(ckpt / a)) for a in agents], "learners (load checkpoint)")
        state = load_driver_state(ckpt)
        start, wandb_id = state["iteration"], state.get("wandb_id")
        if "arbiter" in state:
            arbiter.load_state_dict(state["arbiter"])
        if "league" in state:
            league.load_state_dict(state["league"])
            get(rollout.set_adapters.remote(load_snapshots(ckpt, league)), "rollout worker (load league)")
        for name in (METRICS, TRANSCRIPTS):
            truncate_after(run_dir / name, start)
        print(f"resuming {run_dir} from iteration {start}")

    def sync_weights() -> dict:
        # references, not weights: the rollout worker fetches each learner's weights itself, so they
        # never pass through the driver (a full-weight agent's are a whole model). A learner that died
        # surfaces here all the same: the worker's fetch raises RayActorError naming it.
        refs = {a: learners[a].adapter.remote() for a in agents}
        get(rollout.set_adapters.remote(refs), "rollout worker (set_adapters, fetching the learners' weights)")
        return refs

    def evaluate() -> dict[str, float]:
        if not cfg.eval.num_tasks:
            return {}
        return get(rollout.evaluate.remote(agents, heldout, cfg.eval.measures, eval_ctx), "rollout worker (evaluate)")

    sync_weights()
    tracker = RunTracker(run_dir, cfg.model_dump(), cfg.logger.wandb, cfg.logger.project, wandb_id)
    cleanup.callback(tracker.close)
    if start == 0:  # iteration 0: the untrained population, and what starting took
        t_eval = time.perf_counter()
        row = evaluate()
        tracker.log(0, {**row, **({"perf/eval_s": time.perf_counter() - t_eval} if row else {}),
                        "perf/setup_s": t_eval - t_setup})

    bar = tqdm(range(start + 1, cfg.iterations + 1), initial=start, total=cfg.iterations,
               desc=f"coevo {cfg.experiment}", disable=not progress)
    cleanup.callback(bar.close)
    for it in bar:
        t_iter = time.perf_counter()
        clock = PhaseClock()
        # 1. rollout: every game of the iteration, one batched generate per tick
        plans = plan_games(cfg.game.name, options, agents, cfg.population.games_per_iteration,
                           cfg.population.games_per_task, cfg.population.seating, cfg.seed, it,
                           base_roles=tuple(cfg.population.base_roles))
        league_games = league.assign(plans, cfg.seed, it, cfg.population.games_per_task)  # [] without a league
        with clock("rollout"):
            episodes, stats = get(rollout.play.remote(cfg.game.name, options, plans, cfg.sampling.temperature),
                                  f"rollout worker (play, iteration {it})")
            for t in (t for ep in episodes for t in ep.turns if t.agent in league.slots):
                t.train = False  # a frozen snapshot's turn: no learner takes it
        # 2. arbitrate: outcome -> a reward on every turn
        with clock("arbiter"):
            metrics = {**stats.metrics(), **arbiter(episodes), **reward_metrics(episodes, skip=league.slots)}
            if league.enabled:  # ratings of the trainees against the pool, from the league games
                metrics.update(league.rate(episodes, league_games, lambda ep: probe.rank(ep.outcome, ep.native_rewards)))
        # 3. learn: each agent's turns to its own learner (all at once, or one after another)
        with clock("learn"):
            schedule = cfg.population.train_schedule.model_dump()
            steps = ((a, [t for ep in episodes for t in ep.turns if t.agent == a and t.train
                          and trains_now(schedule, t.seat.rsplit("_", 1)[0], it)]) for a in agents)
            if parallel:
                results = get([learners[a].step.remote(turns) for a, turns in steps], f"learners (step, iteration {it})")
            else:
                results = [get(learners[a].step.remote(turns), f"learner {a} (step, iteration {it})") for a, turns in steps]
        for r in results:
            metrics.update(r)
        for a in agents:  # the learner's own warning stays in its actor's log: say it here
            if metrics.get(f"learner/{a}/skipped"):
                print(f"warning: iteration {it}: learner {a} skipped its update (a NaN or inf reward, loss, "
                      "gradient or weight); its weights are unchanged", file=sys.stderr)
        # 4. sync the new adapters into the rollout worker
        with clock("sync"):
            new = sync_weights()
            if league.due(it):  # every agent's new adapter joins the pool of frozen snapshots
                get(rollout.set_adapters.remote({league.add(a, it).slot: new[a] for a in agents}),
                    "rollout worker (league snapshots)")
        if cfg.eval.every and it % cfg.eval.every == 0 or it == cfg.iterations:
            with clock("eval"):
                metrics.update(evaluate())
        # 5. log, then checkpoint (bench/iteration.py times the checkpoint)
        metrics.update(clock.metrics())
        metrics["perf/iteration_s"] = time.perf_counter() - t_iter
        tracker.log(it, metrics)
        tracker.transcripts(it, episodes)
        if it % cfg.checkpoint_every == 0 or it == cfg.iterations:
            savers = {a: (lambda d, a=a: get(learners[a].save.remote(d), f"learner {a} (save)")) for a in agents}
            if league.pool:
                savers[LEAGUE_DIR] = lambda d: save_snapshots(d, league, rollout, get)
            save_checkpoint(run_dir, it, savers, {"wandb_id": tracker.wandb_id, **arbiter_state(arbiter),
                                                  **({"league": league.state_dict()} if league.enabled else {})},
                            cfg.keep_checkpoints)
        bar.set_postfix({a: f"{metrics.get(f'reward/{a}', 0):.2f}" for a in agents})
    return run_dir
