"""`coevo study experiments/<paper>`: a paper's comparison as arms x seeds, then its results page.

A study is a folder with `study.yaml`:

    title: CoMAS, full reward vs no scorer reward
    base: [experiment=comas, iterations=5]        # overrides every run gets
    seeds: [0, 1, 2]
    arms:                                         # arm name -> its overrides
      full: []
      no_scorer_reward: [arbiter.params.scorer_reward=false]
    measures:                                     # what results.md tabulates, per arm over seeds
      - {name: held-out accuracy change, metric: eval/accuracy, how: delta}
      - {name: mean solver reward, metric: "reward/*/solver", how: mean}
    paper: |                                      # the paper's own figure, shown beside ours
      CoMAS (Qwen2.5-3B): ...

Each arm is one `coevo train -m ... seed=0,1,2` sweep (coevo/sweep.py) into
`<study dir>/runs/<arm>/`; finished runs are skipped, so a study resumes, and `--seeds` / `--arms` run a
subset (a long study spread over sessions). git keeps each run's
`config.yaml` and `metrics.jsonl` and each arm's `sweep.yaml` (.gitignore drops checkpoints and
transcripts), so a clean clone re-runs the analysis without re-running the study. Then the analysis
(alone: `--analyse`) reads the run dirs and writes `<study dir>/results.md` (mean, sample standard
deviation and n over seeds per arm and measure, each seed's value; for a change, how many seeds went
up and its paired t, and each arm's change against the first arm's, seed by seed; the paper's figure) and one PNG
per measure's metric (mean over seeds per iteration, the band one standard deviation).

A measure's `metric` is a metrics.jsonl key; a `*` in it averages every matching key (all agents).
`how`: `delta` = last value - first value (e.g. iteration 0 before training, to the last eval),
`last`, `first`, `mean` = the mean over the trained iterations (1..N). No number in results.md is
typed: every one comes from the run dirs.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import NamedTuple

import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coevo.config import ConfigError
from coevo.sweep import SWEEP_FILE, finished, run_sweep
from coevo.tracking import METRICS, metric_series, read_jsonl

STUDY_FILE = "study.yaml"


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    metric: str
    how: str = Field("last", pattern="^(delta|last|first|mean)$")


class Study(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    base: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(min_length=1)
    arms: dict[str, list[str]] = Field(min_length=1)
    measures: list[Measure] = Field(min_length=1)
    paper: str = ""
    machine: str = ""  # where the runs ran (the run dirs do not record it)
    runs_dir: str | None = None  # default <study dir>/runs


def load_study(study_dir: Path) -> Study:
    path = Path(study_dir) / STUDY_FILE
    if not path.is_file():
        raise ConfigError(f"{study_dir}: no {STUDY_FILE} (a study folder holds one; see coevo/study.py)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a study is a mapping (title, base, arms, seeds, measures), not a {type(raw).__name__}")
    try:
        return Study(**raw)
    except ValidationError as e:
        where = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{path}: {where}") from None


def arm_dir(study_dir: Path, study: Study, arm: str) -> Path:
    root = Path(study.runs_dir) if study.runs_dir else Path(study_dir) / "runs"
    return (root / arm).resolve()


def arm_overrides(study_dir: Path, study: Study, arm: str) -> list[str]:
    seeds = ",".join(str(s) for s in study.seeds)  # choice(): a sweep even of one seed, so run dirs say seed=
    return [*study.base, *study.arms[arm], f"seed=choice({seeds})", f"sweep_dir={arm_dir(study_dir, study, arm)}"]


def run_study(study_dir: Path, analyse_only: bool = False,
              arms: list[str] | None = None, seeds: list[int] | None = None) -> Path:
    """Run the study's arms x seeds (or the named subset: a session's share of a long study), then analyse.

    The sweep always plans every seed, so a seed's run dir is the same whichever subset runs it."""
    study = load_study(study_dir)
    arms = list(study.arms) if arms is None else arms
    seeds = study.seeds if seeds is None else seeds
    for name, picked, known in (("arm", arms, list(study.arms)), ("seed", seeds, study.seeds)):
        if unknown := [x for x in picked if x not in known]:
            raise ConfigError(f"{study_dir}: no {name} {', '.join(map(str, unknown))} in {STUDY_FILE} "
                              f"(its {name}s: {', '.join(map(str, known))})")
    if not analyse_only:
        from coevo.sweep import plan_sweep

        problems = []
        for arm in arms:  # every arm's every job validated before the first run starts
            try:
                plan_sweep(arm_overrides(study_dir, study, arm))
            except ConfigError as e:
                problems.append(f"arm {arm}: {e}")
        if problems:
            raise ConfigError("\n".join(problems))
        only = {k for k, s in enumerate(study.seeds) if s in seeds}
        for arm in arms:
            print(f"== arm {arm}")
            run_sweep(arm_overrides(study_dir, study, arm), only=only)
    return analyse(study_dir, study)


