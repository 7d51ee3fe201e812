"""Full-weight agents (`model.lora=null`): every agent is a whole copy of the model.

The learner trains every weight (a KL term compares to a frozen copy), the rollout worker holds one
copy per agent next to the untouched base, weights sync as full state dicts, and a resumed run
equals an uninterrupted one bit for bit."""
from __future__ import annotations

import pytest
import torch

from coevo.compose import load_config
from coevo.config import AlgoConfig, ConfigError
from coevo.episode import Turn
from coevo.learners.learner import Learner
from coevo.loop import train
from coevo.models.routed import make_policies, policy_parts
from coevo.tracking import read_jsonl
from tests.test_kill_resume import assert_same_adapters, crashed_after
from tests.test_loop import stable

FULL = ["model=tiny", "model.lora=null"]


def test_a_full_weight_learner_moves_every_kind_of_weight(tiny_model_path):
    cfg = load_config(["experiment=rps", *FULL])
    policies = make_policies(policy_parts(cfg, ["agent_0"]))
    torch.manual_seed(0)
    outs = policies.generate(["agent_0"] * 4, [f"What is {i} + 1?" for i in range(4)], max_new_tokens=8)
    algo = {**AlgoConfig().model_dump(), "kl_coef": 0.1, "lr": 1e-2, "advantage": "rloo"}
    learner = Learner("agent_0", tiny_model_path, cfg.model.model_dump(), algo, temperature=1.0, seed=0)
    before = learner.adapter()
    assert before.keys() == learner.model.state_dict().keys()  # the whole model, not an adapter
    reference = {k: v.clone() for k, v in learner.reference.state_dict().items()}
    turns = [Turn("agent_0", "player_0", "", o.text, o.prompt_ids, o.completion_ids, o.logprobs,
                  reward=float(i % 2), group="g") for i, o in enumerate(outs)]
    metrics = learner.step(turns)
    after = learner.adapter()
    assert metrics["learner/agent_0/skipped"] == 0.0 and metrics["learner/agent_0/adv_abs_mean"] > 0
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    for part in ("embed_tokens", "q_proj", "mlp.down_proj", "input_layernorm"):
        assert any(part in k for k in moved), part
    assert all(torch.equal(v, reference[k]) for k, v in learner.reference.state_dict().items())  # frozen


def test_the_rollout_holds_one_copy_per_agent_and_the_base():
    cfg = load_config(["experiment=rps", *FULL])
    parts = policy_parts(cfg, ["agent_0", "agent_1"])
    assert [p[2] for p in parts] == [[], ["agent_0"], ["agent_1"]]
    policies = make_policies(parts)
    prompts = ["Pick rock, paper or scissors."] * 3
    rows = ["agent_0", "agent_1", "__base__"]
    start = [o.completion_ids for o in policies.generate(rows, prompts, 12, greedy=True)]
    assert start[0] == start[1] == start[2]  # three copies of one model
    state = policies.get_adapter("agent_0")
    policies.set_adapter("agent_0", {k: v + 0.5 * torch.randn_like(v) for k, v in state.items()})
    now = [o.completion_ids for o in policies.generate(rows, prompts, 12, greedy=True)]
    assert now[0] != start[0] and now[1:] == start[1:]  # only agent_0's copy changed


def test_a_league_of_full_weight_agents_is_refused():
    with pytest.raises(ConfigError, match="league snapshots are LoRA adapters"):
        load_config(["experiment=rps", *FULL, "population.league.snapshot_every=1"])


@pytest.mark.usefixtures("local_ray")
def test_full_weight_self_play_trains_and_resumes_exactly(tmp_path):
    base = ["experiment=rps", *FULL, "logger=none", "population.games_per_iteration=4", "algo.lr=1e-3"]
    full = train(load_config([*base, "iterations=2", f"run_dir={tmp_path / 'full'}"]), progress=False)
    split = crashed_after(full, 1, tmp_path / "split")
    train(load_config([*base, "iterations=2", f"run_dir={split}", "resume=true"]), progress=False)
    rows = read_jsonl(full / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    assert all(r[f"learner/{a}/turns"] > 0 for r in rows[1:] for a in ("agent_0", "agent_1"))  # they trained
    # (that a step moves every kind of weight: the learner test above)
    assert stable(read_jsonl(split / "metrics.jsonl")) == stable(rows)
    assert read_jsonl(split / "transcripts.jsonl") == read_jsonl(full / "transcripts.jsonl")
    assert_same_adapters(split, full)  # every weight of every agent, bit for bit
