"""The transformers backend: one frozen base model, one LoRA adapter per agent, batched sampling.

`HFPolicies` is what a rollout worker holds. Every agent that shares the base is a LoRA adapter on
it, stacked in each layer (`multi_lora.py`), so one call of coevo's sampling loop (`sampling.py`)
serves a whole tick of many games, each row on its agent's adapter (agents without one, such as
`"__base__"`, use the bare base). Learners train peft adapters (`load_base` + `add_lora`); adapters
move between the two sides as peft state dicts.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from coevo.models.multi_lora import MultiLora
from coevo.models.prompt_cache import PromptCache
from coevo.models.sampling import StopStrings, row_seeds, sample

if TYPE_CHECKING:
    from peft import PeftModel

# peft is imported where learners use it, not here: the rollout worker never needs it (stacked
# adapters, multi_lora.py), and importing it costs each new actor process ~3 s of CPU

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("model.device=cuda but torch sees no CUDA device; use device=cpu or auto")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto` means bfloat16 on CUDA and float32 on CPU (see ModelConfig.rollout_dtype)."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if pick_device(device) == "cuda" else "float32"


def use_autocast(autocast, device: str) -> bool:
    return pick_device(device) == "cuda" if autocast == "auto" else bool(autocast)


def load_tokenizer(path: str):
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"  # generation appends on the right, so pad on the left
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(path: str, dtype: str = "float32", device: str = "cpu"):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[resolve_dtype(dtype, device)])
    model.to(pick_device(device))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def add_lora(model, agents: list[str], lora: dict, seed: int = 0) -> PeftModel:
    """Wrap `model` with one LoRA adapter per agent, or add them to `model` if it is a PeftModel
    already. Adapter i is initialised from seed + i."""
    from peft import LoraConfig, PeftModel, get_peft_model

    from coevo.models.fused_lora import FusedLoraLinear

    config = LoraConfig(
        r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora.get("dropout", 0.0),
        target_modules=lora["target_modules"], task_type="CAUSAL_LM",
    )
    config._register_custom_module({torch.nn.Linear: FusedLoraLinear})  # one addmm per update (fused_lora.py)
    peft_model = model if isinstance(model, PeftModel) else None
    for i, agent in enumerate(agents):
        torch.manual_seed(seed + i)
        if peft_model is None:
            peft_model = get_peft_model(model, config, adapter_name=agent)
        else:
            peft_model.add_adapter(agent, config)
    return peft_model


def adapter_parameters(model: PeftModel, agent: str) -> list[torch.nn.Parameter]:
    """The parameters of `agent`'s LoRA adapter, in the order `model.parameters()` lists them, whatever
    other adapters the model holds and whichever of them is active."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    params = []
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            for name in module.adapter_layer_names:  # lora_A, lora_B (and the embedding ones)
                part = getattr(module, name)
                if agent in part:
                    params += [part[agent]] if isinstance(part[agent], torch.nn.Parameter) else list(part[agent].parameters())
    return params


def _fp32_cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Independent fp32 CPU tensors (tied weights copied apart, which safetensors requires)."""
    return {k: v.detach().float().cpu().clone() for k, v in state.items()}


def full_state(model) -> dict[str, torch.Tensor]:
    """Every weight of a full-weight agent."""
    return _fp32_cpu_copy(model.state_dict())


def adapter_state(model: PeftModel, agent: str) -> dict[str, torch.Tensor]:
    from peft import get_peft_model_state_dict

    return _fp32_cpu_copy(get_peft_model_state_dict(model, adapter_name=agent))


def load_adapter_state(model: PeftModel, agent: str, state: dict[str, torch.Tensor]) -> None:
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, state, adapter_name=agent)
    unexpected = [k for k in result.unexpected_keys if "lora_" in k]
    if unexpected:
        raise ValueError(f"adapter state for {agent!r} has keys this model lacks: {unexpected[:3]}")


@dataclass
class Completion:
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    text: str


def end_of_turn_ids(tokenizer, model) -> list[int]:
    """The tokens that end a turn: the tokenizer's eos and every eos of the model's generation config.
    A chat model may end its turn on a token other than the tokenizer's eos (Gemma's <end_of_turn>,
    Phi-3's <|end|>); without it, every turn would run on to its token limit."""
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = {tokenizer.eos_token_id, *(extra if isinstance(extra, (list, tuple)) else [extra])}
    return sorted(i for i in ids if i is not None)


