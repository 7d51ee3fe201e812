"""A learner step side by side with plain peft and with TRL's GRPO loss, on one batch, in one process.

    flock /tmp/coevo-bench.lock python bench/learner.py [--turns 12] [--hf-full-logits]
    flock /tmp/coevo-bench.lock python bench/learner.py --part parallel [--learners 3 --turns 4]
    flock /tmp/coevo-bench.lock python bench/learner.py --part memory
    flock /tmp/coevo-bench.lock python bench/learner.py --part mask
    flock /tmp/coevo-bench.lock python bench/learner.py --part share
    flock /tmp/coevo-bench.lock python bench/learner.py --part fused
    flock /tmp/coevo-bench.lock python bench/learner.py --part profile

The batch looks like one agent's turns of a comas iteration: prompts of 150-400 tokens and
completions of 8-96, cut from real text (GSM8K questions). Every timed line computes the same
micro-batches (length-sorted, `--micro-batch` rows), so the ratios compare the machinery, not the
batching. Lines:
- coevo `Learner.step` (advantages, clipped loss, stats, optimizer step);
- plain peft: backbone forward, LM head on the completion tokens only, token-mean NLL, backward --
  the least work a learner step can do; with --hf-full-logits also HF's own `forward(labels=...)`;
  this line and TRL's run on peft's own LoRA layers, coevo's on its fused ones;
- TRL's GRPO loss (`GRPOTrainer._compute_loss` and its fused LM head, run by the library's own code on
  a stand-in trainer) with loss_type "dapo" (token sum / tokens of the whole batch = coevo's token
  mean), clip 0.2, beta 0: the loss value must equal coevo's to 1e-5;
- the padded share of computed positions, length-sorted vs arrival order;
- (--part parallel) K learners stepping at once as Ray actors (cores // K threads each, as
  `coevo train` gives them) vs the same steps one after another in one process with every thread;
- (--part mask) the same forward and backward with and without a padding mask (right padding needs
  none in a causal model): seconds, ratio, loss and gradient differences;
- (--part share) two rows whose prompts start alike, forward and backward with the common start
  run once (`completion_logprobs(share_prompts=True)`, the rule aside) vs whole rows, by the length
  in common: the numbers behind `WORTH_SHARING` and `MIN_SKIPPED` in coevo/models/logprobs.py;
- (--part fused) `Learner.step` on the same turns from the same weights, with coevo's LoRA layers
  (one addmm per update, coevo/models/fused_lora.py) and with peft's own, taking turns: seconds,
  ratio, and whether the adapters after the step are bit-identical;
- (--part profile) where one `Learner.step`'s CPU time goes (torch.profiler), by kind of op, and the
  rate of its base-model matmuls next to a plain matmul of the same kind timed in the same process:
  how far the step is from this CPU's matmul peak;
- (--part memory) one `Learner.step` per setting (micro-batch, gradient checkpointing), each in a
  fresh process: seconds and peak RSS, the numbers behind the SmolLM2 config's choice.
Gradient checkpointing follows configs/model/<model>.yaml; plain and coevo are timed with it off too.
Run under flock: other benchmarks on the same cores make every number here meaningless.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import random
import resource
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import torch
import yaml
from transformers import AutoTokenizer

from coevo.config import AlgoConfig
from coevo.episode import Turn
from coevo.learners.learner import Learner, length_sorted_micro_batches, pad_fraction
from coevo.loop import LearnerActor
from coevo.models.fused_lora import FusedLoraLinear
from coevo.models.logprobs import completion_logprobs
from coevo.models.store import resolve_model

ROOT = Path(__file__).resolve().parent.parent
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "train.jsonl"
TEMPERATURE = 0.8


def text_corpus() -> str:
    """Real English to tokenise: GSM8K questions and answers where present, else a fixed paragraph."""
    if GSM8K.exists():
        rows = [json.loads(line) for line in GSM8K.read_text().splitlines()[:400]]
        return "\n\n".join(r["question"] + "\n" + r["answer"] for r in rows)
    return ("Tom has 3 apples and buys 5 more. How many apples does Tom have now? " * 2000)


def make_turns(learner: Learner, tokenizer, n: int, seed: int, noise: float) -> list[Turn]:
    """`n` turns of ragged lengths; their sampling logprobs are the model's own plus noise, so the
    PPO ratio is not 1 and the clip is exercised. Rewards 0/1 in groups of 3 (one game's seats)."""
    rng = random.Random(seed)
    ids = tokenizer(text_corpus())["input_ids"]
    turns = []
    for i in range(n):
        p, c = rng.randint(150, 400), rng.randint(8, 96)
        start = rng.randrange(0, len(ids) - p - c)
        turns.append(Turn(learner.agent, "solver_0", "", "", ids[start:start + p], ids[start + p:start + p + c],
                          reward=float(rng.random() < 0.5), group=f"g{i // 3}"))
    with torch.no_grad():
        for rows in length_sorted_micro_batches([len(t.prompt_ids) + len(t.completion_ids) for t in turns], 4):
            chunk = [turns[i] for i in rows]
            lp, mask = completion_logprobs(learner.model, [t.prompt_ids for t in chunk],
                                           [t.completion_ids for t in chunk], TEMPERATURE, learner.pad_id)
            gen = torch.Generator().manual_seed(seed + rows[0])
            for t, row, m in zip(chunk, lp, mask):
                t.logprobs = (row[m] + noise * torch.randn(int(m.sum()), generator=gen)).tolist()
    return turns


@contextlib.contextmanager
def peft_own_layers(model):
    """coevo's fused LoRA layers switched to peft's own class for a while: the same modules and
    weights, peft's forward (a matmul, a multiply and an add per update)."""
    from peft.tuners.lora.layer import Linear as PeftLoraLinear

    fused = [m for m in model.modules() if type(m) is FusedLoraLinear]
    for m in fused:
        m.__class__ = PeftLoraLinear
    try:
        yield
    finally:
        for m in fused:
            m.__class__ = FusedLoraLinear


def micro_batches(turns, size):
    return [[turns[i] for i in rows] for rows in
            length_sorted_micro_batches([len(t.prompt_ids) + len(t.completion_ids) for t in turns], size)]


def right_padded(chunk, pad_id):
    rows = [t.prompt_ids + t.completion_ids for t in chunk]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)], attention[i, :len(r)] = torch.tensor(r), 1
    return ids, attention


