"""Learners that step one after another share one actor process (coevo/learners/group.py); the
layout changes where they run, not what they learn."""
import copy
import pickle

import pytest
import torch
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


def test_lora_learners_on_one_base_share_it_and_step_as_if_apart(tiny_model_path, tmp_path):
    from coevo.learners.group import LearnerGroup
    from coevo.learners.learner import Learner
    from tests.test_learner import ALGO, MODEL_CFG, sampled_turns

    wider = {**MODEL_CFG, "lora": {**MODEL_CFG["lora"], "r": 8}}
    specs = {"a": (tiny_model_path, MODEL_CFG, ALGO, 1.0, 0, None), "b": (tiny_model_path, MODEL_CFG, ALGO, 1.0, 1, None),
             "c": (tiny_model_path, wider, ALGO, 1.0, 2, None)}
    group = LearnerGroup(specs)
    a, b, c = (group.learners[x] for x in "abc")
    assert a.model is b.model and c.model is not a.model  # other LoRA settings: a base of its own
    bases = {id(m.get_base_model().model.embed_tokens.weight) for m in (a.model, b.model, c.model)}
    assert len(bases) == 2
    # each steps its own adapter exactly as a learner alone on its own base does, in any order
    alone = {x: Learner(x, *specs[x]) for x in "ab"}
    turns = {x: sampled_turns(tiny_model_path, agent=x) for x in "ab"}
    for x in ["b", "a", "b"]:
        group.call(x, "step", turns[x])
        alone[x].step(turns[x])
    for x in "ab":
        mine, theirs = group.call(x, "adapter"), alone[x].adapter()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    # a checkpoint of a shared learner resumes a learner alone, and the other way round
    group.call("a", "save", str(tmp_path / "a"))
    alone["b"].save(str(tmp_path / "b"))
    solo, twin = Learner("a", *specs["a"]), LearnerGroup({"x": specs["a"], "b": specs["b"]}).learners["b"]
    solo.load(str(tmp_path / "a"))
    twin.load(str(tmp_path / "b"))
    for x, resumed in (("a", solo), ("b", twin)):
        group.call(x, "step", turns[x])
        resumed.step(turns[x])
        mine, theirs = group.call(x, "adapter"), resumed.adapter()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
