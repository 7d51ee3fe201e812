"""Known-answer tests for coevo.learners.advantages (every expected value worked by hand)."""

import math

import pytest
import torch

from coevo.learners import advantages as A
from coevo.learners.advantages import (
    ADVANTAGES, get_advantage, grpo, raw, register_advantage, reinforce_pp, rloo,
)


def close(x, expected, atol=1e-5):
    torch.testing.assert_close(x, torch.tensor(expected, dtype=x.dtype), atol=atol, rtol=0)


def test_reinforce_pp_hand_values_population_std():
    # [1,2,3,4]: mean 2.5; population var (2.25+0.25+0.25+2.25)/4 = 1.25; std = 1.118034
    # -> [-1.5, -0.5, 0.5, 1.5] / 1.118034 = [-1.341641, -0.447214, 0.447214, 1.341641]
    r = torch.tensor([1.0, 2.0, 3.0, 4.0])
    close(reinforce_pp(r, ["a", "a", "b", "b"]), [-1.341641, -0.447214, 0.447214, 1.341641])
    # [0, 1]: mean 0.5, population std 0.5 -> exactly [-1, +1] (minus the eps)
    close(reinforce_pp(torch.tensor([0.0, 1.0]), ["a", "b"]), [-1.0, 1.0])


def test_reinforce_pp_ignores_groups():
    r = torch.tensor([0.3, 1.0, -2.0, 0.5])
    torch.testing.assert_close(reinforce_pp(r, list("aabb")), reinforce_pp(r, list("abcd")))
    torch.testing.assert_close(reinforce_pp(r, list("aabb")), reinforce_pp(r))


def test_reinforce_pp_degenerate_batches_are_exactly_zero():
    assert reinforce_pp(torch.tensor([5.0]), ["a"]).tolist() == [0.0]  # batch of one
    # 0.1 is not exact in float: a naive (r - mean) / (std + eps) gives ~0.007 here, not 0.
    assert reinforce_pp(torch.full((7,), 0.1), ["a"] * 7).tolist() == [0.0] * 7
    assert reinforce_pp(torch.tensor([]), []).numel() == 0


def test_grpo_two_groups_of_two():
    # group a {1,0}: mean .5, std .5 -> [+1,-1]; group b {0,1} -> [-1,+1]
    close(grpo(torch.tensor([1.0, 0.0, 0.0, 1.0]), ["a", "a", "b", "b"]), [1.0, -1.0, -1.0, 1.0])


def test_grpo_interleaved_groups_and_three_members():
    # x = {3, 2} (positions 0, 3): mean 2.5, std .5 -> +1, -1; y = {1, 5}: mean 3, std 2 -> -1, +1
    close(grpo(torch.tensor([3.0, 1.0, 5.0, 2.0]), ["x", "y", "y", "x"]), [1.0, -1.0, 1.0, -1.0])
    # {0,0,3}: mean 1, population var (1+1+4)/3 = 2, std sqrt 2 -> [-1, -1, 2] / 1.414214
    s = math.sqrt(2)
    close(grpo(torch.tensor([0.0, 0.0, 3.0]), [7, 7, 7]), [-1 / s, -1 / s, 2 / s])


def test_grpo_singletons_and_equal_groups_are_zero():
    r = torch.tensor([5.0, 0.1, 0.1, 0.1, 1.0, 0.0])
    out = grpo(r, ["solo", "eq", "eq", "eq", "mix", "mix"])
    assert out[:4].tolist() == [0.0, 0.0, 0.0, 0.0]  # exact zeros, not rounding noise
    close(out[4:], [1.0, -1.0])


def test_grpo_eps_is_added_to_std():
    # {1, 0} with eps .5: 0.5 / (0.5 + 0.5) = 0.5
    close(grpo(torch.tensor([1.0, 0.0]), ["a", "a"], eps=0.5), [0.5, -0.5])


def test_rloo_hand_values():
    # one group [1,2,3]: baselines are the means of the others: 2.5, 2, 1.5
    close(rloo(torch.tensor([1.0, 2.0, 3.0]), ["g"] * 3), [1 - 2.5, 2 - 2.0, 3 - 1.5])
    # {4, 0} -> [4 - 0, 0 - 4]; a singleton -> 0; not divided by a std
    close(rloo(torch.tensor([4.0, 9.0, 0.0]), ["a", "solo", "a"]), [4.0, 0.0, -4.0])


def test_rloo_sums_to_zero_within_each_group():
    # sum_i (r_i - (S - r_i)/(n-1)) = S - (nS - S)/(n-1) = 0
    r = torch.tensor([0.2, 1.7, -0.4, 3.0, 2.5, 0.0, 1.0])
    groups = ["a", "b", "a", "b", "a", "b", "b"]
    out = rloo(r, groups)
    for g in "ab":
        idx = [i for i, x in enumerate(groups) if x == g]
        assert abs(out[idx].sum().item()) < 1e-5


def test_raw_and_none_return_the_rewards():
    r = torch.tensor([1.0, -0.5, 2.0])
    for name in ("raw", "none"):
        out = get_advantage(name)(r, ["a", "a", "b"])
        assert out.tolist() == r.tolist()
        out[0] = 99.0  # a copy: the caller's rewards are untouched
        assert r[0].item() == 1.0


@pytest.mark.parametrize("name", ["reinforce_pp", "grpo", "rloo", "raw"])
def test_integer_rewards_give_float_advantages(name):
    out = get_advantage(name)(torch.tensor([1, 0, 0, 1]), ["a", "a", "b", "b"])
    assert out.dtype.is_floating_point and out.shape == (4,)


@pytest.mark.parametrize("name", ["reinforce_pp", "grpo", "rloo", "none"])
def test_shape_errors(name):
    fn = get_advantage(name)
    with pytest.raises(ValueError, match="len"):
        fn(torch.tensor([1.0, 2.0]), ["a"])
    with pytest.raises(ValueError, match="1-D"):
        fn(torch.ones(2, 2), ["a", "a"])


def test_registry_lookup_and_unknown_name_lists_known_names():
    assert set(ADVANTAGES) >= {"reinforce_pp", "grpo", "rloo", "none", "raw"}
    assert get_advantage("grpo") is grpo and get_advantage("raw") is raw
    with pytest.raises(KeyError) as err:
        get_advantage("gae")
    for name in ("reinforce_pp", "grpo", "rloo", "none", "raw", "gae"):
        assert name in str(err.value)


def test_register_new_and_duplicate():
    try:
        @register_advantage("test_zero")
        def zero(rewards, groups, eps=1e-6):
            return torch.zeros_like(rewards)

        assert get_advantage("test_zero") is zero
        with pytest.raises(ValueError, match="already registered"):
            register_advantage("test_zero")(zero)
    finally:
        A.ADVANTAGES.pop("test_zero", None)