def plain_step(model, chunks, pad_id, full_logits: bool, padding_mask: bool = True) -> tuple[float, torch.Tensor]:
    """Forward + backward of a token-mean NLL over the completions, no coevo code involved. Returns
    the loss and the flattened gradient. padding_mask=False leaves the right padding to causal
    attention, as coevo's `completion_logprobs` does."""
    n_tokens = sum(len(t.completion_ids) for chunk in chunks for t in chunk)
    base = model.get_base_model()
    total = 0.0
    for chunk in chunks:
        ids, attention = right_padded(chunk, pad_id)
        attention = attention if padding_mask else None
        labels = torch.full_like(ids, -100)
        for i, t in enumerate(chunk):
            labels[i, len(t.prompt_ids):len(t.prompt_ids) + len(t.completion_ids)] = torch.tensor(t.completion_ids)
        if full_logits:  # HF's own causal-LM loss: logits of every position, shifted inside
            loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
        else:  # only the completion positions go through the 49k-wide head
            hidden = base.get_decoder()(input_ids=ids, attention_mask=attention).last_hidden_state
            keep = labels[:, 1:] != -100
            logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float() / TEMPERATURE
            loss = torch.nn.functional.cross_entropy(logits, labels[:, 1:][keep])
        loss = loss * int((labels != -100).sum()) / n_tokens
        loss.backward()
        total += loss.item()
    grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    return total, grad


class _Accelerator:
    """What `_compute_loss` asks of accelerate, for one process."""
    num_processes = 1

    @staticmethod
    def autocast():
        return torch.autocast("cpu", enabled=False)

    gather = gather_for_metrics = staticmethod(lambda x: x)
    reduce = staticmethod(lambda x, reduction="sum": x)


