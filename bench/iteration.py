"""Where one training iteration's time goes, and how this tree compares with an earlier commit.

    python bench/iteration.py                          # experiment=comas, 1 iteration, this tree
    python bench/iteration.py --before a57533a         # the same iteration on that commit, then here
    python bench/iteration.py -- model=tiny population.games_per_iteration=4   # any train overrides
    python bench/iteration.py --before a57533a --also "model.rollout_dtype=bfloat16 model.autocast=true"
    python bench/iteration.py --before a57533a --repeats 2   # each side twice, taking turns; medians
    python bench/iteration.py --before a57533a --iterations 2   # the second of two iterations: warm learners

Each side runs `coevo train` (iterations=1 unless --iterations, wandb off) in its own process,
with the side's code first on PYTHONPATH (`--before` checks the commit out into a temporary git
worktree). It prints the phases of iteration 1 from metrics.jsonl (rollout, arbiter, learn, sync,
eval; the checkpoint is timed around `save_checkpoint`), the setup before it (Ray, actors, the
iteration-0 evaluation), the tokens generated, since two sides sample different tokens, and the
peak of the Ray actor processes' summed resident memory (sampled twice a second). Older commits
log fewer phases: what they lack is shown as "-".

With `--iterations N` each side trains N iterations and the table shows the last one, which also
holds the final held-out evaluation, as iteration 1 of a 1-iteration run does. The first learner
step in a fresh process pays a start-up cost that later ones do not (in a `make run` on the Xeon,
agent_0's step took 13.0 s at iteration 1 and 7.5-8.6 s at iterations 2-5), so the last of
several iterations is what most of a longer run's iterations cost. Setup then excludes the
earlier iterations, and the checkpoint row is the mean of the iterations' saves.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
PHASES = ["rollout", "arbiter", "learn", "sync", "eval", "checkpoint"]


class ActorMemory:
    """Samples, twice a second, the summed resident memory of this machine's Ray actor processes
    (command lines starting "ray::") and of the vLLM engine's processes that a rollout worker on
    `model.backend=vllm` starts ("VLLM::"), and keeps the peak: what the run's actors hold at once."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.5):
            total = 0
            for p in psutil.process_iter(["cmdline", "memory_info"]):
                cmd, mem = p.info["cmdline"], p.info["memory_info"]
                if cmd and mem and cmd[0].startswith(("ray::", "VLLM::")):
                    total += mem.rss
            self.peak = max(self.peak, total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def child(overrides: list[str], out: str, iterations: int) -> None:
    """Train `iterations` iterations in this process (coevo imported from PYTHONPATH) and write what
    the last one took."""
    import coevo.loop as loop
    from coevo.compose import load_config

    timed = {"checkpoint": 0.0}
    save = loop.save_checkpoint

    def timed_save(*a, **k):
        t0 = time.perf_counter()
        try:
            return save(*a, **k)
        finally:
            timed["checkpoint"] += time.perf_counter() - t0

    loop.save_checkpoint = timed_save
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = load_config(["experiment=comas", f"iterations={iterations}", "logger.wandb=disabled",
                           "resume=false", f"run_dir={run_dir}", *overrides])
        t0 = time.perf_counter()
        with ActorMemory() as memory:
            loop.train(cfg, progress=False)
        total = time.perf_counter() - t0
        rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    row = rows[-1]
    earlier = sum(r["perf/iteration_s"] for r in rows[:-1] if "perf/iteration_s" in r)  # not setup
    result = {"total": total - earlier - timed["checkpoint"] * (1 - 1 / iterations),
              "checkpoint": timed["checkpoint"] / iterations, "actors_peak_gb": memory.peak / 2**30, **row}
    Path(out).write_text(json.dumps(result))


def run_side(tree: Path, overrides: list[str], iterations: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run([sys.executable, __file__, "--child", f.name, "--iterations", str(iterations), "--",
                        *overrides], env=env, cwd=tree, check=True)
        return json.loads(Path(f.name).read_text())


def phase_seconds(r: dict) -> dict[str, float | None]:
    out = {p: r.get(f"perf/{p}_s") for p in PHASES}
    out["checkpoint"] = r["checkpoint"]
    if out["rollout"] is None:  # older commits logged only the generate calls of the rollout
        out["rollout"] = r.get("perf/generate_s")
    out["iteration"] = r["perf/iteration_s"] + r["checkpoint"]
    out["setup (Ray, actors, iteration-0 eval)"] = r["total"] - out["iteration"]
    return out


def median_of(rows: list[dict]) -> dict:
    """Each key's median over the runs of a side (None where a run lacks it, as older commits do)."""
    out = {}
    for key in rows[0]:
        vals = [r.get(key) for r in rows]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        out[key] = statistics.median(vals) if numeric else vals[0]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="a commit to run the same iteration on first")
    ap.add_argument("--also", metavar="OVERRIDES",
                    help='this tree once more with these extra overrides, e.g. "model.rollout_dtype=bfloat16"')
    ap.add_argument("--repeats", type=int, default=1,
                    help="run the sides this many times, taking turns; the table shows each side's medians")
    ap.add_argument("--json", metavar="FILE", help="also write every run's full metrics row there")
    ap.add_argument("--iterations", type=int, default=1,
                    help="train this many iterations a run and show the last (default 1)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    if args.child:
        return child(args.overrides, args.child, args.iterations)

    runs: dict[str, list[dict]] = {}
    worktree = None
    try:
        plan = []  # (side, tree, overrides)
        if args.before:
            worktree = Path(tempfile.mkdtemp(prefix="coevo-before-"))
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.before],
                           check=True, capture_output=True)
            plan.append((f"before ({args.before})", worktree, args.overrides))
        plan.append(("this tree", REPO, args.overrides))
        if args.also:
            plan.append(("this tree, --also", REPO, [*args.overrides, *args.also.split()]))
        # taking turns, so that a slow spell of a shared machine falls on every side alike
        for _ in range(args.repeats):
            for name, tree, overrides in plan:
                runs.setdefault(name, []).append(run_side(tree, overrides, args.iterations))
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False)

    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1, sort_keys=True))
    names = list(runs)
    sides = {n: median_of(rs) for n, rs in runs.items()}
    table = {n: median_of([phase_seconds(r) for r in rs]) for n, rs in runs.items()}
    which = f"iteration {args.iterations} of {args.iterations}" if args.iterations > 1 else "one iteration"
    print(f"{which} of: experiment=comas {' '.join(args.overrides)}" +
          (f"   (--also: {args.also})" if args.also else ""))
    # ratios: the first side's seconds over each other side's (> 1: faster than the first)
    print(f"{'seconds':<40}" + "".join(f"{n:>22}" for n in names) +
          "".join(f"{f'ratio {j + 1}':>10}" for j in range(1, len(names))))
    for key in [*PHASES, "iteration", "setup (Ray, actors, iteration-0 eval)"]:
        vals = [table[n][key] for n in names]
        cells = "".join(f"{'-' if v is None else f'{v:.1f}':>22}" for v in vals)
        ratios = "".join(f"{vals[0] / v:9.2f}x" if None not in (vals[0], v) and v > 0 else f"{'':>10}"
                         for v in vals[1:])
        print(f"{key:<40}{cells}{ratios}")
    for key, label in [("rollout/completion_tokens", "completion tokens"), ("rollout/games", "games"),
                       ("perf/tokens_per_s", "generate tokens/s"),
                       ("actors_peak_gb", "Ray actors' peak RSS, GB (summed)")]:
        vals = [sides[n].get(key) for n in names]
        print(f"{label:<40}" + "".join(f"{'-' if v is None else f'{v:.1f}':>22}" for v in vals))
    if args.repeats > 1:
        print(f"medians of {args.repeats} runs a side; iteration seconds of each run: " + "; ".join(
            f"{n} " + ", ".join(f"{phase_seconds(r)['iteration']:.1f}" for r in runs[n]) for n in names))
    it = [table[n]["iteration"] for n in names]
    tok = [sides[n]["rollout/completion_tokens"] for n in names]
    for n, i, t in list(zip(names, it, tok))[1:]:
        print(f"iteration time, {names[0]} / {n}: {it[0] / i:.2f}x; "
              f"per generated token: {(it[0] / tok[0]) / (i / t):.2f}x")

if __name__ == "__main__":
    main()
