"""The comas arbiter on hand-worked episodes, and on episodes played through the game."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

import games
from coevo.arbiters import ARBITERS, make_arbiter
from coevo.arbiters.comas import round_rewards
from coevo.episode import Episode, Turn
from games.tasks import Task

SEATS = ("solver_0", "evaluator_0", "scorer_0")


def episode(scores: list[int | None], correct: bool = False) -> Episode:
    """An episode of len(scores) rounds, turns in play order, rewards set to a stale 9.0."""
    turns = [Turn(agent=f"agent_{i}", seat=s, prompt_text="p", completion_text="c", reward=9.0)
             for _ in scores for i, s in enumerate(SEATS)]
    rounds = [{"solution": "s", "answer": "1", "critique": "c", "score": sc, "score_text": ""} for sc in scores]
    return Episode(game="comas_v0", seed=0, seats={s: f"agent_{i}" for i, s in enumerate(SEATS)},
                   turns=turns, outcome={"rounds": rounds, "correct": correct})


def rewards(ep: Episode) -> list[tuple[float, float, float]]:
    r = [t.reward for t in ep.turns]
    return [tuple(r[i:i + 3]) for i in range(0, len(r), 3)]


@pytest.mark.parametrize("score,expected", [
    (3, (1.0, 0.0, 0.0)),
    (2, (0.5, 0.5, 0.0)),
    (1, (0.0, 1.0, 0.0)),
    (None, (0.0, 0.0, -1.0)),
])
def test_one_round(score, expected):
    ep = episode([score])
    make_arbiter("comas")([ep])
    assert rewards(ep) == [expected]


def test_rounds_map_to_the_jth_turn_of_each_seat_and_metrics():
    a, b = episode([1, 3], correct=True), episode([None, 2])
    m = make_arbiter("comas")([a, b])
    assert rewards(a) == [(0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]
    assert rewards(b) == [(0.0, 0.0, -1.0), (0.5, 0.5, 0.0)]
    assert m == {
        "arbiter/score_parse_rate": 0.75,
        "arbiter/mean_score": 2.0,  # (1 + 3 + 2) / 3
        "arbiter/final_correct_rate": 0.5,
        "arbiter/mean_reward/solver": 0.375,  # (0 + 1 + 0 + 0.5) / 4
        "arbiter/mean_reward/evaluator": 0.375,
        "arbiter/mean_reward/scorer": -0.25,
    }


def test_params_and_ablation():
    ep = episode([None, 3])
    make_arbiter("comas", scorer_reward=False)([ep])
    assert rewards(ep) == [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0)]
    make_arbiter("comas", unparsed_penalty=-0.5)([ep])
    assert rewards(ep) == [(0.0, 0.0, -0.5), (1.0, 0.0, 0.0)]
    m = make_arbiter("comas")([episode([None])])
    assert m["arbiter/score_parse_rate"] == 0.0 and "arbiter/mean_score" not in m
    assert make_arbiter("comas")([]) == {}


def test_registry_and_bad_input():
    assert "comas" in ARBITERS
    with pytest.raises(KeyError, match="known: .*comas"):
        make_arbiter("debate_judge")
    with pytest.raises(ValidationError, match="scorer_rewards"):
        make_arbiter("comas", scorer_rewards=False)
    with pytest.raises(ValueError, match="2 turns of solver_0 but 1 rounds"):
        ep = episode([1])
        ep.turns.insert(0, Turn("agent_0", "solver_0", "p", "c"))
        make_arbiter("comas")([ep])
    with pytest.raises(ValueError, match="no outcome"):
        make_arbiter("comas")([Episode(game="other_v0", seed=1, seats={})])
    with pytest.raises(ValueError, match="not 4"):
        round_rewards(4)


def play(script: dict[str, list[str]], task: Task, **options) -> Episode:
    """Drive the real game the way the rollout does and record an Episode."""
    env = games.make("comas_v0", **options)
    env.reset(seed=0, options={"task": task})
    ep = Episode(game="comas_v0", seed=0, seats={s: s for s in env.possible_agents}, task=vars(task))
    while env.agents:
        seat = env.agent_selection
        if env.terminations[seat] or env.truncations[seat]:
            env.step(None)
            continue
        text = script[seat].pop(0)
        ep.turns.append(Turn(agent=seat, seat=seat, prompt_text=env.observe(seat)["text"], completion_text=text))
        env.step(text)
    ep.outcome = env.outcome
    return ep


def test_solver_writing_a_score_with_unparseable_scorer():
    ep = play({"solver_0": ["<score>3</score> 9 - 5 = 4"], "evaluator_0": ["<score>3</score> fine"],
               "scorer_0": ["It is a three."]}, Task("t", "What is 9 - 5?", "4"))
    assert ep.outcome["rounds"][0]["score"] is None
    make_arbiter("comas")([ep])
    assert [(t.seat, t.reward) for t in ep.turns] == [("solver_0", 0.0), ("evaluator_0", 0.0), ("scorer_0", -1.0)]


def test_played_two_rounds():
    ep = play({"solver_0": ["5 + 3 = 9", "5 + 3 = 8"], "evaluator_0": ["wrong", "right"],
               "scorer_0": ["<score>1</score>", "<score>3</score>"]},
              Task("t", "What is 5 + 3?", "8"), rounds=2)
    m = make_arbiter("comas")([ep])
    assert [t.reward for t in ep.turns] == [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    assert m["arbiter/final_correct_rate"] == 1.0 and m["arbiter/score_parse_rate"] == 1.0
