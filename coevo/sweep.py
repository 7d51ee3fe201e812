"""`coevo train -m ...`: hydra's multirun, one run dir per combination, one after another.

    coevo train -m experiment=comas seed=0,1 arbiter.params.scorer_reward=true,false

Sweep syntax is hydra's own (comma lists, `range(0,3)`, `choice(a,b)`, `glob(...)`), expanded by
hydra's basic sweeper in its order. Every job's config is composed and validated before the first
one starts. Job k of the sweep runs in `<sweep_dir>/<k>_<its swept overrides>`; the sweep dir
(`sweep_dir=...`, default `runs/sweeps/<experiment>`) gets `sweep.yaml` listing every job. A job
whose run dir already holds its last iteration is skipped, and one with a checkpoint resumes, so a
killed sweep continues where it stopped; a run dir that holds a run made with other settings
(coevo/resume.py) stops the sweep before anything runs. The jobs share one Ray
session (started once, or the cluster of `ray.address`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from coevo.checkpoint import checkpoint_iteration, checkpoint_root, latest_checkpoint
from coevo.compose import load_config
from coevo.config import Config, ConfigError
from coevo.resume import config_conflict
from coevo.tracking import METRICS, read_jsonl

SWEEP_FILE = "sweep.yaml"


def expand(overrides: list[str]) -> list[list[str]]:
    """Every job of a multirun: hydra's parser and basic sweeper, so the syntax is hydra's."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as e:
        raise ConfigError(f"config error: {str(e).strip().splitlines()[0]}") from None
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def swept_keys(overrides: list[str]) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return [o.key_or_group for o in OverridesParser.create().parse_overrides(list(overrides)) if o.is_sweep_override()]


def job_dir_name(index: int, job: list[str], keys: list[str]) -> str:
    """`3_seed=1,arbiter.params.scorer_reward=False`: the job's number and its swept values."""
    parts = [o for o in job if o.split("=", 1)[0].lstrip("+~") in keys]
    return re.sub(r"[^\w.=,+-]", "_", f"{index}_" + ",".join(parts))[:150]


def finished(run_dir: Path, iterations: int) -> bool:
    """Has this job nothing left to do? Its metrics reached `iterations`, and, where the run keeps
    checkpoints, the final one is complete: a kill while the last iteration was being saved leaves
    its metrics row but not its checkpoint, and that job must resume (replaying the iteration), not
    count as done. A run dir from git holds metrics but no checkpoints: its metrics decide."""
    try:
        rows = read_jsonl(run_dir / METRICS)
    except json.JSONDecodeError:  # a half-written last row: killed mid-write, the resume drops it
        return False
    if not rows or rows[-1]["iteration"] < iterations:
        return False
    if not checkpoint_root(run_dir).exists():
        return True
    ckpt = latest_checkpoint(run_dir)
    return ckpt is not None and checkpoint_iteration(ckpt) >= iterations


def plan_sweep(overrides: list[str]) -> tuple[Path, list[tuple[list[str], Config]]]:
    """The sweep dir and every job with its validated config (run_dir set), before anything runs."""
    jobs = expand(overrides)
    keys = swept_keys(overrides)
    configs = []
    for job in jobs:
        try:
            configs.append(load_config(job))
        except ConfigError as e:
            raise ConfigError(f"sweep job {' '.join(job)}: {e}") from None
    # the jobs share one Ray session, started (or joined) with the first job's address and CPUs
    if len({(c.ray.address, c.ray.num_cpus) for c in configs}) > 1:
        raise ConfigError("ray.address / ray.num_cpus: the jobs of one sweep share one Ray session, so these "
                          "must be equal in every job; sweep them in separate `coevo train -m` commands")
    sweep_dir = Path(configs[0].sweep_dir or f"runs/sweeps/{configs[0].experiment}").expanduser().resolve()
    planned, conflicts = [], []
    for k, (job, cfg) in enumerate(zip(jobs, configs)):
        run_dir = sweep_dir / job_dir_name(k, job, keys)
        cfg = cfg.model_copy(update={"run_dir": str(run_dir), "resume": True})
        # a job whose dir holds a finished or resumable run made with other settings would be
        # skipped or continued as if it were this job's
        if finished(run_dir, cfg.iterations) or latest_checkpoint(run_dir) is not None:
            if changes := config_conflict(run_dir, cfg.model_dump()):
                conflicts.append(f"{run_dir}: {'; '.join(changes)}")
        planned.append((job, cfg))
    if conflicts:
        raise ConfigError("these run dirs hold runs made with other settings; move them aside, or start anew "
                          "in another sweep_dir (a study: runs_dir in study.yaml):\n  " + "\n  ".join(conflicts))
    return sweep_dir, planned


def run_sweep(overrides: list[str], progress: bool = True, only: set[int] | None = None) -> Path:
    """Run every job (or the job numbers in `only`) that has not finished; sweep.yaml lists them all."""
    import ray

    from coevo.loop import start_ray, train

    sweep_dir, jobs = plan_sweep(overrides)
    own_ray = start_ray(jobs[0][1])  # one Ray session for every job of the sweep
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / SWEEP_FILE).write_text(yaml.safe_dump(
            {"overrides": list(overrides),
             "jobs": [{"run_dir": Path(c.run_dir).name, "overrides": job} for job, c in jobs]}, sort_keys=False))
        for k, (job, cfg) in enumerate(jobs):
            if only is not None and k not in only:
                print(f"[{k + 1}/{len(jobs)}] {cfg.run_dir}: not selected")
                continue
            if finished(Path(cfg.run_dir), cfg.iterations):
                print(f"[{k + 1}/{len(jobs)}] {cfg.run_dir}: already finished")
                continue
            print(f"[{k + 1}/{len(jobs)}] {' '.join(job)} -> {cfg.run_dir}")
            train(cfg, progress=progress)
    finally:
        if own_ray:
            ray.shutdown()
    return sweep_dir
