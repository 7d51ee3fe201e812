"""Shared test setup: an isolated model cache, no network, and the tiny model as a fixture."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Tests must not depend on (or write into) the user's model cache. A cache named by the user is
# honoured, so a build can be reused across runs; otherwise a fresh one is made and removed at exit.
if "COEVO_CACHE" not in os.environ:
    _test_cache = tempfile.mkdtemp(prefix="coevo-test-cache-")
    os.environ["COEVO_CACHE"] = _test_cache
    atexit.register(shutil.rmtree, _test_cache, ignore_errors=True)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(scope="session")
def uninterrupted_rps(tmp_path_factory):
    """A tiny rock-paper-scissors run left alone (tests/test_kill_resume.py's recipe): what
    killed-and-resumed runs (test_kill_resume) and runs that lose an actor (test_actor_failure) must
    end equal to. Trained once per session, in this process: those runs are `coevo train`
    subprocesses, and the same config gives the same run either way (the point of those tests)."""
    from coevo.compose import load_config
    from coevo.loop import train
    from tests.test_kill_resume import ITERATIONS, RUN

    run = tmp_path_factory.mktemp("full") / "run"
    return train(load_config([*RUN, f"iterations={ITERATIONS}", f"run_dir={run}"]), progress=False)


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    """Directory of the tiny random model and its tokenizer (built once per session)."""
    from coevo.models.store import resolve_model

    return resolve_model("tiny")


@pytest.fixture(scope="session")
def _ray_session():
    """Shuts down at the end of the session the Ray that `local_ray` started (if still up)."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def local_ray(_ray_session):
    """A real local Ray as tests use it: 2 CPUs, no dashboard. One Ray serves every module that asks
    for it (starting and stopping one costs about 5 s a module); a module that needs a cluster of
    its own (test_cluster.py) shuts it down first, and the next module that asks starts a fresh
    one. `train` joins the running Ray and kills its actors when it ends, so nothing carries over
    from one module to the next but the Ray processes themselves."""
    ensure_local_ray()
    yield


def ensure_local_ray() -> None:
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)


@pytest.fixture(scope="session")
def tiny_comas_run(tmp_path_factory, _ray_session):
    """A tiny CoMAS `coevo train` (tests/test_loop.py's recipe, 2 iterations, wandb offline) and
    what it printed: test_loop checks the run dir it writes, test_report makes a tournament and a
    report of it. Trained once per session."""
    import contextlib
    import io

    from coevo.cli import main
    from tests.test_loop import BASE

    ensure_local_ray()
    run, out = tmp_path_factory.mktemp("comas") / "run", io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", *BASE, "iterations=2", f"run_dir={run}", "resume=false", "logger=wandb_offline"]) == 0
    return run, out.getvalue()
