"""coevo tournament: seat rotation, Swiss pairing, results from seat ranks, ratings that recover a
known order, scripted players, mistakes (with models: tests/test_report.py)."""
from __future__ import annotations

import csv
import json
import random
import re

import pytest

import games
from coevo.cli import main
from coevo.compose import load_config
from coevo.config import ConfigError
from coevo.tournament import run_tournament
from coevo.tournament.ratings import Standings, pair_result
from coevo.tournament.schedule import seatings, swiss_pairings
from games.base import rank_by_score
from games.pettingzoo_adapter.tictactoe import _value, minimax_player


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# ---- schedule ----------------------------------------------------------------------------------
def test_seatings_by_hand():
    assert seatings(2, "cycle") == [(0, 1), (1, 0)]
    assert sorted(seatings(3, "cycle")) == sorted([(0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (0, 1, 1)])
    assert seatings(4, "cycle") == [(0, 1, 0, 1), (1, 0, 1, 0)]  # a rotation by one is the swap
    assert set(seatings(3, "base")) == {(0, 1, None), (0, None, 1), (1, 0, None), (None, 0, 1),
                                        (1, None, 0), (None, 1, 0)}


@pytest.mark.parametrize("n_seats", [2, 3, 4, 5])
@pytest.mark.parametrize("fill", ["cycle", "base"])
def test_every_player_holds_every_seat_equally_often(n_seats, fill):
    plan = seatings(n_seats, fill)
    for seat in range(n_seats):
        held = [s[seat] for s in plan]
        assert held.count(0) == held.count(1) > 0


def test_swiss_pairs_neighbours_who_have_not_met():
    pairs, bye = swiss_pairings([4, 2, 0, 1, 3], met={frozenset((4, 2))}, byes=set())
    assert bye == 3  # odd count: the last in the standing sits out
    assert pairs == [(4, 0), (2, 1)]  # 4 already met 2, so it takes the next one
    pairs, bye = swiss_pairings([4, 2, 0, 1, 3], met=set(), byes={3})
    assert bye == 1 and pairs == [(4, 2), (0, 3)]
    # everyone has met: pair again rather than leave anyone out
    assert swiss_pairings([0, 1], met={frozenset((0, 1))}, byes=set()) == ([(0, 1)], None)


# ---- results and ratings -----------------------------------------------------------------------
def test_rank_by_score_shares_ties():
    assert rank_by_score({"a": 3.0, "b": 3.0, "c": 1.0}) == {"a": 1, "b": 1, "c": 3}
    assert rank_by_score({"x": -1.0, "y": 1.0}) == {"x": 2, "y": 1}


def test_pair_result_from_seat_ranks():
    holder = {"s0": "A", "s1": "B", "s2": "A"}
    assert pair_result({"s0": 1, "s1": 2, "s2": 1}, holder, "A", "B") == {"A": "win", "B": "loss"}
    assert pair_result({"s0": 1, "s1": 2, "s2": 3}, holder, "A", "B") == {"A": "draw", "B": "draw"}  # mean 2 = 2
    # a filled seat (None) is not counted for anyone
    assert pair_result({"s0": 2, "s1": 1, "s2": 3}, {"s0": "A", "s1": None, "s2": "B"}, "A", "B") == \
        {"A": "win", "B": "loss"}


def test_standings_tally_and_rating_direction():
    st = Standings(["A", "B"])
    for _ in range(3):
        st.add({"A": "win", "B": "loss"}, {"A": 1.0, "B": -1.0}, {"A": "seller", "B": "buyer"})
    st.add({"A": "draw", "B": "draw"}, {"A": 0.5, "B": 0.5}, {"A": "buyer", "B": "seller"})
    top, bottom = st.table()
    assert top["player"] == "A" and top["mu"] > 25 > bottom["mu"]
    assert (top["wins"], top["draws"], top["losses"], top["score"]) == (3, 1, 0, 0.875)
    assert top["mean_reward/seller"] == 1.0 and top["mean_reward/buyer"] == 0.5
    rows = {(r["player"], r["opponent"], r["as"]): r for r in st.pairwise_rows()}
    assert rows[("B", "A", "all")]["losses"] == 3 and rows[("B", "A", "seller")]["draws"] == 1


# ---- scripted players --------------------------------------------------------------------------
def test_minimax_knows_tictactoe():
    assert _value((0,) * 9) == 0  # perfect play draws
    # the mover holds 0 and 1 (a column), the opponent 3 and 4: the mover completes 0-1-2
    env = games.make("tictactoe_v0")
    env.reset(seed=0)
    for cell in (0, 3, 1, 4):
        env.step(f"<move>{cell}</move>")
    assert minimax_player(env, "player_1", random.Random(0)) == "<move>2</move>"
    env.step("<move>8</move>")  # X misses the win; O must now win at 5
    assert minimax_player(env, "player_2", random.Random(0)) == "<move>5</move>"


def tournament(tmp_path, name, *overrides):
    return run_tournament(load_config([*overrides, f"out_dir={tmp_path / name}"]), progress=False)


def test_scripted_tictactoe_recovers_the_true_order(tmp_path):
    # listed weakest first, so the order cannot come from the listing
    out = tournament(tmp_path, "ttt", "experiment=tictactoe", "tournament.games_per_pairing=200",
                     "tournament.players=[scripted:illegal,scripted:random,scripted:minimax]")
    rows = read_csv(out / "ratings.csv")
    assert [r["player"] for r in rows] == ["scripted:minimax", "scripted:random", "scripted:illegal"]
    for better, worse in zip(rows, rows[1:]):  # the mu -/+ 3 sigma intervals do not overlap
        assert float(better["low"]) > float(worse["high"]), (better, worse)
    pair = {(r["player"], r["opponent"], r["as"]): r for r in read_csv(out / "pairwise.csv")}
    assert int(pair[("scripted:minimax", "scripted:random", "all")]["losses"]) == 0
    assert int(pair[("scripted:illegal", "scripted:random", "all")]["wins"]) == 0
    # every player held each seat in half of its games against each opponent
    assert pair[("scripted:random", "scripted:minimax", "player_1")]["games"] == "100"
    matches = [json.loads(line) for line in (out / "matches.jsonl").read_text().splitlines()]
    assert len(matches) == 600 and all(t["train"] is False for m in matches for t in m["episode"]["turns"])


def test_conceding_faster_ranks_lower_on_the_sellers_reward(tmp_path):
    out = tournament(tmp_path, "neg", "experiment=negotiation", "tournament.games_per_pairing=2",
                     "tournament.players=[scripted:concede_4,scripted:concede_1,scripted:concede_2]")
    rows = read_csv(out / "ratings.csv")
    assert [r["player"] for r in rows] == ["scripted:concede_1", "scripted:concede_2", "scripted:concede_4"]
    seller = [float(r["mean_reward/seller"]) for r in rows]
    assert seller[0] > seller[1] > seller[2]
    # by hand: concede_1 sells to concede_4 at $16 (seller 19,18,17,16; buyer 5,9,13,17 crosses 16)
    game = next(json.loads(line) for line in (out / "matches.jsonl").read_text().splitlines()
                if json.loads(line)["seats"] == {"seller_0": "scripted:concede_1", "buyer_0": "scripted:concede_4"})
    assert game["episode"]["outcome"]["rounds"][0]["price"] == 16.0
    assert game["result"] == {"scripted:concede_4": "loss", "scripted:concede_1": "win"}


def test_swiss_schedule_runs_its_rounds(tmp_path):
    out = tournament(tmp_path, "swiss", "experiment=tictactoe", "tournament.schedule=swiss",
                     "tournament.games_per_pairing=2", "tournament.rounds=2",
                     "tournament.players=[scripted:illegal,scripted:random,scripted:minimax]")
    matches = [json.loads(line) for line in (out / "matches.jsonl").read_text().splitlines()]
    rounds = [m["round"] for m in matches]
    assert rounds == [1, 1, 2, 2]  # 3 players: one pairing and a bye per round
    assert matches[0]["pairing"] != matches[2]["pairing"]  # round 2 pairs players that had not met


# ---- mistakes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides,expected", [
    (["tournament.players=[base]"], "at least 2 players"),
    (["tournament.players=[base,scripted:alphazero]"], "scripted:minimax"),
    (["tournament.players=[base,nowhere/run:agent_0]"], "not a run directory"),
    (["tournament.players=[base,base]"], "more than once"),
    (["tournament.players=[base,scripted:random]", "tournament.games_per_pairing=3"], "multiple of 2"),
    (["tournament.players=[base,scripted:random]", "tournament.schedule=knockout"], "tournament.schedule"),
])
def test_mistakes_are_one_line(tmp_path, capsys, overrides, expected):
    assert main(["tournament", "experiment=tictactoe", f"out_dir={tmp_path / 'x'}", *overrides]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "matches.jsonl").exists()

