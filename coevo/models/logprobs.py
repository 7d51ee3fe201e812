"""Log-probabilities of completion tokens under a (peft) causal LM, for learners and checks.

Only the hidden states at completion positions go through the LM head: the full-vocabulary logits
(49,152 wide for SmolLM2) of prompt tokens would cost most of the memory and time of a step.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache

from coevo.models.prompt_cache import common_prefix_length
from coevo.models.sampling import cache_kwarg

# Share a batch's common prompt start only where it skips at least this share of the batch's positions:
# the rows that go on from a cache attend through a mask instead of attention's causal path, which
# costs about 5-10% of a forward and backward (`bench/learner.py --part share`, SmolLM2 on 2 cores:
# 2 rows of about 360 positions ran 0.95x with 40 tokens in common, 1.06x with 150, 1.21x with 250)
WORTH_SHARING = 0.25
# ... and at least this many positions: the shared part's own forward has a fixed cost (2 rows of
# about 95 positions with 40 in common: 0.93x). rlccf's pairs of one question sampled twice (about 60
# tokens in common, rows of about 90) made its learners 0.94x under the share rule alone
# (bench/iteration.py -- experiment=rlccf)
MIN_SKIPPED = 128


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, rows: int = 512) -> torch.Tensor:
    """log softmax(logits)[target] of each row [N], `rows` rows at a time, so that the softmax's
    [N, vocab] temporaries exist for one slice of the batch at a time, not all of it."""
    parts = [chunk.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(chunk, dim=-1)
             for chunk, tgt in zip(logits.split(rows), targets.split(rows))]
    return torch.cat(parts) if parts else logits.new_zeros(0)


def _decoder_and_head(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def shared_prompt_length(prompt_ids: list[list[int]], positions: int) -> int:
    """How many leading tokens every prompt of the batch has in common, leaving each prompt's last
    token out of it (its hidden state scores the completion's first token); 0 where running them
    once would skip fewer than MIN_SKIPPED positions or WORTH_SHARING of the batch's `positions`."""
    if len(prompt_ids) < 2:
        return 0
    shared = min(min(common_prefix_length(prompt_ids[0], p), len(p) - 1) for p in prompt_ids)
    skipped = shared * (len(prompt_ids) - 1)
    return shared if skipped >= max(MIN_SKIPPED, WORTH_SHARING * positions) else 0


def prompt_tokens_to_share(model, prompt_ids: list[list[int]], positions: int) -> int:
    """The leading prompt tokens `completion_logprobs` runs once for this batch: `shared_prompt_length`,
    or 0 under gradient checkpointing, which runs without a cache (transformers turns it off)."""
    decoder = _decoder_and_head(model)[0]
    if getattr(decoder, "gradient_checkpointing", False) and decoder.training:
        return 0
    return shared_prompt_length(prompt_ids, positions)


def _hidden_states(decoder, rows: list[list[int]], shared: int, pad_id: int, device) -> torch.Tensor:
    """The decoder's last hidden states [B, W - shared] of right-padded `rows` from position `shared`
    on. Their first `shared` tokens, the same in every row, run once, as one row; the rows go on
    from its keys and values (repeated per row, so each row's gradient flows back into it)."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width - shared), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, : len(r) - shared] = torch.tensor(r[shared:])
    if not shared:  # the pads' own hidden states are computed but never read
        return decoder(input_ids=input_ids.to(device)).last_hidden_state
    cache, cache_arg = DynamicCache(), cache_kwarg(decoder)
    decoder(input_ids=torch.tensor([rows[0][:shared]], device=device), use_cache=True, **{cache_arg: cache})
    cache.batch_repeat_interleave(len(rows))
    return decoder(input_ids=input_ids.to(device), use_cache=True, **{cache_arg: cache}).last_hidden_state


def completion_logprobs(model, prompt_ids: list[list[int]], completion_ids: list[list[int]],
                        temperature: float = 1.0, pad_id: int = 0,
                        share_prompts: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Token logprobs [B, T] of each completion given its prompt, and the mask [B, T] of real tokens.

    Rows are right padded, so positions are plain 0..L-1 as in left-padded generation with
    position ids derived from the attention mask. With right padding no real token has a pad token
    before it, so causal attention alone keeps pads out of every position that is scored: no padding
    mask is passed, and attention takes its causal path, which skips the blocks above the diagonal.
    That is no faster at comas lengths (`bench/learner.py --part mask`: 0.99x on rows of 160-480
    tokens) and faster on long rows (attention forward + backward on 2 rows of 800 tokens: 36 ms
    instead of 50 ms on 2 cores).

    With `share_prompts`, the leading prompt tokens that every row has in common (a chat template,
    a role's instructions, one game's history so far) run once and the rows go on from their keys
    and values (`_hidden_states`): the same values and gradients, up to rounding, for fewer positions.
    """
    decoder, head = _decoder_and_head(model)
    device = head.weight.device
    rows = [p + c for p, c in zip(prompt_ids, completion_ids)]
    shared = prompt_tokens_to_share(model, prompt_ids, sum(map(len, rows))) if share_prompts else 0
    hidden = _hidden_states(decoder, rows, shared, pad_id, device)

    t_max = max((len(c) for c in completion_ids), default=0)
    mask = torch.zeros((len(rows), t_max), dtype=torch.bool)
    index_b, index_t, targets = [], [], []
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        # the hidden state at position j predicts token j + 1
        index_b += [i] * len(c)
        index_t += list(range(len(p) - 1 - shared, len(p) - 1 - shared + len(c)))
        targets += c
        mask[i, : len(c)] = True
    logits = head(hidden[torch.tensor(index_b), torch.tensor(index_t)]).float() / temperature
    flat = token_logprobs(logits, torch.tensor(targets, device=device))
    out = torch.zeros((len(rows), t_max), dtype=flat.dtype, device=device)
    out[mask.to(device)] = flat
    return out, mask.to(device)
