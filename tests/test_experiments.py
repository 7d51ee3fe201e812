"""Every experiment recipe in configs/experiment trains end to end on the tiny model (one iteration:
rollout, arbiter, learners, sync, eval, checkpoint; more iterations and resume: tests/test_loop.py)."""
from pathlib import Path

import pytest

from safetensors.torch import load_file

from coevo.checkpoint import ADAPTER_FILE, latest_checkpoint
from coevo.compose import load_config
from coevo.config import CONFIG_DIR
from coevo.loop import train
from coevo.tracking import read_jsonl

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
# Recipes another default-suite test already trains end to end run here under `make test-slow`
# (the suite's time budget): comas (test_loop, test_report, test_study), rps (test_kill_resume,
# test_actor_failure, test_full_weights), spc (test_evaluate, test_study), rlccf (test_mixed_models,
# test_cluster), tictactoe (test_league), and connect_four, the other PettingZoo classic board game
# through the same adapter as tictactoe (its rules: tests/test_pettingzoo_adapter.py).
COVERED = {"comas", "rps", "spc", "rlccf", "tictactoe", "connect_four"}


pytestmark = pytest.mark.usefixtures("local_ray")


@pytest.mark.parametrize("experiment", [pytest.param(e, marks=pytest.mark.slow) if e in COVERED else e
                                        for e in EXPERIMENTS])
def test_experiment_trains_on_tiny_model(experiment, tmp_path: Path):
    cfg = load_config([f"experiment={experiment}", "model=tiny", "iterations=1", "logger=none", "seed=0",
                       "population.games_per_iteration=2", "eval.max_new_tokens=8",
                       f"eval.num_tasks={min(2, load_config([f'experiment={experiment}']).eval.num_tasks)}",
                       f"run_dir={tmp_path / 'run'}"])
    run_dir = train(cfg, progress=False)
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1]
    # a tiny random model may never reach some seats (soar's student plays only valid problems)
    played = {t["agent"] for ep in read_jsonl(run_dir / "transcripts.jsonl") if ep["iteration"] == 1
              for t in ep["turns"]}
    assert played & set(cfg.population.agents)
    transcripts = [ep for ep in read_jsonl(run_dir / "transcripts.jsonl") if ep["iteration"] == 1]
    ckpt = latest_checkpoint(run_dir)
    for agent in cfg.population.agents:
        assert f"learner/{agent}/turns" in rows[1]
        assert (f"reward/{agent}" in rows[1]) == (agent in played)
        # the learner took at most the agent's trainable turns (train=False turns: a debate's earlier
        # rounds, spc's measuring solvers, soar's student), and some when it had any with text
        trainable = [t for ep in transcripts for t in ep["turns"] if t["agent"] == agent and t["train"]]
        took = rows[1][f"learner/{agent}/turns"]
        assert took <= len(trainable), (agent, took, len(trainable))
        if any(t["completion_text"] for t in trainable):
            assert took > 0, agent
        # LoRA's B starts at zero: it moved exactly when the update had a gradient
        lora_b = [v for k, v in load_file(str(ckpt / agent / ADAPTER_FILE)).items() if "lora_B" in k]
        moved = any(bool(v.abs().sum() > 0) for v in lora_b)
        sft = cfg.algo.sft_coef > 0 and rows[1].get(f"learner/{agent}/sft_frac", 0.0) > 0  # NLL on winners
        assert moved == (rows[1].get(f"learner/{agent}/adv_abs_mean", 0.0) > 0 or sft), agent
    assert rows[1]["rollout/games"] == 2 and rows[1]["rollout/turns"] > 0


def test_every_registered_game_has_a_recipe():
    import games

    recipes = {load_config([f"experiment={e}"]).game.name for e in EXPERIMENTS}
    assert sorted(set(games.GAMES) - recipes) == []