# The base against checkpoints of a tiny run, in a 3-seat game, with every output file and the
# report: tests/test_report.py (one tiny training serves both).


def test_a_game_with_one_players_seat_is_a_one_line_error(tmp_path, capsys):
    # comas with the base in the evaluator's and the scorer's seats leaves the players one seat
    argv = ["tournament", "experiment=comas", "model=tiny", "population.base_roles=[evaluator,scorer]",
            "tournament.players=[base,base]", f"out_dir={tmp_path / 'x'}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "leaves 1 seat(s) to the players" in err and "Traceback" not in err


def test_runs_in_folders_of_the_same_name_get_distinct_labels(tmp_path):
    """Two arms of a study both have a `0_seed=0`: their players are named by parent folder too."""
    import yaml

    from coevo.tournament.players import parse_players

    model = {"name": "tiny", "lora": {"r": 4}}
    specs = []
    for arm in ("full", "ablation"):
        run = tmp_path / "runs" / arm / "0_seed=0"
        ckpt = run / "checkpoints" / "iter_000003"
        (ckpt / "agent_0").mkdir(parents=True)
        (ckpt / "agent_0" / "adapter.safetensors").write_bytes(b"")
        (ckpt / "driver.json").write_text(json.dumps({"iteration": 3}))
        (run / "config.yaml").write_text(yaml.safe_dump({"model": model}))
        specs.append(f"{run}:agent_0")
    players = parse_players([*specs, "base"], {}, model)
    assert [p.label for p in players] == ["full/0_seed=0@3:agent_0", "ablation/0_seed=0@3:agent_0", "base"]
    with pytest.raises(ConfigError, match="listed more than once"):  # the same run twice is still an error
        parse_players([specs[0], specs[0]], {}, model)
