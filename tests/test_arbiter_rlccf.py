"""The rlccf arbiter on hand-worked crowds, and on crowds played through rlccf_v0 and the rollout."""
from __future__ import annotations

import random
from fractions import Fraction

import pytest
from pydantic import ValidationError

import games
from coevo.arbiters import ARBITERS, make_arbiter
from games.votes import crowd_answer, self_consistency, vote_weights
from coevo.episode import Episode, Turn
from coevo.models.hf import Completion
from coevo.rollout import plan_games, play
from games import testing
from games.tasks import Task, answer_prompt


def episode(answers: dict[str, list[str | None]], gold: str = "5") -> Episode:
    """An rlccf_v0 episode with turns in round-robin play order and a stale reward of 9.0."""
    seats = list(answers)
    n = max(len(a) for a in answers.values())
    turns = [Turn(agent=f"agent_{j}", seat=s, prompt_text="q", completion_text=str(answers[s][k]),
                  reward=9.0, group=f"t/{s}")
             for k in range(n) for j, s in enumerate(seats) if k < len(answers[s])]
    return Episode(game="rlccf_v0", seed=0, seats={s: f"agent_{j}" for j, s in enumerate(seats)},
                   turns=turns, outcome={"gold": gold, "answers": answers})


def rewards(ep: Episode) -> dict[str, list[float]]:
    return {s: [t.reward for t in ep.turns_of(s)] for s in ep.outcome["answers"]}


# The SC-weighted vote and the plain majority pick different answers (n = 4 samples each):
#
#   model    samples         SC     votes (SC x share)
#   A        5  5  5  5      4/4    5: 1 x 4/4 = 1
#   B        7  7  7  3      3/4    7: 3/4 x 3/4 = 9/16,   3: 3/4 x 1/4 = 3/16
#   C        7  7  2  9      2/4    7: 1/2 x 2/4 = 1/4,    2, 9: 1/2 x 1/4 = 1/8 each
#
#   SC-weighted: 5 -> 1, 7 -> 9/16 + 1/4 = 13/16, 3 -> 3/16, 2, 9 -> 1/8:   crowd answer 5
#   majority:    7 -> 5 samples (B 3 + C 2), 5 -> 4, 3, 2, 9 -> 1 each:     crowd answer 7
#
# A is perfectly self-consistent, so its single answer outweighs two shakier models that agree.
TABLE = {"answerer_0": ["5", "5", "5", "5"], "answerer_1": ["7", "7", "7", "3"],
         "answerer_2": ["7", "7", "2", "9"]}


def test_sc_weighted_and_majority_differ():
    assert [self_consistency(a) for a in TABLE.values()] == [1, Fraction(3, 4), Fraction(1, 2)]
    assert vote_weights(TABLE, "sc_weighted") == {"5": 1, "7": Fraction(13, 16), "3": Fraction(3, 16),
                                                  "2": Fraction(1, 8), "9": Fraction(1, 8)}
    assert vote_weights(TABLE, "majority") == {"5": 4, "7": 5, "3": 1, "2": 1, "9": 1}
    assert crowd_answer(TABLE, "sc_weighted") == "5" and crowd_answer(TABLE, "majority") == "7"

    ep = episode(TABLE, gold="7")
    m = make_arbiter("rlccf")([ep])
    assert rewards(ep) == {"answerer_0": [1.0] * 4, "answerer_1": [0.0] * 4, "answerer_2": [0.0] * 4}
    assert m["arbiter/crowd_accuracy_sc"] == 0.0 and m["arbiter/crowd_accuracy_majority"] == 1.0
    assert m["arbiter/individual_accuracy"] == 5 / 12 and m["arbiter/crowd_agreement"] == 4 / 12
    assert m["arbiter/mean_sc"] == pytest.approx((1 + 0.75 + 0.5) / 3) and m["arbiter/votes_differ"] == 1.0
    assert m["arbiter/individual_accuracy/agent_0"] == 0.0 and m["arbiter/individual_accuracy/agent_1"] == 0.75

    ep = episode(TABLE, gold="7")
    m2 = make_arbiter("rlccf", vote="majority")([ep])
    assert rewards(ep) == {"answerer_0": [0.0] * 4, "answerer_1": [1.0, 1.0, 1.0, 0.0],
                           "answerer_2": [1.0, 1.0, 0.0, 0.0]}
    # Both votes are evaluated whichever one trains; only agreement follows the training vote.
    assert {k: v for k, v in m2.items() if k != "arbiter/crowd_agreement"} == \
        {k: v for k, v in m.items() if k != "arbiter/crowd_agreement"}
    assert m2["arbiter/crowd_agreement"] == 5 / 12


