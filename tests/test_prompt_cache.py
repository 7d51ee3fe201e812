"""PromptCache (coevo/models/prompt_cache.py): which kept prompt a new prompt starts from, and what
is dropped. The sampling side (same completions and logprobs as prefilling whole, less work) is in
tests/test_shared_prefix.py."""
import torch

from coevo.models.prompt_cache import PromptCache, common_prefix_length


def layers(n: int, fill: float = 0.0):
    """Keys and values of n tokens for 2 layers, 2 heads x 4 dims in float32: 128 bytes a token."""
    return [(torch.full((2, n, 4), fill), torch.full((2, n, 4), fill)) for _ in range(2)]


def test_common_prefix_length_by_hand():
    assert common_prefix_length([1, 2, 3, 4], [1, 2, 5]) == 2
    assert common_prefix_length([1, 2, 3], [1, 2, 3]) == 3
    assert common_prefix_length([1, 2, 3], [1, 2, 3, 4, 5]) == 3
    assert common_prefix_length([7], [1, 2]) == 0
    assert common_prefix_length([], [1]) == 0
    long = list(range(1000))
    assert common_prefix_length(long, long[:637] + [-1] + long[638:]) == 637


def test_lookup_takes_the_longest_of_its_own_key_and_leaves_one_token():
    cache = PromptCache()
    cache.keep("a", [1, 2, 3, 4, 5, 6], layers(6))
    cache.keep("a", [1, 2, 3, 9, 9], layers(5))
    cache.keep("b", [1, 2, 3, 4, 5, 6, 7, 8], layers(8))
    n, entry = cache.lookup("a", [1, 2, 3, 4, 5, 0, 0])
    assert (n, entry.tokens) == (5, [1, 2, 3, 4, 5, 6])
    n, entry = cache.lookup("a", [1, 2, 3, 9, 9, 1])
    assert (n, entry.tokens) == (5, [1, 2, 3, 9, 9])
    # the whole prompt is kept: still one token is left for the prompt's own forward
    assert cache.lookup("a", [1, 2, 3, 4, 5, 6])[0] == 5
    assert cache.lookup("c", [1, 2, 3])[1] is None  # another key's entries are never used
    assert cache.lookup("a", [8, 1, 2])[0] == 0


def test_the_entry_a_prompt_continues_is_dropped_one_that_shares_the_rules_stays():
    cache = PromptCache()
    cache.keep("a", [1, 2, 3, 4, 5, 6, 7, 8], layers(8))  # game 1's prompt
    game1 = cache.entries[0]
    cache.keep("a", [1, 2, 30, 40, 50, 60, 70, 80], layers(8), replaces=game1)  # game 2: 2 of 8 in common
    assert game1 in cache.entries
    cache.keep("a", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], layers(10), replaces=game1)  # game 1 one turn later
    assert game1 not in cache.entries and len(cache.entries) == 2
    assert cache.nbytes == sum(e.nbytes for e in cache.entries) == (8 + 10) * 128
    cache.clear()
    assert cache.entries == [] and cache.nbytes == 0


def test_past_max_bytes_the_oldest_go_first():
    cache = PromptCache(max_bytes=20 * 128)  # room for 20 tokens of `layers`
    for i in range(3):
        cache.keep("a", [i] * 8, layers(8, fill=float(i)))
    assert [e.tokens[0] for e in cache.entries] == [1, 2] and cache.nbytes == 16 * 128
    cache.keep("a", [9] * 30, layers(30))  # larger than the budget alone: nothing is left
    assert cache.entries == [] and cache.nbytes == 0
