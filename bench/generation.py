"""Generation throughput side by side in one process: plain transformers vs coevo's rollout path.

    python bench/generation.py [--model smollm2-135m] [--batch 16 64] [--games 32]

Rows (tokens/s = completion tokens / wall seconds; pos/s = prompt + completion tokens / wall seconds,
which counts the prompts a real game carries; ratios against plain `generate` at the same batch):
- plain `generate`: the bare model, identical prompts, sampling, every row runs `--new-tokens`
  (eos suppressed so it measures decoding, not how early the model stops);
- peft `generate` with `adapter_names`, three adapters mixed: how coevo generated before;
- `HFPolicies.generate`, the same prompts: no adapter, one adapter on every row, three mixed;
- real rollouts (`coevo.rollout.play`, 3 agents): `--games` comas_v0 games and as many negotiation
  games (ragged turns), played once through `HFPolicies` and once through plain `generate` on the
  bare model (`PlainPolicies`: each tick one call, rows padded to the longest prompt, running to
  the tick's largest token limit unless all rows hit eos, each completion then cut to its own
  limit), against plain `generate` on uniform short prompts at the rollout's batch size.

After the table: the arithmetic of a decoding step (base projections and LM head vs the LoRA
matmuls of one adapter and of all three stacked, `multi_lora.py`), and the speed of a mixed batch
relative to no adapter that it bounds, were time to follow arithmetic.
"""
import argparse
import time

import torch
from peft import get_peft_model_state_dict, set_peft_model_state_dict
from transformers import GenerationConfig

from coevo.models.hf import HFPolicies, add_lora, load_base, load_tokenizer
from coevo.models.multi_lora import MultiLoraLinear
from coevo.models.store import resolve_model
from coevo.rollout import plan_games, play

AGENTS = ["agent_0", "agent_1", "agent_2"]
LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
PROMPT = "Tom has 3 apples and buys 4 more. How many apples does Tom have now? Explain step by step."
COMAS = {"max_new_tokens": {"solver": 96, "evaluator": 64, "scorer": 8}}


def trained_like(state: dict, seed: int) -> dict:
    """A non-zero adapter (B starts at 0), so adapter rows really compute something different."""
    g = torch.Generator().manual_seed(seed)
    return {k: v + 0.02 * torch.randn(v.shape, generator=g) for k, v in state.items()}


def trained_policies(model: str) -> HFPolicies:
    """`HFPolicies` on `model` (float32, CPU) with AGENTS' adapters all non-zero and different."""
    pol = HFPolicies(resolve_model(model), AGENTS, LORA, dtype="float32", device="cpu")
    for i, agent in enumerate(AGENTS):
        pol.set_adapter(agent, trained_like(pol.get_adapter(agent), i))
    return pol


def timed(fn) -> tuple[float, tuple[int, int]]:
    """Seconds of fn() and its (completion tokens, positions)."""
    torch.manual_seed(0)
    t0 = time.perf_counter()
    counts = fn()
    return time.perf_counter() - t0, counts