def trl_grpo(model):
    """A stand-in GRPOTrainer carrying exactly the settings `_compute_loss` reads, so TRL's own method
    (and its fused LM head on the model) computes the loss. Returns loss_fn(model, inputs)."""
    from trl import GRPOTrainer
    from trl.trainer.utils import add_fused_lm_head

    add_fused_lm_head(model.get_base_model(), temperature=TEMPERATURE, outputs=("log_probs", "entropy"))
    stub = SimpleNamespace(
        loss_type="dapo", beta=0.0, epsilon_low=0.2, epsilon_high=0.2, top_entropy_quantile=1.0,
        off_policy_mask_threshold=None, importance_sampling_level="token", use_vllm=False,
        aux_loss_enabled=False, _entropy_bonus_enabled=False, current_gradient_accumulation_steps=1,
        args=SimpleNamespace(delta=None, steps_per_generation=1), accelerator=_Accelerator(), model=model,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )
    stub._get_per_token_logps_and_entropies = functools.partial(
        GRPOTrainer._get_per_token_logps_and_entropies.__wrapped__, stub)  # without its profiling wrapper
    return functools.partial(GRPOTrainer._compute_loss, stub)


def trl_inputs(chunk, advantages, n_tokens, pad_id):
    """TRL's layout: prompts left-padded, completions right-padded, one advantage per row."""
    p_w, c_w = max(len(t.prompt_ids) for t in chunk), max(len(t.completion_ids) for t in chunk)
    prompt, prompt_mask = torch.full((len(chunk), p_w), pad_id), torch.zeros(len(chunk), p_w, dtype=torch.long)
    comp, comp_mask = torch.full((len(chunk), c_w), pad_id), torch.zeros(len(chunk), c_w, dtype=torch.long)
    old = torch.zeros(len(chunk), c_w)
    for i, t in enumerate(chunk):
        p, c = len(t.prompt_ids), len(t.completion_ids)
        prompt[i, p_w - p:], prompt_mask[i, p_w - p:] = torch.tensor(t.prompt_ids), 1
        comp[i, :c], comp_mask[i, :c], old[i, :c] = torch.tensor(t.completion_ids), 1, torch.tensor(t.logprobs)
    return {"prompt_ids": prompt, "prompt_mask": prompt_mask, "completion_ids": comp, "completion_mask": comp_mask,
            "advantages": advantages, "old_per_token_logps": old, "num_items_in_batch": torch.tensor(float(n_tokens))}


