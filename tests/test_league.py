"""League training: the snapshot pool, which snapshot a league game seats, ratings from league
games, and a tiny run that meets its snapshots and resumes exactly."""
from __future__ import annotations

import json

import pytest

from coevo.compose import load_config
from coevo.config import ConfigError
from coevo.episode import Episode
from coevo.league import League
from coevo.rollout import GamePlan
from coevo.tracking import read_jsonl
from games.tasks import Task
from tests.test_kill_resume import crashed_after
from tests.test_loop import stable

TASK = Task(id="t", question="q", answer="")


def league(**over) -> League:
    cfg = {"snapshot_every": 1, "opponents": "uniform", "share": 1.0, "max_snapshots": 3, **over}
    return League(cfg, ["a", "b"])


def plans(n: int) -> list[GamePlan]:
    # rotating seats, as plan_games makes them
    return [GamePlan(seed=i, task=TASK, seats={"p1": "ab"[i % 2], "p2": "ba"[i % 2]}) for i in range(n)]


def test_pool_evicts_the_oldest_and_reuses_its_slot():
    lg = league()
    snaps = [lg.add("a", 1), lg.add("b", 1), lg.add("a", 2)]
    assert [s.slot for s in snaps] == ["league_0", "league_1", "league_2"]
    newest = lg.add("b", 2)
    assert newest.slot == "league_0" and [s.name for s in lg.pool] == ["b@1", "a@2", "b@2"]
    assert "a@1" not in lg.ratings


def test_league_games_seat_snapshots_of_the_seats_agent():
    lg = league(opponents="latest")
    assert lg.assign(plans(4), seed=0, iteration=1, games_per_task=1) == []  # empty pool: no league games
    for it in (1, 2):
        lg.add("a", it), lg.add("b", it)
    ps = plans(4)
    games = lg.assign(ps, seed=0, iteration=3, games_per_task=1)
    assert [g.index for g in games] == [0, 1, 2, 3]  # share 1.0: every game
    slot = {s.name: s.slot for s in lg.pool}
    for g, p in zip(games, ps):
        (seat, snap), = g.opponents.items()
        assert p.seats[g.trainee_seat] == g.trainee and p.seats[seat] == slot[snap]
        # a past self of the agent the plan put in that seat, the latest one
        assert snap == f"{'ab'[(g.index + (seat == 'p2')) % 2]}@2"
    assert [g.trainee_seat for g in games] == ["p1", "p2", "p1", "p2"]  # the trainee's seat rotates


def test_assign_is_a_pure_function_of_seed_iteration_and_pool():
    lg = league(share=0.5)
    lg.add("a", 1), lg.add("b", 1), lg.add("a", 2), lg.add("b", 2)
    first, second = plans(16), plans(16)
    g1, g2 = lg.assign(first, 7, 3, 2), lg.assign(second, 7, 3, 2)
    assert [(g.index, g.opponents) for g in g1] == [(g.index, g.opponents) for g in g2] and first == second
    assert 0 < len(g1) < 16 and len(g1) % 2 == 0  # whole task groups of 2 games
    assert [g.index for g in lg.assign(plans(16), 7, 4, 2)] != [g.index for g in g1]


def test_rated_picks_the_nearest_rating_and_ratings_move_with_results():
    lg = league(opponents="rated", max_snapshots=8)
    lg.add("b", 1)
    lg.ratings["b@1"] = lg.model.rating(mu=40.0, sigma=2.0, name="b@1")
    lg.add("b", 2)  # starts at b's rating, 25
    ps = plans(1)
    (g,) = lg.assign(ps, 0, 3, 1)
    assert g.opponents == {"p2": "b@2"}
    ep = Episode(game="x", seed=0, seats=ps[0].seats, native_rewards={"p1": 1.0, "p2": -1.0})
    before = lg.ratings["a"].mu
    metrics = lg.rate([ep], [g], lambda e: {"p1": 1, "p2": 2})
    assert lg.ratings["a"].mu > before and lg.ratings["b@2"].mu < 25.0
    assert metrics["league/a/met/b@2"] == 1 and metrics["league/a/score_vs_pool"] == 1.0
    restored = league(opponents="rated", max_snapshots=8)
    restored.load_state_dict(json.loads(json.dumps(lg.state_dict())))
    assert restored.state_dict() == lg.state_dict()


def test_agent_names_cannot_take_the_leagues():
    with pytest.raises(ConfigError, match="league"):
        load_config(["experiment=tictactoe", "population.agents=[league_0,b]"])


BASE = ["experiment=tictactoe", "model=tiny", "logger=none", "population.games_per_iteration=4",
        "population.league.snapshot_every=1", "population.league.share=1.0", "population.league.opponents=rated"]


@pytest.mark.usefixtures("local_ray")
def test_a_league_run_meets_its_snapshots_and_resumes_exactly(tmp_path):
    from coevo.loop import train

    full = train(load_config([*BASE, "iterations=2", f"run_dir={tmp_path / 'full'}"]), progress=False)
    rows = read_jsonl(full / "metrics.jsonl")
    assert rows[1]["league/pool_size"] == 0 and rows[1]["league/games"] == 0  # nothing to meet yet
    assert rows[2]["league/pool_size"] == 2 and rows[2]["league/games"] == 4  # share 1.0: every game
    met = {k: v for k, v in rows[2].items() if "/met/" in k}
    assert sum(met.values()) == 4 and set(met) <= {"league/agent_0/met/agent_1@1", "league/agent_1/met/agent_0@1",
                                                   "league/agent_0/met/agent_0@1", "league/agent_1/met/agent_1@1"}
    assert "reward/league_0" not in rows[2] and "league/agent_0/mu" in rows[2]
    # the snapshots' turns are in the transcripts, under their slot, and no learner took them
    games = [json.loads(line) for line in (full / "transcripts.jsonl").read_text().splitlines()]
    assert all(any(a.startswith("league_") for a in g["seats"].values()) for g in games if g["iteration"] == 2)
    frozen = [t for g in games for t in g["turns"] if t["agent"].startswith("league_")]
    assert frozen and not any(t["train"] for t in frozen)
    assert (full / "checkpoints" / "iter_000002" / "league" / "league_0" / "adapter.safetensors").is_file()

    # killed after iteration 1 (pool of 2 in the checkpoint), resumed: the same league games, exactly
    part = crashed_after(full, 1, tmp_path / "part")
    train(load_config([*BASE, "iterations=2", f"run_dir={part}", "resume=true"]), progress=False)
    assert stable(read_jsonl(part / "metrics.jsonl")) == stable(rows)
    assert (part / "transcripts.jsonl").read_text() == (full / "transcripts.jsonl").read_text()


def test_a_pool_smaller_than_one_snapshot_of_every_agent_is_refused():
    base = ["experiment=comas", "model=tiny", "population.league.snapshot_every=1"]
    with pytest.raises(ConfigError, match=r"league.max_snapshots=2: each snapshot adds all 3 agents"):
        load_config([*base, "population.league.max_snapshots=2"])
    assert load_config([*base, "population.league.max_snapshots=3"]).population.league.max_snapshots == 3
