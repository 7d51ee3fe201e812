"""What the learner's length-sorted micro-batching may not change: the update it computes.

Updates are compared under SGD: Adam's first step is lr * sign(gradient), which would hide a
gradient weighted wrongly across micro-batches; SGD's step is the gradient itself.
"""
import pytest
import torch

from coevo.learners.learner import Learner, length_sorted_micro_batches, pad_fraction
from tests.test_learner import ALGO, MODEL_CFG, completion_logprob_list, ragged_turns

# (prompt, completion) lengths as ragged as a real iteration's, none equal in total
LENGTHS = [(5, 2), (30, 9), (8, 3), (26, 12), (12, 1), (3, 14)]
REWARDS = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
GROUPS = ["a", "a", "b", "b", "c", "c"]


def sgd_learner(path, micro_batch_size, sft_coef=0.0):
    algo = {**ALGO, "micro_batch_size": micro_batch_size, "advantage": "grpo", "max_grad_norm": 1e9,
            "sft_coef": sft_coef}
    learner = Learner("agent_0", path, MODEL_CFG, algo, temperature=1.0, seed=0)
    learner.optimizer = torch.optim.SGD(learner.params, lr=1.0)
    return learner


def adapters_close(a, b, atol=1e-6):
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


@pytest.mark.parametrize("sft_coef", [0.0, 0.15])
def test_micro_batch_size_does_not_change_the_update(tiny_model_path, sft_coef):
    # the loss is a token mean over the whole batch, whatever the micro-batches hold; spc's SFT
    # term (sft_coef > 0) a mean over the winners' tokens of the whole batch
    two, four = sgd_learner(tiny_model_path, 2, sft_coef), sgd_learner(tiny_model_path, 4, sft_coef)
    turns = ragged_turns(two, LENGTHS, REWARDS, GROUPS)
    start = two.adapter()
    m2, m4 = two.step(turns), four.step(turns)
    assert not adapters_close(start, two.adapter())  # it did move
    assert adapters_close(two.adapter(), four.adapter())
    assert m2["learner/agent_0/loss"] == pytest.approx(m4["learner/agent_0/loss"], abs=1e-6)


def test_advantages_follow_their_turns_through_the_sort(tiny_model_path):
    # the same turns in another order: the same micro-batches after sorting, the same update
    a, b = sgd_learner(tiny_model_path, 4), sgd_learner(tiny_model_path, 4)
    turns = ragged_turns(a, LENGTHS, REWARDS, GROUPS)
    a.step(turns)
    b.step(turns[::-1])
    assert adapters_close(a.adapter(), b.adapter())


def test_micro_batches_are_sorted_and_deterministic():
    lengths = [10, 100, 12, 98, 50, 100]
    # longest first; the two 100s keep their arrival order
    assert length_sorted_micro_batches(lengths, 2) == [[1, 5], [3, 4], [2, 0]]
    assert length_sorted_micro_batches(lengths, 4) == [[1, 5, 3, 4], [2, 0]]
    assert length_sorted_micro_batches([], 4) == []


def test_pad_fraction_hand_values():
    lengths = [10, 100, 12, 98]
    # arrival order [10, 100] [12, 98]: 2 * 100 + 2 * 98 = 396 positions for 220 real ones
    assert pad_fraction(lengths, [[0, 1], [2, 3]]) == pytest.approx(1 - 220 / 396)
    # sorted [100, 98] [12, 10]: 2 * 100 + 2 * 12 = 224 positions
    assert pad_fraction(lengths, length_sorted_micro_batches(lengths, 2)) == pytest.approx(1 - 220 / 224)
    assert pad_fraction([5, 5], [[0, 1]]) == 0.0


def test_learner_reports_the_pad_fraction_of_its_sorted_micro_batches(tiny_model_path):
    learner = sgd_learner(tiny_model_path, 2)
    # totals 10, 100, 12, 98 in arrival order: the hand values above
    turns = ragged_turns(learner, [(8, 2), (90, 10), (9, 3), (90, 8)], [1.0, 0.0, 1.0, 0.0])
    assert learner.step(turns)["learner/agent_0/pad_frac"] == pytest.approx(1 - 220 / 224)


def test_learner_reports_the_positions_its_micro_batches_share(tiny_model_path):
    learner = sgd_learner(tiny_model_path, 2)
    turns = ragged_turns(learner, [(8, 2), (190, 10), (9, 3), (190, 8)], [1.0, 0.0, 1.0, 0.0])
    turns[3].prompt_ids[:150] = turns[1].prompt_ids[:150]  # the long pair [200, 198] starts alike
    turns[3].logprobs = completion_logprob_list(learner, turns[3])
    # 150 of the pair's 398 positions run once (a quarter or more, and 128 or more: shared); the
    # short pair shares nothing
    assert learner.step(turns)["learner/agent_0/shared_frac"] == pytest.approx(150 / 420)
