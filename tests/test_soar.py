"""soar: the teacher's reward is the student's hard-set gain after inner learner steps; promotion at tau."""
from __future__ import annotations

import json
import re

import pytest
import ray
import torch

import games
from coevo.arbiters import make_arbiter
from coevo.compose import load_config
from coevo.inner_loop import InnerLoop
from coevo.loop import LearnerActor
from coevo.models.hf import Completion, HFPolicies
from coevo.rollout import plan_games, play
from coevo.rollout_worker import RolloutActor

AGENTS = ["agent_0", "agent_1"]  # fixed seating: agent_0 teaches, agent_1 learns
OPTIONS = {"samples": 4, "max_new_tokens": {"teacher": 8, "student": 6}}
# one teacher move per game, in plan order; game 2's move has no answer tag (illegal)
TEACHER = ["Problem: What is 1 + 1?\nAnswer: 2",
           "Problem: What is 2 + 2?\nAnswer: 4",
           "Problem: What is 3 + 3? The answer is 6",
           "Problem: What is 3 + 3?\nAnswer: 6"]


class ScriptedPolicies:
    """Teacher rows get the scripted problems; student rows go to `student` (a policies object) or,
    without one, answer `a + b` right on samples 1-3 and wrong on sample 4 of each problem."""

    def __init__(self, student=None):
        self.teacher, self.student, self.calls = list(TEACHER), student, []

    def generate(self, agents, prompts, max_new_tokens, stop, prefixes, temperature, seeds=None):
        self.calls.append(len(prompts))
        out, student_rows = [None] * len(prompts), []
        for i, (agent, prompt) in enumerate(zip(agents, prompts)):
            if "practice problems" in prompt:  # the teacher's template
                text = self.teacher.pop(0)[len("Problem:"):]  # the rollout adds the prefill back
                out[i] = Completion([1], [2], [-0.5], text)
            else:
                student_rows.append(i)
        if self.student is not None and student_rows:
            real = self.student.generate([agents[i] for i in student_rows], [prompts[i] for i in student_rows],
                                         max_new_tokens=6, temperature=1.0)
            for i, c in zip(student_rows, real):
                out[i] = c
        else:
            for k, i in enumerate(student_rows):
                a, b = map(int, re.search(r"What is (\d+) \+ (\d+)", prompts[i]).groups())
                out[i] = Completion([1], [2], [-0.5], str(a + b + (k % 4 == 3)))
        return out


def episodes_of(policies):
    plans = plan_games("soar_v0", OPTIONS, AGENTS, n_games=4, games_per_task=1, seating="fixed", seed=0,
                       iteration=1)
    return play(policies, "soar_v0", OPTIONS, plans, temperature=1.0)


class CountingInnerLoop:
    """Stands in for the Ray actors with a student whose 'weights' are the set of problems it has
    trained on. Training on 1 + 1 and 2 + 2 (batch 0) makes it solve 2 of the 4 hard problems;
    nothing else helps. It records every call so the arbiter's protocol can be checked."""

    def __init__(self):
        self.state, self.log = frozenset(), []

    def snapshot(self, agent):
        self.log.append(("snapshot", agent))
        return self.state

    def restore(self, agent, snap):
        self.log.append(("restore", agent, sorted(snap)))
        self.state = snap

    def learn(self, agent, turns):
        self.log.append(("learn", agent, len(turns)))
        self.state = self.state | {t.prompt_text.splitlines()[0] for t in turns}
        return {}

    def solved(self, agent, tasks):
        k = 2 if {"What is 1 + 1?", "What is 2 + 2?"} <= self.state else 0
        return [i < k for i in range(len(tasks))]


def soar_arbiter(**params):
    return make_arbiter("soar", problems_per_batch=2, hard_pool=8, hard_size=4, **params)


def test_teacher_earns_its_batch_gain_and_the_best_batch_is_promoted():
    episodes, stats = episodes_of(ScriptedPolicies())
    assert stats.generate_calls == 2  # all teachers in one call, then all 12 student answers in one
    assert [ep.outcome["valid"] for ep in episodes] == [True, True, False, True]
    arbiter, inner = soar_arbiter(tau=0.01), CountingInnerLoop()
    arbiter.bind(inner)
    metrics = arbiter(episodes)
    # batch 0 = games 0, 1: the student solves 2 of 4 hard problems after it -> gain 0.5;
    # batch 1 = games 2 (illegal: -1), 3: no gain
    assert [ep.turns_of("teacher_0")[0].reward for ep in episodes] == [0.5, 0.5, -1.0, 0.0]
    assert {t.group for ep in episodes for t in ep.turns_of("teacher_0")} == {"soar/teacher"}
    assert metrics["arbiter/gain_best"] == 0.5 and metrics["arbiter/gain_mean"] == 0.25
    assert metrics["arbiter/promoted"] == 1.0 and metrics["arbiter/hard_size"] == 4.0
    assert metrics["arbiter/valid_problem_rate"] == 0.75 and metrics["arbiter/student_agreement"] == 0.75
    # every batch starts from the saved state; the promoted student keeps batch 0's weights
    assert [e for e in inner.log if e[0] != "snapshot"] == [
        ("restore", "agent_1", []), ("learn", "agent_1", 8),
        ("restore", "agent_1", []), ("learn", "agent_1", 4),
        ("restore", "agent_1", ["What is 1 + 1?", "What is 2 + 2?"])]
    # the student's answers are rewarded against the teacher's answer, per problem, and never
    # reach the iteration's ordinary learner step
    students = [t for ep in episodes for t in ep.turns_of("student_0")]
    assert [t.reward for t in students] == [1.0, 1.0, 1.0, 0.0] * 3
    assert len({t.group for t in students}) == 3 and not any(t.train for t in students)
    assert all(t.train for ep in episodes for t in ep.turns_of("teacher_0"))


