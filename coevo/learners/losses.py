"""Policy losses on token-level tensors: small registered pure functions picked by name from config.

Every loss has the signature

    fn(logprobs [B, T], old_logprobs [B, T], advantages [B] (or [B, T]), mask [B, T], *,
       clip_eps=0.2, clip_eps_high=None, ref_logprobs=None, kl_coef=0.0,
       sft_coef=0.0, sft_mask=None) -> (loss: scalar Tensor, stats: dict[str, float])

``logprobs`` are the current policy's log-probabilities of the taken tokens (with grad; the learner
gets them with ``coevo.models.logprobs.token_logprobs``), ``old_logprobs`` those recorded at
sampling time, ``mask`` is 1 (or True) on completion tokens and 0 on prompt/padding. All means are
token means over every masked token of the batch (DAPO's "token-level" averaging), so long and short
completions weigh each token alike.

- ``ppo`` -- PPO clipped surrogate (Schulman et al., 2017) with an optional asymmetric upper clip
  (``clip_eps_high``, DAPO's "clip-higher"), optional k3 KL penalty to a reference policy (Schulman,
  "Approximating KL divergence", 2020) and optional SFT/NLL term. CoMAS (PAPERS.md section 1) uses
  it with clip 0.2 and no KL.
- ``spc`` -- SPC's offline loss (self-play critic, PAPERS.md section 2): the same clipped
  importance-ratio objective (clip range 0.8-1.2) plus ``sft_coef`` (paper: 0.15, the default here)
  times the token-mean NLL of the sequences chosen by ``sft_mask`` [B] bool.

Padding tokens never influence the loss or its gradient, whatever values they hold: differences
are masked *before* ``exp`` so garbage there cannot overflow into inf * 0 = NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from coevo.registry import Registry

LossFn = Callable[..., tuple[torch.Tensor, dict[str, float]]]
LOSSES = Registry("loss")
register_loss = LOSSES.register
get_loss = LOSSES.lookup

# Bound on per-token log-ratios before exp (as verl does): exp(20) ~ 5e8 is far past any clip range.
_MAX_LOG_RATIO = 20.0



def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is nonzero (a float mask acts as weights).

    ``dim=None`` averages over all masked elements; otherwise over ``dim``. Where the mask is empty
    the result is 0, not NaN, so a batch of empty completions cannot poison a step. Unmasked values
    of ``x`` get exactly zero gradient (``where``, not a multiply, so inf there is harmless too).
    """
    weight = mask.to(x.dtype)
    total = torch.where(mask != 0, x * weight, torch.zeros_like(x)).sum(dim=dim)
    return total / weight.sum(dim=dim).clamp(min=torch.finfo(x.dtype).tiny)


def _k3(log_ratio: torch.Tensor) -> torch.Tensor:
    """k3 estimator per token, d = log q - log p: exp(d) - d - 1 (>= 0, and 0 iff d = 0)."""
    return torch.expm1(log_ratio) - log_ratio


