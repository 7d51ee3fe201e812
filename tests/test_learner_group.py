"""Learners that step one after another share one actor process (coevo/learners/group.py); the
layout changes where they run, not what they learn."""
import copy
import pickle

import pytest
from ray._private.state import actors

from coevo.compose import load_config
from coevo.learners.group import GroupMember
from coevo.loop import train
from coevo.placement import one_learner_process
from coevo.tracking import read_jsonl
from tests.test_kill_resume import assert_same_adapters
from tests.test_loop import stable

RUN = ["experiment=comas", "model=tiny", "population=duo", "seed=0", "logger=none", "iterations=1",
       "eval.num_tasks=2", "population.games_per_iteration=2", "game.options.max_new_tokens.solver=12",
       "game.options.max_new_tokens.evaluator=8", "algo.lr=1e-2", "threads=1"]


@pytest.mark.usefixtures("local_ray")
def test_one_process_or_one_each_learns_the_same(tmp_path):
    started = {}
    for parallel in ("false", "true"):
        before = set(actors())
        train(load_config([*RUN, f"population.parallel_learners={parallel}", f"run_dir={tmp_path / parallel}"]),
              progress=False)
        started[parallel] = sorted(a["ActorClassName"] for k, a in actors().items() if k not in before)
    assert started == {"false": ["LearnerGroup", "RolloutWorker"],
                       "true": ["Learner", "Learner", "RolloutWorker"]}
    grouped, apart = read_jsonl(tmp_path / "false" / "metrics.jsonl"), read_jsonl(tmp_path / "true" / "metrics.jsonl")
    assert stable(grouped) == stable(apart)
    assert grouped[1]["learner/agent_1/turns"] > 0 and grouped[1]["learner/agent_1/grad_norm"] > 0
    assert_same_adapters(tmp_path / "false", tmp_path / "true")


def test_only_learners_that_wait_for_each_other_and_ask_for_no_placement_share_a_process():
    cfg = load_config(["experiment=comas", "model=tiny"])
    assert one_learner_process(cfg, parallel=False) and not one_learner_process(cfg, parallel=True)
    for placed in ["population.learner_strategy=PACK", "population.learner_num_gpus=1",
                   "population.learner_resources={trainer: 1}"]:
        assert not one_learner_process(load_config(["experiment=comas", "model=tiny", placed]), parallel=False), placed


class RecordingGroup:
    """Stands in for the LearnerGroup actor handle: `call.remote` returns what a member sent it."""

    class call:  # noqa: N801 - named as the actor method it stands in for
        @staticmethod
        def remote(*args):
            return args


def test_a_member_passes_learner_calls_to_its_group_and_copies_like_a_plain_object():
    member = GroupMember(RecordingGroup, "agent_1")
    assert member.step.remote(["turn"]) == ("agent_1", "step", ["turn"])
    assert member.adapter.remote() == ("agent_1", "adapter")
    for twin in (copy.deepcopy(member), pickle.loads(pickle.dumps(member))):
        assert twin.agent == "agent_1" and twin.save.remote("d") == ("agent_1", "save", "d")
    with pytest.raises(AttributeError):
        member.__deepcopy_me__  # noqa: B018 - a private name is never a learner method