# ---- analysis -------------------------------------------------------------------------------
def measure(rows: list[dict], m: Measure) -> float | None:
    pts = metric_series(rows, m.metric)
    if m.how == "mean":
        pts = [p for p in pts if p[0] >= 1]
    if not pts:
        return None
    if m.how == "delta":
        return pts[-1][1] - pts[0][1] if len(pts) > 1 else None
    if m.how == "first":
        return pts[0][1]
    if m.how == "last":
        return pts[-1][1]
    return sum(v for _, v in pts) / len(pts)


class Run(NamedTuple):
    seed: int
    rows: list[dict]  # metrics.jsonl
    config: dict      # config.yaml


def arm_runs(study_dir: Path, study: Study, arm: str) -> list[Run]:
    """Every finished run of the arm."""
    sweep = arm_dir(study_dir, study, arm)
    if not (sweep / SWEEP_FILE).is_file():
        return []
    jobs = yaml.safe_load((sweep / SWEEP_FILE).read_text())["jobs"]
    out = []
    for job in jobs:
        run = sweep / job["run_dir"]
        seed = next((int(o.split("=", 1)[1]) for o in job["overrides"] if o.startswith("seed=")), 0)
        config = (yaml.safe_load((run / "config.yaml").read_text()) or {}) if (run / "config.yaml").is_file() else {}
        if config and finished(run, config.get("iterations", 0)):  # a run still in progress is left out
            out.append(Run(seed, read_jsonl(run / METRICS), config))
    return out


def run_minutes(rows: list[dict]) -> float | None:
    """A run's wall time from its metrics: starting (actors, models), the first eval, and every
    iteration (runs logged before perf/setup_s existed count their iterations only)."""
    its = [r["perf/iteration_s"] for r in rows if "perf/iteration_s" in r]
    if not its:
        return None
    return (sum(its) + rows[0].get("perf/setup_s", 0.0) + rows[0].get("perf/eval_s", 0.0)) / 60


def cell(values: list[float], sign: str = "") -> str:
    """`mean ± sd` of a measure over seeds; one run has no spread to show, none has a dash."""
    mean, sd, n = summary(values)
    if not n:
        return "-"
    return f"{mean:{sign}.3f}" + (f" ± {sd:.3f}" if n > 1 else "")


def summary(values: list[float]) -> tuple[float, float, int]:
    n = len(values)
    if not n:
        return math.nan, math.nan, 0
    # rounding off float dust keeps a zero change from printing as -0.000
    return round(statistics.fmean(values), 12) + 0.0, statistics.stdev(values) if n > 1 else 0.0, n


def changes(values: list[float], words: tuple[str, str] = ("up", "down")) -> str:
    """How consistent a change is over seeds: how many seeds went up and down, and the one-sample t
    statistic mean / (sd / sqrt(n)) with its n - 1 degrees of freedom. A run's change is paired (the
    same agent before and after, and per-row seeds replay an untrained agent exactly), so t is the
    paired t test's. For 2 degrees of freedom |t| > 4.30 is p < 0.05 two-sided."""
    n = len(values)
    rounded = [round(v, 12) for v in values]  # float dust is no change (as in summary())
    up, down = sum(v > 0 for v in rounded), sum(v < 0 for v in rounded)
    text = f"{up} of {n} {words[0]}, {down} {words[1]}"
    if n < 2:
        return text
    mean, sd, _ = summary(rounded)
    if sd == 0:
        return text + ("" if mean == 0 else ", no spread: t undefined")
    return text + f", t = {mean / (sd / math.sqrt(n)):.2f} ({n - 1} df)"


