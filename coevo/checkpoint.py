"""Checkpoints: run_dir/checkpoints/iter_<k>/ holds each agent's adapter and optimizer state plus
the driver's state (iteration, RNG states, wandb id). A directory counts only once `driver.json`
is written, which happens last, after an atomic rename; a run killed mid-save resumes from the
previous one.
"""
from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml

DRIVER = "driver.json"
ADAPTER_FILE = "adapter.safetensors"  # an agent's (or a league snapshot's) LoRA weights, peft's keys


def checkpoint_root(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def latest_checkpoint(run_dir: Path) -> Path | None:
    done = sorted(p for p in checkpoint_root(run_dir).glob("iter_*") if (p / DRIVER).exists())
    return done[-1] if done else None


def config_conflict(run_dir: Path, now: dict) -> list[str]:
    """How the config `now` (a model_dump) differs from the one the run in `run_dir` was made with
    (its config.yaml; `coevo.config.config_changes`), or [] where there is nothing to compare. Both
    are compared as YAML gives them back, with the game's options filled in with its defaults: an
    option a newer game added, at its default, is not a change."""
    from coevo.config import config_changes

    saved_file = run_dir / "config.yaml"
    if not saved_file.is_file():
        return []
    saved, now = yaml.safe_load(saved_file.read_text()) or {}, yaml.safe_load(yaml.safe_dump(now))
    for cfg in (saved, now):
        game = cfg.get("game") or {}
        game["options"] = _with_defaults(game.get("name"), game.get("options") or {})
    return config_changes(saved, now)


def _with_defaults(game: str | None, options: dict) -> dict:
    import games

    spec = games.GAMES.get(game)
    try:
        return yaml.safe_load(yaml.safe_dump(spec.Options(**options).model_dump(mode="json")))
    except Exception:  # an unknown game or an option it no longer has: compared as written
        return options


def save_checkpoint(run_dir: Path, iteration: int, learners: dict, extra: dict, keep: int) -> Path:
    """`learners` maps agent -> a callable that saves that agent's state into a directory."""
    root = checkpoint_root(run_dir)
    final = root / f"iter_{iteration:06d}"
    tmp = root / f".tmp_iter_{iteration:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for agent, save in learners.items():
        save(str(tmp / agent))
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    (tmp / "driver_rng.pkl").write_bytes(pickle.dumps(rng))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    # driver.json marks the checkpoint complete: written whole or not at all (a kill mid-write
    # must not leave a half file that counts)
    (final / f"{DRIVER}.tmp").write_text(json.dumps({"iteration": iteration, **extra}))
    os.replace(final / f"{DRIVER}.tmp", final / DRIVER)
    for old in sorted(p for p in root.glob("iter_*") if (p / DRIVER).exists())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_driver_state(ckpt: Path) -> dict:
    rng = pickle.loads((ckpt / "driver_rng.pkl").read_bytes())
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    return json.loads((ckpt / DRIVER).read_text())
