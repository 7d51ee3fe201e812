"""coevo's sampling loop: a batch of rows, each with its own adapter, token limit and stop strings.

transformers' `generate` keeps every row in the batch until the longest one ends, pads every prompt
to the longest one, and runs a stack of per-step processors; in a game tick whose turns range from
an 8-token score to a 96-token solution most of that compute is wasted. This loop
- samples at `temperature` and records the logprob of every sampled token from the same
  distribution it sampled from (what the learner's importance ratio needs);
- drops a row from the running batch (and its KV cache) as soon as it is done: eos, its own
  `max_new` tokens, or one of its stop strings in the text;
- cuts the left-padding columns that no remaining row needs any more;
- computes the LM head only for the last position of each row.
Greedy decoding takes the argmax; its logprobs are those at temperature 1.
"""
from __future__ import annotations

import inspect

import torch
from transformers import DynamicCache


def _cache_kwarg(model) -> str:
    """transformers 5.24 renamed the forward argument `past_key_values` to `cache`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class StopStrings:
    """Row i is done once the text of its new tokens contains one of `stops[i]`."""

    def __init__(self, tokenizer, stops: list[list[str]]):
        self.tokenizer = tokenizer
        self.stops = stops
        # decoding a short tail is enough to see a stop string appear
        self.tail = 4 + max((len(s) for row in stops for s in row), default=0)

    def __call__(self, i: int, new_ids: list[int]) -> bool:
        if not self.stops[i]:
            return False
        tail = self.tokenizer.decode(new_ids[-self.tail:])
        return any(s in tail for s in self.stops[i])


def _left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def _keep(cache: DynamicCache, index: torch.Tensor, first_col: int) -> None:
    """Keep rows `index` of every layer's keys/values, from column `first_col` on."""
    for layer in cache.layers:
        layer.keys = layer.keys[index, :, first_col:]
        layer.values = layer.values[index, :, first_col:]


@torch.no_grad()
def sample(model, prompts: list[list[int]], max_new: list[int], *, temperature: float, greedy: bool,
           eos_id: int, pad_id: int, stop: StopStrings | None = None,
           on_keep=None) -> tuple[list[list[int]], list[list[float]]]:
    """New token ids and their logprobs for every prompt. `on_keep(index)` is told which rows of the
    running batch remain whenever rows are dropped (the LoRA router follows the batch)."""
    device = model.get_output_embeddings().weight.device
    n = len(prompts)
    ids_out: list[list[int]] = [[] for _ in range(n)]
    lp_out: list[list[float]] = [[] for _ in range(n)]
    rows = [i for i in range(n) if max_new[i] > 0]  # original index of each row of the running batch
    if len(rows) < n:
        index = torch.tensor(rows, dtype=torch.long, device=device)
        if on_keep is not None:
            on_keep(index)
    if not rows:
        return ids_out, lp_out
    input_ids, attention = _left_pad([prompts[i] for i in rows], pad_id, device)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    cache_arg = {_cache_kwarg(model): cache}
    inv_t = 1.0 if greedy else 1.0 / temperature
    while True:
        logits = model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                       use_cache=True, logits_to_keep=1, **cache_arg).logits[:, -1]
        logp = torch.log_softmax(logits.float() * inv_t, dim=-1)
        token = logp.argmax(-1) if greedy else torch.multinomial(logp.exp(), 1).squeeze(1)
        chosen = logp.gather(1, token[:, None]).squeeze(1)
        keep = []
        for j, (i, t, lp) in enumerate(zip(rows, token.tolist(), chosen.tolist())):
            ids_out[i].append(t)
            lp_out[i].append(lp)
            done = t == eos_id or len(ids_out[i]) >= max_new[i] or (stop is not None and stop(i, ids_out[i]))
            if not done:
                keep.append(j)
        if not keep:
            return ids_out, lp_out
        next_positions = positions[:, -1:] + 1
        if len(keep) < len(rows):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            attention, token, next_positions = attention[index], token[index], next_positions[index]
            # columns that were left padding for every remaining row are never attended to again
            first_col = int(attention.any(0).nonzero()[0])
            attention = attention[:, first_col:]
            _keep(cache, index, first_col)
            if on_keep is not None:
                on_keep(index)
            rows = [rows[j] for j in keep]
        input_ids, positions = token[:, None], next_positions
        attention = torch.cat([attention, attention.new_ones(len(rows), 1)], dim=1)
