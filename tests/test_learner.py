"""A learner step moves the agent's adapter and nothing else; checkpoints restore it exactly."""
import copy
import math

import pytest
import torch

from coevo.config import AlgoConfig

from coevo.episode import Turn
from coevo.learners.learner import Learner
from coevo.models.hf import HFPolicies

MODEL_CFG = {"device": "cpu", "autocast": False, "learner_dtype": "float32",
             "lora": {"r": 4, "alpha": 8, "target_modules": "all-linear"}}
ALGO = {**AlgoConfig().model_dump(), "lr": 1e-2, "micro_batch_size": 2}


def sampled_turns(path, agent="agent_0", n=4):
    pol = HFPolicies(path, [agent], MODEL_CFG["lora"], dtype="float32", device="cpu")
    torch.manual_seed(0)
    outs = pol.generate([agent] * n, [f"What is {i} + 2?" for i in range(n)], max_new_tokens=6, temperature=1.0)
    return [Turn(agent, "solver_0", "", o.text, o.prompt_ids, o.completion_ids, o.logprobs,
                 reward=float(i % 2), group="g") for i, o in enumerate(outs)]


def base_weights(learner):
    return {k: v.clone() for k, v in learner.model.get_base_model().state_dict().items() if "lora_" not in k}


def test_step_changes_adapter_not_base(tiny_model_path):
    learner = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    adapter0, base0 = learner.adapter(), base_weights(learner)
    metrics = learner.step(sampled_turns(tiny_model_path))
    adapter1, base1 = learner.adapter(), base_weights(learner)
    assert any(not torch.equal(adapter0[k], adapter1[k]) for k in adapter0)
    assert all(torch.equal(base0[k], base1[k]) for k in base0)
    # the policy was the one that sampled, so the first PPO ratio is 1 and nothing is clipped
    assert abs(metrics["learner/agent_0/ratio_mean"] - 1.0) < 1e-4
    assert metrics["learner/agent_0/clip_frac"] == 0.0
    assert metrics["learner/agent_0/turns"] == 4


def test_checkpoint_round_trip_continues_identically(tiny_model_path, tmp_path):
    turns = sampled_turns(tiny_model_path)
    a = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    a.step(turns)
    a.save(str(tmp_path / "ckpt"))
    b = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=7)  # other init
    b.load(str(tmp_path / "ckpt"))
    a.step(turns)
    b.step(turns)  # same adapter + same optimizer moments -> the same second step
    sa, sb = a.adapter(), b.adapter()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_gradient_checkpointing_gives_the_same_update(tiny_model_path):
    turns = sampled_turns(tiny_model_path)
    plain = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    ckpt = Learner("agent_0", tiny_model_path, {**MODEL_CFG, "gradient_checkpointing": True}, ALGO,
                   temperature=1.0, seed=0)
    assert ckpt.model.get_base_model().is_gradient_checkpointing
    plain.step(turns)
    ckpt.step(turns)
    a, b = plain.adapter(), ckpt.adapter()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_snapshot_and_restore_return_exactly_to_the_saved_state(tiny_model_path):
    # soar's inner loop trains the student from a snapshot, measures, and goes back (or keeps it)
    turns = sampled_turns(tiny_model_path)
    learner = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    learner.step(turns)
    snap = learner.snapshot()
    # the moments are copied to the CPU, apart from the live ones that the next step changes in place
    live = [t for state in learner.optimizer.state.values() for t in state.values() if t.dim()]
    saved = [t for state in snap["optimizer"]["state"].values() for t in state.values() if t.dim()]
    assert len(saved) == len(live) > 0 and all(t.device.type == "cpu" for t in saved)
    assert not {t.data_ptr() for t in saved} & {t.data_ptr() for t in live}
    learner.step(turns)
    moved = learner.adapter()
    assert any(not torch.equal(snap["adapter"][k], moved[k]) for k in moved) and learner.steps == 2
    learner.restore(snap)
    back = learner.adapter()
    assert all(torch.equal(snap["adapter"][k], back[k]) for k in back) and learner.steps == 1
    twin = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    twin.step(turns)
    learner.step(turns)  # the optimizer moments came back too: the same step as a fresh twin's second
    twin.step(turns)
    assert all(torch.equal(learner.adapter()[k], twin.adapter()[k]) for k in back)


# -- the update goes the way the reward says (issue 9's learner-side correctness) ----------------------

