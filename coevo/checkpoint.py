"""Checkpoints: run_dir/checkpoints/iter_<k>/ holds each agent's adapter and optimizer state plus
the driver's state (iteration, RNG states, wandb id). A directory counts only once `driver.json`
is written, which happens last, after an atomic rename; a run killed mid-save resumes from the
previous one.
"""
from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from coevo.tracking import replace_file

DRIVER = "driver.json"
ADAPTER_FILE = "adapter.safetensors"  # an agent's (or a league snapshot's) LoRA weights, peft's keys


def checkpoint_root(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def latest_checkpoint(run_dir: Path) -> Path | None:
    done = sorted(p for p in checkpoint_root(run_dir).glob("iter_*") if (p / DRIVER).exists())
    return done[-1] if done else None


def checkpoint_iteration(ckpt: Path) -> int:
    """The iteration a complete checkpoint holds (its driver.json)."""
    return json.loads((ckpt / DRIVER).read_text())["iteration"]


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
    replace_file(final / DRIVER, json.dumps({"iteration": iteration, **extra}).encode())
    for old in sorted(p for p in root.glob("iter_*") if (p / DRIVER).exists())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_driver_state(ckpt: Path) -> dict:
    rng = pickle.loads((ckpt / "driver_rng.pkl").read_bytes())
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    return json.loads((ckpt / DRIVER).read_text())
