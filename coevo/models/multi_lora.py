"""Many LoRA adapters on one frozen base, each row of a batch on its own adapter, in a few ops a layer.

peft serves a mixed batch by looping over the adapters in every layer, each with its own row
selection and scatter back; on a CPU that per-op overhead, not arithmetic, is what a mixed batch
costs (bench/generation.py measures it). Here every targeted `nn.Linear` keeps all adapters stacked,
A_all [n*r, in] and B_all [n*r, out], and a batch whose row b is on adapter k_b computes, in three
ops (s = alpha / r),

    y = x W^T + b + s ((x A_all^T) * route) B_all

`route` [B, 1, n*r] is 1 on adapter k_b's own r columns and 0 elsewhere, so each row gets exactly
its adapter's delta and a `__base__` row none. A batch on one adapter uses that adapter's slices
alone (two ops): the cost of a single adapter.

Weights come and go in peft's state-dict format (the keys of `get_peft_model_state_dict`), so a
learner's peft adapter loads here unchanged and a saved one loads in peft.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

PEFT_PREFIX = "base_model.model."


class Router:
    """Which adapter each row of the running batch uses; shared by every MultiLoraLinear of a model."""

    def __init__(self, n_adapters: int, r: int):
        self.n, self.r = n_adapters, r
        self.single: int | None = None  # every row on this one adapter
        self.route: torch.Tensor | None = None  # [B, 1, n*r] 0/1 columns of each row of a mixed batch

    def cols(self, k: int) -> slice:
        """Adapter k's rows of the stacked A and B."""
        return slice(k * self.r, (k + 1) * self.r)

    def set_rows(self, slots: list[int | None], dtype: torch.dtype, device) -> None:
        """slots[b]: the adapter index of row b, or None for the bare base."""
        self.single, self.route = None, None
        present = set(slots)
        if present <= {None}:
            return
        if len(present) == 1:
            self.single = slots[0]
            return
        route = torch.zeros(len(slots), 1, self.n * self.r, dtype=dtype, device=device)
        for b, k in enumerate(slots):
            if k is not None:
                route[b, 0, self.cols(k)] = 1
        self.route = route

class MultiLoraLinear(nn.Module):
    """y = x W^T + b + scaling * (x A_k^T) B_k^T for row adapter k, with every adapter stacked:
    A [n*r, in] (peft's A_k in rows k*r..), B_t [n*r, out] (B_k^T), so the delta is one addmm."""

    def __init__(self, base: nn.Linear, router: Router, scaling: float):
        super().__init__()
        self.weight, self.bias = base.weight, base.bias
        self.router = router
        self.scaling = scaling
        n_cols, w = router.n * router.r, base.weight
        self.register_buffer("A", torch.zeros(n_cols, base.in_features, dtype=w.dtype, device=w.device))
        self.register_buffer("B_t", torch.zeros(n_cols, base.out_features, dtype=w.dtype, device=w.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        k, route = self.router.single, self.router.route
        if k is None and route is None:
            return out
        flat_x, flat_out = x.reshape(-1, x.shape[-1]), out.view(-1, out.shape[-1])
        if k is not None:  # slices taken here, so they follow the buffers through .to(device)
            rows = self.router.cols(k)
            flat_out.addmm_(F.linear(flat_x, self.A[rows]), self.B_t[rows], alpha=self.scaling)
        else:
            h = F.linear(x, self.A).mul_(route)  # [B, L, n*r]: other adapters' columns zeroed
            flat_out.addmm_(h.view(-1, h.shape[-1]), self.B_t, alpha=self.scaling)
        return out


def _targets(model: nn.Module, target_modules: str | list[str]) -> list[str]:
    """Module names peft's LoraConfig would adapt: "all-linear" (every Linear but the output head),
    a list of name suffixes, or a regex over the full module name."""
    head = model.get_output_embeddings()
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and m is not head]
    if target_modules == "all-linear":
        return linears
    if isinstance(target_modules, str):
        return [name for name in linears if re.fullmatch(target_modules, name)]
    return [name for name in linears if name.rsplit(".", 1)[-1] in target_modules]


class MultiLora:
    """Swaps the targeted Linear layers of `model` (in place) for MultiLoraLinear with one slot per
    agent. Adapters start at zero: the base policy, until `set_state` loads trained weights."""

    def __init__(self, model: nn.Module, agents: list[str], lora: dict):
        self.agents = list(agents)
        self.router = Router(len(agents), lora["r"])
        self.layers: dict[str, MultiLoraLinear] = {}
        for name in _targets(model, lora["target_modules"]):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            layer = MultiLoraLinear(getattr(parent, child), self.router, lora["alpha"] / lora["r"])
            setattr(parent, child, layer)
            self.layers[name] = layer

    def set_rows(self, agents: list[str], dtype: torch.dtype, device) -> None:
        """Route row b to agents[b]'s adapter (an agent without one, e.g. `__base__`, gets none)."""
        slot = {a: k for k, a in enumerate(self.agents)}
        self.router.set_rows([slot.get(a) for a in agents], dtype, device)

    def set_state(self, agent: str, state: dict[str, torch.Tensor]) -> None:
        """Load one agent's adapter from a peft state dict ({prefix}{module}.lora_A/B.weight)."""
        expected = {f"{PEFT_PREFIX}{name}.lora_{ab}.weight" for name in self.layers for ab in "AB"}
        lora_keys = {k for k in state if "lora_" in k}
        if lora_keys != expected:
            extra, missing = sorted(lora_keys - expected), sorted(expected - lora_keys)
            raise ValueError(f"adapter state for {agent!r} does not fit this model: "
                             f"unexpected keys {extra[:3]}, missing keys {missing[:3]}")
        cols = self.router.cols(self.agents.index(agent))
        with torch.no_grad():
            for name, layer in self.layers.items():
                layer.A[cols] = state[f"{PEFT_PREFIX}{name}.lora_A.weight"].to(layer.A.dtype)
                layer.B_t[cols] = state[f"{PEFT_PREFIX}{name}.lora_B.weight"].T.to(layer.B_t.dtype)

    def state(self, agent: str) -> dict[str, torch.Tensor]:
        """One agent's adapter as a peft state dict (float32, on the CPU)."""
        cols = self.router.cols(self.agents.index(agent))
        out = {}
        for name, layer in self.layers.items():
            out[f"{PEFT_PREFIX}{name}.lora_A.weight"] = layer.A[cols].float().cpu().clone()
            out[f"{PEFT_PREFIX}{name}.lora_B.weight"] = layer.B_t[cols].T.float().cpu().contiguous()
        return out
