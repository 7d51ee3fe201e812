"""A tiny random-weight causal LM with its own tokenizer, built offline in about a second.

Tests and quick smoke runs use it instead of a real model: it has the same shape of interface as
SmolLM2-135M-Instruct (Llama architecture, byte-level BPE tokenizer, the same ChatML chat template,
`<|im_end|>` as eos, a pad distinct from eos, even the same ids 0/1/2 for pad/bos/eos), so every code
path that runs with the real model runs with this one. Its outputs are noise; it is for plumbing.
"""

from __future__ import annotations

from pathlib import Path

from coevo.models.smollm2 import SMOLLM2_CHAT_TEMPLATE

# Order fixes the ids: pad=0, bos=1, eos=2, as in the converted SmolLM2.
PAD_TOKEN = "<|pad|>"
BOS_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN]
TARGET_VOCAB_SIZE = 768
MAX_POSITIONS = 2048

# Text of the kind the games produce, so common words and tags become single tokens.
_CORPUS_TEXT = """\
You are a helpful AI assistant named SmolLM, trained by Hugging Face.
system user assistant
Solve the following math problem step by step. Put the final answer after ####.
Question: Tom has 3 apples and buys 4 more. How many apples does Tom have now?
Answer: Tom has 3 + 4 = 7 apples. #### 7
Problem: What is 12 times 8? Answer with just the number.
Solution: 12 * 8 = 96. The answer is 96.
Critique: The solution is correct. Every step follows from the previous one.
Critique: The solution is wrong. The second step adds instead of multiplies.
<Answer>Correct</Answer> <Answer>Incorrect</Answer>
<score>1</score> <score>0</score>
<answer>42</answer> <think>Let me think about this.</think>
Score the solution from 0 to 10. The score is 7.
The student made a mistake in the calculation, so the final answer is incorrect.
The teacher explains: first add the numbers, then divide the total by the count.
A shop sells pens for 2 dollars each. Sara buys 5 pens. How much does she pay?
She pays 5 * 2 = 10 dollars. #### 10
A train travels 60 miles per hour for 3 hours. How far does it go? 60 * 3 = 180 miles.
Debate: I agree with the other agent. I disagree, because the sum is 15, not 16.
Final answer: 15. Therefore the result is 15. Hence, the total is 20 minutes.
Is the answer correct? Yes. No. True. False. Verify the proof and check each step.
plus minus times divided by equals sum difference product quotient remainder half twice
first second third next then finally because so therefore total each more less
"""
_OPERATORS = ["+", "-", "*", "/", "="]


def _training_lines() -> list[str]:
    """The embedded corpus plus numbers and equations generated in a fixed order."""
    lines = _CORPUS_TEXT.splitlines()
    lines += [" ".join(str(n) for n in range(start, start + 20)) for start in range(0, 1000, 20)]
    for a in range(0, 100, 7):
        for b in range(1, 30, 3):
            op = _OPERATORS[(a + b) % 4]
            value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
            lines.append(f"{a} {op} {b} = {value}. #### {value}")
    return lines


def build_tokenizer():
    """A byte-level BPE tokenizer trained on the embedded corpus, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    # Byte-level: every byte has a token, so any text (unicode, newlines) round-trips exactly.
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TARGET_VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_training_lines(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=SMOLLM2_CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )


def build_tiny(target: Path, seed: int = 0, hidden_size: int = 64, num_layers: int = 2) -> Path:
    """Build the tiny model and tokenizer into `target` (created if missing); returns `target`.

    The same seed gives byte-identical weight files; the global torch RNG is left untouched.
    `tiny-wide` (hidden 96, 3 layers, seed 1) is a second, different base for mixed populations.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    target = Path(target)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)  # transformers 5 always writes safetensors
    tokenizer.save_pretrained(target)
    return target


def build_tiny_wide(target: Path) -> Path:
    return build_tiny(target, seed=1, hidden_size=96, num_layers=3)
