"""float32 vs bfloat16 on this CPU, side by side: generation tokens/s and one learner step.

    python bench/cpu_dtype.py [--model smollm2-135m]

Why `model.rollout_dtype=auto` and `model.autocast=auto` choose float32 on CPU: without native
bf16 instructions (AVX2-only machines) bf16 is slower, not faster. On a CPU with AVX512-BF16/AMX
this bench shows whether forcing bfloat16 pays.
"""
import argparse
import time

import torch

from coevo.config import AlgoConfig
from coevo.episode import Turn
from coevo.learners.learner import Learner
from coevo.models.hf import HFPolicies
from coevo.models.store import resolve_model

LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
ALGO = AlgoConfig().model_dump()


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
        torch.manual_seed(0)
        t0 = time.perf_counter()
        outs = pol.generate(["agent"] * args.batch, prompts, max_new_tokens=args.new_tokens, temperature=0.8)
        gen[dtype] = sum(len(o.completion_ids) for o in outs) / (time.perf_counter() - t0)
        turns = [Turn("agent", "solver_0", "", o.text, o.prompt_ids, o.completion_ids, o.logprobs, reward=i % 2, group="g")
                 for i, o in enumerate(outs[:8])]
        learner = Learner("agent", path, {"device": "cpu", "autocast": dtype == "bfloat16", "learner_dtype": "float32",
                                      "lora": LORA}, ALGO, temperature=0.8, seed=0)
        t0 = time.perf_counter()
        learner.step(turns)
        step[dtype] = time.perf_counter() - t0
        print(f"{dtype:<9} generate {gen[dtype]:6.1f} tokens/s (batch {args.batch})   "
              f"learner step on 8 turns {step[dtype]:6.1f} s ({'bf16 autocast' if dtype == 'bfloat16' else 'fp32'})")
    print(f"cpu capability: {torch.backends.cpu.get_cpu_capability()}")
    print(f"bf16/fp32 generation throughput: {gen['bfloat16'] / gen['float32']:.2f}x   "
          f"bf16/fp32 learner step time: {step['bfloat16'] / step['float32']:.2f}x")


if __name__ == "__main__":
    main()