def test_none_counts_in_sc_but_never_as_an_answer():
    # B says 7 only once out of 4, so SC 1/4 however many of its samples failed to parse.
    assert self_consistency(["7", None, None, None]) == Fraction(1, 4)
    assert self_consistency([None, None]) == 0 and self_consistency([]) == 0
    # None has 3 samples here but is no candidate: 7 wins with its single sample.
    answers = {"answerer_0": ["7", None, None, None]}
    assert crowd_answer(answers) == "7" and crowd_answer(answers, "majority") == "7"
    ep = episode(answers, gold="7")
    m = make_arbiter("rlccf")([ep])
    assert rewards(ep) == {"answerer_0": [1.0, 0.0, 0.0, 0.0]} and m["arbiter/no_answer_rate"] == 0.75


def test_all_none_crowd():
    answers = {f"answerer_{j}": [None, None, None] for j in range(3)}
    assert crowd_answer(answers) is None and crowd_answer(answers, "majority") is None
    ep = episode(answers)
    m = make_arbiter("rlccf")([ep])
    assert all(t.reward == 0.0 for t in ep.turns)  # the stale 9.0 is overwritten too
    assert m["arbiter/mean_sc"] == 0.0 and m["arbiter/crowd_accuracy_sc"] == 0.0
    assert m["arbiter/no_answer_rate"] == 1.0 and m["arbiter/crowd_agreement"] == 0.0


def test_ties_go_to_the_smallest_number():
    # Two equally self-consistent models disagree: 4 and 6 both get 1/2 x 1/2 = 1/4 (and 2 samples).
    answers = {"answerer_0": ["6", "6", None, None], "answerer_1": ["4", "4", None, None]}
    assert crowd_answer(answers) == "4" and crowd_answer(answers, "majority") == "4"
    # Numeric, not string order: 9 < 10 (as strings "10" < "9"), and -1 is smaller still.
    assert crowd_answer({"a": ["10", "9"]}) == "9" and crowd_answer({"a": ["10", "-1"]}) == "-1"
    assert crowd_answer({"a": ["2.5", "3"]}, "majority") == "2.5"
    # Equal answers written differently are one answer.
    assert crowd_answer({"a": ["7.0", "8"], "b": ["7", "9"]}) == "7"


def test_exact_tie_that_floats_would_break():
    #   A  2 1 3 2 3 3   SC 1/2:  3 -> 1/2 x 3/6 = 1/4,  2 -> 1/6,  1 -> 1/12
    #   B  4 4 3 3 1 4   SC 1/2:  4 -> 1/4,  3 -> 1/6,  1 -> 1/12
    #   C  2 1 3 4 4 4   SC 1/2:  4 -> 1/4,  2, 1, 3 -> 1/12 each
    #   3: 1/4 + 1/6 + 1/12 = 1/2;  4: 1/4 + 1/4 = 1/2: a tie, so the smaller, 3.
    # In floats 3 sums to 0.49999999999999994 and 4 to 0.5, which would pick 4.
    answers = {"A": list("213233"), "B": list("443314"), "C": list("213444")}
    w = vote_weights(answers, "sc_weighted")
    assert w["3"] == w["4"] == Fraction(1, 2) and crowd_answer(answers) == "3"


def test_order_of_seats_and_samples_does_not_matter():
    rng = random.Random(0)
    for _ in range(200):
        answers = {f"m{j}": [rng.choice(["1", "2", "3", None]) for _ in range(rng.randint(1, 5))]
                   for j in range(rng.randint(1, 4))}
        shuffled = {k: rng.sample(v, len(v)) for k, v in rng.sample(list(answers.items()), len(answers))}
        for vote in ("sc_weighted", "majority"):
            assert crowd_answer(answers, vote) == crowd_answer(shuffled, vote)


def test_rewards_never_depend_on_gold():
    for gold in ("5", "7", "2", "-100", None):
        ep = episode(TABLE, gold=gold)
        ep.task = {"id": "t", "question": "q", "answer": gold}
        make_arbiter("rlccf")([ep])
        assert rewards(ep) == {"answerer_0": [1.0] * 4, "answerer_1": [0.0] * 4, "answerer_2": [0.0] * 4}


def test_bad_input_and_params():
    assert "rlccf" in ARBITERS
    with pytest.raises(ValidationError, match="vote"):
        make_arbiter("rlccf", vote="mean")
    with pytest.raises(ValidationError, match="Extra inputs"):
        make_arbiter("rlccf", votes="majority")
    with pytest.raises(ValueError, match="vote must be"):
        crowd_answer(TABLE, "mean")
    ep = episode(TABLE)
    ep.turns.pop()  # a missing turn is a framework bug, never silently rewarded
    with pytest.raises(ValueError, match="3 turns of answerer_2 but 4 answers"):
        make_arbiter("rlccf")([ep])
    with pytest.raises(ValueError, match="rlccf_v0 outcomes"):
        make_arbiter("rlccf")([Episode(game="comas_v0", seed=0, seats={}, outcome={"rounds": []})])
    assert make_arbiter("rlccf")([]) == {}


