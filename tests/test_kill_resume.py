"""A real kill: SIGKILL a `coevo train` process after its first checkpoint, resume, compare (slow)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from coevo.tracking import read_jsonl
from tests.test_loop import BASE, stable

pytestmark = pytest.mark.slow


def coevo(*args):
    return [sys.executable, "-m", "coevo.cli", "train", *BASE, "eval.every=1", "iterations=3", *args]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(coevo(f"run_dir={tmp_path / 'full'}"), check=True, env=env, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(coevo(f"run_dir={run}"), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run / "checkpoints" / "iter_000001" / "driver.json").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before its first checkpoint"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Ray workers, mid-run
    proc.wait()
    assert len(read_jsonl(run / "metrics.jsonl")) < 4
    subprocess.run(coevo(f"run_dir={run}", "resume=true"), check=True, env=env, capture_output=True)
    assert stable(read_jsonl(run / "metrics.jsonl")) == stable(read_jsonl(tmp_path / "full" / "metrics.jsonl"))