def ragged_turns(learner, lengths, rewards, groups=None, seed=0):
    """Turns with the given (prompt, completion) lengths of random token ids; their sampling logprobs
    are the learner's own, so the first PPO ratio is 1 (on-policy), as after a real rollout."""
    gen = torch.Generator().manual_seed(seed)
    vocab = learner.model.get_base_model().config.vocab_size
    turns = []
    for i, ((p, c), r) in enumerate(zip(lengths, rewards)):
        ids = torch.randint(3, vocab, (p + c,), generator=gen).tolist()
        turns.append(Turn(learner.agent, "solver_0", "", "", ids[:p], ids[p:], reward=float(r),
                          group=groups[i] if groups else "g"))
    for t in turns:
        t.logprobs = completion_logprob_list(learner, t)
    return turns


def completion_logprob_list(learner, turn):
    with torch.no_grad():
        lp, mask = learner._logprobs([turn])
    return lp[mask].tolist()


@pytest.mark.parametrize("reward", [1.0, -1.0])
def test_reward_sign_moves_the_completions_logprob_the_same_way(tiny_model_path, reward):
    # advantage "none": the reward itself is the advantage, so one turn still has a nonzero one
    learner = Learner("agent_0", tiny_model_path, MODEL_CFG, {**ALGO, "advantage": "none"}, temperature=1.0, seed=0)
    (turn,) = ragged_turns(learner, [(7, 5)], [reward])
    before = sum(turn.logprobs)
    learner.step([turn])
    after = sum(completion_logprob_list(learner, turn))
    assert (after - before) * reward > 1e-3, (before, after)


def test_kl_to_the_base_is_zero_before_the_adapter_moves_and_positive_after(tiny_model_path):
    algo = {**ALGO, "kl_coef": 0.1, "advantage": "none"}
    learner = Learner("agent_0", tiny_model_path, MODEL_CFG, algo, temperature=1.0, seed=0)
    turns = ragged_turns(learner, [(6, 4), (9, 3)], [1.0, -1.0])
    first = learner.step(turns)["learner/agent_0/kl"]
    second = learner.step(turns)["learner/agent_0/kl"]
    assert abs(first) < 1e-7  # LoRA's B starts at 0: the adapter adds exactly nothing yet
    assert second > 1e-6


@pytest.mark.parametrize("poison", ["nan_reward", "nan_old_logprob", "huge_lr", "inf_weight"])
def test_a_non_finite_update_is_skipped_and_leaves_no_trace(tiny_model_path, poison, caplog):
    # NaN in a reward (-> advantages), NaN in a sampled logprob (-> the loss), or a learning rate
    # so large the step overflows the weights: the update is skipped whole, with a warning
    algo = {**ALGO, "lr": 3e37, "ppo_epochs": 2} if poison == "huge_lr" else ALGO
    learner = Learner("agent_0", tiny_model_path, MODEL_CFG, algo, temperature=1.0, seed=0)
    twin = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    turns, bad = sampled_turns(tiny_model_path), sampled_turns(tiny_model_path)
    if poison == "nan_reward":
        bad[1].reward = float("nan")
    if poison == "nan_old_logprob":
        bad[2].logprobs = [float("nan")] * len(bad[2].logprobs)
    if poison == "inf_weight":  # an optimizer step that writes inf (a fault planted in the step itself)
        learner.optimizer.step = lambda: learner.params[0].data.fill_(float("inf"))
    before, opt_before = learner.adapter(), copy.deepcopy(learner.optimizer.state_dict())
    metrics = learner.step(bad)
    assert metrics["learner/agent_0/skipped"] == 1.0 and "update skipped" in caplog.text
    after, opt_after = learner.adapter(), learner.optimizer.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and learner.steps == 0
    # the optimizer too (huge_lr took an optimizer step in epoch 1 before epoch 2 went NaN)
    assert opt_after["state"].keys() == opt_before["state"].keys()
    assert all(torch.equal(opt_after["state"][i][k], opt_before["state"][i][k])
               for i in opt_before["state"] for k in opt_before["state"][i])
    if poison not in ("huge_lr", "inf_weight"):  # the optimizer state came back too: the next update is a first update
        assert learner.step(turns)["learner/agent_0/skipped"] == 0.0
        twin.step(turns)
        assert all(torch.equal(learner.adapter()[k], twin.adapter()[k]) for k in before)


