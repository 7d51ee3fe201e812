"""peft's LoRA linear layer with the adapter's update added inside one matmul, for learners.

peft computes `base(x) + lora_B(lora_A(x)) * scaling`: after the base layer's matmul, the rank-r
update is a matmul, a multiply by `scaling` and an add, two full passes over the [tokens, out]
output (forward, and again in backward) for two small matmuls. This layer computes the same
`base(x) + scaling * lora_A(x) @ B^T` as one `addmm` (the BLAS call takes `scaling` as its alpha
and the base output as the tensor it adds to), so neither pass exists. A float32 SmolLM2 learner
step (micro-batch 2, 12 comas-length turns, 2 cores) ran 1.17-1.37x faster, with bit-identical
adapters after the step (`python bench/learner.py --part fused`, docs/performance.md). Under
bfloat16 autocast (`model.autocast=true`) it ran 1.10x faster; there the fused sum rounds once
where peft's rounds twice, so the adapters differ by rounding.

`add_lora` registers it through peft's custom-module hook (`LoraConfig._register_custom_module`),
so every `nn.Linear` that peft adapts is this subclass and everything else of peft is unchanged:
parameter names, state dicts, `disable_adapter`, `set_adapter`. Where the fused form would not be
the same computation (a variant such as DoRA, a LoRA bias, peft's mixed-batch `adapter_names`,
merged or disabled adapters, or, without autocast, a bfloat16 base with float32 adapters), it runs
peft's own forward.
"""
from __future__ import annotations

from typing import Any

import torch
from peft.tuners.lora.layer import Linear as PeftLoraLinear


class FusedLoraLinear(PeftLoraLinear):
    def _fusable(self, x: torch.Tensor, kwargs: dict[str, Any]) -> bool:
        if self.disable_adapters or self.merged or kwargs or self.lora_variant:
            return False
        # under autocast every matmul, addmm included, casts its inputs itself, as peft's path does;
        # without it, one dtype throughout (a bfloat16 base with float32 adapters mixes two in peft's sum)
        autocast = torch.is_autocast_enabled(x.device.type)
        return all(self.lora_B[a].bias is None
                   and (autocast or self.lora_A[a].weight.dtype == x.dtype == self.lora_B[a].weight.dtype)
                   for a in self.active_adapters if a in self.lora_A)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if args or not self._fusable(x, kwargs):
            return super().forward(x, *args, **kwargs)
        result = self.base_layer(x)
        shape = result.shape
        for name in self.active_adapters:
            if name not in self.lora_A:
                continue
            update_in = self.lora_A[name](self.lora_dropout[name](x))  # [..., r]
            result = torch.addmm(result.reshape(-1, shape[-1]), update_in.reshape(-1, update_in.shape[-1]),
                                 self.lora_B[name].weight.t(), alpha=self.scaling[name]).view(shape)
        return result
