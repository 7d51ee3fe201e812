"""A long run on the tiny model (slow): 200 iterations, memory and open files flat after warm-up,
metrics and transcripts appended (never rewritten), old checkpoints pruned. Prints its figures."""
import os
import signal
import statistics
import subprocess
import sys
import time

import psutil
import pytest

from tests.test_loop import BASE

pytestmark = pytest.mark.slow

ITERATIONS = int(os.environ.get("COEVO_SOAK_ITERATIONS", 200))  # fewer: a quick check of the test itself
WARM = ITERATIONS // 10


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def usage(pid: int) -> tuple[int, int]:
    """(RSS bytes, open file descriptors) of the driver and every process under it."""
    rss = fds = 0
    for p in tree(pid):
        try:
            rss += p.memory_info().rss
            fds += p.num_fds()
        except psutil.Error:
            pass
    return rss, fds


def rows(path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_two_hundred_iterations_stay_flat(tmp_path):
    run = tmp_path / "soak"
    cmd = [sys.executable, "-m", "coevo.cli", "train", *BASE, "population.games_per_iteration=2",
           "eval.num_tasks=0", f"iterations={ITERATIONS}", "keep_checkpoints=2", "checkpoint_every=5",
           "ray.num_cpus=2", f"run_dir={run}"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    metrics, transcripts = run / "metrics.jsonl", run / "transcripts.jsonl"
    samples = []  # (RSS, fds) of the live tree after warm-up, before the last row (then actors go)
    first_line, inode, sizes = None, None, []
    try:
        while proc.poll() is None:
            time.sleep(2)
            n = rows(metrics)
            if n == 0:
                continue
            if first_line is None:
                first_line, inode = metrics.read_bytes().splitlines()[0], metrics.stat().st_ino
            assert metrics.stat().st_ino == inode, "metrics.jsonl was replaced, not appended to"
            sizes.append((metrics.stat().st_size, transcripts.stat().st_size if transcripts.exists() else 0))
            if WARM < n <= ITERATIONS:
                now = usage(proc.pid)
                if proc.poll() is None and now[0] > 0:
                    samples.append(now)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    assert len(samples) >= 6, f"{len(samples)} samples of the running process tree"
    # medians of the first and the last 3 samples: one Ray worker coming or going is not growth
    warm = tuple(statistics.median(s[i] for s in samples[:3]) for i in (0, 1))
    last = tuple(statistics.median(s[i] for s in samples[-3:]) for i in (0, 1))
    assert rows(metrics) == ITERATIONS + 1 and metrics.read_bytes().splitlines()[0] == first_line
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(sizes, sizes[1:])), "a log shrank: rewritten"
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    print(f"\nsoak: RSS {warm[0] / 2**20:.0f} MiB after {WARM} iterations -> {last[0] / 2**20:.0f} MiB near "
          f"{ITERATIONS}; open files {warm[1]} -> {last[1]}; checkpoints kept {kept}")
    assert kept == [f"iter_{(ITERATIONS - 1) // 5 * 5:06d}", f"iter_{ITERATIONS:06d}"]
    assert last[0] < 1.10 * warm[0], f"RSS grew from {warm[0]} to {last[0]} bytes"
    assert last[1] < 1.10 * warm[1] + 2, f"open files grew from {warm[1]} to {last[1]}"
