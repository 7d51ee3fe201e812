"""One agent's learner: its copy of the frozen base (or one it shares), its LoRA adapter, its optimizer.

The driver runs one `Learner` per trainable agent as a Ray actor (`coevo.loop.LearnerActor`; this
module itself does not import Ray, so the GPU checks run where Ray is not installed), so agents can
step at the same time (or one after another on few cores: `population.parallel_learners`, then
all in one actor, coevo/learners/group.py). A step
is: advantages from the arbiter's rewards -> PPO-style loss against the rollout's sampling logprobs
(optionally KL to the base with the adapter switched off, which costs no second model) -> one
optimizer step. Only the adapter's weights ever leave the actor.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from coevo.checkpoint import ADAPTER_FILE
from coevo.episode import Turn
from coevo.learners.advantages import get_advantage
from coevo.learners.losses import get_loss, masked_mean
from coevo.models.hf import (add_lora, adapter_parameters, adapter_state, full_state, load_adapter_state, load_base,
                             load_tokenizer, pick_device, use_autocast)
from coevo.models.logprobs import completion_logprobs, prompt_tokens_to_share


def _cpu_copy(state):
    """A copy of a (nested) state dict with every tensor copied to the CPU: a snapshot on the device
    would add AdamW's two moments (8 bytes a parameter) to a full-weight GPU learner at every step;
    `load_state_dict` moves them back to their parameters' device."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _cpu_copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu_copy(v) for v in state)
    return copy.deepcopy(state)


def _pad(rows: list[list[float]], width: int) -> torch.Tensor:
    out = torch.zeros(len(rows), width)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


