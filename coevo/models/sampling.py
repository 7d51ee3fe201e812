"""coevo's sampling loop: a batch of rows, each with its own adapter, token limit and stop strings.

transformers' `generate` pads every prompt to the longest, keeps every row in the batch until the
longest one ends and copies the whole KV cache at every step (it grows by concatenation). In a game
tick, where prompts range from a short question to a question plus a solution plus a critique and
turns from an 8-token score to a 96-token solution, most of that work is waste. This loop
- prefills the prompts sorted by length, in chunks of similar length (little padding), and computes
  the LM head only at each row's last position;
- prefills once the leading tokens that all prompts of one adapter have in common (the chat
  template's system prompt, a role's instructions, a game's rules), and each of those prompts only
  from there on; given a `PromptCache` (a rollout keeps one while it plays), a prompt that starts
  like an earlier prompt of its agent (the same game one turn later) starts from that one's keys
  and values;
- decodes all rows together from one KV buffer written in place (it grows by `GROW` columns when
  full), instead of a cache re-concatenated at every step, and a Llama-family model's step in
  plain ops (`llama_decode.py`: transformers' arithmetic without its Python around it);
- drops finished rows (eos, their own `max_new`, a stop string) from the running batch, and the left
  padding columns no remaining row needs, once a quarter of the batch is done: moving the cache
  costs about one decoding step of the rows kept, so it is not done for every row that ends;
- draws each row's tokens from its own seed (`uniform`), whatever else is in the batch;
- samples at `temperature` and records the logprob of every sampled token under the distribution
  it was sampled from (what the learner's importance ratio needs). Greedy decoding takes the argmax;
  its logprobs are those at temperature 1.
"""
from __future__ import annotations

import inspect
import random
from collections.abc import Callable

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from coevo.models.llama_decode import PlainDecoder
from coevo.models.prompt_cache import PromptCache

# Padded tokens in one prefill forward, by device type. A GPU wants large matmuls. On a CPU,
# 1,024-token chunks prefill SmolLM2 1.31-1.42x faster than 4,096-token ones (bench/prefill.py, 12
# and 36 rows; 512 is within 5% of 1,024), probably because a chunk's activations then stay in cache
# (an MLP intermediate is tokens x 1,536 floats: 6 MB at 1,024 tokens, 25 MB at 4,096; not measured).
PREFILL_TOKENS = {"cpu": 1024}
PREFILL_TOKENS_DEFAULT = 4096
GROW = 64  # KV buffer columns added when it is full
# Fewest common leading tokens a group of prompts prefills once (below it, the extra forward of the
# shared part costs about what it saves).
MIN_SHARED = 8


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


