"""debate_v0 specifics and the debate arbiter on hand-worked debates, and on debates played
through the rollout."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

import games
from coevo.arbiters import make_arbiter
from coevo.episode import Episode, Turn
from coevo.evaluate import EvalContext, evaluate
from coevo.models.hf import Completion
from coevo.rollout import plan_games, play
from games import testing
from games.debate import majority
from games.tasks import Task, answer_prompt

TASK = Task("t", "What is 3 + 4?", "7")


def debate(script: dict[str, list], task: Task = TASK, **options) -> Episode:
    """Play `script` through debate_v0; turns in play order (seat j = agent_j), stale reward 9.0."""
    env = games.make("debate_v0", **options)
    outcome = testing.play_scripted(env, script, task)
    n, rounds = len(script), len(next(iter(script.values())))
    turns = [Turn(agent=f"agent_{j}", seat=s, prompt_text="q", completion_text=str(script[s][k]),
                  reward=9.0, group=f"{task.id}/{s}")
             for k in range(rounds) for j, s in enumerate(script)]
    assert len(turns) == n * rounds
    return Episode(game="debate_v0", seed=0, seats={s: f"agent_{j}" for j, s in enumerate(script)},
                   turns=turns, outcome=outcome)


def rewards(ep: Episode) -> dict[str, list[float]]:
    return {s: [t.reward for t in ep.turns_of(s)] for s in ep.outcome["answers"]}


# Round 1: 8, 8, 7 -> majority 8.  Round 2: nobody moves -> majority 8, final 8; gold is 7.
STUBBORN = {"debater_0": ["3 + 4 = 8", "8"], "debater_1": ["8", "It is 8."], "debater_2": ["7", "7"]}
# SCRIPTED_CASES[0]: round 1 8, 8, 7 (majority 8); round 2 7, 8, 7 (majority 7 = gold).
FLIP = games.debate.SCRIPTED_CASES[0]


def test_gold_and_majority_targets_differ():
    ep = debate(STUBBORN)
    assert ep.outcome["majority"] == ["8", "8"] and ep.outcome["final_answer"] == "8" and not ep.outcome["correct"]
    m = make_arbiter("debate")([ep])  # target: gold (the default): only the right debater earns
    assert rewards(ep) == {"debater_0": [0.0, 0.0], "debater_1": [0.0, 0.0], "debater_2": [1.0, 1.0]}
    assert m["arbiter/reward_mean"] == 2 / 6
    ep = debate(STUBBORN)
    m2 = make_arbiter("debate", target="majority")([ep])  # label-free: agreeing with the wrong vote pays
    assert rewards(ep) == {"debater_0": [1.0, 1.0], "debater_1": [1.0, 1.0], "debater_2": [0.0, 0.0]}
    assert m2["arbiter/reward_mean"] == 4 / 6
    # The evaluation metrics read gold under either target: only the reward changes.
    assert {k: v for k, v in m.items() if k != "arbiter/reward_mean"} == \
        {k: v for k, v in m2.items() if k != "arbiter/reward_mean"}
    assert m["arbiter/final_accuracy"] == 0.0 and m["arbiter/accuracy/round_2"] == 1 / 3


def test_final_round_only():
    ep = debate(FLIP["script"], FLIP["task"])
    make_arbiter("debate", final_round_only=True)([ep])
    # round 1 (8, 8, 7) is neither rewarded nor trained on; round 2 (7, 8, 7) is judged against gold 7
    assert rewards(ep) == {"debater_0": [0.0, 1.0], "debater_1": [0.0, 0.0], "debater_2": [0.0, 1.0]}
    assert [t.train for t in ep.turns] == [False] * 3 + [True] * 3
    ep = debate(FLIP["script"], FLIP["task"])
    make_arbiter("debate")([ep])  # the default judges every round and trains on all of them
    assert rewards(ep) == {"debater_0": [0.0, 1.0], "debater_1": [0.0, 0.0], "debater_2": [1.0, 1.0]}
    assert all(t.train for t in ep.turns)
    # one round: the only round is the last, so final_round_only changes nothing
    ep = debate({"debater_0": ["7"], "debater_1": ["6"]}, debaters=2, rounds=1)
    make_arbiter("debate", final_round_only=True)([ep])
    assert rewards(ep) == {"debater_0": [1.0], "debater_1": [0.0]} and all(t.train for t in ep.turns)


def test_metrics_by_hand():
    # E1 = FLIP, gold 7:  d0 8 -> 7,  d1 8 -> 8,  d2 7 -> 7;  majority 8, 7;  agreement 2/3, 2/3
    # E2 = nobody answers, gold 4: every answer None; majority None, None; agreement 0, 0
    e1 = debate(FLIP["script"], FLIP["task"])
    none = games.debate.SCRIPTED_CASES[2]
    e2 = debate(none["script"], none["task"])
    m = make_arbiter("debate")([e1, e2])
    assert m == pytest.approx({
        "arbiter/accuracy/round_1": 1 / 6,          # d2 of E1, of 6 answers
        "arbiter/accuracy/round_2": 2 / 6,          # d0 and d2 of E1
        "arbiter/majority_accuracy/round_1": 0.0,   # E1 says 8, E2 nothing
        "arbiter/majority_accuracy/round_2": 0.5,   # E1 says 7
        "arbiter/agreement/round_1": 1 / 3,         # (2/3 + 0) / 2
        "arbiter/agreement/round_2": 1 / 3,
        "arbiter/final_accuracy": 0.5,
        "arbiter/no_answer_rate": 0.5,              # E2's 6 of 12 answers
        "arbiter/changed_answer_rate": 1 / 6,       # d0 of E1 (8 -> 7); None -> None is no change
        "arbiter/reward_mean": 3 / 12,              # the 3 right answers of E1
    })
    assert all(t.reward == 0.0 for t in e2.turns)  # the stale 9.0 is overwritten
    # target majority: no majority at all (E2) pays nobody; None never equals anything
    e2 = debate(none["script"], none["task"])
    make_arbiter("debate", target="majority")([e2])
    assert all(t.reward == 0.0 for t in e2.turns)


def test_none_and_non_text_answers_earn_nothing():
    case = games.debate.SCRIPTED_CASES[3]  # debater_1's round-1 move is the int 42: illegal, None
    ep = debate(case["script"], case["task"])
    m = make_arbiter("debate", target="majority")([ep])  # final majority 42
    assert rewards(ep) == {"debater_0": [1.0, 1.0], "debater_1": [0.0, 1.0], "debater_2": [0.0, 0.0]}
    assert m["arbiter/no_answer_rate"] == 1 / 6 and m["arbiter/changed_answer_rate"] == 1 / 3  # None -> 42


def test_one_round_has_no_change_rate():
    ep = debate({"debater_0": ["4"], "debater_1": ["5"]}, Task("t", "What is 2 + 2?", "4"), debaters=2, rounds=1)
    m = make_arbiter("debate")([ep])
    assert "arbiter/changed_answer_rate" not in m and "arbiter/accuracy/round_2" not in m
    assert ep.outcome["majority"] == ["4"] and m["arbiter/final_accuracy"] == 1.0  # tie 4 / 5 -> 4


def test_bad_input():
    with pytest.raises(ValidationError, match="target"):
        make_arbiter("debate", target="crowd")
    with pytest.raises(ValidationError, match="Extra inputs"):
        make_arbiter("debate", vote="majority")
    with pytest.raises(ValueError, match="debate_v0 outcomes"):
        make_arbiter("debate")([Episode(game="comas_v0", seed=0, seats={}, outcome={"rounds": []})])
    ep = debate(STUBBORN)
    ep.turns.pop()  # a framework bug: a turn missing from the episode
    with pytest.raises(ValueError, match="1 turns of debater_2 but 2 answers"):
        make_arbiter("debate")([ep])
    assert make_arbiter("debate")([]) == {}


def test_majority_is_rlccfs_plain_vote():
    assert majority(["8", "7", "8"]) == "8" and majority([None, None, "3"]) == "3"
    assert majority(["10", "9"]) == "9" and majority(["7.0", "7", "6"]) == "7"  # numeric ties, one 7
    assert majority([None, None]) is None and majority([]) is None


# ---- the game --------------------------------------------------------------------------------

def test_observations_and_concurrency():
    env = games.make("debate_v0", debaters=3, rounds=3)
    assert env.possible_agents == ["debater_0", "debater_1", "debater_2"] and env.max_turns == 9
    env.reset(seed=0, options={"task": TASK})
    assert env.observe("debater_1")["text"] == answer_prompt(TASK)  # round 1 = the evaluation prompt
    assert env.concurrent_agents() == ["debater_0", "debater_1", "debater_2"]
    env.step("a0 says 8")
    assert env.concurrent_agents() == ["debater_1", "debater_2"]  # the rest of round 1
    assert env.observe("debater_1")["text"] == answer_prompt(TASK)  # nothing of round 1 shown
    env.step("a1 says 7")
    env.step("")  # debater_2 writes nothing
    obs = env.observe("debater_2")["text"]
    assert "Your previous answer:\n(no answer)" in obs and "Debater 1: a0 says 8\n\nDebater 2: a1 says 7" in obs
    env.step("r2 a0")
    assert "r2 a0" not in env.observe("debater_1")["text"]  # same-round moves stay hidden
    env.step("r2 a1")
    env.step("r2 a2")
    obs = env.observe("debater_0")["text"]  # round 3 shows round 2 only
    assert "Your previous answer:\nr2 a0" in obs and "r2 a2" in obs and "a1 says 7" not in obs
    assert env.max_new_tokens("debater_0") == 64 and env.stop_strings("debater_0") == []


def test_options():
    env = games.make("debate_v0", instruction="Think step by step.", max_obs_chars=400)
    env.reset(seed=0, options={"task": TASK})
    assert env.observe("debater_0")["text"] == "What is 3 + 4?\nThink step by step."
    for text in ["7", "x" * 300 + " 7", "y" * 300 + " 7"]:
        env.step(text)
    obs = env.observe("debater_0")["text"]  # the others' texts are cut from the front, never the question
    assert len(obs) <= 400 and obs.startswith("What is 3 + 4?") and obs.endswith("Think step by step.\n")
    assert "[...]" in obs and "Your previous answer:\n7\n" in obs and "y 7" in obs and "Debater 1" not in obs
    for bad in ({"debaters": 1}, {"rounds": 0}, {"max_new_tokens": {"solver": 8}}, {"round": 2}):
        with pytest.raises(ValidationError):
            games.make("debate_v0", **bad)


# ---- through the rollout ---------------------------------------------------------------------

class RevisingPolicies:
    """Stands in for HFPolicies: round 1, agent_j answers 8 if j < 2 else 7; later rounds, 7."""

    def generate(self, agents, prompts, max_new_tokens, stop, prefixes, temperature, seeds=None):
        return [Completion(prompt_ids=[1], completion_ids=[2], logprobs=[0.0],
                           text="7" if "previous answer" in p or a == "agent_2" else "8")
                for a, p in zip(agents, prompts)]


def test_rollout_batches_each_round_and_groups_by_seat():
    agents = ["agent_0", "agent_1", "agent_2"]
    options = {"debaters": 3, "rounds": 2}
    plans = plan_games("debate_v0", options, agents, n_games=3, games_per_task=1, seating="rotate",
                       seed=0, iteration=1)
    episodes, stats = play(RevisingPolicies(), "debate_v0", options, plans, temperature=1.0)
    # every game's round is one row block of the same call: 2 rounds -> 2 generate calls
    assert stats.turns == 3 * 6 and stats.generate_calls == 2
    for ep, plan in zip(episodes, plans):
        assert ep.outcome["majority"][1] == "7" and ep.outcome["agreement"][1] == 1.0
        groups = {t.group for t in ep.turns}
        assert groups == {f"{plan.task.id}/debater_{j}" for j in range(3)}  # a seat's 2 rounds together
    m = make_arbiter("debate", target="majority")(episodes)
    assert m["arbiter/agreement/round_1"] == pytest.approx(2 / 3) and m["arbiter/changed_answer_rate"] == pytest.approx(2 / 3)
    # round 1's majority is 8 in every game, the final one 7: round-1 eights earn nothing
    assert all(t.reward == float(t.completion_text == "7") for ep in episodes for t in ep.turns)


def test_rounds_measure_scores_each_round_and_its_majority():
    """Held-out debates (`eval.measures=[rounds]`): round 1 agent_0 and agent_1 say 8, agent_2 says 7
    (gold 7); round 2 everyone says 7. Seat j is agent j mod the population."""
    tasks = [Task(f"t{i}", "What is 3 + 4?", "7") for i in range(4)]
    ctx = EvalContext(max_new_tokens=8, game="debate_v0", options={"debaters": 3, "rounds": 2})
    trio = evaluate(RevisingPolicies(), ["agent_0", "agent_1", "agent_2"], tasks, ["rounds"], ctx)
    assert trio == {"eval/debate/round_1/accuracy": pytest.approx(1 / 3), "eval/debate/round_1/majority_accuracy": 0.0,
                    "eval/debate/round_2/accuracy": 1.0, "eval/debate/round_2/majority_accuracy": 1.0}
    duo = evaluate(RevisingPolicies(), ["agent_0", "agent_2"], tasks, ["rounds"], ctx)  # seats a0, a2, a0
    assert duo["eval/debate/round_1/accuracy"] == pytest.approx(1 / 3)
    assert duo["eval/debate/round_1/majority_accuracy"] == 0.0  # 8, 7, 8: the majority is wrong
    pair = evaluate(RevisingPolicies(), ["agent_2", "agent_0"], tasks, ["rounds"], ctx)  # seats a2, a0, a2
    assert pair["eval/debate/round_1/accuracy"] == pytest.approx(2 / 3) and pair["eval/debate/round_1/majority_accuracy"] == 1.0
