"""spc_v0 (sneaky generator, solvers, critic) and the `spc` arbiter, on hand-written transcripts and
hand-worked rewards. The test kit (tests/test_games.py) also plays the module's SCRIPTED_CASES."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import games
from coevo.arbiters import make_arbiter
from coevo.episode import BASE_AGENT, Episode, Turn
from coevo.models.hf import Completion
from coevo.rollout import plan_games, play
from games.spc import parse_rewrite, parse_verdict, solution_steps
from games.tasks import JsonlTasks, Task
from games.testing import play_in_order

GAME = "spc_v0"
ONE = Task("one", "What is 6 * 7?", "42", "6 * 7 = 42.\n#### 42")


def run(script: list, task: Task = ONE, seed: int = 0, **options):
    """Play `script` (actions in play order) to the end; returns the env and the seats that acted."""
    return play_in_order(GAME, script, task, seed, **options)


def test_parsers_and_steps():
    assert parse_verdict("<Answer>Correct</Answer>") == "Correct"
    assert parse_verdict("<answer> INCORRECT </answer> <Answer>Correct</Answer>") == "Incorrect"  # first counts
    for bad in ("", "Correct", "<Answer>Wrong</Answer>", "<Answer>Correct", "<answer>3</answer>"):
        assert parse_verdict(bad) is None, bad
    assert parse_rewrite("\n  Rewritten step:  6 * 7 = 48.\nmore") == "6 * 7 = 48."
    assert parse_rewrite("Step: x") == "x" and parse_rewrite(" \n\t") == ""
    assert parse_rewrite("Rewritten step:\n6 * 7 = 48.") == "6 * 7 = 48."  # a label on its own line
    assert parse_rewrite("Step 2: 6 * 7 = 48.") == "6 * 7 = 48."
    assert parse_rewrite("Sure! Here is the rewritten step:\n  6 * 7 = 48.") == "6 * 7 = 48."
    two = Task("t", "q", "5", "First 3 + 4 = 7. Then 7 - 2 = 5.\n#### 5")
    assert solution_steps(two) == ["First 3 + 4 = 7.", "Then 7 - 2 = 5."]
    assert solution_steps(Task("t", "q", "9")) == ["The answer is 9."]
    gsm = Task("g", "q", "72", "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips.\n#### 72")
    assert solution_steps(gsm) == ["Natalia sold 48/2 = 24 clips in May.", "Natalia sold 48+24 = 72 clips."]


def test_the_step_is_one_with_a_number_and_the_rest_is_context():
    task = Task("t", "q", "5", "Think first.\nSo 3 + 2 = 5.\nDone.\n#### 5")
    for seed in range(6):  # only step 1 holds a number
        env = games.make(GAME)
        env.reset(seed=seed, options={"task": task})
        assert env.outcome["step_index"] == 1 and env.outcome["context"] == ["Think first."]
        assert "Think first." in env.observe("sneaky_0")["text"] and "So 3 + 2 = 5." in env.observe("sneaky_0")["text"]


def test_gsm8k_solutions_split_into_steps(tmp_path):
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
    if shared.is_dir():
        source = JsonlTasks(shared)
    else:  # users' machines do not have ../shared: a one-line file in the same format
        (tmp_path / "t.jsonl").write_text('{"question": "q", "answer": "a is 2*3 = <<2*3=6>>6.\\nb is 6+1 = 7.\\n#### 7"}\n')
        source = JsonlTasks(tmp_path / "t.jsonl")
    task = source.heldout(1)[0]
    steps = solution_steps(task)
    assert len(steps) >= 2 and all("####" not in s and "<<" not in s for s in steps)


def test_observations_show_each_seat_its_version_of_the_step():
    env = games.make(GAME, solver_samples=1)
    env.reset(seed=0, options={"task": ONE})
    env.step("6 * 7 = 48.")
    assert env.concurrent_agents() == ["solver_0", "solver_1"]
    assert "6 * 7 = 42." in env.observe("solver_0")["text"] and "6 * 7 = 48." in env.observe("solver_1")["text"]
    env.step("")
    env.step("")
    assert env.agent_selection == "critic_0" and "Last step: 6 * 7 = 48." in env.observe("critic_0")["text"]
    env.step("<Answer>Incorrect</Answer>")
    assert "Last step: 6 * 7 = 42." in env.observe("critic_0")["text"]  # then the original
    env.step("<Answer>Incorrect</Answer>")
    o = env.outcome
    assert o["fooled"] is False and [j["right"] for j in o["judgements"]] == [True, False]
    assert env.rewards == {"sneaky_0": -1.0, "solver_0": 0.0, "solver_1": 0.0, "critic_0": 0.0}


def test_min_drop_is_the_validity_threshold():
    # original 2 of 4 right, altered 1 of 4: drop 0.25
    script = ["6 * 7 = 43.", "", "", "41", "41", "", "43", "42", "43", "<Answer>Correct</Answer>"]
    env, _ = run(script[:-1], min_drop=0.5, judge_original="never")
    assert env.outcome["drop"] == 0.25 and not env.outcome["valid"] and env.outcome["invalid_reason"] == "no drop"
    assert env.outcome["judgements"] == []  # the game ended after the solvers: nothing to judge
    env, _ = run(script, min_drop=0.25, judge_original="never")
    assert env.outcome["valid"] and env.outcome["fooled"] and env.rewards["sneaky_0"] == 1.0


def test_paired_judging_shows_the_critic_as_many_correct_steps_as_broken_ones():
    # an invalid rewrite: under "paired" the critic does not play; under "always" it judges the original
    env, seats = run(["6 * 7 = 42."])
    assert seats == ["sneaky_0"] and env.outcome["judgements"] == []
    env, seats = run(["6 * 7 = 42.", "<Answer>Correct</Answer>"], judge_original="always")
    assert [j["truth"] for j in env.outcome["judgements"]] == ["Correct"]
    # a valid one: one broken step, one correct step, so a critic that always says the same earns 0
    for verdict in ("Correct", "Incorrect"):
        env, _ = run(["6 * 7 = 48.", "", "", f"<Answer>{verdict}</Answer>", f"<Answer>{verdict}</Answer>"],
                     solver_samples=1)
        assert [j["truth"] for j in env.outcome["judgements"]] == ["Incorrect", "Correct"]
        assert env.rewards["critic_0"] == 0.0


def test_the_verdicts_order_in_the_critic_prompt_is_drawn_per_game():
    # a small model echoes the verdict named last: one fixed order would leave it one verdict to sample
    def correct_first(seed: int, **options) -> bool:
        env = games.make(GAME, solver_samples=1, **options)
        env.reset(seed=seed, options={"task": ONE})
        env.step("6 * 7 = 48.")
        env.step("")
        env.step("")
        first = env.observe("critic_0")["text"]
        env.step("<Answer>Incorrect</Answer>")
        second = env.observe("critic_0")["text"]  # the same game's original step: the same order
        orders = {t.index("<Answer>Correct</Answer>") < t.index("<Answer>Incorrect</Answer>") for t in (first, second)}
        assert len(orders) == 1 and first.rstrip().endswith("</Answer>.") and "{verdicts}" not in first
        return orders.pop()

    drawn = [correct_first(seed) for seed in range(40)]
    assert 10 <= sum(drawn) <= 30  # both orders, roughly half each
    assert drawn == [correct_first(seed) for seed in range(40)]  # a function of the game's seed
    assert all(correct_first(s, verdict_order="correct_first") for s in range(5))
    assert not any(correct_first(s, verdict_order="incorrect_first") for s in range(5))
    # the order does not change which step the game picks (drawn after it)
    steps = Task("two", "?", "9", "2 + 3 = 5.\n5 + 4 = 9.\n#### 9")
    for seed in range(10):
        picked = set()
        for order in ("random", "correct_first"):
            env = games.make(GAME, verdict_order=order)
            env.reset(seed=seed, options={"task": steps})
            picked.add(env.outcome["original_step"])
        assert len(picked) == 1


def test_options_are_validated():
    with pytest.raises(ValidationError, match="min_drop"):
        games.make(GAME, min_drop=0)
    with pytest.raises(ValidationError, match="solver_samples"):
        games.make(GAME, solver_samples=0)
    assert games.make(GAME, solver_samples=3).max_turns == 9


# ---- the arbiter ------------------------------------------------------------------------------
def episode(script: list, task: Task = ONE, **options) -> Episode:
    env, seats = run(script, task, **options)
    agents = {"sneaky_0": "agent_0", "critic_0": "agent_1", "solver_0": BASE_AGENT, "solver_1": BASE_AGENT}
    return Episode(game=GAME, seed=0, seats=agents, outcome=env.outcome, native_rewards=dict(env.total_rewards),
                   turns=[Turn(agent=agents[s], seat=s, prompt_text="p", completion_text=str(a))
                          for s, a in zip(seats, script)])


def test_arbiter_zero_sum_rewards_and_metrics():
    fooled = episode(["6 * 7 = 48.", "", "", "<Answer>Correct</Answer>", "<Answer>Correct</Answer>"],
                     solver_samples=1)
    caught = episode(["6 * 7 = 40.", "", "", "<Answer>Incorrect</Answer>", "nonsense"], solver_samples=1)
    unchanged = episode(["6 * 7 = 42.", "<Answer>Correct</Answer>"], judge_original="always")
    m = make_arbiter("spc")([fooled, caught, unchanged])
    assert [(t.seat, t.reward, t.train) for t in fooled.turns] == [
        ("sneaky_0", 1.0, True), ("solver_0", 0.0, False), ("solver_1", 0.0, False),
        ("critic_0", -1.0, True), ("critic_0", 1.0, True)]
    assert [t.reward for t in caught.turns] == [-1.0, 0.0, 0.0, 1.0, -1.0]  # unparseable: judged wrong
    assert [t.reward for t in unchanged.turns] == [0.0, 1.0]
    # on the altered step the game is zero-sum
    for ep in (fooled, caught):
        assert ep.turns[0].reward == -ep.turns[3].reward
    # the arbiter agrees with the game's native rewards
    for ep in (fooled, caught, unchanged):
        for seat in ("sneaky_0", "critic_0"):
            assert sum(t.reward for t in ep.turns_of(seat)) == ep.native_rewards[seat]
    assert m == pytest.approx({
        "arbiter/valid_rate": 2 / 3, "arbiter/invalid/unchanged": 1 / 3, "arbiter/mean_drop": 1.0,
        "arbiter/success_original": 1.0, "arbiter/success_altered": 0.0, "arbiter/fool_rate": 0.5,
        "arbiter/critic_accuracy": 3 / 5, "arbiter/critic_accuracy/altered": 0.5,
        "arbiter/critic_accuracy/original": 2 / 3, "arbiter/verdict_parse_rate": 4 / 5,
        "arbiter/mean_reward/sneaky": 0.0, "arbiter/mean_reward/critic": 1 / 5})


def test_arbiter_invalid_reward_and_bad_input():
    ep = episode(["", "<Answer>Correct</Answer>"], judge_original="always")
    make_arbiter("spc", invalid_reward=-0.5)([ep])
    assert [t.reward for t in ep.turns] == [-0.5, 1.0]
    assert make_arbiter("spc")([]) == {}
    with pytest.raises(ValidationError, match="Extra inputs"):
        make_arbiter("spc", invalid=1.0)
    with pytest.raises(ValueError, match="spc_v0 outcomes"):
        make_arbiter("spc")([Episode(game="comas_v0", seed=0, seats={}, outcome={"rounds": []})])
    ep.turns.pop()  # a missing critic turn is a framework bug, never silently rewarded
    with pytest.raises(ValueError, match="0 critic turns but 1 judgements"):
        make_arbiter("spc")([ep])


# ---- through the rollout ----------------------------------------------------------------------
class RolePolicies:
    """Stands in for HFPolicies with a scripted player per role, read from the prompt: the sneaky
    adds one to the step's last number, solvers stop at once, the critic says Correct."""

    def __init__(self):
        self.calls = []

    def generate(self, agents, prompts, max_new_tokens, stop, prefixes, temperature, seeds=None):
        self.calls.append(list(agents))
        out = []
        for prompt, prefix in zip(prompts, prefixes):
            if prompt.startswith("Here is a math problem"):  # sneaky
                step = prompt.split("\nStep: ", 1)[1].split("\n", 1)[0]
                head, num = step.rstrip(".").rsplit(" ", 1)
                text = f"{head} {int(num) + 1}."
            elif prefix == "<Answer>":
                text = "Correct</Answer>"
            else:
                text = ""
            out.append(Completion(prompt_ids=[1], completion_ids=[2], logprobs=[0.0], text=text))
        return out


