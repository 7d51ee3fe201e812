"""Advantage estimators: rewards of a batch of sequences -> one advantage per sequence.

Small registered pure functions (torch in, torch out, no model, no state), picked by name from
config (``algo.advantage``). Every estimator has the signature

    fn(rewards: Tensor[N] float, groups: Sequence[Hashable] (len N), eps: float = 1e-6) -> Tensor[N]

``groups[i]`` names the group of sequence ``i`` (e.g. the prompt / game instance it answers, so that
samples of the same question are compared with each other). The learner broadcasts each scalar
advantage over that sequence's completion tokens.

- ``reinforce_pp`` -- REINFORCE++ (Hu et al., 2025), used by CoMAS (PAPERS.md section 1):
  normalise over the whole batch, groups ignored.
- ``grpo``  -- GRPO (Shao et al., 2024, DeepSeekMath), used by RLCCF (section 3): normalise
  within groups.
- ``rloo``  -- REINFORCE leave-one-out (Ahmadian et al., 2024), used by SOAR (section 5).
- ``none`` / ``raw`` -- plain REINFORCE, advantage = reward; a baseline for ablations.

Standard deviation convention: the **population** std (divide by n, not n-1) everywhere. It is
defined for a group of one (std 0, so the advantage is 0 rather than NaN), and a two-sample group
{1, 0} normalises to exactly {+1, -1}.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import torch

from coevo.registry import Registry

AdvantageFn = Callable[..., torch.Tensor]
ADVANTAGES = Registry("advantage")
register_advantage = ADVANTAGES.register
get_advantage = ADVANTAGES.lookup


def _check(rewards: torch.Tensor, groups: Sequence[Hashable] | None) -> torch.Tensor:
    """Validate shapes and return the rewards as a float tensor (integer rewards are allowed)."""
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [N], got shape {tuple(rewards.shape)}")
    if groups is not None and len(groups) != rewards.shape[0]:
        raise ValueError(f"len(groups)={len(groups)} != len(rewards)={rewards.shape[0]}")
    return rewards if rewards.is_floating_point() else rewards.float()


def _group_stats(rewards: torch.Tensor, groups: Sequence[Hashable]):
    """Per-sequence group id; per-group count, sum, population variance, and whether all equal."""
    index: dict[Hashable, int] = {}
    ids = torch.tensor([index.setdefault(g, len(index)) for g in groups],
                       dtype=torch.long, device=rewards.device)
    zeros = rewards.new_zeros(len(index))
    count = zeros.index_add(0, ids, torch.ones_like(rewards))
    total = zeros.index_add(0, ids, rewards)
    mean = total / count
    var = zeros.index_add(0, ids, (rewards - mean[ids]) ** 2) / count
    # Exact test for "all rewards equal": the float mean of n copies of 0.1 is not exactly 0.1,
    # and that rounding error divided by (std ~ 1e-9) + eps would give advantages of ~0.01.
    hi = zeros.scatter_reduce(0, ids, rewards, "amax", include_self=False)
    lo = zeros.scatter_reduce(0, ids, rewards, "amin", include_self=False)
    return ids, count, total, var, hi == lo


@register_advantage("reinforce_pp")
def reinforce_pp(rewards: torch.Tensor, groups: Sequence[Hashable] | None = None,
                 eps: float = 1e-6) -> torch.Tensor:
    """REINFORCE++: (r - batch mean) / (batch population std + eps). ``groups`` is ignored.

    A batch of one, or a batch of equal rewards, gets advantage 0 (numerator 0).
    """
    r = _check(rewards, groups)
    if r.numel() == 0 or bool(r.max() == r.min()):  # exact zero, see _group_stats
        return torch.zeros_like(r)
    return (r - r.mean()) / (r.std(correction=0) + eps)


@register_advantage("grpo")
def grpo(rewards: torch.Tensor, groups: Sequence[Hashable], eps: float = 1e-6) -> torch.Tensor:
    """GRPO: within each group, (r - group mean) / (group population std + eps).

    A group of one, or a group whose rewards are all equal, gets 0: it carries no comparison.
    """
    r = _check(rewards, groups)
    ids, count, total, var, flat = _group_stats(r, groups)
    adv = (r - (total / count)[ids]) / (var.sqrt()[ids] + eps)
    return torch.where(flat[ids], torch.zeros_like(r), adv)


@register_advantage("rloo")
def rloo(rewards: torch.Tensor, groups: Sequence[Hashable], eps: float = 1e-6) -> torch.Tensor:
    """RLOO: r_i - mean of the *other* members of its group (not divided by any std).

    The leave-one-out baseline keeps the estimate unbiased (the baseline does not depend on the
    sample itself). A group of one has no other member, and a group of equal rewards has
    nothing to compare: advantage 0. ``eps`` is unused.
    """
    r = _check(rewards, groups)
    ids, count, total, _, flat = _group_stats(r, groups)
    n, s = count[ids], total[ids]
    others_mean = (s - r) / (n - 1).clamp(min=1)
    # Equal rewards also give an exact 0 (instead of float rounding noise).
    return torch.where((n > 1) & ~flat[ids], r - others_mean, torch.zeros_like(r))


@register_advantage("none")
@register_advantage("raw")
def raw(rewards: torch.Tensor, groups: Sequence[Hashable] | None = None,
        eps: float = 1e-6) -> torch.Tensor:
    """Plain REINFORCE: the advantage is the reward itself (no baseline). Returns a copy."""
    return _check(rewards, groups).clone()
