"""Placement on a Ray cluster of two nodes, started on this machine with ray.cluster_utils.Cluster.

The head node offers a custom resource `trainer`, the second node `generator`; a run that asks for
them (population.learner_resources / rollout_resources, the learners in a PACK placement group, a
crowd of two models each in a rollout actor of its own) must put every learner on the head and
both models' actors on the other node, and (slow) a STRICT_SPREAD placement group must put the
two learners on different nodes. Where each actor ran is read from Ray's own actor table in the GCS
(`ray._private.state.actors()`: the public `ray.util.state` needs the dashboard, which is not
installed). A resource no node offers stops the run with one line, before anything is written.
tests/test_ray_start.py starts a cluster with `ray start --head` and runs `coevo train ray.address=auto` on it.
"""
from __future__ import annotations

import pytest
import ray
from ray._private.state import actors
from ray.cluster_utils import Cluster

from coevo.compose import load_config
from coevo.config import ConfigError
from coevo.loop import train

TINY = ["experiment=comas", "model=tiny", "iterations=2", "logger=none", "population=duo",
        "population.games_per_iteration=2", "eval.num_tasks=0", "game.options.max_new_tokens.solver=16",
        "game.options.max_new_tokens.evaluator=8"]


@pytest.fixture(scope="module")
def two_nodes():
    if ray.is_initialized():  # the suite's shared local Ray (conftest.local_ray): this module needs its own
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "resources": {"trainer": 4}})
    worker = cluster.add_node(num_cpus=1, resources={"generator": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    yield cluster.head_node.node_id, worker.node_id
    ray.shutdown()
    cluster.shutdown()


def test_learners_and_rollout_models_run_where_their_resources_are(two_nodes, tmp_path):
    """Learners in a PACK placement group whose bundles carry `trainer` (the head); a crowd of two
    models with `population.rollout_per_base`: each model's rollout actor on the node offering
    `generator`, the worker that plays the games asking for nothing."""
    head, other = two_nodes
    before = set(actors())
    train(load_config(["experiment=rlccf", "model=tiny", "population.agents=[agent_0,{name: agent_1, model: tiny-wide}]",
                       "game.options.crowd_size=2", "iterations=1", "logger=none", "population.games_per_iteration=2",
                       "eval.num_tasks=0", "game.options.max_new_tokens.answerer=8", f"run_dir={tmp_path / 'pinned'}",
                       "population.learner_resources={trainer: 1}", "population.learner_strategy=PACK",
                       "population.rollout_per_base=true", "population.rollout_resources={generator: 0.5}"]),
          progress=False)
    ran = [a for k, a in actors().items() if k not in before]
    where = sorted((a["ActorClassName"], a["Address"]["NodeID"]) for a in ran if a["ActorClassName"] != "RolloutWorker")
    assert where == sorted([("Learner", head), ("Learner", head), ("PolicyPart", other), ("PolicyPart", other)]), where
    assert sum(a["ActorClassName"] == "RolloutWorker" for a in ran) == 1
    assert (tmp_path / "pinned" / "checkpoints").is_dir()


@pytest.mark.slow  # a second training run on the cluster: the suite's time budget
def test_strict_spread_puts_each_learner_on_its_own_node(two_nodes, tmp_path):
    head, other = two_nodes
    before = set(actors())
    train(load_config([*TINY, f"run_dir={tmp_path / 'spread'}", "population.learner_strategy=STRICT_SPREAD"]),
          progress=False)
    learners = [a for k, a in actors().items() if k not in before and a["ActorClassName"] == "Learner"]
    assert sorted(a["Address"]["NodeID"] for a in learners) == sorted([head, other])


def test_a_resource_no_node_offers_stops_before_anything_is_written(two_nodes, tmp_path):
    cfg = load_config([*TINY, f"run_dir={tmp_path / 'never'}", "population.learner_resources={gpu_box: 1}"])
    with pytest.raises(ConfigError, match=r"population.learner_resources: no node of this Ray cluster has 1 gpu_box"):
        train(cfg, progress=False)
    assert not (tmp_path / "never").exists()
    cfg = load_config([*TINY, f"run_dir={tmp_path / 'never'}", "population.rollout_num_gpus=1"])
    with pytest.raises(ConfigError, match="population.rollout_num_gpus: no node .* has 1 GPU"):
        train(cfg, progress=False)
    assert not (tmp_path / "never").exists()
    # each part exists somewhere (2 CPUs on the head, `generator` on the other node), but no node
    # has them together: one learner could never start (ray.address set: nothing caps the request)
    cfg = load_config([*TINY, f"run_dir={tmp_path / 'never'}", "ray.address=auto", "population.learner_num_cpus=2",
                       "population.learner_resources={generator: 1}"])
    with pytest.raises(ConfigError, match=r"no node of this Ray cluster offers one learner's \{'CPU': 2.0, 'generator': 1\.?0?\} at once"):
        train(cfg, progress=False)
    assert not (tmp_path / "never").exists()


def test_rollout_per_base_moves_the_request_to_each_model_only_when_there_are_several():
    from coevo.placement import rollout_options

    cfg = load_config([*TINY, "population.rollout_per_base=true", "population.rollout_num_gpus=1",
                       "population.rollout_resources={generator: 1}"])
    request = {"num_cpus": 0, "num_gpus": 1.0, "resources": {"generator": 1.0}}
    assert rollout_options(cfg, 2) == ({"num_cpus": 0}, request)  # the worker asks for nothing
    assert rollout_options(cfg, 1) == (request, None)  # one model stays in the worker, with the GPU
    off = load_config([*TINY, "population.rollout_num_gpus=1"])
    assert rollout_options(off, 2) == ({"num_cpus": 0, "num_gpus": 1.0, "resources": None}, None)
