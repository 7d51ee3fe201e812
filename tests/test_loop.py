"""End to end with real Ray: `coevo train` on the tiny model, its run dir, and exact resume."""
import json

import pytest

from coevo.compose import load_config
from coevo.config import ConfigError
from coevo.loop import train
from coevo.tracking import read_jsonl

BASE = ["experiment=comas", "model=tiny", "seed=0", "logger=none", "eval.num_tasks=4",
        "population.games_per_iteration=6", "game.options.max_new_tokens.solver=24",
        "game.options.max_new_tokens.evaluator=16", "game.options.max_new_tokens.scorer=8"]


pytestmark = pytest.mark.usefixtures("local_ray")


def stable(rows):
    """Metrics that must replay exactly (timings and throughput are machine noise)."""
    return [{k: v for k, v in r.items() if not k.startswith("perf/") and not k.endswith("step_s")} for r in rows]


def test_train_writes_the_run_dir(tiny_comas_run):
    run, out = tiny_comas_run  # `coevo train` BASE iterations=2 logger=wandb_offline (conftest.py)
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    for key in ["reward/agent_0", "reward/agent_1", "reward/agent_2", "learner/agent_0/loss",
                "perf/tokens_per_s", "rollout/generate_calls", "arbiter/score_parse_rate"]:
        assert key in rows[1], key
    assert "eval/accuracy/agent_0" in rows[0] and "eval/accuracy/agent_0" in rows[2]
    # where an iteration's time went: the phases, eval only where it ran, all within the iteration
    phases = ["perf/rollout_s", "perf/arbiter_s", "perf/learn_s", "perf/sync_s"]
    assert all(k in rows[1] for k in phases) and "perf/eval_s" not in rows[1] and "perf/eval_s" in rows[2]
    assert sum(rows[2][k] for k in [*phases, "perf/eval_s"]) <= rows[2]["perf/iteration_s"]
    # batching: 6 games x 3 turns, but one generate call per tick (solver, evaluator, scorer)
    assert rows[1]["rollout/turns"] == 18 and rows[1]["rollout/generate_calls"] == 3
    transcripts = [json.loads(line) for line in (run / "transcripts.jsonl").read_text().splitlines()]
    assert len(transcripts) == 12 and len(transcripts[0]["turns"]) == 3
    assert (run / "config.yaml").exists() and list((run / "wandb").glob("offline-run-*"))
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["iter_000001", "iter_000002"]
    assert {p.name for p in (run / "checkpoints" / "iter_000002").iterdir()} >= {"agent_0", "driver.json"}
    assert "agent_0" in out and "run dir:" in out


@pytest.mark.slow  # the default suite's real SIGKILL + resume (test_kill_resume.py) covers the same promise
def test_resume_replays_an_uninterrupted_run(tmp_path):
    full = train(load_config([*BASE, "eval.every=1", "iterations=3", f"run_dir={tmp_path / 'full'}"]), progress=False)
    # a "killed" run: stopped after iteration 2 (its checkpoint), then resumed to 3
    part = tmp_path / "part"
    train(load_config([*BASE, "eval.every=1", "iterations=2", f"run_dir={part}"]), progress=False)
    with open(part / "metrics.jsonl", "a") as f:  # a half-written iteration the kill left behind
        f.write(json.dumps({"iteration": 3, "reward/agent_0": 99.0}) + "\n")
    train(load_config([*BASE, "eval.every=1", "iterations=3", f"run_dir={part}", "resume=true"]), progress=False)
    assert stable(read_jsonl(part / "metrics.jsonl")) == stable(read_jsonl(full / "metrics.jsonl"))


def test_resuming_with_other_settings_is_refused_and_the_run_kept(tiny_comas_run, tmp_path):
    import shutil

    from coevo.loop import prepare_run_dir

    run = shutil.copytree(tiny_comas_run[0], tmp_path / "run")
    saved, metrics = (run / "config.yaml").read_text(), (run / "metrics.jsonl").read_text()
    resume = [*BASE, "logger=wandb_offline", "iterations=3", f"run_dir={run}", "resume=true"]
    with pytest.raises(ConfigError, match=r"another config \(algo.lr: 0.0001 -> 0.5\)"):
        train(load_config([*resume, "algo.lr=0.5"]), progress=False)
    assert (run / "config.yaml").read_text() == saved and (run / "metrics.jsonl").read_text() == metrics
    # more iterations, another logger: the same run goes on from its last checkpoint
    _, ckpt = prepare_run_dir(load_config([*resume, "logger=none"]))
    assert ckpt is not None and ckpt.name == "iter_000002"


def test_refuses_to_overwrite_a_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    earlier = '{"iteration": 0, "eval/accuracy": 0.25}\n'  # what a run before left (only its log matters)
    (run / "metrics.jsonl").write_text(earlier)
    with pytest.raises(ConfigError, match="resume=true"):
        train(load_config([*BASE, "iterations=1", f"run_dir={run}"]), progress=False)
    assert (run / "metrics.jsonl").read_text() == earlier and not (run / "config.yaml").exists()


@pytest.mark.slow  # 5 learner processes: the suite's time budget
@pytest.mark.timeout(300)
def test_more_learners_than_cores_still_schedule(tmp_path):
    """5 learners on a 2-CPU Ray: their CPU reservations are capped so none waits forever."""
    agents = "[" + ",".join(f"a{i}" for i in range(5)) + "]"
    run = train(load_config([*BASE, "iterations=1", "eval.num_tasks=0", f"population.agents={agents}",
                             "population.games_per_iteration=5", f"run_dir={tmp_path / 'run'}"]), progress=False)
    last = read_jsonl(run / "metrics.jsonl")[-1]
    assert all(f"learner/a{i}/loss" in last for i in range(5))


def test_resume_replays_a_game_of_many_turns(tmp_path):
    """Negotiation: each agent's next prompt starts like its last, so the rollout starts it from that
    prompt's kept keys and values (coevo/models/prompt_cache.py). They are kept for one play only,
    so a resumed run replays exactly what the uninterrupted one did."""
    neg = ["experiment=negotiation", "model=tiny", "seed=0", "logger=none", "population.games_per_iteration=3",
           "game.options.max_exchanges=3"]
    from tests.test_kill_resume import crashed_after  # (that module imports this one)

    full = train(load_config([*neg, "iterations=2", f"run_dir={tmp_path / 'full'}"]), progress=False)
    part = crashed_after(full, 1, tmp_path / "part")  # as a kill in iteration 2 leaves it
    train(load_config([*neg, "iterations=2", f"run_dir={part}", "resume=true"]), progress=False)
    assert stable(read_jsonl(part / "metrics.jsonl")) == stable(read_jsonl(full / "metrics.jsonl"))
    assert (part / "transcripts.jsonl").read_text() == (full / "transcripts.jsonl").read_text()
    turns = [json.loads(line)["turns"] for line in (full / "transcripts.jsonl").read_text().splitlines()]
    assert max(len(t) for t in turns) >= 3  # games of several turns: later prompts had earlier ones to start from
    rows = read_jsonl(full / "metrics.jsonl")[1:]
    assert all(0 < r["rollout/kept_prompt_tokens"] < r["rollout/prompt_tokens"] for r in rows), rows
