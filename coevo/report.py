"""What a run looked like: the summary table `coevo train` ends with, and `coevo report RUN_DIR`'s
static page, RUN_DIR/report/index.html, with PNG plots beside it (no server, no script):

- curves over iterations from metrics.jsonl: reward per agent and per agent and role; each
  learner's loss, KL, clip fraction and grad norm; held-out accuracy per agent; the arbiter's
  metrics (parse, valid, win, deal rates ...); league ratings and scores against the pool;
  tokens/s and seconds per iteration by phase;
- a transcript browser: a few games of the first, middle and last iteration, turn by turn;
- tournament results (ratings, heatmap, pairwise) when RUN_DIR/tournament holds a tournament, or
  the folder `--tournament DIR` names.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from coevo import html
from coevo.config import ConfigError
from coevo.episode import BASE_AGENT
from coevo.tracking import METRICS, TRANSCRIPTS, metric_series, read_jsonl

LEARNER_STATS = ("loss", "kl", "clip_frac", "grad_norm")
PHASES = ("rollout", "arbiter", "learn", "sync", "eval")


def summary_table(run_dir: Path) -> str:
    rows = read_jsonl(Path(run_dir) / METRICS)
    if not rows:
        return f"{run_dir}: no metrics yet"
    first, last = rows[0], rows[-1]
    agents = agents_of(rows)
    trained = [r for r in rows if r["iteration"] > 0]
    lines = [f"{'agent':<12} {'reward (last it)':>16} {'acc before':>11} {'acc after':>10}"]
    for a in agents:
        before = first.get(f"eval/accuracy/{a}") if first["iteration"] == 0 else None
        after = last.get(f"eval/accuracy/{a}")
        lines.append(f"{a:<12} {_fmt(last.get(f'reward/{a}')):>16} {_fmt(before):>11} {_fmt(after):>10}")
    tps = [r["perf/tokens_per_s"] for r in trained if r.get("perf/tokens_per_s")]
    it_s = [r["perf/iteration_s"] for r in trained if r.get("perf/iteration_s")]
    lines.append(f"iterations: {last['iteration']}   rollout tokens/s: {_fmt(sum(tps) / len(tps) if tps else None, 1)}"
                 f"   s/iteration: {_fmt(sum(it_s) / len(it_s) if it_s else None, 1)}")
    lines.append(f"run dir: {Path(run_dir).resolve()}")
    return "\n".join(lines)


def agents_of(rows: list[dict]) -> list[str]:
    """The trained agents (the frozen base, seats of population.base_roles, has no curve)."""
    return sorted({k.split("/")[1] for r in rows for k in r if k.startswith("reward/") and k.count("/") == 1}
                  - {BASE_AGENT})


def _fmt(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


# ---- plots ----------------------------------------------------------------------------------
def plot_panels(rows: list[dict], panels: list[tuple[str, dict[str, str]]], path: Path, cols: int = 2) -> bool:
    """One subplot per panel (title, {line label: metric key}); panels without data are left out.
    Returns False (and writes nothing) when no panel has data."""
    panels = [(t, lines) for t, lines in panels if any(metric_series(rows, k) for k in lines.values())]
    if not panels:
        return False
    cols = min(cols, len(panels))
    n_rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5.2 * cols, 3.2 * n_rows))
    for i, (title, lines) in enumerate(panels):
        ax = fig.add_subplot(n_rows, cols, i + 1)
        for label, key in lines.items():
            pts = metric_series(rows, key)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def _keys(rows: list[dict], prefix: str) -> list[str]:
    return sorted({k for r in rows for k in r if k.startswith(prefix)})


def figures(rows: list[dict], out: Path) -> list[tuple[str, str]]:
    """Every plot the run's metrics allow: [(section title, png name)]."""
    agents = agents_of(rows)
    made = []

    def add(title, name, panels, cols=2):
        if plot_panels(rows, panels, out / name, cols):
            made.append((title, name))

    add("Reward per agent", "rewards.png", [("reward/<agent>", {a: f"reward/{a}" for a in agents})], cols=1)
    roles = sorted({k.split("/")[2] for k in _keys(rows, "reward/") if k.count("/") == 2})
    add("Reward per agent and role", "rewards_by_role.png",
        [(f"reward as {role}", {a: f"reward/{a}/{role}" for a in agents}) for role in roles])
    add("Learners", "learners.png",
        [(stat, {a: f"learner/{a}/{stat}" for a in agents}) for stat in LEARNER_STATS])
    add("Held-out accuracy", "eval.png",
        [("eval/accuracy/<agent> (greedy)", {a: f"eval/accuracy/{a}" for a in agents}
                                             | {"mean": "eval/accuracy"})], cols=1)
    # arbiter metrics: a family (arbiter/win_rate/<seat>) shares a panel, one line per member
    families: dict[str, dict[str, str]] = {}
    for k in _keys(rows, "arbiter/"):
        parts = k.split("/")
        family = "/".join(parts[:2]) if len(parts) > 2 else k
        families.setdefault(family, {})["/".join(parts[2:]) or parts[1]] = k
    add("Arbiter", "arbiter.png", sorted(families.items()), cols=3)
    if _keys(rows, "league/"):
        add("League: the trainees against the pool of snapshots", "league.png",
            [("rating mu", {a: f"league/{a}/mu" for a in agents}),
             ("score vs pool (wins + draws/2)", {a: f"league/{a}/score_vs_pool" for a in agents}),
             ("pool size and league games", {"snapshots": "league/pool_size", "games": "league/games"})])
    add("Speed", "speed.png", [("rollout tokens/s", {"tokens/s": "perf/tokens_per_s"}),
                               ("seconds per iteration", {"iteration": "perf/iteration_s"}
                                | {p: f"perf/{p}_s" for p in PHASES})])
    return made


