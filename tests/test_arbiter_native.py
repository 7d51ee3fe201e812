"""The native arbiter on hand-worked episodes, and on tic-tac-toe games played through the rollout."""
from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from coevo.arbiters import ARBITERS, make_arbiter
from coevo.arbiters.native import turn_rewards
from coevo.episode import Episode, Turn
from coevo.models.hf import Completion
from coevo.rollout import plan_games, play


def episode(seats: list[str], native: dict[str, float], illegal: list[tuple[str, int]] = (),
            **outcome) -> Episode:
    """Turns in play order (rewards set to a stale 9.0), the native rewards, the illegal moves."""
    turns = [Turn(agent=f"agent_{s[-1]}", seat=s, prompt_text="p", completion_text="c", reward=9.0) for s in seats]
    moves = [{"agent": a, "turn": i, "reason": "r"} for a, i in illegal]
    return Episode(game="tictactoe_v0", seed=0, seats={}, turns=turns, native_rewards=native,
                   outcome={"illegal_moves": moves, **outcome})


P1, P2 = "player_1", "player_2"


@pytest.mark.parametrize("seats,native,illegal,penalty,expected", [
    ([P1, P2, P1], {P1: 1.0, P2: -1.0}, set(), 0.0, [1.0, -1.0, 1.0]),  # a win: every turn of the seat
    ([P1, P2, P1, P2], {P1: 0.0, P2: 0.0}, set(), -1.0, [0.0, 0.0, 0.0, 0.0]),  # a draw
    ([P1, P2], {P1: 1.0, P2: -1.0}, {1}, -0.5, [1.0, -1.5]),  # P2 forfeits on turn 1
    ([P1, P2, P1], {P1: 0.0, P2: 0.0}, {0}, -1.0, [-1.0, 0.0, 0.0]),  # illegal=random: only the penalty
    ([P1], {}, set(), 0.0, [0.0]),  # a seat with no native reward gets 0
])
def test_turn_rewards(seats, native, illegal, penalty, expected):
    assert turn_rewards(seats, native, illegal, penalty) == expected


def test_episodes_and_metrics():
    win = episode([P1, P2, P1, P2, P1], {P1: 1.0, P2: -1.0}, winner=P1, draw=False)
    forfeit = episode([P1, P2], {P1: 1.0, P2: -1.0}, [(P2, 1)], winner=P1, draw=False)
    draw = episode([P1, P2, P1], {P1: 0.0, P2: 0.0}, [(P1, 2)], winner=None, draw=True)
    m = make_arbiter("native", illegal_penalty=-1.0)([win, forfeit, draw])
    assert [t.reward for t in win.turns] == [1.0, -1.0, 1.0, -1.0, 1.0]
    assert [t.reward for t in forfeit.turns] == [1.0, -2.0]
    assert [t.reward for t in draw.turns] == [0.0, 0.0, -1.0]
    assert m == {
        "arbiter/illegal_rate": 0.2,  # 2 illegal of 10 turns
        "arbiter/mean_native/player_1": 2 / 3,
        "arbiter/mean_native/player_2": -2 / 3,
        "arbiter/draw_rate": 1 / 3,
        "arbiter/win_rate/player_1": 2 / 3,
        "arbiter/win_rate/player_2": 0.0,
    }
    make_arbiter("native")([forfeit])  # default: no penalty
    assert [t.reward for t in forfeit.turns] == [1.0, -1.0]


def test_any_game_without_winner_keys():
    ep = Episode(game="comas_v0", seed=0, seats={}, native_rewards={"solver_0": 1.0},
                 turns=[Turn("a", s, "p", "c") for s in ("solver_0", "evaluator_0", "scorer_0")],
                 outcome={"illegal_moves": [{"agent": "scorer_0", "turn": 2}]})
    m = make_arbiter("native", illegal_penalty=-1.0)([ep])
    assert [t.reward for t in ep.turns] == [1.0, 0.0, -1.0]
    assert "arbiter/draw_rate" not in m and m["arbiter/illegal_rate"] == pytest.approx(1 / 3)
    assert make_arbiter("native")([]) == {}