def test_rollout_batches_the_solvers_on_the_base_and_the_arbiter_rewards():
    agents = ["agent_0", "agent_1"]
    options = {"solver_samples": 3, "tasks": {"difficulty": 1}}  # one-step solutions: the step holds the answer
    plans = plan_games(GAME, options, agents, n_games=2, games_per_task=1, seating="fixed",
                       seed=0, iteration=1, base_roles=("solver",))
    assert all(p.seats == {"sneaky_0": "agent_0", "solver_0": BASE_AGENT, "solver_1": BASE_AGENT,
                           "critic_0": "agent_1"} for p in plans)
    policies = RolePolicies()
    episodes, stats = play(policies, GAME, options, plans, temperature=1.0)
    # ticks: sneaky, 6 solver samples of both games at once, critic on the altered step, critic on the original
    assert stats.generate_calls == 4 and len(policies.calls[1]) == 12
    assert set(policies.calls[1]) == {BASE_AGENT}
    m = make_arbiter("spc")(episodes)
    for ep in episodes:
        o = ep.outcome
        assert o["valid"] and o["drop"] == 1.0 and o["fooled"], o  # +1 on the answer step always breaks it
        assert [t.reward for t in ep.turns_of("sneaky_0")] == [1.0]
        assert [t.reward for t in ep.turns_of("critic_0")] == [-1.0, 1.0]
    assert m["arbiter/fool_rate"] == 1.0 and m["arbiter/critic_accuracy/original"] == 1.0


