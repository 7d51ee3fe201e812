"""float32 vs bfloat16 on this CPU, side by side: generation tokens/s and a learner step.

    python bench/cpu_dtype.py [--model smollm2-135m]

Why `model.rollout_dtype=auto` and `model.autocast=auto` choose float32 on CPU: without native
bf16 instructions (AVX2-only machines) bf16 is slower, not faster, and a run has to reproduce to
the digit on every machine. On a CPU with AVX512-BF16 or AMX this bench shows whether the opt-in
(`model.rollout_dtype=bfloat16 model.autocast=true`) pays.

Generation: `--batch` short prompts, `--new-tokens` sampled, after one warm-up call. Learner: 12
turns of comas_v0's lengths (bench/learner.py `make_turns`: prompts of 150-400 tokens of real
text, completions of 8-96, the learner's own logprobs), one warm-up step, then the faster of 2
timed steps.
"""
import argparse
import time

import torch

from coevo.config import AlgoConfig
from coevo.learners.learner import Learner
from coevo.models.hf import HFPolicies
from coevo.models.store import resolve_model
from learner import TEMPERATURE, make_turns

LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
ALGO = AlgoConfig().model_dump()


def bf16_flags() -> str:
    """The CPU's native bf16 flags (Linux), e.g. 'avx512_bf16 amx_bf16'; 'none' if it has none."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    return " ".join(sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16"))) or "none"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(2)
    path = resolve_model(args.model)
    prompts = [f"Tom has {i} apples and buys {i + 2} more. How many apples does Tom have now?" for i in range(args.batch)]
    gen, step = {}, {}
    for dtype in ("float32", "bfloat16"):
        pol = HFPolicies(path, ["agent"], LORA, dtype=dtype, device="cpu")
        pol.generate(["agent"] * args.batch, prompts, max_new_tokens=4, temperature=0.8)  # warm-up
        torch.manual_seed(0)
        t0 = time.perf_counter()
        outs = pol.generate(["agent"] * args.batch, prompts, max_new_tokens=args.new_tokens, temperature=0.8)
        gen[dtype] = sum(len(o.completion_ids) for o in outs) / (time.perf_counter() - t0)
        learner = Learner("agent", path, {"device": "cpu", "autocast": dtype == "bfloat16", "learner_dtype": "float32",
                                      "lora": LORA}, ALGO, temperature=TEMPERATURE, seed=0)
        turns = make_turns(learner, pol.tokenizer, 12, seed=0, noise=0.0)  # the same token ids on both sides
        learner.step(turns)  # warm-up
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            learner.step(turns)
            times.append(time.perf_counter() - t0)
        step[dtype] = min(times)
        del pol, learner
        print(f"{dtype:<9} generate {gen[dtype]:6.1f} tokens/s (batch {args.batch})   "
              f"learner step on 12 comas-length turns {step[dtype]:6.2f} s "
              f"({'bf16 autocast' if dtype == 'bfloat16' else 'fp32'})", flush=True)
    print(f"cpu capability: {torch.backends.cpu.get_cpu_capability()}; bf16 instructions: {bf16_flags()}")
    print(f"bf16/fp32 generation throughput: {gen['bfloat16'] / gen['float32']:.2f}x   "
          f"bf16/fp32 learner step time: {step['bfloat16'] / step['float32']:.2f}x")


if __name__ == "__main__":
    main()
