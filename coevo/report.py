"""Summaries of a run directory: the table `coevo train` ends with, and `coevo report`."""
from __future__ import annotations

from pathlib import Path

from coevo.episode import BASE_AGENT
from coevo.tracking import METRICS, read_jsonl


def summary_table(run_dir: Path) -> str:
    rows = read_jsonl(Path(run_dir) / METRICS)
    if not rows:
        return f"{run_dir}: no metrics yet"
    first, last = rows[0], rows[-1]
    # the frozen base (seats of population.base_roles) never trains: it has no row
    agents = sorted({k.split("/")[1] for r in rows for k in r if k.startswith("reward/") and k.count("/") == 1}
                    - {BASE_AGENT})
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


def _fmt(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"