def plain_generate(model, tok, batch: int, new_tokens: int, adapter_names=None) -> tuple[int, int]:
    enc = tok([tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False,
                                       add_generation_prompt=True)] * batch, return_tensors="pt")
    cfg = GenerationConfig(do_sample=True, temperature=0.8, top_k=0, top_p=1.0, max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    kwargs = {"adapter_names": adapter_names} if adapter_names else {}
    out = model.generate(**enc, generation_config=cfg, **kwargs)
    return (out.shape[1] - enc["input_ids"].shape[1]) * batch, out.numel()


def policies_generate(pol, agents: list[str], new_tokens: int) -> tuple[int, int]:
    # eos is masked by making it unreachable: a max_new this long and no stop string, and the
    # comparison is on tokens produced, so an early eos would only lower coevo's own number
    outs = pol.generate(agents, [PROMPT] * len(agents), max_new_tokens=new_tokens, temperature=0.8)
    tokens = sum(len(o.completion_ids) for o in outs)
    return tokens, tokens + sum(len(o.prompt_ids) for o in outs)


class PlainPolicies:
    """The rollout's policy interface on transformers' `generate` and the bare model: the
    reference for what a real game's ticks cost without coevo's sampling loop."""

    def __init__(self, model, tok, encode):
        self.model, self.tok, self.encode = model, tok, encode

    def generate(self, agents, prompts, max_new_tokens, stop=None, temperature=1.0, greedy=False, prefixes=None,
                 seeds=None):  # rows draw from torch's global RNG (seeded per rollout): `seeds` is unused
        from coevo.models.hf import Completion

        ids = self.encode(prompts, prefixes)
        batch = self.tok.pad({"input_ids": ids}, return_tensors="pt")
        cfg = GenerationConfig(do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                               max_new_tokens=max(max_new_tokens), pad_token_id=self.tok.pad_token_id,
                               eos_token_id=self.tok.eos_token_id)
        new = self.model.generate(**batch, generation_config=cfg)[:, batch["input_ids"].shape[1]:]
        out = []
        for p, row, limit in zip(ids, new.tolist(), max_new_tokens):
            row = row[:limit]
            if self.tok.eos_token_id in row:
                row = row[:row.index(self.tok.eos_token_id) + 1]
            out.append(Completion(p, row, [0.0] * len(row), self.tok.decode(row, skip_special_tokens=True)))
        return out


def rollout(pol, game: str, options: dict, n_games: int) -> tuple[tuple[int, int], int, float]:
    plans = plan_games(game, options, AGENTS, n_games, 1, "rotate", seed=0, iteration=1)
    _, stats = play(pol, game, options, plans, temperature=0.8)
    counts = stats.completion_tokens, stats.completion_tokens + stats.prompt_tokens
    return counts, stats.generate_calls, stats.turns / max(stats.generate_calls, 1)


def decoding_flops(pol: HFPolicies) -> tuple[float, float, float]:
    """Multiply-adds a token of decoding costs in the base's projections and LM head, and in the
    LoRA matmuls of one adapter and of every adapter stacked (a mixed batch computes them all)."""
    base = sum(m.weight.numel() for m in pol.model.modules()  # the LM head is a Linear too
               if isinstance(m, (torch.nn.Linear, MultiLoraLinear)))
    one = sum(LORA["r"] * (m.weight.shape[1] + m.weight.shape[0]) for m in pol.lora.layers.values())
    return base, one, one * len(pol.lora.agents)


def workload_args():
    """The options that say what is generated (model, batch sizes, tokens a row, games, threads), with
    this script's defaults; bench/vllm_backend.py takes the same, so both time the same workload."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--games", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return args


def main():
    args = workload_args()
    path = resolve_model(args.model)
    tok = load_tokenizer(path)

    peft_model = add_lora(load_base(path), AGENTS, LORA).eval()
    pol = HFPolicies(path, AGENTS, LORA)
    for i, a in enumerate(AGENTS):
        state = trained_like(get_peft_model_state_dict(peft_model, adapter_name=a), i)
        set_peft_model_state_dict(peft_model, state, adapter_name=a)
        pol.set_adapter(a, state)
    bare = load_base(path)  # plain rows run on a model peft never touched

    print(f"{args.model}, {args.threads} threads, fp32, sampling T=0.8, {args.new_tokens} new tokens a row")
    print(f"{'what':<58} {'batch':>5} {'tokens':>7} {'s':>7} {'tok/s':>7} {'vs plain':>8} {'pos/s':>7} {'vs plain':>8}")

    def line(what, batch, seconds, counts, plain):
        """One row; `plain` is the (tok/s, pos/s) the ratios are against. Returns this row's."""
        rates = counts[0] / seconds, counts[1] / seconds
        print(f"{what:<58} {batch:>5} {counts[0]:>7} {seconds:7.1f} {rates[0]:7.1f} {rates[0] / plain[0]:8.2f} "
              f"{rates[1]:7.1f} {rates[1] / plain[1]:8.2f}", flush=True)
        return rates

    for batch in args.batch:
        mixed = [AGENTS[i % 3] for i in range(batch)]
        s, t = timed(lambda: plain_generate(bare, tok, batch, args.new_tokens))
        plain = line("plain generate, bare model", batch, s, t, (t[0] / s, t[1] / s))
        s, t = timed(lambda: plain_generate(peft_model, tok, batch, args.new_tokens, adapter_names=mixed))
        line("peft generate, 3 adapters mixed (coevo before)", batch, s, t, plain)
        for what, agents in [("HFPolicies.generate, no adapter", ["__base__"] * batch),
                             ("HFPolicies.generate, 1 adapter on every row", [AGENTS[0]] * batch),
                             ("HFPolicies.generate, 3 adapters mixed", mixed)]:
            s, t = timed(lambda: policies_generate(pol, agents, args.new_tokens))
            line(what, batch, s, t, plain)

    s, t = timed(lambda: plain_generate(bare, tok, args.games, args.new_tokens))
    plain = line("plain generate, bare model", args.games, s, t, (t[0] / s, t[1] / s))
    reference = PlainPolicies(bare, tok, pol.encode_prompts)
    for game, options in [("comas_v0", COMAS), ("negotiation_v0", {})]:
        for what, policies in [("plain generate", reference), ("HFPolicies", pol)]:
            torch.manual_seed(0)
            t0 = time.perf_counter()
            counts, calls, rows = rollout(policies, game, options, args.games)
            line(f"rollout, {what}: {game}, {calls} ticks of ~{rows:.0f} rows", args.games,
                 time.perf_counter() - t0, counts, plain)

    base, one, stacked = decoding_flops(pol)
    print(f"multiply-adds a decoded token: base {base / 1e6:.1f} M, LoRA one adapter {one / 1e6:.1f} M, "
          f"{len(AGENTS)} stacked {stacked / 1e6:.1f} M; were time to follow arithmetic, one adapter would run at "
          f"{base / (base + one):.3f}x and {len(AGENTS)} mixed at {base / (base + stacked):.3f}x of no adapter")


if __name__ == "__main__":
    main()
