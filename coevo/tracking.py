"""Where a run's numbers and texts go: metrics.jsonl, transcripts.jsonl and wandb (offline by default).

metrics.jsonl has one line per iteration (iteration 0 is the untrained population, evaluated
before any update). On resume, lines after the checkpoint's iteration are dropped first, so a
resumed run's files read exactly like an uninterrupted run's.
"""
from __future__ import annotations

import fnmatch
import json
import math
import os
from pathlib import Path

from coevo.episode import Episode

METRICS = "metrics.jsonl"
TRANSCRIPTS = "transcripts.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def metric_series(rows: list[dict], pattern: str) -> list[tuple[int, float]]:
    """(iteration, value) of metric `pattern` for each row that has a finite value; a `*` in
    `pattern` averages every matching key of the row (`reward/*/solver`: all agents)."""
    out = []
    for r in rows:
        keys = [k for k in r if fnmatch.fnmatchcase(k, pattern)] if "*" in pattern else [pattern] * (pattern in r)
        vals = [r[k] for k in keys if isinstance(r[k], (int, float)) and math.isfinite(r[k])]
        if vals:
            out.append((r["iteration"], sum(vals) / len(vals)))
    return out


def replace_file(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a kill mid-write leaves the old file (or none), never half."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def truncate_after(path: Path, iteration: int) -> None:
    """Keep only the lines of iterations <= `iteration` (the last checkpoint of a killed run), byte
    for byte. A last line cut short by the kill (no newline, not JSON) is dropped; the file is
    replaced atomically, so a kill during the resume itself loses nothing."""
    if not path.exists():
        return
    lines = path.read_bytes().splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        try:
            json.loads(lines[-1])
        except ValueError:
            lines.pop()  # half a line: the kill came mid-write
    kept = [line for line in lines if line.strip() and json.loads(line).get("iteration", 0) <= iteration]
    replace_file(path, b"".join(line if line.endswith(b"\n") else line + b"\n" for line in kept))


def _clean(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


class RunTracker:
    def __init__(self, run_dir: Path, config: dict, wandb_mode: str, project: str, wandb_id: str | None):
        self.run_dir = run_dir
        self.wandb = None
        self.wandb_id = wandb_id
        if wandb_mode != "disabled":
            import wandb

            self.wandb = wandb.init(
                project=project, dir=str(run_dir), config=config, mode=wandb_mode, id=wandb_id,
                resume="allow", name=run_dir.name, settings=wandb.Settings(silent=True, console="off"),
            )
            self.wandb_id = self.wandb.id

    def log(self, iteration: int, metrics: dict[str, float]) -> None:
        row = {"iteration": iteration, **{k: _clean(v) for k, v in sorted(metrics.items())}}
        with open(self.run_dir / METRICS, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.wandb is not None:
            self.wandb.log(metrics, step=iteration)

    def transcripts(self, iteration: int, episodes: list[Episode]) -> None:
        with open(self.run_dir / TRANSCRIPTS, "a") as f:
            for ep in episodes:
                f.write(json.dumps({"iteration": iteration, **ep.to_json()}) + "\n")

    def close(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()
