"""What a tournament leaves in `out_dir`: ratings.csv, pairwise.csv, ratings.md, heatmap.png, index.html
(matches.jsonl is written by the driver as games finish)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from coevo import html
from coevo.tournament.ratings import Standings

RATING_COLUMNS = ["player", "ordinal", "mu", "sigma", "low", "high", "games", "wins", "draws", "losses",
                  "score", "mean_reward"]


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def ratings_markdown(standings: Standings) -> str:
    """The ratings table, best first, and the pairwise score matrix (row player's score vs column)."""
    rows = standings.table()
    lines = ["| # | player | ordinal | mu | sigma | W-D-L | score |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['player']} | {r['ordinal']:.2f} | {r['mu']:.2f} | {r['sigma']:.2f} | "
                     f"{r['wins']}-{r['draws']}-{r['losses']} | {r['score']:.3f} |")
    order = [r["player"] for r in rows]
    matrix = score_matrix(standings, order)
    lines += ["", "Score of the row player against the column player (wins + draws/2 per game; games):", "",
              "| | " + " | ".join(f"{j + 1}" for j in range(len(order))) + " |",
              "|---|" + "---|" * len(order)]
    for i, p in enumerate(order):
        cells = [f"{matrix[i][j][0]:.2f} ({matrix[i][j][1]})" if matrix[i][j][1] else "-" for j in range(len(order))]
        lines.append(f"| {i + 1}. {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def score_matrix(standings: Standings, order: list[str]) -> list[list[tuple[float, int]]]:
    """[i][j] = (score of order[i] against order[j], games)."""
    out = []
    for p in order:
        row = []
        for q in order:
            t = standings.pairwise.get((p, q, "all"))
            row.append((t.score, t.games) if t else (0.0, 0))
        out.append(row)
    return out


def heatmap(standings: Standings, path: Path, title: str) -> None:
    order = [r["player"] for r in standings.table()]
    cells = score_matrix(standings, order)
    values = np.array([[s if n else np.nan for s, n in row] for row in cells])
    size = 2.5 + 0.9 * len(order)
    fig = Figure(figsize=(size + 1.5, size))
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="RdYlGn", vmin=0, vmax=1)
    ax.set_xticks(range(len(order)), [str(i + 1) for i in range(len(order))])
    ax.set_yticks(range(len(order)), [f"{p} ({i + 1})" for i, p in enumerate(order)])
    for i, row in enumerate(cells):
        for j, (s, n) in enumerate(row):
            if n:
                ax.text(j, i, f"{s:.2f}\n({n})", ha="center", va="center", fontsize=8)
    ax.set_xlabel("opponent")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="score of the row player")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_all(out_dir: Path, standings: Standings, title: str, about: list[tuple[str, str]]) -> None:
    write_csv(out_dir / "ratings.csv", standings.table())
    write_csv(out_dir / "pairwise.csv", standings.pairwise_rows())
    (out_dir / "ratings.md").write_text(ratings_markdown(standings))
    heatmap(standings, out_dir / "heatmap.png", title)
    (out_dir / "index.html").write_text(tournament_page(out_dir, standings, title, about))


def tournament_section(ratings: list[dict], pairwise: list[dict], heatmap_src: str) -> list[str]:
    """The ratings table, the heatmap and the per-role pairwise table, as HTML; the rows are those
    of ratings.csv and pairwise.csv (`coevo report` reads them back from a tournament's folder)."""
    body = ["<h2>Ratings</h2>",
            html.table(RATING_COLUMNS, [[r[c] for c in RATING_COLUMNS] for r in ratings]),
            "<p class='muted'>ordinal = mu - 3 sigma; low..high = mu -/+ 3 sigma; score = (wins + draws/2) / games</p>",
            "<h2>Who beats whom</h2>", html.image(heatmap_src, "pairwise score heatmap")]
    pair_cols = ["player", "opponent", "as", "games", "wins", "draws", "losses", "score", "mean_reward"]
    body += ["<h2>Pairwise, overall and per role</h2>",
             html.table(pair_cols, [[r[c] for c in pair_cols] for r in pairwise])]
    return body


def tournament_page(out_dir: Path, standings: Standings, title: str, about: list[tuple[str, str]],
                    n_transcripts: int = 8) -> str:
    body = [html.table(["setting", "value"], about),
            *tournament_section(standings.table(), standings.pairwise_rows(), "heatmap.png")]
    matches = [json.loads(line) for line in (out_dir / "matches.jsonl").read_text().splitlines()[:n_transcripts]]
    if matches:
        body.append(f"<h2>First {len(matches)} games</h2>")
        for m in matches:
            who = {s: (p or "base (fill)") for s, p in m["seats"].items()}
            summary = f"round {m['round']}: {' vs '.join(m['pairing'])}: " + ", ".join(
                f"{p} {r}" for p, r in m["result"].items())
            body.append(html.transcript(m["episode"], who, summary))
    return html.page(title, body)
