"""Every `coevo` command the README shows, and every example of `coevo --help`, is checked here.

A README command that fails is a failing test. Two levels:

- default suite: every command parses (argparse) and its config composes and validates as written
  (`train`, `train -m` and `tournament` configs; every arm x seed of a `study`); `models list` and
  `games` run. Seconds, and it catches a renamed option or a field that no longer exists.
- `make test-slow`: every command runs, in page order with training commands first (a tournament or
  a report may name a run the page trains further down), in-process through `coevo.cli.main`, in
  an empty folder that stands for the user's checkout, with these changes so it stays offline:
  - training-sized commands (train, eval, tournament) get the tiny model and small sizes appended
    (`SMALL`, only keys the command does not set itself; `coevo eval run_dir=X` without an
    experiment reads the run's own config, so it only gets the eval sizes); `smollm2-135m` is
    fetched as `tiny` (the real fetch is the slow test in test_models_store.py);
  - `/tmp/...` paths go to the test's temporary folder;
  - `experiments/<study>` is a copy of the shipped study, its own seeds (a README command may pick
    one) and the same small sizes (spc and rlccf, which only `--compare` reads, have no runs here:
    the table names them as not run);
  - `../shared/...` (the GSM8K files beside the checkout) is linked in where this checkout has it;
    elsewhere that one command is skipped with the reason printed.
  A `coevo --help` example that is also a README command runs once. `make ...` lines are not run
  here: CI runs `make test`, and `make run` is the README's first promise.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

import pytest

from coevo.cli import EXAMPLES, build_parser, main
from coevo.compose import load_config
from coevo.study import arm_overrides, load_study
from coevo.sweep import plan_sweep

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"model": "tiny", "iterations": "1", "logger": "none", "population": "duo", "eval.num_tasks": "2",
         "eval.max_new_tokens": "8", "population.games_per_iteration": "2", "tournament.games_per_pairing": "2"}
SIZED = {"train", "eval", "tournament"}


def readme_commands() -> list[tuple[int, str]]:
    """(line, command) of every `coevo ...` line in the README's bash blocks, continuations joined."""
    text = (ROOT / "README.md").read_text()
    found = []
    for m in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M):
        first = text.count("\n", 0, m.start(1)) + 1
        for i, line in enumerate(m.group(1).replace("\\\n", "\x00").splitlines()):
            cmd = line.split(" #")[0].replace("\x00", " ").strip()
            if cmd.startswith("coevo "):
                found.append((first + i, cmd))
    return found


def help_commands() -> list[tuple[int, str]]:
    lines = EXAMPLES.replace("\\\n", " ").splitlines()
    return [(i, line.split(" #")[0].strip()) for i, line in enumerate(lines) if line.strip().startswith("coevo ")]


def for_the_suite(cmd: str, tmp: Path) -> list[str]:
    """The command's words, as this suite runs them (see the module docstring)."""
    words = [w.replace("/tmp/", f"{tmp}/") for w in shlex.split(cmd)[1:]]
    if words[:2] == ["models", "fetch"]:
        return ["models", "fetch", "tiny"]
    if words[0] in SIZED:
        keys = {w.split("=", 1)[0].lstrip("+~") for w in words if "=" in w}
        saved = words[0] == "eval" and "experiment" not in keys  # the run's own config: fields only
        words += [f"{k}={v}" for k, v in SMALL.items() if k not in keys and (not saved or k.startswith("eval."))]
    return words


def check_as_written(cmd: str) -> None:
    """Parse the command and validate its config without running it (see the module docstring)."""
    words = shlex.split(cmd)[1:]
    args = build_parser().parse_args(words)
    if args.command == "train" and args.multirun:
        plan_sweep(args.overrides)
    elif args.command in ("train", "tournament") or (args.command == "eval" and any(
            o.startswith("experiment=") for o in args.overrides)):
        load_config(args.overrides)
    elif args.command == "study" and not (args.analyse or args.compare):
        for study_dir in args.study_dir:
            study = load_study(ROOT / study_dir)
            for arm in study.arms:
                plan_sweep(arm_overrides(ROOT / study_dir, study, arm))
    elif args.command == "study":
        for study_dir in args.study_dir:
            load_study(ROOT / study_dir)
    elif args.command in ("games",) or (args.command == "models" and args.action == "list"):
        assert main(words) == 0, cmd


def small_study(name: str, workdir: Path) -> None:
    study = yaml.safe_load((ROOT / "experiments" / name / "study.yaml").read_text())
    keys = {w.split("=", 1)[0] for w in study["base"]}
    study["base"] += [f"{k}={v}" for k, v in SMALL.items() if k not in keys and not k.startswith("tournament")]
    (workdir / "experiments" / name).mkdir(parents=True)
    (workdir / "experiments" / name / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))


def run_all(commands: list[tuple[int, str]], where: str, workdir: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(workdir)
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (workdir.parent / "shared").symlink_to(shared)
    for line, cmd in sorted(commands, key=lambda lc: shlex.split(lc[1])[1] != "train"):  # stable: page order
        if "../shared/" in cmd and not shared.is_dir():
            print(f"{where} line {line}: skipped, this checkout has no ../shared: {cmd}")
            continue
        words = for_the_suite(cmd, workdir.parent)
        rc = main(words)
        out = capsys.readouterr()
        assert rc == 0, f"{where} line {line}: `{cmd}` (run as coevo {' '.join(words)}) exited {rc}:\n{out.err[-3000:]}"


@pytest.mark.parametrize("source", ["README.md", "coevo --help"])
def test_every_command_parses_and_validates_as_written(source, monkeypatch):
    commands = readme_commands() if source == "README.md" else help_commands()
    assert commands
    monkeypatch.chdir(ROOT)  # the user's checkout: experiments/ and ../shared are where the page says
    for line, cmd in commands:
        if "../shared/" in cmd and not (ROOT.parent / "shared").is_dir():
            continue
        try:
            check_as_written(cmd)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - name the page's line
            raise AssertionError(f"{source} line {line}: `{cmd}`: {type(e).__name__}: {e}") from None


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path, local_ray, monkeypatch, capsys):
    commands = readme_commands()
    # the page's promises: training, resuming, eval, report, tournament, study, models, games
    verbs = {shlex.split(c)[1] for _, c in commands}
    assert {"train", "eval", "report", "tournament", "study", "models", "games"} <= verbs, verbs
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    for name in ("comas", "spc", "rlccf"):
        small_study(name, workdir)
    run_all(commands, "README.md", workdir, monkeypatch, capsys)
    assert (workdir / "runs" / "comas" / "report" / "index.html").is_file()
    assert (workdir / "experiments" / "comas" / "results.md").is_file()
    compared = (workdir / "compare.md").read_text()
    assert "| comas | full |" in compared and "No finished run yet: spc/" in compared


@pytest.mark.slow
def test_every_help_example_runs(tmp_path, local_ray, monkeypatch, capsys):
    commands = help_commands()
    assert len(commands) >= 6, commands
    in_readme = {c for _, c in readme_commands()}
    commands = [(line, c) for line, c in commands if c not in in_readme]  # those ran in the test above
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    run_all(commands, "coevo --help", workdir, monkeypatch, capsys)
    assert (workdir / "runs" / "cup" / "ratings.csv").is_file()
