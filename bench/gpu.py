"""GPU throughput at real model sizes: random-weight models of Qwen2.5-0.5B and 1.5B shape, bf16.

    python bench/gpu.py [--sizes 0.5b 1.5b] [--batches 1 8 32 64] [--new-tokens 128] [--peak-tflops 989]
    python bench/gpu.py --smoke     # a tiny shape on CPU in seconds (tests/test_bench_gpu.py runs it)

The models are built from their published shapes (MODELS below, from each model's config.json)
with random weights and saved to a temporary folder: nothing is downloaded. Prompts are random
token ids (the tiny tokenizer goes with the folder; nothing is decoded). Lines, per size:
- generation: coevo's sampling loop with stacked LoRA adapters (r=16), 1 and 4 adapters with the
  rows spread over them, by batch size; every row makes exactly `--new-tokens` tokens (no eos);
- learner: one `Learner.step` (PPO, LoRA r=16, micro-batch 8, bf16 autocast on CUDA) on 32 turns of
  256 prompt + 128 completion tokens;
- MFU: model FLOPs / (seconds x peak). A generated token costs 2 x params (one forward); a learner
  token 4 x params (forward and the backward through the activations; the frozen base has no
  weight gradient; LoRA's own FLOPs are under 1% and not counted). `--peak-tflops` is the GPU's
  dense bf16 peak (H100/H200 SXM: 989).
Prints one table, a row at a time; paste it into docs/performance.md with the commit and the machine.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

MODELS = {  # published shapes (config.json); only the shapes matter
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "smoke": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=768, tie_word_embeddings=True),
}
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}


def build(size: str, folder: Path, dtype: torch.dtype, device: str) -> tuple[str, int]:
    """A random model of `size`'s shape saved in `folder` with the tiny tokenizer; (path, params).
    Its weights are drawn on `device`: drawing 1.5B of them on the CPU would cost device minutes."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    from coevo.models.tiny import build_tokenizer

    config = Qwen2Config(**MODELS[size], max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
                         pad_token_id=0)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    del model
    return str(folder), params


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def generation(policies, device: str, batch: int, new_tokens: int) -> float:
    """Tokens/s of one batch: `batch` rows of 64 random prompt tokens, `new_tokens` each, the rows
    spread over the policies' adapters."""
    from coevo.models.sampling import sample

    agents = policies.lora.agents
    adapters = len(agents)
    vocab = policies.model.config.vocab_size
    gen = torch.Generator().manual_seed(batch)
    prompts = [torch.randint(3, vocab, (64,), generator=gen).tolist() for _ in range(batch)]
    rows = [agents[i % adapters] for i in range(batch)]

    def route(idx):
        policies.lora.set_rows([rows[i] for i in idx], policies.model.dtype, policies.device)

    def once() -> float:
        sync(device)
        t0 = time.perf_counter()
        out, _ = sample(policies.model, prompts, [new_tokens] * batch, temperature=1.0, greedy=False,
                        eos_id=-1, pad_id=0, use_rows=route, seeds=list(range(batch)))  # eos -1: no row stops early
        sync(device)
        return sum(len(o) for o in out) / (time.perf_counter() - t0)

    once()  # warm-up: kernels, allocator
    return once()


def learner(path: str, device: str, dtype: str, turns: int, prompt: int, completion: int) -> float:
    """Learner tokens/s (prompt + completion) of one PPO step."""
    from coevo.config import AlgoConfig
    from coevo.episode import Turn
    from coevo.learners.learner import Learner

    model_cfg = {"device": device, "autocast": device == "cuda", "learner_dtype": "float32" if device == "cpu" else dtype,
                 "lora": LORA, "gradient_checkpointing": device == "cuda"}
    algo = {**AlgoConfig().model_dump(), "micro_batch_size": 8}
    step = Learner("agent_0", path, model_cfg, algo, temperature=1.0, seed=0)
    vocab = step.model.get_base_model().config.vocab_size
    gen = torch.Generator().manual_seed(0)
    batch = []
    for i in range(turns):
        ids = torch.randint(3, vocab, (prompt + completion,), generator=gen).tolist()
        batch.append(Turn("agent_0", "solver_0", "", "", ids[:prompt], ids[prompt:], [-5.0] * completion,
                          reward=float(i % 2), group="g"))
    step.step(batch[:8])  # warm-up
    sync(device)
    t0 = time.perf_counter()
    step.step(batch)
    sync(device)
    return turns * (prompt + completion) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["0.5b", "1.5b"], choices=sorted(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32, 64])
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--smoke", action="store_true", help="the tiny shape on CPU, float32, 2 batches of 4 tokens")
    args = ap.parse_args(argv)
    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA device (or --smoke for the CPU check)")
    dtype = "float32" if args.smoke else "bfloat16"
    sizes, batches = (["smoke"], [1, 4]) if args.smoke else (args.sizes, args.batches)
    new_tokens, prompt, completion, turns = (4, 16, 8, 8) if args.smoke else (args.new_tokens, 256, 128, 32)
    from coevo.models.hf import HFPolicies

    what = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    lines: list[str] = []

    def emit(line: str) -> None:  # each row as it is measured: a run stopped at its time limit keeps them
        lines.append(line)
        print(line, flush=True)

    for line in (f"device: {what}, {dtype}, LoRA r={LORA['r']}, peak {args.peak_tflops:g} TFLOPs", "",
                 "| model | params | what | batch | adapters | tokens/s | MFU |", "|---|---|---|---|---|---|---|"):
        emit(line)
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            path, params = build(size, Path(folder), getattr(torch, dtype), device)
            for adapters in (1, 4):
                policies = HFPolicies(path, [f"agent_{i}" for i in range(adapters)], LORA, dtype=dtype, device=device)
                for batch in batches:
                    tps = generation(policies, device, batch, new_tokens)
                    mfu = tps * 2 * params / (args.peak_tflops * 1e12)
                    emit(f"| {size} | {params / 1e9:.2f} B | generate | {batch} | {adapters} | {tps:.0f} | {mfu:.2%} |")
                del policies
                if device == "cuda":
                    torch.cuda.empty_cache()
            tps = learner(path, device, dtype, turns, prompt, completion)
            mfu = tps * 4 * params / (args.peak_tflops * 1e12)
            emit(f"| {size} | {params / 1e9:.2f} B | learner step ({turns} x ({prompt} + {completion}) tokens) "
                 f"| 8 | 1 | {tps:.0f} | {mfu:.2%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