def analyse(study_dir: Path, study: Study | None = None) -> Path:
    study_dir = Path(study_dir)
    study = study or load_study(study_dir)
    runs = {arm: arm_runs(study_dir, study, arm) for arm in study.arms}
    arms = list(study.arms)
    lines = [f"# {study.title}", "",
             "Generated by `coevo study " + str(study_dir) + " --analyse` from the run dirs; do not edit by hand.",
             *([f"Runs made on: {study.machine}."] if study.machine else []), "",
             # a page without runs says so, rather than keeping numbers its runs no longer back
             *(["**No finished run yet.**", ""] if not any(runs.values()) else []),
             "| measure | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    per_seed, against_first = [], []
    for m in study.measures:
        cells, by_arm = [], {}
        for arm in arms:
            vals = [(r.seed, measure(r.rows, m)) for r in runs[arm]]
            vals = [(s, v) for s, v in vals if v is not None]
            sign = "+" if m.how == "delta" else ""  # a change carries its sign; a level does not
            cells.append(cell([v for _, v in vals], sign) + (f" (n={len(vals)})" if vals else ""))
            missing = "no runs" if not runs[arm] else "none of its runs logs the metric"
            consistency = f"; {changes([v for _, v in vals])}" if vals and m.how == "delta" else ""
            per_seed.append(f"- {m.name}, {arm}: "
                            + (", ".join(f"seed {s}: {v:{sign}.4f}" for s, v in vals) or missing) + consistency)
            by_arm[arm] = dict(vals)
        lines.append(f"| {m.name} (`{m.metric}`, {m.how}) | " + " | ".join(cells) + " |")
        if m.how == "delta":
            against_first += against(m.name, arms, by_arm)
    timed = {arm: summary([m for m in map(run_minutes, (r.rows for r in runs[arm])) if m is not None]) for arm in arms}
    timed = {arm: t for arm, t in timed.items() if t[2]}
    lines += ["", "mean ± sample standard deviation over seeds (n = runs with the metric; one run: its value).", "",
              *(["Wall time per run (starting, the first eval and every iteration, from `perf/*` in metrics.jsonl): "
                 + "; ".join(f"{arm} {mean:.1f}" + (f" ± {sd:.1f}" if n > 1 else "") + f" min (n={n})"
                             for arm, (mean, sd, n) in timed.items()) + ".", ""] if timed else []),
              "Per seed:", "",
              *per_seed, "",
              *([f"Each arm against the first ({arms[0]}), paired by seed (the same seed's runs share their "
                 "untrained agents and held-out tasks): the change in the first arm minus the change in the other.",
                 "", *against_first, ""] if against_first else []),
              "Runs:", ""]
    lines += [f"- {arm}: {_shown(arm_dir(study_dir, study, arm))} ({len(runs[arm])} finished of {len(study.seeds)} seeds)"
              for arm in arms]
    for metric in dict.fromkeys(m.metric for m in study.measures):
        png = _plot(study_dir, metric, runs)
        if png:
            lines += ["", f"![{metric}]({png})"]
    if study.paper.strip():
        lines += ["", "## The paper's figure", "", study.paper.strip()]
    out = study_dir / "results.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def against(name: str, arms: list[str], by_arm: dict[str, dict[int, float]]) -> list[str]:
    """One line per other arm: the first arm's change minus that arm's, per seed both arms ran."""
    first, lines = by_arm.get(arms[0], {}), []
    for arm in arms[1:]:
        diffs = [first[s] - v for s, v in by_arm.get(arm, {}).items() if s in first]
        if diffs:
            mean, sd, n = summary(diffs)
            lines.append(f"- {name}, {arms[0]} minus {arm}: {mean:+.3f}" + (f" ± {sd:.3f}" if n > 1 else "")
                         + f" (n={n}); {changes(diffs, ('higher', 'lower'))}")
    return lines


def _shown(path: Path) -> str:
    """A path as a reader of results.md can follow it: relative to the working dir when inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _plot(study_dir: Path, metric: str, runs: dict[str, list[Run]]) -> str | None:
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    drawn = False
    for arm, arm_rows in runs.items():
        by_it: dict[int, list[float]] = {}
        for run in arm_rows:
            for it, v in metric_series(run.rows, metric):
                by_it.setdefault(it, []).append(v)
        if not by_it:
            continue
        its = sorted(by_it)
        means = [statistics.fmean(by_it[i]) for i in its]
        sds = [statistics.stdev(by_it[i]) if len(by_it[i]) > 1 else 0.0 for i in its]
        ax.plot(its, means, marker="o", markersize=3, label=f"{arm} (n={len(arm_rows)})")
        ax.fill_between(its, [m - s for m, s in zip(means, sds)], [m + s for m, s in zip(means, sds)], alpha=0.2)
        drawn = True
    name = metric.replace("/", "_").replace("*", "all") + ".png"
    if not drawn:
        (Path(study_dir) / name).unlink(missing_ok=True)  # an old plot would outlive its runs
        return None
    ax.set_title(metric, fontsize=10)
    ax.set_xlabel("iteration")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(study_dir) / name, dpi=100)
    return name


# ---- one table across studies (docs/results.md) ------------------------------------------------
COMPARED = "eval/accuracy"  # every study measures it: each agent alone, greedy, on held-out tasks


def heldout_set(config: dict) -> str:
    """The held-out set a run measured `eval/accuracy` on, in words, from its config.yaml."""
    from games.tasks import TaskSourceConfig

    ev = config.get("eval") or {}
    tasks = TaskSourceConfig(**(ev.get("tasks") or (config.get("game") or {}).get("options", {}).get("tasks") or {}))
    what = f"arithmetic difficulty {tasks.difficulty}" if tasks.source == "arithmetic" else Path(tasks.path).name
    return f"{ev.get('num_tasks')} tasks, {what}"


def compare(study_dirs: list[Path], out: Path) -> Path:
    """`coevo study DIR... --compare OUT`: every arm of every study in one table, the change in
    held-out accuracy (`eval/accuracy`, last - first) with its spread over seeds, grouped by base
    model and held-out set (only rows of one group compare). Nothing is typed: it reads run dirs."""
    rows: dict[tuple[str, str], list[str]] = {}
    not_run, unmeasured, machines = [], [], []
    for study_dir in map(Path, study_dirs):
        study = load_study(study_dir)
        if study.machine:
            machines.append(f"- {study_dir.name}: {study.machine}")
        for arm in study.arms:
            runs = arm_runs(study_dir, study, arm)
            if not runs:
                not_run.append(f"{study_dir.name}/{arm}")
                continue
            groups: dict[tuple[str, str], list[Run]] = {}
            for r in runs:
                groups.setdefault(((r.config.get("model") or {}).get("name", "?"), heldout_set(r.config)), []).append(r)
            for key, group in groups.items():
                cells, n = [], 0
                for how, sign in (("first", ""), ("last", ""), ("delta", "+")):
                    m = Measure(name=how, metric=COMPARED, how=how)
                    values = [v for r in group if (v := measure(r.rows, m)) is not None]
                    cells.append(cell(values, sign))
                    n = len(values)
                if not n:  # e.g. negotiation: no answers to grade, its measures are its own
                    unmeasured.append(f"{study_dir.name}/{arm}")
                    continue
                iters = ", ".join(str(i) for i in sorted({r.config.get("iterations") for r in group}))
                seeds = ", ".join(str(r.seed) for r in sorted(group))
                rows.setdefault(key, []).append(f"| {study_dir.name} | {arm} | {n} | {seeds} | {iters} | "
                                                + " | ".join(cells) + " |")
    if not rows and not unmeasured:
        raise ConfigError(f"no finished runs in any of {', '.join(map(str, study_dirs))}")
    lines = ["# Every method on one base model and one held-out set", "",
             "Generated by `coevo study " + " ".join(map(str, study_dirs)) + f" --compare {out}` from the run dirs; "
             "do not edit by hand.", "",
             f"`{COMPARED}`: each agent answers each held-out task alone, greedy (coevo/evaluate.py), averaged over "
             "the population's agents; before = iteration 0 (the untrained population), after = the last iteration. "
             "mean ± sample standard deviation over seeds (n runs). Only rows under one heading compare: the same "
             "base model and held-out set. Each study's own measures are in experiments/<study>/results.md."]
    for (model, heldout), table in rows.items():
        lines += ["", f"## {model}; held-out: {heldout}", "",
                  "| study | arm | n | seeds | iterations | accuracy before | accuracy after | change |",
                  "|---|---|---|---|---|---|---|---|", *table]
    if not_run:
        lines += ["", "No finished run yet: " + ", ".join(not_run) + "."]
    if unmeasured:
        lines += ["", f"Finished runs that do not log `{COMPARED}` (their own measures are in their study's "
                  "results.md): " + ", ".join(dict.fromkeys(unmeasured)) + "."]
    if machines:
        lines += ["", "Where each study's runs ran (its study.yaml):", "", *machines]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out