def _clipped_objective(logprobs, old_logprobs, advantages, mask, *, clip_eps, clip_eps_high,
                       ref_logprobs, kl_coef, sft_coef, sft_mask):
    """Shared core of ``ppo`` and ``spc``: clipped surrogate + kl_coef * k3 KL + sft_coef * NLL."""
    if not (logprobs.shape == old_logprobs.shape == mask.shape) or logprobs.dim() != 2:
        raise ValueError(f"logprobs {tuple(logprobs.shape)}, old {tuple(old_logprobs.shape)}"
                         f" and mask {tuple(mask.shape)} must all be [B, T]")
    adv = advantages.to(logprobs.dtype)
    adv = adv.unsqueeze(-1) if adv.dim() == 1 else adv  # one scalar per sequence -> every token
    if adv.shape[0] != logprobs.shape[0] or adv.dim() != 2:
        raise ValueError(f"advantages must be [B] or [B, T], got {tuple(advantages.shape)}")
    if kl_coef and ref_logprobs is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs")
    on = mask != 0
    zero = torch.zeros_like(logprobs)
    eps_high = clip_eps if clip_eps_high is None else clip_eps_high

    # Sampled tokens are fixed data: no gradient flows into old or reference logprobs.
    log_ratio = torch.where(on, logprobs - old_logprobs.detach(), zero)
    ratio = torch.exp(log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO))
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - clip_eps, 1.0 + eps_high)
    # Pessimistic bound: once the ratio leaves the trust region in the direction the advantage
    # favours, the clipped (constant) branch wins and that token's gradient is exactly 0.
    pg_loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    loss = pg_loss

    kl = torch.zeros((), dtype=logprobs.dtype, device=logprobs.device)
    if ref_logprobs is not None:
        d_ref = torch.where(on, ref_logprobs.detach() - logprobs, zero)
        kl = masked_mean(_k3(d_ref.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)), mask)
        loss = loss + kl_coef * kl

    sft_loss, sft_frac = torch.zeros_like(kl), 0.0
    if sft_mask is not None:
        if sft_mask.shape != logprobs.shape[:1]:
            raise ValueError(f"sft_mask must be [B] bool, got {tuple(sft_mask.shape)}")
        chosen = on & sft_mask.bool().unsqueeze(-1)
        sft_loss = masked_mean(-logprobs, chosen)  # 0 when nothing is chosen
        sft_frac = sft_mask.float().mean().item() if sft_mask.numel() else 0.0
        if sft_coef:
            loss = loss + sft_coef * sft_loss

    with torch.no_grad():
        stats = {
            "loss": loss.item(),
            "pg_loss": pg_loss.item(),
            "clip_frac": masked_mean((clipped > unclipped).to(logprobs.dtype), mask).item(),
            "ratio_mean": masked_mean(ratio, mask).item(),
            "kl": kl.item(),
            "approx_kl_old": masked_mean(_k3(-log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)),
                                         mask).item(),
            "sft_loss": sft_loss.item(),
            "sft_frac": sft_frac,
        }
    return loss, stats


@register_loss("ppo")
def ppo(logprobs, old_logprobs, advantages, mask, *, clip_eps=0.2, clip_eps_high=None,
        ref_logprobs=None, kl_coef=0.0, sft_coef=0.0, sft_mask=None):
    """PPO: token-mean of -min(r A, clip(r, 1 - clip_eps, 1 + clip_eps_high) A), r = exp(logp - old)
    + kl_coef * k3 KL to ``ref_logprobs`` + sft_coef * NLL on ``sft_mask``. ``clip_eps_high=None``
    means symmetric clipping; ``kl`` is reported whenever ``ref_logprobs`` is given.
    stats: loss, pg_loss, clip_frac, ratio_mean, kl, approx_kl_old, sft_loss, sft_frac.
    """
    return _clipped_objective(logprobs, old_logprobs, advantages, mask, clip_eps=clip_eps,
                              clip_eps_high=clip_eps_high, ref_logprobs=ref_logprobs,
                              kl_coef=kl_coef, sft_coef=sft_coef, sft_mask=sft_mask)


@register_loss("spc")
def spc(logprobs, old_logprobs, advantages, mask, *, clip_eps=0.2, clip_eps_high=None,
        ref_logprobs=None, kl_coef=0.0, sft_coef=0.15, sft_mask=None):
    """SPC offline loss: the clipped objective (0.8-1.2) + 0.15 * NLL on the chosen samples.

    ``old_logprobs`` are those of the policy that generated the offline data; ``sft_mask`` [B] bool
    marks the chosen sequences (``None`` / all False: none, SFT term 0). Same stats as ``ppo``.
    """
    return _clipped_objective(logprobs, old_logprobs, advantages, mask, clip_eps=clip_eps,
                              clip_eps_high=clip_eps_high, ref_logprobs=ref_logprobs,
                              kl_coef=kl_coef, sft_coef=sft_coef, sft_mask=sft_mask)
