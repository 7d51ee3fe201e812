"""Held-out measures (coevo/evaluate.py, games/spc/heldout.py): known answers worked by hand with
scripted policies, then the real thing on the tiny model through `coevo train` and `coevo eval`."""
import random
import re

import pytest

from coevo.cli import main
from coevo.evaluate import EvalContext, evaluate
from coevo.models.hf import Completion
from coevo.tracking import read_jsonl
from games.spc.heldout import corrupt, labelled_steps, scores
from games.tasks import Task, make_task_source


class ScriptedPolicies:
    """Stands in for HFPolicies: `answer(agent, prompt, k)` gives the text of row k of that pair."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def generate(self, agents, prompts, max_new_tokens, stop=None, temperature=1.0, greedy=False, prefixes=None, seeds=None):
        self.calls.append({"rows": len(prompts), "greedy": greedy, "temperature": temperature, "prefixes": prefixes})
        seen: dict = {}
        out = []
        for a, p in zip(agents, prompts):
            k = seen[(a, p)] = seen.get((a, p), -1) + 1
            out.append(Completion([1], [2], [0.0], self.answer(a, p, k)))
        return out


TASKS = [Task("t0", "What is 3 + 4?", "7"), Task("t1", "What is 0 + 1?", "1")]


def test_greedy_accuracy_known_answer():
    # good is right on both tasks, bad on one (it says 8 to 3 + 4): 2/2, 1/2, mean 3/4
    policies = ScriptedPolicies(lambda a, p, k: ("8" if "3 + 4" in p else "1") if a == "bad" else
                                ("The answer is 7." if "3 + 4" in p else "1"))
    out = evaluate(policies, ["good", "bad"], TASKS, ["accuracy"], EvalContext(max_new_tokens=8))
    assert out == {"eval/accuracy/good": 1.0, "eval/accuracy/bad": 0.5, "eval/accuracy": 0.75}
    assert policies.calls == [{"rows": 4, "greedy": True, "temperature": 1.0, "prefixes": None}]  # one batch


def test_sampled_pass1_own_majority_and_the_two_crowd_votes():
    # Task t0 (gold 7), 4 samples each: a says 5 5 5 5 (SC 1), b 7 7 7 1 (SC 3/4), c 7 7 3 4 (SC 1/2).
    # SC-weighted: 5 gets 1 * 4/4 = 1; 7 gets 3/4 * 3/4 + 1/2 * 2/4 = 13/16 < 1 -> 5 (wrong).
    # Majority: 7 has 5 samples, 5 has 4 -> 7 (right). Task t1 (gold 1): everybody says 1.
    script = {"a": "5555", "b": "7771", "c": "7734"}
    policies = ScriptedPolicies(lambda a, p, k: script[a][k] if "3 + 4" in p else "1")
    out = evaluate(policies, ["a", "b", "c"], TASKS, ["sampled"], EvalContext(max_new_tokens=8, temperature=0.7))
    assert out["eval/crowd_accuracy_sc"] == 0.5 and out["eval/crowd_accuracy_majority"] == 1.0
    assert (out["eval/sampled_accuracy/a"], out["eval/sampled_accuracy/b"], out["eval/sampled_accuracy/c"]) == \
        (4 / 8, 7 / 8, 6 / 8)
    assert (out["eval/maj_accuracy/a"], out["eval/maj_accuracy/b"], out["eval/maj_accuracy/c"]) == (0.5, 1.0, 1.0)
    assert out["eval/sampled_accuracy"] == pytest.approx((4 + 7 + 6) / 24)
    assert (out["eval/pass_at_k/a"], out["eval/pass_at_k/b"], out["eval/pass_at_k/c"]) == (0.5, 1.0, 1.0)
    assert policies.calls == [{"rows": 24, "greedy": False, "temperature": 0.7, "prefixes": None}]


def test_no_tasks_no_measures():
    assert evaluate(ScriptedPolicies(lambda a, p, k: "1"), ["a"], [], ["accuracy", "sampled"], EvalContext(8)) == {}


# ---- spc_v0's critic measure ----------------------------------------------------------------

def _step_is_right(step: str) -> bool:
    a, op, b, c = re.search(r"(\d+) ([-+*]) (\d+) = (\d+)", step).groups()
    return {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op] == int(c)


def test_corrupted_steps_are_wrong_and_the_originals_right():
    tasks = make_task_source({"difficulty": 4}).heldout(40, seed=3)
    steps = labelled_steps("spc_v0", {}, tasks, seed=3)
    assert len(steps) == 80 and [t for _, t in steps] == ["Correct", "Incorrect"] * 40
    for prompt, truth in steps:
        step = re.search(r"Last step: (.*)", prompt).group(1)
        assert _step_is_right(step) == (truth == "Correct"), (step, truth)
    assert labelled_steps("spc_v0", {}, tasks, seed=3) == steps  # a fixed set: same seed, same steps
    assert corrupt("no number here", random.Random(0)) == "no number here"
    assert all(corrupt("so 0 left.", random.Random(s)) in {"so 1 left.", "so 2 left.", "so 3 left."} for s in range(9))


def test_scores_worked_by_hand():
    # truths I I C C, verdicts I C - I: tp 1, fn 1, fp 1, tn 0 -> F1 2/4; recall I 1/2, C 0/2
    s = scores(["Incorrect", "Correct", None, "Incorrect"], ["Incorrect", "Incorrect", "Correct", "Correct"])
    assert s == {"f1": 0.5, "balanced_accuracy": 0.25, "parse_rate": 0.75, "says_incorrect": 0.5}


def test_critic_measure_on_three_scripted_critics():
    # right: recomputes the step; yes: always Correct; mute: never gives a verdict
    def answer(agent, prompt, k):
        step = re.search(r"Last step: (.*)", prompt).group(1)
        return {"right": "Correct" if _step_is_right(step) else "Incorrect", "yes": "Correct",
                "mute": "I am not sure"}[agent] + "</Answer>"
    policies = ScriptedPolicies(answer)
    out = evaluate(policies, ["right", "yes", "mute"], [None] * 6, ["critic"],
                   EvalContext(max_new_tokens=8, game="spc_v0", options={}))
    assert (out["eval/critic_f1/right"], out["eval/critic_balanced_accuracy/right"]) == (1.0, 1.0)
    assert (out["eval/critic_f1/yes"], out["eval/critic_balanced_accuracy/yes"]) == (0.0, 0.5)
    assert (out["eval/critic_says_incorrect/right"], out["eval/critic_says_incorrect/yes"]) == (0.5, 0.0)
    assert (out["eval/critic_parse_rate/mute"], out["eval/critic_balanced_accuracy/mute"]) == (0.0, 0.0)
    assert out["eval/critic_f1"] == pytest.approx(1 / 3)
    assert policies.calls[0]["rows"] == 3 * 12 and policies.calls[0]["prefixes"] == ["<Answer>"] * 36


def test_critic_measure_follows_the_critique_option():
    # critique: the critic's own prompt asks for a sentence first, and nothing is prefilled
    def answer(agent, prompt, k):
        step = re.search(r"Last step: (.*)", prompt).group(1)
        verdict = "Correct" if _step_is_right(step) else "Incorrect"
        return f"Recomputed it. <Answer>{verdict}</Answer>"
    policies = ScriptedPolicies(answer)
    out = evaluate(policies, ["a"], [None] * 3, ["critic"],
                   EvalContext(max_new_tokens=8, game="spc_v0", options={"critique": True}))
    assert out["eval/critic_balanced_accuracy/a"] == 1.0 and policies.calls[0]["prefixes"] == [""] * 6
    prompts = [p for p, _ in labelled_steps("spc_v0", {"critique": True}, make_task_source({"difficulty": 4}).heldout(2), 0)]
    assert all("Recompute the last step" in p for p in prompts)


# ---- the real measures on the tiny model --------------------------------------------------------

@pytest.mark.usefixtures("local_ray")
def test_train_and_eval_run_the_configured_measures(tmp_path, capsys):
    run = tmp_path / "spc"
    argv = ["experiment=spc", "model=tiny", "logger=none", "iterations=1", "eval.num_tasks=3",
            "eval.measures=[critic,sampled]", "eval.samples=2", "eval.tasks={difficulty:1}",
            "population.games_per_iteration=2", "game.options.solver_samples=1", f"run_dir={run}"]
    assert main(["train", *argv]) == 0
    rows = read_jsonl(run / "metrics.jsonl")
    for key in ["eval/critic_f1/agent_1", "eval/critic_balanced_accuracy", "eval/sampled_accuracy/agent_0",
                "eval/crowd_accuracy_sc", "eval/maj_accuracy"]:
        assert key in rows[0] and key in rows[-1], key
        assert 0.0 <= rows[-1][key] <= 1.0
    assert "eval/accuracy" not in rows[0]  # only what was asked for
    capsys.readouterr()
    assert main(["eval", *argv]) == 0  # the run's last checkpoint, the same measures, the same numbers
    out = capsys.readouterr().out
    assert "checkpoint" in out and "3 held-out tasks" in out
    assert f"eval/critic_f1: {rows[-1]['eval/critic_f1']:.3f}" in out
    assert f"eval/crowd_accuracy_sc: {rows[-1]['eval/crowd_accuracy_sc']:.3f}" in out
    # without experiment=, the run's own config.yaml is the base: the same numbers from run_dir alone
    assert main(["eval", f"run_dir={run}"]) == 0
    assert f"eval/critic_f1: {rows[-1]['eval/critic_f1']:.3f}" in capsys.readouterr().out
    # a study's run dir has `=` in its name, so hydra needs it quoted: still the run's own config
    import shutil

    quoted = shutil.copytree(run, tmp_path / "0_seed=0")
    assert main(["eval", f"run_dir='{quoted}'"]) == 0
    assert f"eval/critic_f1: {rows[-1]['eval/critic_f1']:.3f}" in capsys.readouterr().out
    assert main(["eval", f"run_dir={run}", "model=tiny"]) == 2  # a group cannot be re-chosen on a saved config
    assert "model=tiny: on top of" in capsys.readouterr().err


def test_unknown_measure_is_a_config_error(capsys):
    assert main(["train", "experiment=comas", "model=tiny", "eval.measures=[critic]"]) == 2
    err = capsys.readouterr().err
    assert "eval.measures: ['critic'] unknown for comas_v0" in err and "'sampled'" in err


def test_vs_base_seats_each_agent_against_the_base_in_every_seat():
    # rps, 3 rounds: the agent always plays paper, the base always rock: the agent wins every round
    # in either seat (+3), and the native arbiter's metrics come along per role
    policies = ScriptedPolicies(lambda a, p, k: "rock</move>" if a == "__base__" else "paper</move>")  # after the prefill
    ctx = EvalContext(max_new_tokens=8, game="rps_v0", options={"rounds": 3}, arbiter="native")
    out = evaluate(policies, ["a", "b"], [None] * 4, ["vs_base"], ctx)
    assert {k: v for k, v in out.items() if k.endswith("/reward")} == {
        f"eval/vs_base/{a}/player/reward": 3.0 for a in ("a", "b")}
    # 2 agents x 2 seats x 4 tasks = 16 games of 3 rounds: each generate call has one agent row per game
    rows = [r for r in policies.calls]
    assert sum(r["rows"] for r in rows) == 16 * 3 * 2


@pytest.mark.slow  # the seating and arbiter metrics are checked by hand on rps above
@pytest.mark.usefixtures("local_ray")
def test_vs_base_on_negotiation_reports_price_and_deals(tmp_path):
    run = tmp_path / "neg"
    assert main(["train", "experiment=negotiation", "model=tiny", "logger=none", "iterations=1",
                 "eval.num_tasks=2", "eval.measures=[vs_base]", "population.games_per_iteration=2",
                 f"run_dir={run}"]) == 0
    rows = read_jsonl(run / "metrics.jsonl")
    for agent in ("agent_0", "agent_1"):
        for role in ("seller", "buyer"):
            for key in ("reward", "deal_rate", "illegal_rate"):
                assert f"eval/vs_base/{agent}/{role}/{key}" in rows[0] and f"eval/vs_base/{agent}/{role}/{key}" in rows[-1]