def length_sorted_micro_batches(lengths: list[int], size: int) -> list[list[int]]:
    """Indices of `lengths` cut into micro-batches of `size`, longest rows first.

    A micro-batch is computed at the width of its longest row, so rows of similar length go
    together. Ties keep their original order (a stable sort), so the grouping is deterministic.
    Longest first: the peak memory of a step is reached at once, not after minutes of work.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[s:s + size] for s in range(0, len(order), size)]


def pad_fraction(lengths: list[int], micro_batches: list[list[int]]) -> float:
    """Share of the positions a forward over `micro_batches` computes that are padding."""
    computed = sum(len(mb) * max(lengths[i] for i in mb) for mb in micro_batches)
    return 1.0 - sum(lengths) / computed if computed else 0.0


class Learner:
    def __init__(self, agent: str, model_path: str, model_cfg: dict, algo_cfg: dict, temperature: float,
                 seed: int, threads: int | None = None, share_with: Learner | None = None):
        """`share_with`: a LoRA learner on the same base and model settings, in this process, whose
        model takes this agent's adapter beside its own (coevo/learners/group.py): one copy of the
        frozen base for both; each step switches the model to its own adapter."""
        if threads:
            torch.set_num_threads(threads)
        self.agent = agent
        self.algo = algo_cfg
        self.temperature = temperature
        self.device = pick_device(model_cfg["device"])
        self.autocast = use_autocast(model_cfg["autocast"], model_cfg["device"])
        self.full = model_cfg["lora"] is None  # a full-weight agent: every weight trains
        self.reference = None  # the frozen model the KL term compares to (LoRA: the adapter switched off)
        self.shares_model = share_with is not None
        if self.shares_model:
            assert not (self.full or share_with.full), "only LoRA learners share a base"
            self.pad_id = share_with.pad_id
            self.model = add_lora(share_with.model, [agent], model_cfg["lora"], seed)
            share_with.shares_model = True
        else:
            self.pad_id = load_tokenizer(model_path).pad_token_id
            base = load_base(model_path, model_cfg["learner_dtype"], model_cfg["device"])
            if self.full:
                if algo_cfg["kl_coef"] > 0:
                    self.reference = copy.deepcopy(base).eval()
                for p in base.parameters():
                    p.requires_grad_(True)
                self.model = base
            else:
                self.model = add_lora(base, [agent], model_cfg["lora"], seed)
            if model_cfg.get("gradient_checkpointing"):
                base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.params = list(self.model.parameters()) if self.full else adapter_parameters(self.model, self.agent)
        self.optimizer = torch.optim.AdamW(self.params, lr=algo_cfg["lr"], weight_decay=algo_cfg["weight_decay"])
        self.advantage_fn = get_advantage(algo_cfg["advantage"])
        self.loss_fn = get_loss(algo_cfg["loss"])
        self.steps = 0

    def _autocast(self):
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=torch.bfloat16)

    def _logprobs(self, turns: list[Turn], model=None):
        with self._autocast():
            return completion_logprobs(model or self.model, [t.prompt_ids for t in turns],
                                       [t.completion_ids for t in turns], self.temperature, self.pad_id)

    def _reference_logprobs(self, turns: list[Turn]) -> torch.Tensor:
        with torch.no_grad():
            if self.reference is None:  # LoRA: the base is the adapter switched off
                with self.model.disable_adapter():
                    return self._logprobs(turns)[0]
            return self._logprobs(turns, self.reference)[0]

    def step(self, turns: list[Turn]) -> dict[str, float]:
        """One policy update on this agent's turns of the iteration."""
        t0 = time.perf_counter()
        turns = [t for t in turns if t.completion_ids]  # an empty completion has no token to learn from
        prefix = f"learner/{self.agent}/"
        if not turns:
            return {prefix + "turns": 0}
        rewards = torch.tensor([t.reward for t in turns], dtype=torch.float32)
        advantages = self.advantage_fn(rewards, [t.group for t in turns])
        if not (torch.isfinite(rewards).all() and torch.isfinite(advantages).all()):
            return self._skip(prefix, "a reward or advantage is NaN or inf", len(turns))
        if self.shares_model:  # the forward runs this agent's adapter, and its weights take gradients
            self.model.set_adapter(self.agent)
        before = self.snapshot()  # the update is all or nothing: a non-finite step returns here
        n_tokens = sum(len(t.completion_ids) for t in turns)
        win_tokens = sum(len(t.completion_ids) for t in turns if t.reward > 0)
        # Advantages are computed above on the original order (groups); micro-batches only permute rows.
        lengths = [len(t.prompt_ids) + len(t.completion_ids) for t in turns]
        micro_batches = length_sorted_micro_batches(lengths, self.algo["micro_batch_size"])
        self.model.train()
        shared_frac = self._shared_fraction(turns, lengths, micro_batches)  # in train mode, as the steps run
        totals: dict[str, float] = {}
        learner_old: dict[int, torch.Tensor] = {}  # the learner's own logprobs before the update
        for epoch in range(self.algo["ppo_epochs"]):
            self.optimizer.zero_grad(set_to_none=True)
            for b, rows in enumerate(micro_batches):
                chunk, adv = [turns[i] for i in rows], advantages[rows]
                logprobs, mask = self._logprobs(chunk)
                old = _pad([t.logprobs for t in chunk], mask.shape[1]).to(logprobs.device)
                weight = mask.sum().item() / n_tokens  # token mean over the whole batch, not per chunk
                if epoch == 0:  # no step taken yet: these are the pre-update policy's logprobs
                    learner_old[b] = logprobs.detach()
                    log_gap = learner_old[b] - old  # learner minus rollout, per token
                    totals["rollout_logprob_gap"] = (totals.get("rollout_logprob_gap", 0.0)
                                                     + float(masked_mean(log_gap.abs(), mask)) * weight)
                if self.algo["rollout_correction"] == "tis":
                    weight_tis = torch.exp((learner_old[b] - old).clamp(max=20.0)).clamp(max=self.algo["tis_cap"])
                    weight_tis = torch.where(mask, weight_tis, torch.zeros_like(weight_tis))
                    adv = adv.to(logprobs.device).unsqueeze(-1) * weight_tis  # per token: [B, T]
                    old = learner_old[b]
                    if epoch == 0:
                        totals["tis_weight_mean"] = (totals.get("tis_weight_mean", 0.0)
                                                     + float(masked_mean(weight_tis, mask)) * weight)
                ref = self._reference_logprobs(chunk) if self.algo["kl_coef"] > 0 else None
                # the SFT term (on winners) is a mean over the winners' tokens of the whole batch:
                # its coefficient is rescaled so that, times `weight`, it counts this chunk's share
                chunk_win = sum(len(t.completion_ids) for t in chunk if t.reward > 0)
                sft_coef = self.algo["sft_coef"] * chunk_win / win_tokens / weight if win_tokens else 0.0
                loss, stats = self.loss_fn(
                    logprobs, old, adv.to(logprobs.device), mask.float(), clip_eps=self.algo["clip_eps"],
                    ref_logprobs=ref, kl_coef=self.algo["kl_coef"], sft_coef=sft_coef,
                    sft_mask=torch.tensor([t.reward > 0 for t in chunk], device=logprobs.device),  # SFT on winners
                )
                if not torch.isfinite(loss):
                    self.restore(before)
                    return self._skip(prefix, f"the loss is {float(loss)}", len(turns))
                (loss * weight).backward()
                for k, v in stats.items():
                    totals[k] = totals.get(k, 0.0) + float(v) * weight / self.algo["ppo_epochs"]
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.algo["max_grad_norm"])
            if not torch.isfinite(grad_norm):
                self.restore(before)
                return self._skip(prefix, f"the gradient norm is {float(grad_norm)}", len(turns))
            self.optimizer.step()
            if not all(torch.isfinite(p).all() for p in self.params):
                self.restore(before)
                return self._skip(prefix, "the step made a weight NaN or inf", len(turns))
        self.model.eval()
        self.steps += 1
        out = {prefix + k: v for k, v in totals.items()}
        out.update({
            prefix + "skipped": 0.0, prefix + "grad_norm": float(grad_norm), prefix + "turns": len(turns), prefix + "tokens": n_tokens,
            prefix + "reward_mean": float(rewards.mean()), prefix + "adv_abs_mean": float(advantages.abs().mean()),
            prefix + "pad_frac": pad_fraction(lengths, micro_batches),
            prefix + "shared_frac": shared_frac,
            prefix + "step_s": time.perf_counter() - t0,
        })
        return out

    def _shared_fraction(self, turns: list[Turn], lengths: list[int], micro_batches: list[list[int]]) -> float:
        """Share of the batch's positions that ran once for several rows (a prompt start they share)."""
        skipped = sum(prompt_tokens_to_share(self.model, [turns[i].prompt_ids for i in rows],
                                             sum(lengths[i] for i in rows)) * (len(rows) - 1)
                      for rows in micro_batches)
        return skipped / sum(lengths)

    def _skip(self, prefix: str, why: str, n_turns: int) -> dict[str, float]:
        """No update this iteration: the weights and optimizer stay as they were before it."""
        self.model.eval()
        self.optimizer.zero_grad(set_to_none=True)
        logging.getLogger("coevo").warning("learner %s: update skipped, %s", self.agent, why)
        return {prefix + "skipped": 1.0, prefix + "turns": n_turns}

    # -- weights and checkpoints ---------------------------------------------------------------
    def adapter(self) -> dict[str, torch.Tensor]:
        """The agent's trainable weights: its LoRA adapter, or the whole model for a full-weight agent."""
        return full_state(self.model) if self.full else adapter_state(self.model, self.agent)

    def _load_weights(self, state: dict[str, torch.Tensor]) -> None:
        if self.full:
            self.model.load_state_dict(state)  # copies in place: the optimizer keeps its parameters
        else:
            load_adapter_state(self.model, self.agent, state)

    def snapshot(self) -> dict:
        """The trainable state in memory (adapter, optimizer, step count): `restore` returns to it.
        An inner loop (soar) trains from a snapshot, measures, and goes back."""
        return {"adapter": self.adapter(), "optimizer": _cpu_copy(self.optimizer.state_dict()), "steps": self.steps}

    def restore(self, snap: dict) -> None:
        self._load_weights(snap["adapter"])
        self.optimizer.load_state_dict(copy.deepcopy(snap["optimizer"]))
        self.steps = snap["steps"]

    def save(self, directory: str) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_file(self.adapter(), str(d / ADAPTER_FILE))
        # the CUDA generators too: LoRA dropout on a GPU draws its masks there
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        torch.save({"optimizer": self.optimizer.state_dict(), "steps": self.steps,
                    "torch_rng": torch.get_rng_state(), "cuda_rng": cuda_rng}, d / "learner_state.pt")

    def load(self, directory: str) -> None:
        d = Path(directory)
        self._load_weights(load_file(str(d / ADAPTER_FILE)))
        state = torch.load(d / "learner_state.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = state["steps"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():  # older checkpoints: none saved
            torch.cuda.set_rng_state_all(state["cuda_rng"])

