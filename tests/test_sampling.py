"""Pieces of coevo's sampling loop with answers worked by hand."""
import math

import pytest
import torch

from coevo.models.sampling import _chunks, _draw, row_seeds, stable_seed, uniform


def test_draw_follows_the_probabilities_and_never_draws_a_zero():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2, 0.0])
    logp = torch.log(probs).expand(20_000, -1)
    u = torch.tensor([uniform(7, t) for t in range(20_000)], dtype=torch.float64)
    counts = torch.bincount(_draw(logp, u), minlength=5).float() / 20_000
    assert counts[1] == counts[4] == 0
    # a binomial share of 20,000 draws has sd <= 0.0036: 0.015 is four of them
    assert torch.allclose(counts, probs, atol=0.015), counts
    # by hand: cdf [0.5, 0.5, 0.8, 1.0, 1.0]; just past 0.5 is token 2, never the zero-probability 1
    at = torch.tensor([0.0, 0.49, 0.51, 0.79, 0.81, 0.999], dtype=torch.float64)
    assert _draw(torch.log(probs).expand(6, -1), at).tolist() == [0, 0, 2, 2, 3, 3]


def test_draw_handles_a_certain_token_and_rows_of_their_own():
    logp = torch.log_softmax(torch.tensor([[0.0, -math.inf, -math.inf], [-math.inf, -math.inf, 5.0]]), -1)
    assert _draw(logp, torch.tensor([0.9, 0.1], dtype=torch.float64)).tolist() == [0, 2]


def test_uniform_is_splitmix64_of_seed_and_step():
    # splitmix64's first output from state 0 is 0xE220A8397B1DCDAF (its reference implementation);
    # uniform keeps its top 53 bits
    assert uniform(0, 0) == (0xE220A8397B1DCDAF >> 11) / 2**53
    assert uniform(0, 1) != uniform(0, 0) != uniform(1, 0)
    xs = [uniform(3, t) for t in range(10_000)]
    assert 0 <= min(xs) and max(xs) < 1 and abs(sum(xs) / len(xs) - 0.5) < 0.01  # sd of the mean: 0.003


def test_row_seeds_are_named_or_drawn_from_the_callers_rng():
    assert stable_seed(12, "seller_0", 3) == stable_seed(12, "seller_0", 3) != stable_seed(12, "seller_0", 4)
    assert 0 <= stable_seed("x") < 2**63
    assert row_seeds([5, 6], 2) == [5, 6]
    torch.manual_seed(0)
    drawn = row_seeds(None, 3)
    torch.manual_seed(0)
    assert row_seeds(None, 3) == drawn and len(set(drawn)) == 3
    with pytest.raises(ValueError, match="1 seeds for 2 rows"):
        row_seeds([5], 2)


def test_prefill_chunks_keep_padded_size_within_budget():
    # sorted lengths; a chunk grows while (rows + 1) * longest <= budget
    assert _chunks([5, 10, 10, 20, 40], 40) == [[0, 1, 2], [3], [4]]
    assert _chunks([5, 10, 10, 20, 40], 80) == [[0, 1, 2, 3], [4]]
    assert _chunks([100], 40) == [[0]]  # a prompt longer than the budget is a chunk of its own


def test_shared_prefix_lengths_by_hand():
    from coevo.models.sampling import MIN_SHARED, shared_prefix_lengths

    head = list(range(100, 100 + MIN_SHARED + 2))  # MIN_SHARED + 2 tokens every "a" prompt starts with
    prompts = [head + [1, 2], head + [1, 3, 4], head + [5], head + [1, 2], list(range(50))]
    keys = ["a", "a", "b", "b", "c"]
    # "a": common head + [1], all but the last token of the shorter; "b": the whole of [head + 5]
    # is common with [head + 1, 2] only up to the head; "c": a key of one prompt shares nothing
    assert shared_prefix_lengths(prompts, keys) == [len(head) + 1] * 2 + [len(head)] * 2 + [0]
    # identical prompts leave their last token to each row's own forward
    assert shared_prefix_lengths([head + [1], head + [1]], ["a", "a"]) == [len(head)] * 2
    # fewer than MIN_SHARED common tokens: not worth a forward of their own
    short = head[:MIN_SHARED - 1]
    assert shared_prefix_lengths([short + [1], short + [2]], ["a", "a"]) == [0, 0]
    # one key's prompts never share with another key's, however alike
    assert shared_prefix_lengths([head + [1], head + [2]], ["a", "b"]) == [0, 0]
