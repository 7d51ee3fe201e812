"""Whether a run dir may go on under a config: a resume, or a sweep job whose dir already holds a run.

A run continued under other settings would be a run of neither config (and its config.yaml, which
says how it was made, would be overwritten); a finished run made with other settings must not be
taken for a sweep job's own. `config_conflict` names every setting that differs, except those that
may change between a run's parts (RESUMABLE). coevo/loop.py (`check_run_dir`) and coevo/sweep.py
(`plan_sweep`) stop on what it finds, before anything runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import games

# What may differ between a run's parts (a resume) without making it another run: how long it
# goes on, where it writes and logs, where its actors are placed, and memory-only settings. Anything
# else changes what is trained or measured, so the result would be of neither config. (Placement can
# still move numbers: with model.device=auto, an actor that moves onto a GPU computes in bfloat16.)
RESUMABLE = {"iterations", "run_dir", "resume", "checkpoint_every", "keep_checkpoints", "threads", "logger",
             "ray", "tournament", "out_dir", "sweep_dir", "population.learner_num_cpus",
             "population.learner_num_gpus", "population.learner_resources", "population.learner_strategy",
             "population.rollout_num_gpus", "population.rollout_resources", "population.rollout_per_base",
             "population.parallel_learners", "model.gradient_checkpointing", "model.vllm_gpu_memory",
             "model.vllm_kv_cache_mb"}
# Settings whose keys are free (a game's options, an arbiter's params, agents' own models): a key
# only one side has is a setting added or dropped, so it counts.
FREE_KEYS = {"game.options", "arbiter.params", "population.models"}
_UNSET = "(unset)"


def config_changes(saved: dict[str, Any], now: dict[str, Any], prefix: str = "", free: bool = False) -> list[str]:
    """`key: old -> new` for every setting of `now` that differs from a run's `saved` config.yaml,
    except the RESUMABLE ones. Outside FREE_KEYS a key only one side has is skipped: a config field
    added or dropped since the run was made is a change of coevo, not of the run's settings."""
    out = []
    for key in sorted(saved.keys() | now.keys() if free else saved.keys() & now.keys(), key=str):
        path = f"{prefix}{key}"
        if path in RESUMABLE:
            continue
        old, new = saved.get(key, _UNSET), now.get(key, _UNSET)
        if isinstance(old, dict) and isinstance(new, dict):
            out += config_changes(old, new, path + ".", free or path in FREE_KEYS)
        elif old != new:
            out.append(f"{path}: {old if old is _UNSET else repr(old)} -> {new if new is _UNSET else repr(new)}")
    return sorted(out)


def config_conflict(run_dir: Path, now: dict) -> list[str]:
    """How the config `now` (a model_dump) differs from the one the run in `run_dir` was made with
    (its config.yaml; `config_changes`), or [] where there is nothing to compare. Both
    are compared as YAML gives them back, with the game's options filled in with its defaults: an
    option a newer game added, at its default, is not a change."""
    saved_file = run_dir / "config.yaml"
    if not saved_file.is_file():
        return []
    try:
        saved = yaml.safe_load(saved_file.read_text())
    except yaml.YAMLError:
        saved = None
    if not isinstance(saved, dict):  # e.g. cut short by a kill (before it was written atomically), or by hand
        return [f"{saved_file} is empty, cut short or not a mapping: the settings cannot be checked "
                "(delete it to resume without the check)"]
    now = yaml.safe_load(yaml.safe_dump(now))
    for cfg in (saved, now):
        game = cfg.get("game")
        if isinstance(game, dict):
            game["options"] = _with_defaults(game.get("name"), game.get("options") or {})
    return config_changes(saved, now)


def _with_defaults(game: str | None, options: dict) -> dict:
    spec = games.GAMES.get(game)
    try:
        return yaml.safe_load(yaml.safe_dump(spec.Options(**options).model_dump(mode="json")))
    except Exception:  # an unknown game or an option it no longer has: compared as written
        return options
