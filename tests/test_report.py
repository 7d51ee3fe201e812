"""The summary table `coevo train` ends with and `coevo report` prints, from a hand-written metrics.jsonl."""
import json

from coevo.report import summary_table


def test_summary_table_from_metrics(tmp_path):
    rows = [{"iteration": 0, "eval/accuracy/agent_0": 0.25, "eval/accuracy/agent_1": 0.5},
            {"iteration": 1, "reward/agent_0": 0.5, "reward/agent_1": -1.0, "reward/agent_1/critic": -1.0,
             "reward/__base__": 0.0, "perf/tokens_per_s": 10.0, "perf/iteration_s": 30.0},
            {"iteration": 2, "reward/agent_0": 1.0, "reward/agent_1": 0.0, "reward/__base__": 0.0,
             "perf/tokens_per_s": 20.0, "perf/iteration_s": 50.0, "eval/accuracy/agent_0": 0.75}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = summary_table(tmp_path).splitlines()
    assert lines[1].split() == ["agent_0", "1.000", "0.250", "0.750"]
    assert lines[2].split() == ["agent_1", "0.000", "0.500", "-"]  # no eval at the end for agent_1
    assert not any("__base__" in line for line in lines)  # the frozen base never trains: no row
    assert "rollout tokens/s: 15.0" in lines[3] and "s/iteration: 40.0" in lines[3]
    assert summary_table(tmp_path / "nothing").endswith("no metrics yet")


# ---- the HTML report --------------------------------------------------------------------------
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from coevo.cli import main  # noqa: E402
from coevo.report import figures, write_report  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def read_csv(path):
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))


def test_figures_follow_the_metrics(tmp_path):
    rows = [{"iteration": 0, "eval/accuracy/a": 0.25, "eval/accuracy": 0.25},
            {"iteration": 1, "reward/a": 0.5, "reward/a/seller": 0.5, "learner/a/loss": 0.1, "learner/a/kl": 0.0,
             "arbiter/deal_rate": 0.5, "arbiter/win_rate/seller_0": 0.25, "arbiter/win_rate/buyer_0": 0.75,
             "perf/tokens_per_s": 12.0, "perf/iteration_s": 9.0, "perf/rollout_s": 5.0},
            {"iteration": 2, "reward/a": 0.7, "reward/a/seller": 0.7, "learner/a/loss": 0.2, "learner/a/kl": 0.1,
             "arbiter/deal_rate": 0.75, "perf/tokens_per_s": 13.0, "perf/iteration_s": 8.0, "perf/rollout_s": 4.0,
             "league/a/mu": 26.0, "league/pool_size": 1, "league/games": 2}]
    made = dict((name, title) for title, name in figures(rows, tmp_path))
    assert set(made) == {"rewards.png", "rewards_by_role.png", "learners.png", "eval.png", "arbiter.png", "speed.png",
                         "league.png"}
    for name in made:
        Image.open(tmp_path / name).verify()  # a valid PNG
    # a run without eval or learners (a tournament-only folder, say) gets no empty plots
    (tmp_path / "bare").mkdir()
    assert {name for _, name in figures([{"iteration": 1, "reward/a": 1.0}], tmp_path / "bare")} == {"rewards.png"}


def not_blank(png) -> bool:
    """More than 2% of the pixels are not background, in more than 20 colours."""
    img = Image.open(png).convert("RGB")
    pixels = list(img.getdata())
    background = max(set(pixels[:: 97]), key=pixels[:: 97].count)
    return sum(p != background for p in pixels) > 0.02 * len(pixels) and len(set(pixels[:: 7])) > 20


@pytest.mark.usefixtures("local_ray")
def test_a_tiny_run_its_tournament_and_its_report(tmp_path, capsys, tiny_comas_run):
    """One tiny CoMAS training (the session's, conftest.py), then: a tournament of the base and two
    of its checkpoints in a 3-seat game (every output file, seats rotated A, B, A and every rotation
    of it and its swap, results from the mean seat rank), then the run's report with that
    tournament, looked at in headless Chromium."""
    run, _ = tiny_comas_run
    players = f"tournament.players=[base,{run}@1:agent_0,{run}:agent_1]"
    cup = tmp_path / "cup"
    tiny = ["experiment=comas", "model=tiny", "game.options.max_new_tokens.solver=16",
            "game.options.max_new_tokens.evaluator=16", "tournament.games_per_pairing=6"]
    assert main(["tournament", *tiny, players, f"out_dir={cup}"]) == 0
    printed = capsys.readouterr().out
    assert "| 1 |" in printed and "run@1:agent_0" in printed and "run@2:agent_1" in printed
    for name in ["matches.jsonl", "ratings.csv", "pairwise.csv", "ratings.md", "heatmap.png", "index.html"]:
        assert (cup / name).is_file(), name
    matches = [json.loads(line) for line in (cup / "matches.jsonl").read_text().splitlines()]
    assert len(matches) == 3 * 6  # 3 players: 3 pairings, 6 seatings each
    for pairing in {tuple(m["pairing"]) for m in matches}:
        games = [m for m in matches if tuple(m["pairing"]) == pairing]
        for seat in ("solver_0", "evaluator_0", "scorer_0"):
            held = [m["seats"][seat] for m in games]
            assert held.count(pairing[0]) == held.count(pairing[1]) == 3
    for m in matches:  # the result follows the mean rank of each player's seats
        mean = {p: sum(r for s, r in m["ranks"].items() if m["seats"][s] == p) / list(m["seats"].values()).count(p)
                for p in m["pairing"]}
        a, b = m["pairing"]
        assert m["result"][a] == ("win" if mean[a] < mean[b] else "loss" if mean[a] > mean[b] else "draw")
    assert len(read_csv(cup / "ratings.csv")) == 3
    for src in re.findall(r'src="([^"]+)"', (cup / "index.html").read_text()):
        Image.open(cup / src).verify()
    # the same out_dir again: refused, nothing overwritten; a tournament of another model: the remedy
    assert main(["tournament", *tiny, players, f"out_dir={cup}"]) == 2
    assert "already holds a tournament" in capsys.readouterr().err
    assert main(["tournament", "experiment=comas", "tournament.games_per_pairing=6", players,
                 f"out_dir={tmp_path / 'other'}"]) == 2
    assert "pass the run's model (model.name=tiny and its model.lora.* settings)" in capsys.readouterr().err

    assert main(["report", str(run), "--tournament", str(cup)]) == 0
    assert "report:" in capsys.readouterr().out
    page = (run / "report" / "index.html").read_text()
    for section in ["Reward per agent", "Learners", "Held-out accuracy", "Arbiter", "Speed", "Transcripts",
                    "Iteration 1", "Iteration 2", "Tournament", "run@1:agent_0"]:
        assert section in page, section
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) >= 6
    for src in sources:  # only files that exist, every one a valid PNG
        Image.open(run / "report" / src).verify()
    assert main(["report", str(tmp_path / "nothing")]) == 2  # not a run dir: one line, no traceback
    capsys.readouterr()
    assert main(["report", str(run), "--tournament", str(tmp_path / "cpu")]) == 2  # a typo of the cup's dir
    assert "no ratings.csv there" in capsys.readouterr().err
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; `make test` installs it where it can): "
                    "the report was checked, not looked at")
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", f"--screenshot={shot}",
                    (run / "report" / "index.html").as_uri()], check=True, capture_output=True, timeout=120)
    assert not_blank(shot)
