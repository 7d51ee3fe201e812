"""Keys and values of earlier prompts, for later prompts of the same agent that start the same way.

In a game of several turns an agent's next prompt repeats its previous one up to the end of the
history: the rules, the conversation so far, then the new messages and the ask. While a
`rollout.play` runs (`HFPolicies.keeping_prompts`; `RoutedPolicies` passes it on to each model),
every prompt's keys and values are kept here under its agent (the agent's adapter shapes them),
and a later prompt of that agent that starts with at least `MIN_SHARED` tokens of a kept one
prefills only the rest (`sampling.sample`).

Kept for one play only: adapters do not change inside one, and a resumed run replays it from an
empty cache, as the first run did. The entry a prompt started from is dropped when the prompt,
kept in its place, repeats most of it; past `max_bytes` the oldest entries go first.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

Layers = list[tuple[torch.Tensor, torch.Tensor]]  # per decoder layer: keys, values [heads, tokens, dim]


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """How many leading tokens `a` and `b` have in common (binary search on slice equality, which
    compares in C: a kept prompt and a new one share hundreds of tokens)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(eq=False)
class Entry:
    key: object
    tokens: list[int]
    layers: Layers

    @property
    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self.layers)


class PromptCache:
    def __init__(self, max_bytes: int = 2 << 30):
        self.max_bytes = max_bytes
        self.entries: list[Entry] = []  # oldest first
        self.nbytes = 0
        self.reused_tokens = 0  # prompt tokens started from kept keys and values instead of prefilled

    def clear(self) -> None:
        """Drop every entry (the weights that made them changed); the count of reused tokens stays."""
        self.entries, self.nbytes = [], 0

    def lookup(self, key, prompt: list[int]) -> tuple[int, Entry | None]:
        """The kept entry of `key` that shares the most leading tokens with `prompt`, and how many
        (at most len(prompt) - 1: the prompt's last token runs in its own forward for its logits)."""
        best, n_best = None, 0
        for entry in self.entries:
            if entry.key == key:
                n = common_prefix_length(entry.tokens, prompt)
                if n > n_best:
                    best, n_best = entry, n
        return min(n_best, len(prompt) - 1), best

    def keep(self, key, tokens: list[int], layers: Layers, replaces: Entry | None = None) -> None:
        # the entry this prompt started from is done with when the prompt repeats most of it (its
        # game moved on); one that only shares the rules with it stays for its own game
        if replaces is not None and replaces in self.entries and 2 * common_prefix_length(
                replaces.tokens, tokens) >= len(replaces.tokens):
            self._drop(replaces)
        entry = Entry(key, list(tokens), layers)
        self.entries.append(entry)
        self.nbytes += entry.nbytes
        while self.nbytes > self.max_bytes and self.entries:
            self._drop(self.entries[0])

    def _drop(self, entry: Entry) -> None:
        self.entries.remove(entry)
        self.nbytes -= entry.nbytes