def test_registry_and_bad_input():
    assert "native" in ARBITERS
    with pytest.raises(ValidationError, match="illegal_penalties"):
        make_arbiter("native", illegal_penalties=-1.0)
    with pytest.raises(ValueError, match="does not match a turn of its seat"):
        make_arbiter("native")([episode([P1, P2], {}, [(P1, 1)])])  # turn 1 is player_2's
    with pytest.raises(ValueError, match="does not match"):
        make_arbiter("native")([episode([P1], {}, [(P1, 5)])])


class LowestCell:
    """A scripted policy: always the lowest legal cell, as the prompt lists them."""

    def generate(self, agents, prompts, max_new_tokens, stop, prefixes, temperature, seeds=None):
        out = []
        for prompt, prefix in zip(prompts, prefixes):
            assert prefix == "<move>"
            cell = re.search(r"Legal moves: (\d+)", prompt).group(1)
            out.append(Completion([1], [2, 3], [-0.1, -0.2], f"{cell}</move>"))
        return out


def test_played_through_the_rollout():
    """Lowest-cell play: X takes 0, 2, 4, 6 and wins on the 2-4-6 diagonal at move 7, every game.
    With seating=rotate the agents swap seats, so each wins two games of four."""
    plans = plan_games("tictactoe_v0", {}, ["agent_0", "agent_1"], 4, 1, "rotate", seed=0, iteration=1)
    episodes, stats = play(LowestCell(), "tictactoe_v0", {}, plans, temperature=1.0)
    assert stats.turns == 28 and stats.generate_calls == 7  # one batched call per move
    m = make_arbiter("native", illegal_penalty=-1.0)(episodes)
    assert m["arbiter/win_rate/player_1"] == 1.0 and m["arbiter/illegal_rate"] == 0.0
    for ep in episodes:
        assert [mv["action"] for mv in ep.outcome["moves"]] == [0, 1, 2, 3, 4, 5, 6]
        assert ep.native_rewards == {P1: 1.0, P2: -1.0} and ep.turns[0].completion_text == "<move>0</move>"
        assert [t.reward for t in ep.turns] == [1.0, -1.0] * 3 + [1.0]
    assert [ep.seats[P1] for ep in episodes] == ["agent_0", "agent_1", "agent_0", "agent_1"]


def test_a_win_by_forfeit_counts_for_the_seat_that_never_moved():
    """player_1 forfeits its first move, so player_2 never moves: its +1 must still reach
    reward/<its agent>, or per-agent rewards disagree with the game's result."""
    import games
    from coevo.loop import reward_metrics
    from coevo.rollout import GamePlan, play

    players = games.get_game("tictactoe_v0").players
    task = games.make("tictactoe_v0").task_source.sample(None)
    plans = [GamePlan(seed=0, task=task, seats={"player_1": "a", "player_2": "b"}),
             GamePlan(seed=1, task=task, seats={"player_1": "b", "player_2": "a"})]
    episodes, stats = play(None, "tictactoe_v0", {}, plans, 1.0,
                           scripted={"a": players["illegal"], "b": players["minimax"]})
    assert stats.generate_calls == 0 and [len(ep.turns) for ep in episodes] == [1, 2]
    make_arbiter("native", illegal_penalty=-1.0)(episodes)
    # the first game alone: b has no turn, yet it won
    assert reward_metrics(episodes[:1]) == {"reward/a": -2.0, "reward/a/player": -2.0,
                                            "reward/b": 1.0, "reward/b/player": 1.0}
    m = reward_metrics(episodes)  # a: two forfeits (native -1, penalty -1); b: two wins
    assert m["reward/a"] == -2.0 and m["reward/b"] == 1.0