class BufferLayer(DynamicLayer):
    """A cache layer over preallocated key/value buffers [B, H, capacity, D]; `keys`/`values` are
    views of the filled columns, so the attention code reads them as usual."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        super().__init__()
        self.k_buf, self.v_buf, self.length = keys, values, length
        self.is_initialized = True
        self._views()

    def _views(self) -> None:
        self.keys, self.values = self.k_buf[:, :, :self.length], self.v_buf[:, :, :self.length]

    def update(self, key_states, value_states, *args, **kwargs):
        n = key_states.shape[-2]
        if self.length + n > self.k_buf.shape[2]:
            grow = max(GROW, n)
            self.k_buf = torch.cat([self.k_buf, self.k_buf.new_zeros(*self.k_buf.shape[:2], grow, self.k_buf.shape[3])], 2)
            self.v_buf = torch.cat([self.v_buf, self.v_buf.new_zeros(*self.v_buf.shape[:2], grow, self.v_buf.shape[3])], 2)
        self.k_buf[:, :, self.length:self.length + n] = key_states
        self.v_buf[:, :, self.length:self.length + n] = value_states
        self.length += n
        self._views()
        return self.keys, self.values

    def drop_last(self, n: int) -> None:
        """Forget the last `n` columns written; the next update writes over them."""
        self.length -= n
        self._views()

    def keep(self, index: torch.Tensor, first_col: int) -> None:
        """Keep rows `index`, from column `first_col` on (one copy of what is kept)."""
        self.k_buf = self.k_buf[index, :, first_col:]
        self.v_buf = self.v_buf[index, :, first_col:]
        self.length -= first_col
        self._views()


def cache_kwarg(model) -> str:
    """transformers 5.24 renamed the forward argument `past_key_values` to `cache`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _left_pad(rows: list[list[int]], width: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    return ids, mask


def _chunks(lengths: list[int], budget: int) -> list[list[int]]:
    """Consecutive runs of rows (already sorted by length) whose padded size stays within `budget`."""
    out: list[list[int]] = []
    for j, length in enumerate(lengths):
        if out and (len(out[-1]) + 1) * max(length, lengths[out[-1][0]]) <= budget:
            out[-1].append(j)
        else:
            out.append([j])
    return out


def shared_prefix_lengths(prompts: list[list[int]], keys: list) -> list[int]:
    """For each prompt, how many of its leading tokens all prompts of its key have in common (0
    where that is fewer than `MIN_SHARED`, or the key has one prompt). At least one token of each
    prompt is left to its own forward, whose last position gives the row's first logits."""
    by_key: dict = {}
    for j, k in enumerate(keys):
        by_key.setdefault(k, []).append(j)
    out = [0] * len(prompts)
    for members in by_key.values():
        group = [prompts[j] for j in members]
        first, limit, n = group[0], min(len(p) for p in group) - 1, 0
        while n < limit and all(p[n] == first[n] for p in group):
            n += 1
        if len(group) > 1 and n >= MIN_SHARED:
            for j in members:
                out[j] = n
    return out


def _shared_cache(model, prompts, shared, keys, pad_id, device, use_rows, cache_arg):
    """The keys and values of every key's shared prefix, run once as one batch (a row per key, on
    that key's first prompt): {row j: (layers of (k, v) [H, n, D]), for every j with shared[j] = n > 0}."""
    first: dict = {}
    for j, (n, k) in enumerate(zip(shared, keys or [])):
        if n:
            first.setdefault(k, j)
    if not first:
        return {}
    reps = list(first.values())
    if use_rows is not None:
        use_rows(reps)
    width = max(shared[j] for j in reps)
    ids, mask = _left_pad([prompts[j][:shared[j]] for j in reps], width, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    cache = DynamicCache()
    model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=True,
          logits_to_keep=_last_position(ids), **{cache_arg: cache})
    slot = {keys[j]: r for r, j in enumerate(reps)}
    return {j: [(layer.keys[slot[keys[j]], :, width - n:], layer.values[slot[keys[j]], :, width - n:])
                for layer in cache.layers]
            for j, n in enumerate(shared) if n}


def _last_position(ids: torch.Tensor) -> torch.Tensor:
    """`logits_to_keep` for the last position only, as an index tensor rather than the int 1: an int
    keeps a strided view of the hidden states, which the LM head then runs as a batched matmul
    against the weight expanded per row; in bfloat16 on CPU that copies the whole 49,152 x 576
    weight once per row (1.45 of 4.1 s of a 16-row generate). An index tensor gathers a contiguous
    [rows, 1, hidden] and the head is one plain matmul."""
    return torch.tensor([ids.shape[1] - 1], device=ids.device)


def _prefix_layers(prefixes: dict, chunk: list[int], shared: list[int], n_cached: int, own_width: int):
    """Cache layers for a chunk whose rows start from their shared prefixes: buffers of n_cached +
    own_width columns, row r's prefix in the n_cached columns' right end, filled up to n_cached;
    and the mask [rows, n_cached] of those columns."""
    cached = torch.zeros(len(chunk), n_cached, dtype=torch.long)
    for r, j in enumerate(chunk):
        cached[r, n_cached - shared[j]:] = 1
    layers = []
    for layer, (k0, v0) in enumerate(next(iter(prefixes.values()))):
        k = k0.new_zeros(len(chunk), k0.shape[0], n_cached + own_width, k0.shape[2])
        v = v0.new_zeros(len(chunk), v0.shape[0], n_cached + own_width, v0.shape[2])
        for r, j in enumerate(chunk):
            if shared[j]:
                k[r, :, n_cached - shared[j]:n_cached], v[r, :, n_cached - shared[j]:n_cached] = prefixes[j][layer]
        layers.append(BufferLayer(k, v, n_cached))
    return layers, cached


def _prefill(model, prompts: list[list[int]], shared: list[int], prefixes: dict, pad_id: int, device,
             headroom: int, use_rows, cache_arg: str, keep: Callable | None = None):
    """Run every prompt once; returns the last-position logits [B, V], a cache holding all rows
    right-aligned in buffers of width `width` + headroom, and the attention mask [B, width].

    Prompt j's first `shared[j]` tokens already have keys and values, `prefixes[j]` (the prefix
    its key's prompts have in common, `_shared_cache`, or a kept earlier prompt's): the prompt's
    chunk starts from them. The prompts come sorted by the length of what is left, so a chunk pads
    little. A row's columns are then [left padding | its prefix | padding | its own tokens]; with
    no prefix, [left padding | prompt], and `width` is the longest prompt. `keep(j, layers)` is
    given each prompt's whole keys and values (a `PromptCache` keeps them for later calls)."""
    budget = PREFILL_TOKENS.get(torch.device(device).type, PREFILL_TOKENS_DEFAULT)
    chunks = _chunks([len(p) - n for p, n in zip(prompts, shared)], budget)
    # a chunk's columns: the longest shared prefix in it, then its longest own part
    spans = [(max(shared[j] for j in c), max(len(prompts[j]) - shared[j] for j in c)) for c in chunks]
    width = max(a + b for a, b in spans)
    logits, buffers = [], None
    attention = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
    for chunk, (n_cached, own_width) in zip(chunks, spans):
        if use_rows is not None:
            use_rows(chunk)
        ids, mask = _left_pad([prompts[j][shared[j]:] for j in chunk], own_width, pad_id)
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0) + torch.tensor([[shared[j]] for j in chunk], device=device)
        cache = DynamicCache()
        if n_cached:  # start from each row's shared prefix, right-aligned in the first n_cached columns
            cache.layers, cached = _prefix_layers(prefixes, chunk, shared, n_cached, own_width)
            mask = torch.cat([cached.to(mask), mask], 1)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                    logits_to_keep=_last_position(ids), **{cache_arg: cache})
        logits.append(out.logits[:, -1])
        if keep is not None:  # row r: its prefix at the n_cached columns' right end, its own tokens last
            for r, j in enumerate(chunk):
                own = len(prompts[j]) - shared[j]
                keep(j, [tuple(torch.cat([t[r, :, n_cached - shared[j]:n_cached], t[r, :, t.shape[2] - own:]], 1)
                               for t in (layer.keys, layer.values)) for layer in cache.layers])
        if buffers is None:  # shapes from the first chunk; every row of the batch gets a slot
            buffers = [tuple(t.new_zeros(len(prompts), t.shape[1], width + headroom, t.shape[3])
                             for t in (layer.keys, layer.values)) for layer in cache.layers]
        # right-align the chunk: its left padding grows to `width`; its own cache is dropped here
        rows, cols = slice(chunk[0], chunk[-1] + 1), slice(width - mask.shape[1], width)
        attention[rows, cols] = mask
        for (k_buf, v_buf), layer in zip(buffers, cache.layers):
            k_buf[rows, :, cols] = layer.keys
            v_buf[rows, :, cols] = layer.values
    cache = DynamicCache()
    cache.layers = [BufferLayer(k_buf, v_buf, width) for k_buf, v_buf in buffers]
    return torch.cat(logits), cache, attention


