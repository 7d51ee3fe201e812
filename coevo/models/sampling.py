"""Generation helpers that transformers' `generate` does not give us directly.

- `TemperatureRecorder` applies the sampling temperature itself and records the log-probability of
  every sampled token, one vocabulary-wide step at a time (keeping `output_scores` for a whole
  completion would hold steps x batch x vocab floats). We pass temperature=1, top_k=0, top_p=1 to
  `generate` so no built-in warper runs after us: what we record is exactly what was sampled from.
- `PerRowStop` stops each row at its own `max_new_tokens` and its own stop strings, so turns of
  different roles (a long solution, a short score) share one batched `generate` call.
"""
from __future__ import annotations

import torch
from transformers import LogitsProcessor, StoppingCriteria


class TemperatureRecorder(LogitsProcessor):
    def __init__(self, temperature: float, prompt_len: int):
        self.temperature = temperature
        self.prompt_len = prompt_len
        self.steps: list[torch.Tensor] = []  # logprob of the token sampled at each step, [B]
        self._last: torch.Tensor | None = None  # log-softmax of the previous step, [B, V]

    def _collect(self, chosen: torch.Tensor) -> None:
        self.steps.append(self._last.gather(1, chosen[:, None]).squeeze(1).float())

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._last is not None:  # the token chosen at the previous step is now in input_ids
            self._collect(input_ids[:, -1])
        scores = scores / self.temperature
        self._last = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences: torch.Tensor) -> torch.Tensor:
        """Logprobs [B, T] of the T generated tokens in `sequences` (prompt included, left padded)."""
        if self._last is not None and len(self.steps) < sequences.shape[1] - self.prompt_len:
            self._collect(sequences[:, self.prompt_len + len(self.steps)])
        self._last = None
        if not self.steps:
            return torch.zeros(sequences.shape[0], 0)
        return torch.stack(self.steps, dim=1).cpu()


class PerRowStop(StoppingCriteria):
    """Row i is done after `max_new[i]` tokens or once its text contains one of `stops[i]`."""

    def __init__(self, tokenizer, prompt_len: int, max_new: list[int], stops: list[list[str]]):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.max_new = max_new
        self.stops = stops
        self.length = [None] * len(max_new)  # where each row stopped (number of new tokens)
        # decoding a short tail is enough to see a stop string appear
        self.tail = 4 + max((len(s) for row in stops for s in row), default=0)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        n_new = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i in range(input_ids.shape[0]):
            if self.length[i] is None:
                if n_new >= self.max_new[i]:
                    self.length[i] = n_new
                elif self.stops[i]:
                    tail = self.tokenizer.decode(input_ids[i, -min(n_new, self.tail):])
                    if any(s in tail for s in self.stops[i]):
                        self.length[i] = n_new
            done[i] = self.length[i] is not None
        return done
