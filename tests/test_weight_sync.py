"""Weight sync (coevo/loop.py `sync_weights`): the driver hands the rollout worker references to the
learners' `adapter()` results, and the worker fetches the weights itself, so a full-weight agent's
model never passes through the driver. Checkpointed league snapshots still arrive as state dicts."""
import pytest
import ray
import torch

from coevo.compose import load_config
from coevo.loop import LearnerActor
from coevo.rollout_worker import RolloutWorker


@pytest.mark.usefixtures("local_ray")
def test_the_rollout_worker_loads_a_learners_weights_from_a_reference(tiny_model_path):
    model_cfg = load_config(["model=tiny"]).model.model_dump()
    algo = load_config(["model=tiny"]).algo.model_dump()
    learner = LearnerActor.remote("agent_0", tiny_model_path, model_cfg, algo, 1.0, 0, 1)
    worker = RolloutWorker([(tiny_model_path, model_cfg, ["agent_0", "agent_1"])], 1)
    ref = learner.adapter.remote()
    plain = {k: torch.full_like(v, 0.25) for k, v in worker.policies.get_adapter("agent_1").items()}
    worker.set_adapters({"agent_0": ref, "agent_1": plain})
    sent, loaded = ray.get(ref), worker.policies.get_adapter("agent_0")
    assert sent.keys() == loaded.keys() and any(v.abs().sum() > 0 for v in sent.values())  # not all zero
    assert all(torch.equal(sent[k], loaded[k]) for k in sent)
    assert all(torch.equal(plain[k], v) for k, v in worker.policies.get_adapter("agent_1").items())
    ray.kill(learner)