def test_no_promotion_below_tau_and_the_hard_set_is_kept():
    episodes, _ = episodes_of(ScriptedPolicies())
    arbiter, inner = soar_arbiter(tau=0.6), CountingInnerLoop()
    arbiter.bind(inner)
    assert arbiter(episodes)["arbiter/promoted"] == 0.0
    assert inner.state == frozenset()  # back to the saved state
    hard = arbiter.state_dict()["hard_set"]
    assert len(hard) == 4
    again = soar_arbiter(tau=0.6)
    again.load_state_dict(arbiter.state_dict())  # a resumed run measures on the same problems
    assert again.state_dict() == arbiter.state_dict()


def test_rotating_seats_or_a_base_student_are_errors():
    episodes, _ = episodes_of(ScriptedPolicies())
    episodes[1].seats = {"teacher_0": "agent_1", "student_0": "agent_0"}
    arbiter = soar_arbiter()
    arbiter.bind(CountingInnerLoop())
    with pytest.raises(ValueError, match="seating: fixed"):
        arbiter(episodes)
    with pytest.raises(RuntimeError, match="bind"):
        soar_arbiter()(episodes)


@pytest.mark.usefixtures("local_ray")
def test_inner_loop_with_real_learner_and_rollout_actors(tiny_model_path):
    model_cfg = load_config(["model=tiny"]).model.model_dump()
    algo = {**load_config(["algo=rloo"]).algo.model_dump(), "lr": 1e-2}
    learners = {a: LearnerActor.remote(a, tiny_model_path, model_cfg, algo, 1.0, i, 1) for i, a in enumerate(AGENTS)}
    rollout = RolloutActor.remote([(tiny_model_path, model_cfg, AGENTS)], 1)
    local = HFPolicies.from_config(tiny_model_path, AGENTS, model_cfg)
    torch.manual_seed(0)
    episodes, _ = episodes_of(ScriptedPolicies(student=local))
    for ep in episodes:  # the random tiny model is ~never right; mark half its answers right so the
        if ep.outcome["valid"]:  # RLOO advantages are not all zero and a step really moves the adapter
            ep.outcome["student_correct"] = [True, False, True, False]
    start = ray.get(learners["agent_1"].adapter.remote())
    for tau, promoted in [(2.0, False), (-2.0, True)]:  # a gain is in [-1, 1]: never / always promote
        arbiter = soar_arbiter(tau=tau, hard_tasks={"difficulty": 3})
        arbiter.bind(InnerLoop(learners, rollout, max_new_tokens=6))
        metrics = arbiter(episodes)
        assert metrics["arbiter/promoted"] == float(promoted) and metrics["arbiter/hard_size"] > 0
        after = ray.get(learners["agent_1"].adapter.remote())
        same = all(torch.equal(start[k], after[k]) for k in start)
        assert same != promoted  # restored exactly, or kept the trained weights
    teacher = ray.get(learners["agent_0"].adapter.remote())
    assert ray.get(learners["agent_0"].step.remote([])) == {"learner/agent_0/turns": 0}
    assert all(torch.equal(teacher[k], v) for k, v in ray.get(learners["agent_0"].adapter.remote()).items())


def test_the_game_is_registered_with_its_roles():
    assert games.get_game("soar_v0").roles == ("teacher", "student")
    env = games.make("soar_v0", samples=3)
    env.reset(seed=0)
    assert env.concurrent_agents() == ["teacher_0"] and env.max_turns == 4
    env.step(TEACHER[0])
    assert env.concurrent_agents() == ["student_0"] * 3
    assert env.observe("student_0")["text"] == "What is 1 + 1?\nAnswer with just the number."


def test_validity_share_by_hand():
    from coevo.arbiters.soar import validity_share

    # valid problems all earn 0.25, invalid ones -1: validity explains everything
    assert validity_share([(True, 0.25), (True, 0.25), (False, -1.0)]) == 1.0
    # only valid problems, gains differ: nothing is explained by validity
    assert validity_share([(True, 0.0), (True, 0.5)]) == 0.0
    # valid 0 and 1 (mean 0.5), invalid 0 (x2): mean 0.25; total = 0.0625*3 + 0.5625 = 0.75;
    # between = 2 * 0.0625 + 2 * 0.0625 = 0.25 -> 1/3
    assert validity_share([(True, 0.0), (True, 1.0), (False, 0.0), (False, 0.0)]) == pytest.approx(1 / 3)
    assert validity_share([]) == 0.0 and validity_share([(True, 0.3), (False, 0.3)]) == 0.0


def test_the_hard_set_is_drawn_apart_from_the_heldout_split(tmp_path):
    # a task file with a train and a test split (arithmetic tasks have no split: any overlap there
    # would be chance), so a hard set drawn from the wrong split shows
    for split, n in (("train", 12), ("test", 6)):
        lines = [json.dumps({"question": f"{split} problem {i}: what is {i} + 1?", "answer": f"#### {i + 1}"})
                 for i in range(n)]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    arbiter = soar_arbiter(hard_tasks={"source": "jsonl", "path": str(tmp_path)})
    arbiter.bind(CountingInnerLoop())
    arbiter(episodes_of(ScriptedPolicies())[0])
    hard = [t["question"] for t in arbiter.state_dict()["hard_set"]]
    assert len(hard) == 4  # hard_size: the pool of 8 has more unsolved problems than that
    assert all(q.startswith("train problem ") for q in hard), hard
