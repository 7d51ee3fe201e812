"""`ray start --head` in a folder of its own, then `coevo train ... ray.address=auto` against it (slow).

A module of its own: the two-node cluster of tests/test_cluster.py lives until the end of that
module, and with both clusters up on 2 cores the learners of this run died at creation in 2 of 5
tries. Here no other cluster is up.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import ray

from tests.test_cluster import TINY


@pytest.mark.slow
def test_coevo_train_joins_a_cluster_started_with_ray_start(tmp_path):
    """`ray start --head` in a folder of its own, `coevo train ... ray.address=auto` against it, stop."""
    if ray.is_initialized():  # the suite's shared local Ray: nothing else runs while this cluster does
        ray.shutdown()
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": ray_tmp}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = Path(sys.executable).parent
    log = open(tmp_path / "ray_start.log", "w")
    head = subprocess.Popen([str(bin_dir / "ray"), "start", "--head", f"--port={port}", "--num-cpus=2", "--block",
                             "--include-dashboard=false", f"--temp-dir={ray_tmp}"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 120
        while not (Path(ray_tmp) / "ray_current_cluster").exists():
            assert head.poll() is None and time.time() < deadline, (tmp_path / "ray_start.log").read_text()[-3000:]
            time.sleep(1)
        proc = subprocess.run([str(bin_dir / "coevo"), "train", *TINY, f"run_dir={tmp_path / 'run'}", "ray.address=auto"],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert re.search(rf"joined the Ray cluster at [\d.]+:{port}: 1 nodes, 2 CPUs, 0 GPUs", proc.stdout), proc.stdout
        assert [json.loads(line)["iteration"] for line in (tmp_path / "run" / "metrics.jsonl").open()] == [0, 1, 2]
    finally:
        head.send_signal(signal.SIGTERM)  # --block: the head stops every process it started
        head.wait(timeout=60)
        log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)
