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
    """A tiny rock-paper-scissors `coevo train` run left alone (tests/test_kill_resume.py `coevo`):
    what killed-and-resumed runs (test_kill_resume) and runs that lose an actor (test_actor_failure)
    must end equal to. Trained once per session."""
    import subprocess

    from tests.test_kill_resume import ENV, coevo

    run = tmp_path_factory.mktemp("full") / "run"
    subprocess.run(coevo(f"run_dir={run}"), check=True, env=ENV, capture_output=True)
    return run


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
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