def test_a_scripted_game_through_the_arbiter():
    case = games.rlccf.SCRIPTED_CASES[0]
    env = games.make("rlccf_v0")
    outcome = testing.play_scripted(env, case["script"], case["task"])
    # answerer_0: 7 x4 (SC 1); answerer_1: 7 8 7 12 (SC 1/2); answerer_2: 6 None 7 1007 (SC 1/4)
    ep = episode(outcome["answers"], gold=outcome["gold"])
    m = make_arbiter("rlccf")([ep])
    assert rewards(ep) == {"answerer_0": [1.0] * 4, "answerer_1": [1.0, 0.0, 1.0, 0.0],
                           "answerer_2": [0.0, 0.0, 1.0, 0.0]}
    assert m["arbiter/individual_accuracy"] == outcome["accuracy"] == 7 / 12


class EchoPolicies:
    """Stands in for HFPolicies: agent_j always answers j + 1, so each seat is one known policy."""

    def generate(self, agents, prompts, max_new_tokens, stop, prefixes, temperature, seeds=None):
        return [Completion(prompt_ids=[1], completion_ids=[2], logprobs=[0.0], text=str(int(a[-1]) + 1))
                for a in agents]


def test_fixed_seating_and_grpo_groups():
    agents = ["agent_0", "agent_1", "agent_2"]
    options = {"crowd_size": 3, "samples": 4}
    plans = plan_games("rlccf_v0", options, agents, n_games=2, games_per_task=1, seating="fixed",
                       seed=0, iteration=1)
    assert all(p.seats == {f"answerer_{j}": f"agent_{j}" for j in range(3)} for p in plans)
    episodes, stats = play(EchoPolicies(), "rlccf_v0", options, plans, temperature=1.0)
    # no sample sees another, so both games' 24 samples are one batched call (concurrent_agents)
    assert stats.turns == 2 * 12 and stats.generate_calls == 1
    for ep, plan in zip(episodes, plans):
        assert ep.outcome["answers"] == {f"answerer_{j}": [str(j + 1)] * 4 for j in range(3)}
        groups: dict[str, list[Turn]] = {}
        for t in ep.turns:
            groups.setdefault(t.group, []).append(t)
        # one GRPO group per (question, seat): the n samples of one model, all by that model
        assert sorted(groups) == sorted(f"{plan.task.id}/answerer_{j}" for j in range(3))
        assert all(len(ts) == 4 and len({t.agent for t in ts}) == 1 for ts in groups.values())
    make_arbiter("rlccf")(episodes)  # every model is fully self-consistent: a 3-way tie, 1 wins
    assert all(t.reward == (1.0 if t.agent == "agent_0" else 0.0) for ep in episodes for t in ep.turns)


def test_game_options():
    env = games.make("rlccf_v0", crowd_size=2, samples=3, prompt="reason")
    assert env.possible_agents == ["answerer_0", "answerer_1"] and env.max_turns == 6
    env.reset(seed=0, options={"task": Task("t", "What is 2 + 3?", "5")})
    first = env.observe("answerer_1")["text"]
    env.step("5")
    env.step("6")
    assert env.observe("answerer_1")["text"] == first  # independent samples: nothing of others shown
    assert "What is 2 + 3?" in first and first.startswith("Solve the math problem")
    assert env.agent_selection == "answerer_0" and env.max_new_tokens("answerer_0") == 48
    env = games.make("rlccf_v0")  # the default prompt is the held-out evaluation's wording
    task = Task("t", "What is 2 + 3?", "5")
    env.reset(options={"task": task})
    assert env.observe("answerer_0")["text"] == answer_prompt(task) == "What is 2 + 3?\nAnswer with just the number."
    with pytest.raises(ValidationError, match="crowd_size"):
        games.make("rlccf_v0", crowd_size=0)
    with pytest.raises(ValidationError, match="unknown role"):
        games.make("rlccf_v0", max_new_tokens={"solver": 10})


def test_the_gold_arbiter_pays_the_label():
    # the labelled control arm: each sample earns 1 exactly when it equals gold (7.0 matches 7)
    ep = episode({"answerer_0": ["7", "7.0", None, "8"], "answerer_1": ["1", "7", "7", "7"]}, gold="7")
    m = make_arbiter("gold")([ep])
    assert rewards(ep) == {"answerer_0": [1.0, 1.0, 0.0, 0.0], "answerer_1": [0.0, 1.0, 1.0, 1.0]}
    assert m == {"arbiter/individual_accuracy": 5 / 8, "arbiter/no_answer_rate": 1 / 8,
                 "arbiter/individual_accuracy/agent_0": 0.5, "arbiter/individual_accuracy/agent_1": 0.75}
    assert make_arbiter("gold")([]) == {}