LENGTHS, REWARDS = [(5, 4), (3, 6), (4, 4), (6, 2)], [1.0, 0.0, 1.0, 0.0]


def test_rollout_correction_is_a_no_op_when_rollout_and_learner_agree(tiny_model_path):
    """algo.rollout_correction=tis divides by the learner's own logprobs and weights each token by
    min(p_learner / p_rollout, tis_cap): with the rollout's logprobs equal to the learner's (the
    turns' logprobs are the learner's recomputation), the update is the plain one."""
    plain = Learner("agent_0", tiny_model_path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    tis = Learner("agent_0", tiny_model_path, MODEL_CFG, {**ALGO, "rollout_correction": "tis"}, temperature=1.0, seed=0)
    turns = ragged_turns(plain, LENGTHS, REWARDS)
    init = plain.adapter()
    m_plain, m_tis = plain.step(copy.deepcopy(turns)), tis.step(copy.deepcopy(turns))
    a, b = plain.adapter(), tis.adapter()
    assert any(not torch.equal(a[k], init[k]) for k in a)  # the step did move the adapter
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert m_tis["learner/agent_0/tis_weight_mean"] == pytest.approx(1.0, abs=1e-5)
    assert m_plain["learner/agent_0/rollout_logprob_gap"] < 1e-5


def test_rollout_correction_weights_tokens_by_the_truncated_ratio(tiny_model_path):
    learner = Learner("agent_0", tiny_model_path, MODEL_CFG, {**ALGO, "rollout_correction": "tis", "tis_cap": 2.0},
                      temperature=1.0, seed=0)
    turns = ragged_turns(learner, LENGTHS, REWARDS)
    # the rollout found turn 0's tokens 1 nat less likely than the learner does (ratio e > cap 2),
    # turn 1's 1 nat more likely (ratio 1/e); turns 2 and 3 agree (ratio 1)
    turns[0].logprobs = [x - 1.0 for x in turns[0].logprobs]
    turns[1].logprobs = [x + 1.0 for x in turns[1].logprobs]
    n = [c for _, c in LENGTHS]
    metrics = learner.step(turns)
    expected = (n[0] * 2.0 + n[1] * math.exp(-1.0) + n[2] + n[3]) / sum(n)
    assert metrics["learner/agent_0/tis_weight_mean"] == pytest.approx(expected, rel=1e-4)
    assert metrics["learner/agent_0/rollout_logprob_gap"] == pytest.approx((n[0] + n[1]) / sum(n), rel=1e-4)


def test_rollout_correction_update_is_the_plain_update_with_each_token_weighted(tiny_model_path):
    """The weights reach the loss, not only the metric: under SGD, a tis step on turns whose rollout
    logprobs are off by +-1 nat equals a plain step on the unshifted turns with each turn's
    advantage times its weight (min(e, cap 2) = 2 and 1/e). It also fails if the ratio's denominator
    were the rollout's logprobs instead of the learner's (the ratio e would be clipped)."""
    algo = {**ALGO, "advantage": "none", "max_grad_norm": 1e9}  # advantage = reward; no clipping of the norm
    tis = Learner("agent_0", tiny_model_path, MODEL_CFG, {**algo, "rollout_correction": "tis", "tis_cap": 2.0},
                  temperature=1.0, seed=0)
    plain = Learner("agent_0", tiny_model_path, MODEL_CFG, algo, temperature=1.0, seed=0)
    for learner in (tis, plain):
        learner.optimizer = torch.optim.SGD(learner.params, lr=1.0)
    turns = ragged_turns(tis, LENGTHS, [1.0, -1.0, 0.5, -0.5])
    shifted, weighted = copy.deepcopy(turns), copy.deepcopy(turns)
    shifted[0].logprobs = [x - 1.0 for x in turns[0].logprobs]  # weight min(e, 2) = 2
    shifted[1].logprobs = [x + 1.0 for x in turns[1].logprobs]  # weight 1/e
    weighted[0].reward *= 2.0
    weighted[1].reward *= math.exp(-1.0)
    init = tis.adapter()
    tis.step(shifted)
    plain.step(weighted)
    a, b = tis.adapter(), plain.adapter()
    assert any(not torch.allclose(a[k], init[k], atol=1e-4) for k in a)  # it moved, well beyond the tolerance
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5) for k in a)
