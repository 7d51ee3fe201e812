"""Sweeps with hydra's multirun syntax, and a study's analysis checked against its run dirs by hand."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from coevo.cli import main
from coevo.config import ConfigError
from coevo.study import Measure, measure
from coevo.sweep import expand, finished, job_dir_name, plan_sweep
from coevo.tracking import read_jsonl


def test_sweeps_expand_with_hydras_syntax():
    jobs = expand(["experiment=comas", "seed=0,1", "arbiter.params.scorer_reward=true,false"])
    assert jobs == [["experiment=comas", "seed=0", "arbiter.params.scorer_reward=True"],
                    ["experiment=comas", "seed=0", "arbiter.params.scorer_reward=False"],
                    ["experiment=comas", "seed=1", "arbiter.params.scorer_reward=True"],
                    ["experiment=comas", "seed=1", "arbiter.params.scorer_reward=False"]]
    assert len(expand(["seed=range(0,3)", "model=tiny"])) == 3
    assert job_dir_name(2, jobs[2], ["seed", "arbiter.params.scorer_reward"]) == \
        "2_seed=1,arbiter.params.scorer_reward=True"


def test_a_job_is_finished_only_when_its_final_checkpoint_is_complete(tmp_path):
    def run(name, last_row, checkpoints=(), partial=(), tail=""):
        d = tmp_path / name
        (d / "checkpoints").mkdir(parents=True) if checkpoints or partial else d.mkdir()
        rows = "".join(json.dumps({"iteration": i}) + "\n" for i in range(last_row + 1))
        (d / "metrics.jsonl").write_text(rows + tail)
        for i in checkpoints:  # complete: driver.json written last
            (d / "checkpoints" / f"iter_{i:06d}").mkdir()
            (d / "checkpoints" / f"iter_{i:06d}" / "driver.json").write_text(json.dumps({"iteration": i}))
        for i in partial:  # killed while saving
            (d / "checkpoints" / f".tmp_iter_{i:06d}").mkdir()
        return d

    assert finished(run("done", 2, checkpoints=[1, 2]), iterations=2)
    assert finished(run("from_git", 2), iterations=2)  # git keeps metrics, not checkpoints
    assert not finished(run("short", 1, checkpoints=[1]), iterations=2)
    # killed while the last iteration was being saved: its metrics row is there, its checkpoint is not
    assert not finished(run("saving", 2, checkpoints=[1], partial=[2]), iterations=2)
    assert not finished(run("half_row", 1, checkpoints=[1], tail='{"itera'), iterations=2)  # killed mid-write: no crash
    assert not finished(tmp_path / "never_started", iterations=2)


def test_a_bad_job_stops_the_sweep_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="sweep job .*iterations=-1"):
        plan_sweep(["experiment=comas", "model=tiny", "iterations=2,-1", f"sweep_dir={tmp_path}"])
    # one Ray session serves every job: a swept ray setting would silently be the first job's
    with pytest.raises(ConfigError, match="ray.address / ray.num_cpus: the jobs of one sweep share one Ray session"):
        plan_sweep(["experiment=comas", "model=tiny", "ray.num_cpus=1,2", f"sweep_dir={tmp_path}"])
    assert not any(tmp_path.iterdir())


def test_mean_and_sample_deviation_by_hand():
    from coevo.study import summary

    assert summary([0.25, 0.75]) == pytest.approx((0.5, 0.125 ** 0.5, 2))  # sd = sqrt(((-.25)^2 + .25^2) / 1)
    assert summary([1.0]) == (1.0, 0.0, 1)


def test_measures_by_hand():
    rows = [{"iteration": 0, "eval/accuracy": 0.25},
            {"iteration": 1, "reward/a/solver": 0.5, "reward/b/solver": 0.0},
            {"iteration": 2, "reward/a/solver": 1.0, "reward/b/solver": 0.5, "eval/accuracy": 0.5}]
    assert measure(rows, Measure(name="x", metric="eval/accuracy", how="delta")) == 0.25
    assert measure(rows, Measure(name="x", metric="reward/*/solver", how="mean")) == (0.25 + 0.75) / 2
    assert measure(rows, Measure(name="x", metric="reward/*/solver", how="last")) == 0.75
    assert measure(rows, Measure(name="x", metric="nothing", how="last")) is None


def test_changes_count_seeds_and_give_the_paired_t_by_hand():
    from coevo.study import changes

    # mean 0.2, sd 0.1 (deviations -0.1, 0, 0.1), t = 0.2 / (0.1 / sqrt(3)) = 3.4641
    assert changes([0.1, 0.2, 0.3]) == "3 of 3 up, 0 down, t = 3.46 (2 df)"
    assert changes([0.0, -0.5]) == "0 of 2 up, 1 down, t = -1.00 (1 df)"  # mean -0.25, sd 0.3536
    assert changes([0.0, 0.0]) == "0 of 2 up, 0 down"
    assert changes([0.25, 0.25]) == "2 of 2 up, 0 down, no spread: t undefined"
    assert changes([0.5]) == "1 of 1 up, 0 down"
    assert changes([0.1 + 0.2 - 0.3, 0.0]) == "0 of 2 up, 0 down"  # 5.6e-17 of float dust is no change


def test_a_results_page_pairs_the_arms_by_seed(tmp_path):
    """Hand-written run dirs, 2 arms x 3 seeds: each seed's change, its t, and first arm minus second."""
    from coevo.study import analyse, compare

    def write_study(root: Path, metric: str, deltas: dict[str, dict[int, float]]) -> None:
        for arm, by_seed in deltas.items():
            jobs = []
            for seed, d in by_seed.items():
                run = root / "runs" / arm / f"{seed}_seed={seed}"
                run.mkdir(parents=True)
                (run / "config.yaml").write_text("iterations: 1\n")
                (run / "metrics.jsonl").write_text(f'{{"iteration": 0, "{metric}": 0.5}}\n'
                                                   f'{{"iteration": 1, "{metric}": {0.5 + d}}}\n')
                jobs.append({"run_dir": run.name, "overrides": [f"seed={seed}"]})
            (root / "runs" / arm / "sweep.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
        (root / "study.yaml").write_text(yaml.safe_dump({
            "title": "by hand", "seeds": [0, 1, 2], "arms": {arm: [] for arm in deltas},
            "measures": [{"name": "acc change", "metric": metric, "how": "delta"},
                         {"name": "acc after", "metric": metric, "how": "last"}]}, sort_keys=False))

    write_study(tmp_path / "graded", "eval/accuracy",
                {"method": {0: 0.25, 1: 0.125, 2: 0.375}, "control": {0: 0.0, 1: 0.125, 2: -0.125}})
    page = analyse(tmp_path / "graded").read_text()
    # method: mean 0.25, sd 0.125, t = 0.25 / (0.125 / sqrt 3) = 3.46
    assert "| acc change (`eval/accuracy`, delta) | +0.250 ± 0.125 (n=3) | +0.000 ± 0.125 (n=3) |" in page
    assert "- acc change, method: seed 0: +0.2500, seed 1: +0.1250, seed 2: +0.3750; 3 of 3 up, 0 down, t = 3.46 (2 df)" in page
    assert "- acc change, control: seed 0: +0.0000, seed 1: +0.1250, seed 2: -0.1250; 1 of 3 up, 1 down, t = 0.00 (2 df)" in page
    # method minus control per seed: 0.25, 0, 0.5 -> mean 0.25, sd 0.25, t = 0.25 / (0.25 / sqrt 3) = 1.73
    assert "- acc change, method minus control: +0.250 ± 0.250 (n=3); 2 of 3 higher, 0 lower, t = 1.73 (2 df)" in page
    assert "- acc after, method: seed 0: 0.7500, seed 1: 0.6250, seed 2: 0.8750\n" in page  # a level: no test
    assert "acc after, method minus" not in page
    # the cross-study table: graded arms in rows; a study that grades no answers is named, not a row of dashes
    write_study(tmp_path / "prices", "arbiter/mean_price", {"both": {0: 1.0}})
    table = compare([tmp_path / "graded", tmp_path / "prices"], tmp_path / "all.md").read_text()
    assert "| graded | method | 3 | 0, 1, 2 | 1 | 0.500 ± 0.000 | 0.750 ± 0.125 | +0.250 ± 0.125 |" in table
    assert "| prices |" not in table
    assert "Finished runs that do not log `eval/accuracy` (their own measures are in their study's results.md): prices/both." in table


STUDY = {"title": "tiny comas: scorer reward on and off", "seeds": [0],
         "base": ["experiment=comas", "model=tiny", "iterations=1", "logger=none", "eval.num_tasks=2",
                  "population=duo", "population.games_per_iteration=2", "game.options.max_new_tokens.solver=16",
                  "game.options.max_new_tokens.evaluator=8", "ray.num_cpus=2"],
         "arms": {"full": [], "no_scorer_reward": ["arbiter.params.scorer_reward=false"]},
         "measures": [{"name": "accuracy change", "metric": "eval/accuracy", "how": "delta"},
                      {"name": "scorer reward", "metric": "reward/*/scorer", "how": "mean"},
                      {"name": "a metric comas never logs", "metric": "arbiter/mean_price", "how": "mean"}],
         "paper": "The paper's figure goes here."}


@pytest.mark.usefixtures("local_ray")
def test_a_study_runs_its_arms_and_tabulates_them(tmp_path, capsys):
    study_dir = tmp_path / "tiny_comas"
    study_dir.mkdir()
    # two seeds, of which this session runs seed 0 only: seed 1's job is planned (its dir name is kept) but not run
    (study_dir / "study.yaml").write_text(yaml.safe_dump({**STUDY, "seeds": [0, 1], "runs_dir": str(tmp_path / "runs")}))
    assert main(["study", str(study_dir), "--seeds", "2"]) == 2  # not one of the study's seeds
    assert main(["study", str(study_dir), "--arms", "full,nope"]) == 2
    capsys.readouterr()
    assert main(["study", str(study_dir), "--seeds", "0"]) == 0
    assert capsys.readouterr().out.count("1_seed=1: not selected") == 2
    for arm in ("full", "no_scorer_reward"):
        jobs = yaml.safe_load((tmp_path / "runs" / arm / "sweep.yaml").read_text())["jobs"]
        assert [j["run_dir"] for j in jobs] == ["0_seed=0", "1_seed=1"]
    text = (study_dir / "results.md").read_text()
    # every number in the table, recomputed from the run dirs
    for arm in ("full", "no_scorer_reward"):
        runs = sorted((tmp_path / "runs" / arm).glob("*_seed=*"))
        assert [r.name for r in runs] == ["0_seed=0"]
        rows = read_jsonl(runs[0] / "metrics.jsonl")
        vals = [v for k, v in rows[1].items() if re.fullmatch(r"reward/agent_\d/scorer", k)]
        assert vals
        assert f"| {sum(vals) / len(vals):.3f} (n=1) |" in text  # a level: no sign; one run: no spread
        delta = rows[-1]["eval/accuracy"] - rows[0]["eval/accuracy"]
        assert f"{delta:+.3f} (n=1)" in text
        # wall time: starting and the first eval (iteration 0) plus the one iteration
        minutes = (rows[0]["perf/setup_s"] + rows[0]["perf/eval_s"] + rows[1]["perf/iteration_s"]) / 60
        assert f"{arm} {minutes:.1f} min (n=1)" in text
    # the ablation never penalises the scorer: its reward is 0, the full method's is not positive
    row = next(line for line in text.splitlines() if line.startswith("| scorer reward"))
    assert row.split("|")[3].strip() == "0.000 (n=1)"
    assert float(row.split("|")[2].split()[0]) <= 0
    assert "- a metric comas never logs, full: none of its runs logs the metric" in text  # runs, but not this
    assert "| a metric comas never logs (`arbiter/mean_price`, mean) | - | - |" in text
    assert "The paper's figure goes here." in text and (study_dir / "eval_accuracy.png").is_file()
    # the analysis alone re-runs from the run dirs, and a second study run trains nothing again
    capsys.readouterr()
    assert main(["study", str(study_dir), "--seeds", "0", "--arms", "full"]) == 0
    out = capsys.readouterr().out
    assert out.count("already finished") == 1 and "== arm no_scorer_reward" not in out
    # changed settings do not pass the finished runs off as theirs: the study stops before it runs
    study_yaml = (study_dir / "study.yaml").read_text()
    changed = yaml.safe_load(study_yaml)
    changed["base"].append("algo.lr=0.5")
    (study_dir / "study.yaml").write_text(yaml.safe_dump(changed))
    assert main(["study", str(study_dir), "--seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'runs' / 'full' / '0_seed=0'}: algo.lr: 0.0001 -> 0.5" in err and "1_seed=1" not in err
    (study_dir / "study.yaml").write_text(study_yaml)
    assert main(["study", str(tmp_path / "nowhere"), "--analyse"]) == 2
    # one table across studies: each arm's held-out accuracy before, after and its change
    unrun = tmp_path / "tiny_unrun"  # a study with no runs yet is named, not dropped
    unrun.mkdir()
    (unrun / "study.yaml").write_text(yaml.safe_dump({**STUDY, "runs_dir": str(tmp_path / "no_runs"),
                                                      "machine": "a test machine"}))
    assert main(["study", str(study_dir), str(unrun), "--compare", str(tmp_path / "results.md")]) == 0
    table = (tmp_path / "results.md").read_text()
    assert "No finished run yet: tiny_unrun/full, tiny_unrun/no_scorer_reward." in table
    assert "- tiny_unrun: a test machine" in table
    assert "## tiny; held-out: 2 tasks, arithmetic difficulty 1" in table
    for arm in ("full", "no_scorer_reward"):
        rows = read_jsonl(next((tmp_path / "runs" / arm).glob("*_seed=*")) / "metrics.jsonl")
        before, after = rows[0]["eval/accuracy"], rows[-1]["eval/accuracy"]
        assert f"| tiny_comas | {arm} | 1 | 0 | 1 | {before:.3f} | {after:.3f} | {after - before:+.3f} |" in table
    assert main(["study", str(tmp_path / "nowhere"), "--compare", str(tmp_path / "x.md")]) == 2
    # a study without runs gets a page that says so, and no plot survives from runs that are gone
    (unrun / "eval_accuracy.png").write_bytes(b"an old plot")
    assert main(["study", str(unrun), "--analyse"]) == 0
    page = (unrun / "results.md").read_text()
    assert "- accuracy change, full: no runs" in page
    assert "**No finished run yet.**" in page and "| accuracy change (`eval/accuracy`, delta) | - | - |" in page
    assert not (unrun / "eval_accuracy.png").exists()


def test_train_schedule_by_hand():
    from coevo.loop import trains_now

    every = {"mode": "every", "block": 1, "roles": []}
    assert all(trains_now(every, r, it) for r in ("sneaky", "critic") for it in (1, 2, 3))
    alt = {"mode": "alternate", "block": 2, "roles": ["sneaky", "critic"]}
    assert [trains_now(alt, "sneaky", it) for it in range(1, 7)] == [True, True, False, False, True, True]
    assert [trains_now(alt, "critic", it) for it in range(1, 7)] == [False, False, True, True, False, False]
    frozen = {"mode": "alternate", "block": 1, "roles": ["critic"]}  # the generator never trains
    assert not any(trains_now(frozen, "sneaky", it) for it in range(1, 5))


def test_train_schedule_names_the_games_roles():
    from coevo.compose import load_config

    with pytest.raises(ConfigError, match="train_schedule.roles: .'judge'. are not roles of spc_v0"):
        load_config(["experiment=spc", "population.train_schedule.mode=alternate",
                     "population.train_schedule.roles=[judge,critic]"])
    with pytest.raises(ConfigError, match="name the roles that take turns"):
        load_config(["experiment=spc", "population.train_schedule.mode=alternate"])
    # a list of roles under mode=every would be ignored (every role trains): refused, naming the fix
    with pytest.raises(ConfigError, match=r"train_schedule.roles: \['critic'\] has no effect with mode=every.*mode=alternate"):
        load_config(["experiment=spc", "population.train_schedule.roles=[critic]"])


@pytest.mark.usefixtures("local_ray")
def test_alternating_rounds_train_one_role_at_a_time(tmp_path):
    from coevo.compose import load_config
    from coevo.loop import train

    run = train(load_config(["experiment=spc", "model=tiny", "iterations=2", "logger=none",
                             "population.games_per_iteration=2", "population.train_schedule.mode=alternate",
                             "population.train_schedule.roles=[critic,sneaky]", f"run_dir={tmp_path / 'r'}",
                             # the tiny model's rewrites are all invalid; the critic still judges every
                             # original step, so it has turns to train in its rounds
                             "game.options.judge_original=always"]),
                progress=False)
    rows = read_jsonl(run / "metrics.jsonl")
    # fixed seats: agent_0 is the sneaky generator, agent_1 the critic
    assert rows[1]["learner/agent_0/turns"] == 0 and rows[1]["learner/agent_1/turns"] > 0
    assert rows[2]["learner/agent_0/turns"] > 0 and rows[2]["learner/agent_1/turns"] == 0


EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


@pytest.mark.parametrize("study_dir", sorted(p.parent for p in EXPERIMENTS.glob("*/study.yaml")), ids=lambda p: p.name)
def test_every_shipped_study_validates(study_dir):
    # every arm x seed composes to a valid config before anything runs (nothing runs here)
    from coevo.study import arm_overrides, load_study
    from coevo.sweep import plan_sweep

    study = load_study(study_dir)
    for arm in study.arms:
        _, jobs = plan_sweep(arm_overrides(study_dir, study, arm))
        assert len(jobs) == len(study.seeds)
        assert sorted(cfg.seed for _, cfg in jobs) == sorted(study.seeds)


@pytest.mark.parametrize("text,expected", [
    ("title: [unclosed\n", "not valid YAML"),
    ("- a list\n", "a study is a mapping"),
    ("title: t\nbase: []\nnonsense: 1\n", "nonsense"),
])
def test_a_malformed_study_file_is_one_line(tmp_path, capsys, text, expected):
    (tmp_path / "study.yaml").write_text(text)
    assert main(["study", str(tmp_path), "--analyse"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_missing_game_module_is_one_line(tmp_path, capsys):
    assert main(["games", "--module", str(tmp_path / "my_game.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