def trl_step(loss_fn, model, chunks, advantages_of, pad_id) -> float:
    n_tokens = sum(len(t.completion_ids) for chunk in chunks for t in chunk)
    total = 0.0
    for chunk in chunks:
        loss = loss_fn(model, trl_inputs(chunk, torch.stack([advantages_of[id(t)] for t in chunk]), n_tokens, pad_id))
        loss.backward()
        total += loss.item()
    model.zero_grad(set_to_none=True)
    return total


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def row(what, seconds, n_tokens, n_positions, reference):
    print(f"{what:<52} {seconds:7.1f} {n_tokens / seconds:7.1f} {n_positions / seconds:7.1f} "
          f"{reference / seconds:8.2f}x", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["step", "parallel", "memory", "mask", "share", "fused", "profile"], default="step",
                    help="step: one learner vs plain vs TRL; parallel: K learners at once vs in turn; "
                         "mask: right-padded rows with a padding mask vs causal attention alone")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--turns", type=int, default=12, help="turns per learner (comas: about 12 per agent)")
    ap.add_argument("--micro-batch", type=int, default=2, help="the algo configs use 2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--learners", type=int, default=3, help="K for --part parallel")
    ap.add_argument("--hf-full-logits", action="store_true", help="also time HF's forward(labels=...)")
    ap.add_argument("--checkpointing", type=int, choices=[0, 1], help=argparse.SUPPRESS)  # --part memory's child
    args = ap.parse_args()
    if args.part == "memory" and args.checkpointing is None:
        return memory_by_setting(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg_path = ROOT / "configs" / "model" / ("tiny.yaml" if args.model == "tiny" else "smollm2.yaml")
    model_cfg = {**yaml.safe_load(cfg_path.read_text()), "device": "cpu", "learner_dtype": "float32", "autocast": False}
    if args.checkpointing is not None:
        model_cfg["gradient_checkpointing"] = bool(args.checkpointing)
    algo = {**AlgoConfig().model_dump(), "advantage": "reinforce_pp", "micro_batch_size": args.micro_batch}
    path = resolve_model(args.model)
    learner = Learner("agent_0", path, model_cfg, algo, TEMPERATURE, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(path)
    print(f"# bench/learner.py --part {args.part}  model={args.model} fp32  threads={args.threads}  "
          f"cpu={torch.backends.cpu.get_cpu_capability()}  micro-batch {args.micro_batch}  "
          f"gradient checkpointing in {cfg_path.name}: {bool(model_cfg.get('gradient_checkpointing'))}", flush=True)
    if args.part == "step":
        compare_step(args, learner, tokenizer, bool(model_cfg.get("gradient_checkpointing")))
    elif args.part == "mask":
        mask_or_causal(args, learner, tokenizer)
    elif args.part == "share":
        shared_or_whole(learner)
    elif args.part == "fused":
        fused_or_peft(args, learner, tokenizer)
    elif args.part == "profile":
        step_profile(args, learner, tokenizer)
    elif args.part == "memory":
        turns = make_turns(learner, tokenizer, args.turns, seed=0, noise=0.2)
        seconds, _ = timed(lambda: learner.step(turns))
        print(json.dumps({"s": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    else:
        parallel_learners(args, path, model_cfg, algo, learner, tokenizer)


def compare_step(args, learner, tokenizer, ckpt):
    turns = make_turns(learner, tokenizer, args.turns, seed=0, noise=0.2)
    n_tokens = sum(len(t.completion_ids) for t in turns)
    lengths = [len(t.prompt_ids) + len(t.completion_ids) for t in turns]
    n_positions = sum(lengths)
    chunks = micro_batches(turns, args.micro_batch)
    print(f"# {len(turns)} turns, {n_positions} positions, {n_tokens} completion tokens; prompts "
          f"{min(len(t.prompt_ids) for t in turns)}-{max(len(t.prompt_ids) for t in turns)}, completions "
          f"{min(len(t.completion_ids) for t in turns)}-{max(len(t.completion_ids) for t in turns)} tokens", flush=True)
    # warm-up on the two shortest turns; the adapter also leaves its zero init, so the losses below
    # see a LoRA that does something
    learner.step(sorted(turns, key=lambda t: len(t.prompt_ids) + len(t.completion_ids))[:2])
    base = learner.model.get_base_model()
    advantages = learner.advantage_fn(torch.tensor([t.reward for t in turns]), [t.group for t in turns])
    advantages_of = {id(t): a for t, a in zip(turns, advantages)}
    trl_loss_fn = trl_grpo(learner.model)

    print(f"{'what':<52} {'s':>7} {'tok/s':>7} {'pos/s':>7} {'vs plain':>9}   (tok = completion tokens, "
          f"pos = prompt + completion positions)", flush=True)
    timings = {}
    for on in (ckpt, not ckpt):
        if on:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            base.gradient_checkpointing_disable()
        print(f"-- gradient checkpointing {'on' if on else 'off'}{' (config)' if on == ckpt else ''}", flush=True)
        learner.model.train()
        with peft_own_layers(learner.model):
            plain, _ = timed(lambda: plain_step(learner.model, chunks, learner.pad_id, False))
        row("plain peft fwd+bwd, LM head on completion tokens", plain, n_tokens, n_positions, plain)
        if on == ckpt:
            # TRL before coevo's step, which moves the adapter: both losses must see the same weights
            with peft_own_layers(learner.model):
                timings["trl"], trl_loss = timed(lambda: trl_step(trl_loss_fn, learner.model, chunks, advantages_of,
                                                                  learner.pad_id))
            row("TRL GRPO _compute_loss fwd+bwd (dapo, beta 0)", timings["trl"], n_tokens, n_positions, plain)
            if args.hf_full_logits:
                with peft_own_layers(learner.model):
                    hf, _ = timed(lambda: plain_step(learner.model, chunks, learner.pad_id, True))
                row("plain peft, HF forward(labels=...): every logit", hf, n_tokens, n_positions, plain)
            snap = learner.snapshot()
        coevo, metrics = timed(lambda: learner.step(turns))
        row("coevo Learner.step (+ advantages, stats, AdamW)", coevo, n_tokens, n_positions, plain)
        if on == ckpt:
            learner.restore(snap)
            timings["plain"], timings["coevo"] = plain, coevo
            coevo_loss, pad_sorted = metrics["learner/agent_0/loss"], metrics["learner/agent_0/pad_frac"]

    mb = args.micro_batch
    pad_arrival = pad_fraction(lengths, [list(range(s, min(s + mb, len(turns)))) for s in range(0, len(turns), mb)])
    print(f"coevo / plain speed (config setting): {timings['plain'] / timings['coevo']:.2f}x (target >= 0.85)   "
          f"coevo / TRL speed: {timings['trl'] / timings['coevo']:.2f}x (target >= 1)")
    print(f"loss on the same weights: coevo {coevo_loss:.8f}  TRL {trl_loss:.8f}  "
          f"|diff| {abs(coevo_loss - trl_loss):.1e} (target <= 1e-5)")
    print(f"pad share of computed positions: length-sorted {pad_sorted:.3f}  arrival order {pad_arrival:.3f}  "
          f"({1 - (1 - pad_arrival) / (1 - pad_sorted):.0%} fewer positions computed)", flush=True)


def mask_or_causal(args, learner, tokenizer, repeats: int = 2):
    """Right-padded micro-batches forward and backward with a padding mask (HF then builds a 4-D mask
    and attention computes every block) vs none (attention's causal path skips the blocks above the
    diagonal; no real token sees a pad, which all come after it). Same loss, same gradient."""
    turns = make_turns(learner, tokenizer, args.turns, seed=0, noise=0.2)
    learner.step(turns[:2])  # the adapter leaves its zero init, so its gradient path does something
    chunks = micro_batches(turns, args.micro_batch)
    learner.model.train()
    plain_step(learner.model, chunks[:1], learner.pad_id, False)  # warm-up
    seconds: dict[bool, list[float]] = {True: [], False: []}
    results = {}
    for _ in range(repeats):  # the two sides take turns
        for mask in (True, False):
            s, results[mask] = timed(lambda: plain_step(learner.model, chunks, learner.pad_id, False, mask))
            seconds[mask].append(s)
    (loss_m, grad_m), (loss_c, grad_c) = results[True], results[False]
    positions = sum(len(t.prompt_ids) + len(t.completion_ids) for t in turns)
    print(f"{len(turns)} turns ({positions} positions), micro-batch {args.micro_batch}, forward + backward, "
          f"{repeats} runs a side taking turns")
    for mask in (True, False):
        what = "padding mask (4-D mask, every block)" if mask else "no mask (causal path): coevo"
        print(f"{what:<40} " + "  ".join(f"{s:6.2f} s" for s in seconds[mask]))
    print(f"time with mask / without (best of each): {min(seconds[True]) / min(seconds[False]):.2f}x   "
          f"|loss diff| {abs(loss_m - loss_c):.1e}   gradient relative diff "
          f"{float((grad_m - grad_c).norm() / grad_m.norm()):.1e}", flush=True)


def fused_or_peft(args, learner, tokenizer, repeats: int = 3):
    """`Learner.step` on the same turns from the same snapshot, on coevo's fused LoRA layers and on
    peft's own, taking turns; best of `repeats` a side; in float32, then under bfloat16 autocast."""
    turns = make_turns(learner, tokenizer, args.turns, seed=0, noise=0.2)
    learner.step(sorted(turns, key=lambda t: len(t.prompt_ids) + len(t.completion_ids))[:2])  # warm-up
    snap = learner.snapshot()
    positions = sum(len(t.prompt_ids) + len(t.completion_ids) for t in turns)
    print(f"{len(turns)} turns ({positions} positions), Learner.step, best of {repeats} a side taking turns")
    for autocast in (False, True):
        learner.autocast = autocast
        best, after = {"peft": float("inf"), "fused": float("inf")}, {}
        for _ in range(repeats):
            for side in ("peft", "fused"):
                learner.restore(snap)
                with peft_own_layers(learner.model) if side == "peft" else contextlib.nullcontext():
                    seconds, metrics = timed(lambda: learner.step(turns))
                best[side] = min(best[side], seconds)
                after[side] = (learner.adapter(), metrics["learner/agent_0/loss"])
        (a, loss_a), (b, loss_b) = after["peft"], after["fused"]
        print(f"{'bf16 autocast' if autocast else 'float32':<14} peft's LoRA layers {best['peft']:6.2f} s   coevo's "
              f"fused {best['fused']:6.2f} s   speed-up {best['peft'] / best['fused']:.2f}x   loss {loss_a:.8f} / "
              f"{loss_b:.8f}   adapters after the step bit-identical: {all(torch.equal(a[k], b[k]) for k in a)} "
              f"(max |diff| {max((a[k] - b[k]).abs().max().item() for k in a):.1e})", flush=True)
    learner.restore(snap)
    learner.autocast = False


def matmul_kind(name: str, shapes: list, rank: int, vocab: int) -> tuple[str, float]:
    """(kind, flops) of one aten::mm / aten::addmm call from its input shapes: "LM head" (a
    vocabulary-wide side), "LoRA" (a rank-wide side) or "projections" (the base model's own)."""
    mats = [s for s in shapes if len(s) == 2]
    (m, k), (_, n) = mats[-2], mats[-1]
    dims = {m, k, n}
    kind = "LM head" if vocab in dims else "LoRA (rank-r matmuls)" if rank in dims else "projections"
    return kind, 2.0 * m * k * n


def step_profile(args, learner, tokenizer):
    """One `Learner.step` under torch.profiler: self CPU time by kind of op, and the projections'
    GFLOP/s against a plain matmul of their largest shape timed alone (best of 20)."""
    from torch.profiler import ProfilerActivity, profile

    turns = make_turns(learner, tokenizer, args.turns, seed=0, noise=0.2)
    learner.step(sorted(turns, key=lambda t: len(t.prompt_ids) + len(t.completion_ids))[:2])  # warm-up
    positions = sum(len(t.prompt_ids) + len(t.completion_ids) for t in turns)
    rank, vocab = learner.model.peft_config["agent_0"].r, learner.model.get_output_embeddings().weight.shape[0]
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        seconds, _ = timed(lambda: learner.step(turns))
    time_of, flops_of = defaultdict(float), defaultdict(float)
    biggest = (0.0, None)
    for e in prof.key_averages(group_by_input_shape=True):
        if e.key in ("aten::mm", "aten::addmm"):
            kind, flops = matmul_kind(e.key, e.input_shapes, rank, vocab)
            flops_of[kind] += flops * e.count
            if kind == "projections" and flops * e.count > biggest[0]:
                biggest = (flops * e.count, [s for s in e.input_shapes if len(s) == 2][-2:])
        elif "scaled_dot_product" in e.key:
            # causal: half of the L x L scores; the backward has 5 such matmuls to the forward's 2
            kind, (b, h, length, d) = "attention (flash, forward + backward)", e.input_shapes[0]
            flops_of[kind] += 2.0 * b * h * length * length * d * (2.5 if "backward" in e.key else 1.0) * e.count
        elif e.key in ("aten::mul", "aten::add", "aten::add_", "aten::silu", "aten::silu_backward", "aten::pow",
                       "aten::div", "aten::neg", "aten::sub", "aten::sum", "aten::mean", "aten::rsqrt"):
            kind = "elementwise (norms, rotary, SiLU, residuals)"
        else:
            kind = "everything else"
        time_of[kind] += e.self_cpu_time_total / 1e6
    total = sum(time_of.values())
    (m, k), (_, n) = biggest[1]
    a, b = torch.randn(m, k), torch.randn(k, n)
    plain = min(timed(lambda: torch.mm(a, b))[0] for _ in range(20))
    print(f"{len(turns)} turns, {positions} positions, Learner.step {seconds:.2f} s (profiler self CPU time "
          f"{total:.2f} s); plain torch.mm [{m}, {k}] x [{k}, {n}] alone: {2.0 * m * k * n / plain / 1e9:.0f} GFLOP/s")
    print(f"{'part':<46} {'s':>7} {'share':>7} {'GFLOP/s':>8}")
    for kind, t in sorted(time_of.items(), key=lambda kv: -kv[1]):
        rate = f"{flops_of[kind] / t / 1e9:8.0f}" if kind in flops_of else f"{'':>8}"
        print(f"{kind:<46} {t:7.2f} {t / total:7.1%} {rate}", flush=True)


def shared_or_whole(learner, repeats: int = 3):
    """Two rows (prompts of `plen` and `plen` + 7 tokens, completions of `clen`) whose prompts have
    their first `shared` tokens in common: forward and backward of their completion logprobs, whole
    vs the common start run once. The rule that decides when coevo shares is set aside here
    (`WORTH_SHARING` and `MIN_SKIPPED` at 0), so every line shares."""
    from coevo.models import logprobs as lp_module

    gen = torch.Generator().manual_seed(0)
    vocab = learner.model.get_base_model().config.vocab_size
    learner.model.train()

    def fwd_bwd(prompts, completions, share):
        lp, mask = completion_logprobs(learner.model, prompts, completions, TEMPERATURE, learner.pad_id,
                                       share_prompts=share)
        (lp * mask).sum().backward()
        learner.model.zero_grad(set_to_none=True)

    rule = lp_module.WORTH_SHARING, lp_module.MIN_SKIPPED
    lp_module.WORTH_SHARING, lp_module.MIN_SKIPPED = 0.0, 0
    try:
        print(f"two rows, forward + backward, best of {repeats} a side taking turns")
        print(f"{'prompt':>6} {'completion':>10} {'shared':>6} {'whole s':>8} {'shared s':>8} "
              f"{'whole/shared':>12} {'positions skipped':>17}")
        for plen, clen, shared in [(300, 60, 40), (300, 60, 80), (300, 60, 150), (300, 60, 250),
                                   (60, 30, 40), (150, 40, 80)]:
            common = torch.randint(3, vocab, (shared,), generator=gen).tolist()
            prompts = [common + torch.randint(3, vocab, (plen - shared + 7 * i,), generator=gen).tolist()
                       for i in range(2)]
            completions = [torch.randint(3, vocab, (clen,), generator=gen).tolist() for _ in range(2)]
            fwd_bwd(prompts, completions, True)  # warm-up
            best = {True: float("inf"), False: float("inf")}
            for _ in range(repeats):
                for share in (False, True):
                    seconds, _ = timed(lambda: fwd_bwd(prompts, completions, share))
                    best[share] = min(best[share], seconds)
            positions = sum(len(p) + len(c) for p, c in zip(prompts, completions))
            print(f"{plen:>6} {clen:>10} {shared:>6} {best[False]:8.3f} {best[True]:8.3f} "
                  f"{best[False] / best[True]:11.2f}x {shared / positions:17.3f}", flush=True)
    finally:
        lp_module.WORTH_SHARING, lp_module.MIN_SKIPPED = rule


def parallel_learners(args, path, model_cfg, algo, learner, tokenizer):
    """K learners stepping at once (Ray actors, cores // K threads each, as `coevo train` runs them)
    vs the same K steps one after another in this process with every thread."""
    import ray

    k = args.learners
    batches = [make_turns(learner, tokenizer, args.turns, seed=100 + i, noise=0.2) for i in range(k)]
    learner.step(batches[0][:1])  # warm-up
    sequential, _ = timed(lambda: [learner.step(b) for b in batches])
    ray.init(num_cpus=args.threads, include_dashboard=False, log_to_driver=False, configure_logging=False)
    threads = max(1, args.threads // k)
    actors = [LearnerActor.options(num_cpus=args.threads / k).remote(
        f"agent_{i}", path, model_cfg, algo, TEMPERATURE, i, threads) for i in range(k)]
    ray.get([a.step.remote(b[:1]) for a, b in zip(actors, batches)])  # loaded and warm
    parallel, _ = timed(lambda: ray.get([a.step.remote(b) for a, b in zip(actors, batches)]))
    ray.shutdown()
    positions = sum(len(t.prompt_ids) + len(t.completion_ids) for b in batches for t in b)
    print(f"{k} learners x {args.turns} turns ({positions} positions): one after another {sequential:.1f} s "
          f"({args.threads} threads)   at once {parallel:.1f} s (Ray actors, {threads} thread each)   "
          f"speed-up {sequential / parallel:.2f}x", flush=True)


def memory_by_setting(args):
    """One learner step per (micro-batch, gradient checkpointing), each in a fresh process (peak RSS
    only grows within a process)."""
    import subprocess
    import sys

    print(f"# bench/learner.py --part memory  model={args.model} fp32  threads={args.threads}  "
          f"{args.turns} turns, one Learner.step per line, each in a fresh process")
    print(f"{'micro-batch':>11} {'checkpointing':>13} {'step s':>7} {'peak RSS MB':>12}")
    for mb, ckpt in [(4, 1), (4, 0), (2, 1), (2, 0)]:
        out = subprocess.run([sys.executable, __file__, "--part", "memory", "--model", args.model,
                              "--turns", str(args.turns), "--threads", str(args.threads), "--micro-batch", str(mb),
                              "--checkpointing", str(ckpt)], check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{mb:>11} {'on' if ckpt else 'off':>13} {r['s']:7.1f} {r['peak_mb']:12.0f}", flush=True)


if __name__ == "__main__":
    main()