MASK64 = (1 << 64) - 1


def uniform(seed: int, step: int) -> float:
    """A number in [0, 1) that depends on (seed, step) alone: the splitmix64 output for the state
    seed + (step + 1) * golden ratio (plain integer arithmetic, the same on every machine). Row i's
    draw at its step t is uniform(seeds[i], t), so what a row samples does not depend on the other
    rows of its batch: a game whose history is unchanged replays exactly, even when the games
    beside it changed (common random numbers for before/after comparisons)."""
    x = (seed + (step + 1) * 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    x ^= x >> 31
    return (x >> 11) / 2**53


def stable_seed(*key) -> int:
    """A row seed named by its key (e.g. game seed, seat, turn), the same in every process."""
    return random.Random("/".join(map(str, key))).getrandbits(63)


def row_seeds(seeds: list[int] | None, n: int) -> list[int]:
    """The caller's row seeds, or n drawn from torch's global RNG (seeded by the caller)."""
    if seeds is None:
        return torch.randint(0, 2**62, (n,)).tolist()
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} rows")
    return list(seeds)


def _draw(logp: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One token per row from softmax probabilities, by inverse CDF at the row's uniform number
    `u` [B] (torch.multinomial draws an exponential per vocabulary entry, 6% of a comas rollout)."""
    cdf = logp.double().exp().cumsum(-1)  # float32 sums over 49k entries misdraw the tail
    u = u.to(device=cdf.device, dtype=cdf.dtype)[:, None] * cdf[:, -1:]
    # right=True: a token of probability 0 (its cdf equals its predecessor's) is never drawn
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp(max=cdf.shape[1] - 1)


@torch.no_grad()
def sample(model, prompts: list[list[int]], max_new: list[int], *, temperature: float, greedy: bool,
           eos_id: int | list[int], pad_id: int, stop: StopStrings | None = None,
           use_rows: Callable[[list[int]], None] | None = None,
           seeds: list[int] | None = None, share: list | None = None,
           cache: PromptCache | None = None) -> tuple[list[list[int]], list[list[float]]]:
    """New token ids and their logprobs for every prompt. Before each forward, `use_rows(rows)` is
    told which prompts (indices into `prompts`) the batch rows are, in order (the LoRA router
    follows it). Prompt i's token t is drawn with `uniform(seeds[i], t)` (seeds: one per prompt,
    needed unless greedy). A row ends at any of the `eos_id` tokens (kept as its last token).
    Prompts with equal `share` keys (e.g. their agent: one adapter gives equal tokens equal keys
    and values) prefill their common leading tokens once; None: no sharing. With a `cache` (and
    `share`), a prompt that starts like one kept there under its key prefills only the rest, and
    every prompt is kept for later calls."""
    device = model.get_output_embeddings().weight.device
    n = len(prompts)
    if not greedy and (seeds is None or len(seeds) != n):
        raise ValueError(f"sampling needs one seed per prompt ({n}), got {None if seeds is None else len(seeds)}")
    ids_out: list[list[int]] = [[] for _ in range(n)]
    lp_out: list[list[float]] = [[] for _ in range(n)]
    # the running batch: original prompt index of each row
    rows = [i for i in range(n) if max_new[i] > 0]
    if not rows:
        return ids_out, lp_out
    keys = None if share is None else [share[i] for i in rows]
    shared = [0] * len(rows) if keys is None else shared_prefix_lengths([prompts[i] for i in rows], keys)
    kept = {}  # row j -> (tokens, entry): the kept earlier prompt it starts from, where that beats `shared`
    if cache is not None and keys is not None:
        for j, i in enumerate(rows):
            n, entry = cache.lookup(keys[j], prompts[i])
            if n >= MIN_SHARED and n > shared[j]:
                kept[j] = (n, entry)
        cache.reused_tokens += sum(n for n, _ in kept.values())
    # the running batch, sorted by the length of what each prompt prefills of its own
    start = [kept[j][0] if j in kept else n for j, n in enumerate(shared)]
    order = sorted(range(len(rows)), key=lambda j: len(prompts[rows[j]]) - start[j])
    kept = {new: kept[old] for new, old in enumerate(order) if old in kept}
    rows, shared, start = [rows[j] for j in order], [shared[j] for j in order], [start[j] for j in order]
    keys = None if keys is None else [keys[j] for j in order]
    cache_arg = cache_kwarg(model)
    decode = PlainDecoder(model, cache_arg)
    chunk_rows = None if use_rows is None else (lambda js: use_rows([rows[j] for j in js]))
    sorted_prompts = [prompts[i] for i in rows]
    prefixes = _shared_cache(model, sorted_prompts, [0 if j in kept else n for j, n in enumerate(shared)], keys,
                             pad_id, device, chunk_rows, cache_arg)
    prefixes.update({j: [(k[:, :n], v[:, :n]) for k, v in entry.layers] for j, (n, entry) in kept.items()})
    keep_kv = None
    if cache is not None and keys is not None:
        keep_kv = lambda j, layers: cache.keep(keys[j], sorted_prompts[j], layers,  # noqa: E731
                                            replaces=kept[j][1] if j in kept else None)
    logits, kv, attention = _prefill(model, sorted_prompts, start, prefixes, pad_id, device,
                                     min(max(max_new), GROW), chunk_rows, cache_arg, keep_kv)
    if use_rows is not None:
        use_rows(rows)
    positions = attention.sum(-1, keepdim=True) - 1
    finished = [False] * len(rows)
    inv_t = 1.0 if greedy else 1.0 / temperature
    eos_ids = {eos_id} if isinstance(eos_id, int) else set(eos_id)
    while True:
        logp = torch.log_softmax(logits.float() * inv_t, dim=-1)
        if greedy:
            token = logp.argmax(-1)
        else:
            token = _draw(logp, torch.tensor([uniform(seeds[i], len(ids_out[i])) for i in rows], dtype=torch.float64))
        chosen = logp.gather(1, token[:, None]).squeeze(1)
        for j, (i, t, lp) in enumerate(zip(rows, token.tolist(), chosen.tolist())):
            if finished[j]:
                continue  # a finished row still in the batch: its tokens are thrown away
            ids_out[i].append(t)
            lp_out[i].append(lp)
            finished[j] = t in eos_ids or len(ids_out[i]) >= max_new[i] or (stop is not None and stop(i, ids_out[i]))
        n_done = sum(finished)
        if n_done == len(rows):
            return ids_out, lp_out
        positions = positions + 1
        if 4 * n_done >= len(rows):
            keep = [j for j, f in enumerate(finished) if not f]
            index = torch.tensor(keep, dtype=torch.long, device=device)
            attention, token, positions = attention[index], token[index], positions[index]
            # columns that were left padding for every remaining row are never attended to again
            first_col = int(attention.any(0).nonzero()[0])
            attention = attention[:, first_col:]
            for layer in kv.layers:
                layer.keep(index, first_col)
            rows, finished = [rows[j] for j in keep], [False] * len(keep)
            if use_rows is not None:
                use_rows(rows)
        attention = torch.cat([attention, attention.new_ones(len(rows), 1)], dim=1)
        logits = decode(token, attention, positions, kv)
