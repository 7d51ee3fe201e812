"""Known-answer tests for coevo.learners.losses (every expected value worked by hand)."""

import math

import pytest
import torch

from coevo.learners import losses as L
from coevo.learners.losses import LOSSES, get_loss, masked_mean, ppo, register_loss, spc

LN2 = math.log(2.0)
# Two sequences, T = 4: row 0 has 3 completion tokens, row 1 has 1 -> N = 4 masked tokens.
MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
OLD = torch.log(torch.tensor([[0.5, 0.25, 0.1, 0.3], [0.2, 0.3, 0.3, 0.3]]))


def leaf(x):
    return x.clone().requires_grad_(True)


def test_masked_mean_hand_values():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    m = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert masked_mean(x, m).item() == pytest.approx(7 / 3)  # (1 + 2 + 4) / 3
    assert masked_mean(x, m, dim=1).tolist() == [1.5, 4.0]
    assert masked_mean(x, torch.zeros_like(m)).item() == 0.0  # empty mask: 0, not NaN
    # float mask = weights: (0.5*1 + 1*4) / 1.5 = 3
    assert masked_mean(x, torch.tensor([[0.5, 0, 0], [1, 0, 0]])).item() == pytest.approx(3.0)


def test_masked_mean_ignores_garbage_and_its_gradient():
    x = leaf(torch.tensor([[1.0, float("inf"), 3.0], [float("nan"), 1e30, 2.0]]))
    m = torch.tensor([[1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    out = masked_mean(x, m)
    out.backward()
    assert out.item() == pytest.approx(2.0)  # (1 + 3 + 2) / 3
    torch.testing.assert_close(x.grad, torch.tensor([[1 / 3, 0, 1 / 3], [0, 0, 1 / 3]]))
    assert (x.grad[~m] == 0).all()  # exactly zero, not NaN


def test_ppo_at_ratio_one_is_minus_mean_advantage_with_gradient_minus_a_over_n():
    # A = [2, -1]: masked tokens carry 2, 2, 2, -1 -> loss = -(6 - 1)/4 = -1.25
    # d loss / d logp = -A / N: row 0 -> -0.5 on its 3 tokens, row 1 -> +0.25 on its 1 token
    lp = leaf(OLD)
    loss, stats = ppo(lp, OLD, torch.tensor([2.0, -1.0]), MASK)
    loss.backward()
    assert loss.item() == pytest.approx(-1.25)
    torch.testing.assert_close(lp.grad, torch.tensor([[-0.5, -0.5, -0.5, 0], [0.25, 0, 0, 0]]))
    assert stats["ratio_mean"] == pytest.approx(1.0) and stats["clip_frac"] == 0.0
    assert stats["kl"] == 0.0 and stats["approx_kl_old"] == pytest.approx(0.0, abs=1e-7)
    assert stats["pg_loss"] == stats["loss"] == pytest.approx(-1.25)


@pytest.mark.parametrize(
    "ratio, adv, loss_per_token, grad_per_token, clipped",
    [
        # r = 1.5 > 1.2, A = +1: -min(1.5, 1.2) = -1.2, constant -> gradient exactly 0
        (1.5, 1.0, -1.2, 0.0, True),
        # r = 1.5, A = -1: -min(-1.5, -1.2) = 1.5, unclipped -> d/dlogp = -A*r/N = 1.5/4
        (1.5, -1.0, 1.5, 1.5 / 4, False),
        # r = 0.5 < 0.8, A = +1: -min(0.5, 0.8) = -0.5, unclipped -> -A*r/N = -0.5/4
        (0.5, 1.0, -0.5, -0.5 / 4, False),
        # r = 0.5, A = -1: -min(-0.5, -0.8) = 0.8, constant -> gradient exactly 0
        (0.5, -1.0, 0.8, 0.0, True),
    ],
)
def test_ppo_clipping(ratio, adv, loss_per_token, grad_per_token, clipped):
    lp = leaf(OLD + math.log(ratio))
    loss, stats = ppo(lp, OLD, torch.tensor([adv, adv]), MASK)
    loss.backward()
    assert loss.item() == pytest.approx(loss_per_token, rel=1e-5)
    assert (lp.grad[MASK] == grad_per_token).all() if grad_per_token == 0.0 else \
        torch.allclose(lp.grad[MASK], torch.tensor(grad_per_token))
    assert stats["clip_frac"] == (1.0 if clipped else 0.0)
    assert stats["ratio_mean"] == pytest.approx(ratio, rel=1e-5)


def test_ppo_clip_higher():
    # r = 1.25, A = +1: symmetric eps .2 clips (-1.2, no gradient); eps_high .28 does not (-1.25)
    lp = leaf(OLD + math.log(1.25))
    loss, _ = ppo(lp, OLD, torch.ones(2), MASK)
    assert loss.item() == pytest.approx(-1.2)
    loss, stats = ppo(lp, OLD, torch.ones(2), MASK, clip_eps_high=0.28)
    loss.backward()
    assert loss.item() == pytest.approx(-1.25) and stats["clip_frac"] == 0.0
    torch.testing.assert_close(lp.grad[MASK], torch.full((4,), -1.25 / 4))


def test_padding_garbage_changes_nothing():
    lp_clean = OLD + math.log(1.1)
    ref = OLD - 0.3
    garbage = ~MASK
    lp_dirty = leaf(torch.where(garbage, torch.tensor(1e4), lp_clean))
    old_dirty = torch.where(garbage, torch.tensor(-1e4), OLD)
    ref_dirty = torch.where(garbage, torch.tensor(-1e4), ref)
    adv_tok = torch.where(garbage, torch.tensor(1e6), torch.tensor([[1.0], [-2.0]]))  # [B, T] form
    kw = dict(kl_coef=0.1, sft_coef=0.15, sft_mask=torch.tensor([True, True]))
    adv = torch.tensor([1.0, -2.0])
    clean, s_clean = spc(leaf(lp_clean), OLD, adv, MASK, ref_logprobs=ref, **kw)
    dirty, s_dirty = spc(lp_dirty, old_dirty, adv_tok, MASK, ref_logprobs=ref_dirty, **kw)
    dirty.backward()
    assert dirty.item() == pytest.approx(clean.item()) and s_dirty == pytest.approx(s_clean)
    assert torch.isfinite(lp_dirty.grad).all()
    assert (lp_dirty.grad[garbage] == 0).all() and (lp_dirty.grad[MASK] != 0).all()


def test_k3_kl_to_reference_hand_value_and_gradient():
    # p = .5, ref = .25: d = ref - logp = -ln 2; k3 = e^d - d - 1 = 0.5 + ln 2 - 1 = 0.193147
    # A = 0 so the loss is kl_coef * k3 = 0.0193147; d k3/d logp = 1 - e^d = 0.5 -> 0.1*0.5/N
    lp = leaf(torch.full((2, 4), math.log(0.5)))
    ref = torch.full((2, 4), math.log(0.25))
    loss, stats = ppo(lp, lp.detach(), torch.zeros(2), MASK, ref_logprobs=ref, kl_coef=0.1)
    loss.backward()
    assert stats["kl"] == pytest.approx(0.5 + LN2 - 1, rel=1e-5)
    assert loss.item() == pytest.approx(0.1 * (0.5 + LN2 - 1), rel=1e-5)
    torch.testing.assert_close(lp.grad[MASK], torch.full((4,), 0.1 * 0.5 / 4))


def test_k3_kl_zero_at_reference_and_positive_elsewhere():
    torch.manual_seed(0)
    lp = torch.randn(3, 5)
    mask = torch.ones(3, 5)
    _, s = ppo(lp, lp, torch.ones(3), mask, ref_logprobs=lp.clone(), kl_coef=1.0)
    assert s["kl"] == 0.0
    _, s = ppo(lp, lp, torch.ones(3), mask, ref_logprobs=lp + 0.1 * torch.randn(3, 5))
    assert s["kl"] > 0.0


def test_approx_kl_old_hand_value():
    # logp = ln .5, old = ln .25: ratio 2; k3 with d = old - logp = -ln 2 -> 0.193147
    lp = torch.full((2, 4), math.log(0.5))
    _, s = ppo(lp, torch.full((2, 4), math.log(0.25)), torch.zeros(2), MASK)
    assert s["approx_kl_old"] == pytest.approx(0.5 + LN2 - 1, rel=1e-5)


def test_kl_coef_without_reference_is_an_error():
    with pytest.raises(ValueError, match="ref_logprobs"):
        ppo(OLD, OLD, torch.ones(2), MASK, kl_coef=0.1)


def test_spc_sft_term_hand_value():
    # chosen = row 0, tokens p = .5, .25, .1: NLL mean = (ln 2 + ln 4 + ln 10)/3 = 1.2296
    # A = 0, ratio 1 -> pg = 0, so loss = 0.15 * 1.2296; gradient -0.15/3 on chosen tokens only
    nll = (math.log(2) + math.log(4) + math.log(10)) / 3
    lp = leaf(OLD)
    loss, s = spc(lp, OLD, torch.zeros(2), MASK, sft_mask=torch.tensor([True, False]))
    loss.backward()
    assert s["sft_loss"] == pytest.approx(nll, rel=1e-5) and s["sft_frac"] == 0.5
    assert loss.item() == pytest.approx(0.15 * nll, rel=1e-5)
    torch.testing.assert_close(lp.grad, torch.tensor([[-0.05, -0.05, -0.05, 0], [0, 0, 0, 0]]))


def test_spc_without_chosen_samples_is_the_clipped_objective():
    lp = OLD + math.log(1.5)
    adv = torch.tensor([1.0, -1.0])
    ref_loss, _ = ppo(lp, OLD, adv, MASK)
    for sft_mask in (None, torch.tensor([False, False])):
        loss, s = spc(lp, OLD, adv, MASK, sft_mask=sft_mask)
        assert loss.item() == pytest.approx(ref_loss.item()) and s["sft_loss"] == 0.0
    # row 0 (A=+1) clipped at 1.2 (paper's 0.8-1.2 range), row 1 (A=-1) not: (-1.2*3 + 1.5)/4
    assert ref_loss.item() == pytest.approx((-3.6 + 1.5) / 4)


def test_ppo_with_sft_coef_equals_spc():
    sft = torch.tensor([False, True])
    a, _ = ppo(OLD, OLD, torch.ones(2), MASK, sft_coef=0.15, sft_mask=sft)
    b, _ = spc(OLD, OLD, torch.ones(2), MASK, sft_mask=sft)
    assert a.item() == pytest.approx(b.item())


def test_float_and_bool_masks_agree_and_stats_are_floats():
    lp = OLD + 0.2
    a, sa = ppo(lp, OLD, torch.tensor([1.0, -0.5]), MASK)
    b, sb = ppo(lp, OLD, torch.tensor([1.0, -0.5]), MASK.float())
    assert a.item() == pytest.approx(b.item()) and sa == pytest.approx(sb)
    assert set(sa) >= {"loss", "pg_loss", "clip_frac", "ratio_mean", "kl", "approx_kl_old"}
    assert all(type(v) is float for v in sa.values())


def test_shape_errors():
    with pytest.raises(ValueError, match="must all be"):
        ppo(OLD, OLD[:, :3], torch.ones(2), MASK)
    with pytest.raises(ValueError, match="advantages"):
        ppo(OLD, OLD, torch.ones(3), MASK)
    with pytest.raises(ValueError, match="sft_mask"):
        spc(OLD, OLD, torch.ones(2), MASK, sft_mask=torch.ones(3, dtype=torch.bool))


def test_registry_lookup_and_unknown_name_lists_known_names():
    assert get_loss("ppo") is ppo and get_loss("spc") is spc and set(LOSSES) >= {"ppo", "spc"}
    with pytest.raises(KeyError) as err:
        get_loss("dpo")
    assert "ppo" in str(err.value) and "spc" in str(err.value) and "dpo" in str(err.value)
    try:
        register_loss("test_dummy")(ppo)
        with pytest.raises(ValueError, match="already registered"):
            register_loss("test_dummy")(ppo)
    finally:
        L.LOSSES.pop("test_dummy", None)