def test_the_verdict_order_script_runs_and_an_untrained_adapter_judges_like_the_base(tmp_path, tiny_model_path, capsys):
    # experiments/spc/verdict_order.py on the tiny model, with a run dir whose critic adapter is the
    # zero-initialised one (LoRA B = 0): it must judge exactly as the base model does
    import importlib.util
    import re

    import yaml
    from safetensors.torch import save_file

    from coevo.models.hf import HFPolicies

    path = Path(__file__).resolve().parent.parent / "experiments" / "spc" / "verdict_order.py"
    spec = importlib.util.spec_from_file_location("verdict_order", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}
    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "iter_000001"
    (ckpt / "agent_1").mkdir(parents=True)
    (ckpt / "driver.json").write_text("{}")
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"lora": lora}}))
    save_file(HFPolicies(tiny_model_path, ["a"], lora).get_adapter("a"), str(ckpt / "agent_1" / "adapter.safetensors"))

    script.main(["--model", "tiny", "--tasks", "3", "--samples", "2", "--runs", str(run)])
    lines = capsys.readouterr().out.splitlines()
    for order in ("correct_first", "incorrect_first"):
        line = next(x for x in lines if x.startswith(order))
        n, steps, *counted = map(int, re.findall(r"\d+", line.split(":", 1)[1]))  # correct, incorrect, unparsed
        assert (n, steps) == (3 * 2 * 2, 3 * 2) and len(counted) == 3 and sum(counted) == n
    base = next(x for x in lines if "base (untrained):" in x).split(":", 1)[1]
    trained = next(x for x in lines if str(run) in x).split(":", 1)[1]
    assert base == trained
