"""Every experiment recipe in configs/experiment trains end to end on the tiny model (2 iterations)."""
from pathlib import Path

import pytest

from coevo.config import CONFIG_DIR, load_config
from coevo.loop import train
from coevo.tracking import read_jsonl

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


pytestmark = pytest.mark.usefixtures("local_ray")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_trains_on_tiny_model(experiment, tmp_path: Path):
    cfg = load_config([f"experiment={experiment}", "model=tiny", "iterations=2", "logger=none", "seed=0",
                       "population.games_per_iteration=2", f"run_dir={tmp_path / 'run'}"])
    rows = read_jsonl(train(cfg, progress=False) / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    for agent in cfg.population.agents:
        assert f"reward/{agent}" in rows[2] and f"learner/{agent}/turns" in rows[2]
    assert rows[2]["rollout/games"] == 2 and rows[2]["rollout/turns"] > 0
