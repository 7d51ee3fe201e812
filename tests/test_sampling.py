"""Pieces of coevo's sampling loop with answers worked by hand."""
import math

import torch

from coevo.models.sampling import _chunks, _draw


def test_draw_follows_the_probabilities_and_never_draws_a_zero():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2, 0.0])
    logp = torch.log(probs).expand(20_000, -1)
    torch.manual_seed(0)
    counts = torch.bincount(_draw(logp), minlength=5).float() / 20_000
    assert counts[1] == counts[4] == 0
    # a binomial share of 20,000 draws has sd <= 0.0036: 0.015 is four of them
    assert torch.allclose(counts, probs, atol=0.015), counts


def test_draw_handles_a_certain_token_and_rows_of_their_own():
    logp = torch.log_softmax(torch.tensor([[0.0, -math.inf, -math.inf], [-math.inf, -math.inf, 5.0]]), -1)
    torch.manual_seed(1)
    assert _draw(logp).tolist() == [0, 2]


def test_prefill_chunks_keep_padded_size_within_budget():
    # sorted lengths; a chunk grows while (rows + 1) * longest <= budget
    assert _chunks([5, 10, 10, 20, 40], 40) == [[0, 1, 2], [3], [4]]
    assert _chunks([5, 10, 10, 20, 40], 80) == [[0, 1, 2, 3], [4]]
    assert _chunks([100], 40) == [[0]]  # a prompt longer than the budget is a chunk of its own
