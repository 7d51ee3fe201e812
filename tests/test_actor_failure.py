"""A learner process killed mid-run is survived: new actors resume from the last checkpoint, the
iteration is replayed exactly, and the run ends as an uninterrupted one would (issue: reliability).
A call that never returns is an error naming the actor, not a hang."""
import os
import signal
import subprocess
import time

import psutil
import pytest

from coevo.tracking import read_jsonl
from tests.test_kill_resume import ENV, assert_same_adapters, coevo
from tests.test_loop import stable


def actor_processes(pid: int, name: str) -> list[psutil.Process]:
    """The Ray worker processes under `pid` (a driver that started its own Ray) running `name`."""
    out = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if " ".join(p.cmdline()).startswith(f"ray::{name}"):
                out.append(p)
        except psutil.Error:
            pass
    return out


def test_a_killed_learner_is_replaced_and_the_run_ends_as_if_nothing_happened(tmp_path, uninterrupted_rps):
    full, run = uninterrupted_rps, tmp_path / "hit"
    proc = subprocess.Popen(coevo(f"run_dir={run}"), env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not (run / "checkpoints" / "iter_000001" / "driver.json").exists():
            assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
            time.sleep(0.1)
        learners = actor_processes(proc.pid, "LearnerGroup")  # rps: 2 learners on 2 cores take turns, in one process
        assert learners, "no learner process found under the driver"
        learners[0].send_signal(signal.SIGKILL)  # in iteration 2 of 5: time to notice on a fast machine
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    assert "warning: a LearnerGroup actor died mid-iteration; restart 1 of 2" in err
    assert stable(read_jsonl(run / "metrics.jsonl")) == stable(read_jsonl(full / "metrics.jsonl"))
    assert read_jsonl(run / "transcripts.jsonl") == read_jsonl(full / "transcripts.jsonl")
    assert_same_adapters(run, full)


@pytest.mark.usefixtures("local_ray")
def test_a_call_past_its_deadline_names_the_actor():
    import ray

    from coevo.remote import ActorTimeout, get

    @ray.remote
    def slow():
        time.sleep(30)

    with pytest.raises(ActorTimeout, match=r"learner agent_0 \(step\) did not answer within 0.5 s"):
        get(slow.remote(), "learner agent_0 (step)", 0.5)