# ---- transcripts and tournaments --------------------------------------------------------------
def transcript_section(run_dir: Path, games_per_iteration: int = 4) -> list[str]:
    """A few games of the first, middle and last iteration with transcripts."""
    by_iter: dict[int, list[dict]] = {}
    path = run_dir / TRANSCRIPTS
    if path.exists():
        with open(path) as f:
            for line in f:
                ep = json.loads(line)
                games = by_iter.setdefault(ep["iteration"], [])
                if len(games) < games_per_iteration:
                    games.append(ep)
    if not by_iter:
        return []
    its = sorted(by_iter)
    shown = sorted({its[0], its[len(its) // 2], its[-1]})
    body = ["<h2>Transcripts</h2>", f"<p class='muted'>{games_per_iteration} games of iterations "
            f"{', '.join(map(str, shown))}; click a game to open it.</p>"]
    for it in shown:
        body.append(f"<h3>Iteration {it}</h3>")
        for ep in by_iter[it]:
            seats = ", ".join(f"{s}: {a}" for s, a in ep["seats"].items())
            body.append(html.transcript(ep, summary=f"{ep['game']} seed {ep['seed']} ({seats})"))
    return body


def _read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def tournament_part(tournament_dir: Path, out: Path) -> list[str]:
    from coevo.tournament.outputs import tournament_section

    if not (tournament_dir / "ratings.csv").exists():
        return []
    shutil.copyfile(tournament_dir / "heatmap.png", out / "tournament_heatmap.png")
    return [f"<h2>Tournament ({html.esc(tournament_dir)})</h2>",
            *tournament_section(_read_csv(tournament_dir / "ratings.csv"), _read_csv(tournament_dir / "pairwise.csv"),
                                "tournament_heatmap.png")]


# ---- the page -------------------------------------------------------------------------------
def write_report(run_dir: Path, tournament_dir: Path | None = None) -> Path:
    """Write RUN_DIR/report/index.html and its PNGs; returns the page's path."""
    run_dir = Path(run_dir)
    rows = read_jsonl(run_dir / METRICS)
    if not rows:
        raise ConfigError(f"{run_dir} holds no metrics.jsonl: is it a run directory?")
    if tournament_dir is not None and not (Path(tournament_dir) / "ratings.csv").is_file():
        # named on purpose: a typo must not leave the page silently without its tournament
        raise ConfigError(f"--tournament {tournament_dir}: no ratings.csv there; is it a `coevo tournament` out_dir?")
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.png"):  # plots of a metric the run no longer has must not linger
        old.unlink()
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else {}
    about = [("run dir", str(run_dir.resolve())), ("experiment", cfg.get("experiment", "-")),
             ("game", (cfg.get("game") or {}).get("name", "-")), ("model", (cfg.get("model") or {}).get("name", "-")),
             ("arbiter", (cfg.get("arbiter") or {}).get("name", "-")), ("iterations", rows[-1]["iteration"]),
             ("agents", ", ".join(agents_of(rows)))]
    body = [html.table(["", ""], about), "<h2>Summary</h2>", f"<pre>{html.esc(summary_table(run_dir))}</pre>"]
    for title, name in figures(rows, out):
        body += [f"<h2>{html.esc(title)}</h2>", html.image(name, title)]
    body += transcript_section(run_dir)
    tdir = tournament_dir or run_dir / "tournament"
    body += tournament_part(Path(tdir), out)
    page = out / "index.html"
    page.write_text(html.page(f"coevo run: {run_dir.name}", body))
    return page
