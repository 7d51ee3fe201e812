"""completion_logprobs scores each row of a ragged, right-padded batch as if it were alone.

It passes no padding mask (causal attention keeps the pads, which all come after a row's real
tokens, out of every scored position), so these tests are what shows that is safe: values and
gradients equal the unpadded row's, whatever token fills the padding.
"""
import torch

from coevo.learners.learner import Learner
from coevo.models.logprobs import completion_logprobs
from tests.test_learner import ALGO, MODEL_CFG

# (prompt, completion) lengths: the longest row is padded by nothing, the others by 4-27 tokens
LENGTHS = [(30, 9), (5, 2), (12, 1), (3, 14)]


def learner_with_a_live_adapter(path):
    """A peft model whose LoRA B is not zero, so the adapter path changes the logprobs."""
    learner = Learner("agent_0", path, MODEL_CFG, ALGO, temperature=1.0, seed=0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in learner.model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    return learner


def rows(learner):
    gen = torch.Generator().manual_seed(0)
    vocab = learner.model.get_base_model().config.vocab_size
    ids = [torch.randint(3, vocab, (p + c,), generator=gen).tolist() for p, c in LENGTHS]
    return [x[:p] for x, (p, _) in zip(ids, LENGTHS)], [x[p:] for x, (p, _) in zip(ids, LENGTHS)]


def lora_grad(learner):
    grad = torch.cat([p.grad.flatten() for p in learner.params])
    learner.model.zero_grad(set_to_none=True)
    return grad


def test_a_ragged_batch_scores_every_row_as_if_alone(tiny_model_path):
    learner = learner_with_a_live_adapter(tiny_model_path)
    prompts, completions = rows(learner)
    batch, mask = completion_logprobs(learner.model, prompts, completions, temperature=0.7, pad_id=0)
    assert mask.sum(1).tolist() == [c for _, c in LENGTHS]
    for i, (p, c) in enumerate(zip(prompts, completions)):
        alone, _ = completion_logprobs(learner.model, [p], [c], temperature=0.7, pad_id=0)
        torch.testing.assert_close(batch[i, :len(c)], alone[0], atol=1e-5, rtol=0)
        assert (batch[i, len(c):] == 0).all()  # past the row's end: nothing


def test_the_padding_token_changes_neither_values_nor_gradients(tiny_model_path):
    learner = learner_with_a_live_adapter(tiny_model_path)
    prompts, completions = rows(learner)
    results = []
    for pad_id in (0, 7):  # 7 is an ordinary token: were pads attended to, it would show
        logprobs, mask = completion_logprobs(learner.model, prompts, completions, temperature=1.0, pad_id=pad_id)
        logprobs[mask].sum().backward()
        results.append((logprobs.detach(), lora_grad(learner)))
    (values_0, grad_0), (values_7, grad_7) = results
    assert torch.equal(values_0, values_7)
    torch.testing.assert_close(grad_0, grad_7, atol=1e-6, rtol=1e-5)

    # and the batch's gradient is the sum of the rows' gradients taken one at a time
    alone = torch.zeros_like(grad_0)
    for p, c in zip(prompts, completions):
        logprobs, mask = completion_logprobs(learner.model, [p], [c], temperature=1.0, pad_id=0)
        logprobs[mask].sum().backward()
        alone += lora_grad(learner)
    assert grad_0.abs().max() > 0
    torch.testing.assert_close(grad_0, alone, atol=1e-5, rtol=1e-4)


# -- prompts that start alike: their common tokens run once ------------------------------------
def alike_rows(learner, common_tokens=150):
    """Four rows whose prompts share their first 150 tokens (one game's history, say), then go apart;
    one prompt is the shared part plus a single token."""
    gen = torch.Generator().manual_seed(2)
    vocab = learner.model.get_base_model().config.vocab_size
    common = torch.randint(3, vocab, (common_tokens,), generator=gen).tolist()
    tails = [(9, 5), (1, 3), (14, 1), (4, 8)]  # (prompt tokens after the common ones, completion tokens)
    prompts, completions = [], []
    for extra, c in tails:
        ids = torch.randint(3, vocab, (extra + c,), generator=gen).tolist()
        prompts.append(common + ids[:extra])
        completions.append(ids[extra:])
    return prompts, completions


def positions_run(learner, fn):
    """fn()'s result and the token positions the decoder's forwards ran."""
    decoder = learner.model.get_base_model().get_decoder()
    seen = []
    hook = decoder.register_forward_pre_hook(lambda m, a, k: seen.append(k["input_ids"].numel()), with_kwargs=True)
    try:
        return fn(), sum(seen)
    finally:
        hook.remove()


def test_a_common_prompt_start_runs_once_with_the_same_values_and_gradients(tiny_model_path):
    from coevo.models.logprobs import shared_prompt_length

    learner = learner_with_a_live_adapter(tiny_model_path)
    prompts, completions = alike_rows(learner)
    positions = sum(len(p) + len(c) for p, c in zip(prompts, completions))  # 645, 450 of them skipped
    assert shared_prompt_length(prompts, positions) == 150  # the row with one token past them caps nothing
    assert shared_prompt_length([p[:151] for p in prompts], 604) == 150  # each prompt's last token stays out
    assert shared_prompt_length(prompts, 4 * 450 + 1) == 0  # skipping less than a quarter does not pay
    few, _ = alike_rows(learner, common_tokens=42)  # 126 positions skipped: under MIN_SKIPPED
    assert shared_prompt_length(few, 200) == 0 and shared_prompt_length([p[:44] for p in few], 176) == 0
    results = []
    for share in (False, True):
        (logprobs, mask), positions = positions_run(learner, lambda: completion_logprobs(
            learner.model, prompts, completions, temperature=0.7, pad_id=0, share_prompts=share))
        (logprobs * mask).sum().backward()
        results.append((logprobs.detach(), lora_grad(learner), positions))
    (apart, grad_apart, run_apart), (shared, grad_shared, run_shared) = results
    width = max(len(p) + len(c) for p, c in zip(prompts, completions))
    assert run_apart == 4 * width and run_shared == 150 + 4 * (width - 150)
    torch.testing.assert_close(shared, apart, atol=1e-5, rtol=0)
    assert grad_apart.abs().max() > 0
    torch.testing.assert_close(grad_shared, grad_apart, atol=1e-5, rtol=1e-4)


def test_prompts_that_share_little_run_whole(tiny_model_path):
    from coevo.models.logprobs import shared_prompt_length

    learner = learner_with_a_live_adapter(tiny_model_path)
    prompts, completions = alike_rows(learner, common_tokens=42)  # 3 x 42 = 126 positions to skip: too few
    assert shared_prompt_length(prompts[:1], 50) == 0
    _, positions = positions_run(learner, lambda: completion_logprobs(learner.model, prompts, completions))
    assert positions == 4 * max(len(p) + len(c) for p, c in zip(prompts, completions))


def test_with_gradient_checkpointing_rows_run_whole(tiny_model_path):
    """transformers keeps no cache while it recomputes layers, so there is nothing to go on from."""
    learner = learner_with_a_live_adapter(tiny_model_path)
    learner.model.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    learner.model.train()
    prompts, completions = alike_rows(learner)
    (logprobs, mask), positions = positions_run(learner, lambda: completion_logprobs(learner.model, prompts, completions))
    (logprobs * mask).sum().backward()
    assert positions == 4 * max(len(p) + len(c) for p, c in zip(prompts, completions))
    assert lora_grad(learner).abs().max() > 0