class ChatPrompts:
    """How every backend turns a row's prompt into token ids: the model's chat template, the row's
    response prefix, the end of an over-long prompt. `HFPolicies` and `VLLMPolicies` share it, so
    both sample from the same ids."""

    def __init__(self, path: str, max_prompt_tokens: int = 1024, system_prompt: str | None = None):
        self.tokenizer = load_tokenizer(path)
        self.max_prompt_tokens = max_prompt_tokens
        self.system_prompt = system_prompt

    def render(self, user_text: str) -> str:
        """The chat-template string for one user message, ending where the assistant starts."""
        messages = [{"role": "user", "content": user_text}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def encode_prompts(self, prompts: list[str], prefixes: list[str] | None = None) -> list[list[int]]:
        """Token ids of each chat-rendered prompt, followed by its response prefix (prefill)."""
        prefixes = prefixes or [""] * len(prompts)
        texts = [self.render(p) + pre for p, pre in zip(prompts, prefixes)]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        # keep the end of an over-long prompt: the question is repeated near the end by our templates
        return [x[-self.max_prompt_tokens:] for x in ids]


class HFPolicies(ChatPrompts):
    """A base model plus named adapters; `generate` samples for a batch of (agent, prompt) rows."""

    def __init__(self, path: str, agents: list[str], lora: dict | None, dtype: str = "float32",
                 device: str = "cpu", max_prompt_tokens: int = 1024,
                 system_prompt: str | None = None, prompt_cache_bytes: int = 2 << 30):
        super().__init__(path, max_prompt_tokens, system_prompt)
        self.model = load_base(path, dtype, device)
        self.model.eval()
        # every agent's adapter stacked in each layer: a mixed batch in three ops a layer
        self.lora = MultiLora(self.model, agents, lora) if lora else None
        self.device = pick_device(device)
        # one agent's prompts prefill their common leading tokens once, and inside `keeping_prompts`
        # start from an earlier prompt's keys and values (bench/shared_prefix.py turns this off to compare)
        self.share_prefixes = True
        self.prompt_cache: PromptCache | None = None
        self.prompt_cache_bytes = prompt_cache_bytes  # what `keeping_prompts` may keep; 0: nothing

    @classmethod
    def from_config(cls, path: str, agents: list[str], model_cfg: dict) -> "HFPolicies":
        """Built from a `ModelConfig.model_dump()`: the rollout worker's and `coevo eval`'s policies."""
        return cls(path, agents, model_cfg["lora"], dtype=model_cfg["rollout_dtype"], device=model_cfg["device"],
                   max_prompt_tokens=model_cfg["max_prompt_tokens"], system_prompt=model_cfg["system_prompt"],
                   prompt_cache_bytes=model_cfg["prompt_cache_mb"] << 20)

    @contextlib.contextmanager
    def keeping_prompts(self):
        """Keep every prompt's keys and values while inside (a rollout's games), so that a prompt that
        starts like an earlier one of its agent prefills only the rest (models/prompt_cache.py), at
        most `prompt_cache_bytes` of them. Yields the cache (its `reused_tokens` count the prompt
        tokens not prefilled); with a budget of 0 it stays empty and nothing is copied into it."""
        kept = PromptCache(self.prompt_cache_bytes)
        outer, self.prompt_cache = self.prompt_cache, kept if self.prompt_cache_bytes > 0 else None
        try:
            yield kept
        finally:
            self.prompt_cache = outer  # None, or the cache of an enclosing keeping_prompts

    # -- weights -------------------------------------------------------------------------------
    def set_adapter(self, agent: str, state: dict[str, torch.Tensor]) -> None:
        """Load an agent's adapter from a peft state dict (a learner's `adapter()`); without LoRA,
        the agent is this whole model (a full-weight agent: `RoutedPolicies` gives it its own)."""
        if self.prompt_cache is not None:  # kept keys and values were made by the old weights
            self.prompt_cache.clear()
        if self.lora is None:
            self.model.load_state_dict(state)
        else:
            self.lora.set_state(agent, state)

    def get_adapter(self, agent: str) -> dict[str, torch.Tensor]:
        return full_state(self.model) if self.lora is None else self.lora.state(agent)

    # -- sampling ------------------------------------------------------------------------------
    def generate(self, agents: list[str], prompts: list[str], max_new_tokens: list[int] | int,
                 stop: list[list[str]] | None = None, temperature: float = 1.0,
                 greedy: bool = False, prefixes: list[str] | None = None,
                 seeds: list[int] | None = None) -> list[Completion]:
        """Sample one completion per row; row i uses agent `agents[i]`'s adapter. A row's prefix is
        prefilled as the start of its answer: part of the prompt ids, not of the completion. Row i's
        draws are a function of `seeds[i]` alone (sampling.uniform); without seeds, one per row is
        drawn from torch's global RNG (seeded by the caller)."""
        n = len(prompts)
        if n == 0:
            return []
        max_new = [max_new_tokens] * n if isinstance(max_new_tokens, int) else list(max_new_tokens)
        prompt_ids = self.encode_prompts(prompts, prefixes)
        seeds = None if greedy else row_seeds(seeds, n)
        use_rows = None
        if self.lora is not None:  # route each batch row to its agent's adapter as the batch changes
            use_rows = lambda rows: self.lora.set_rows([agents[i] for i in rows], self.model.dtype, self.device)  # noqa: E731
        share = None
        if self.share_prefixes:  # one adapter (or none at all) gives equal tokens equal keys and values
            share = agents if self.lora is not None else [None] * n
        try:
            new_ids, logprobs = sample(
                self.model, prompt_ids, max_new, temperature=temperature, greedy=greedy,
                eos_id=end_of_turn_ids(self.tokenizer, self.model), pad_id=self.tokenizer.pad_token_id,
                stop=StopStrings(self.tokenizer, stop) if stop else None, use_rows=use_rows,
                seeds=seeds, share=share, cache=self.prompt_cache if share is not None else None)
        finally:
            if self.lora is not None:
                self.lora.set_rows([], self.model.dtype, self.device)  # no stale routes
        return [Completion(p, ids, lp, self.tokenizer.decode(ids, skip_special_tokens=True))
                for p, ids, lp in zip(prompt_ids, new_ids, logprobs)]
