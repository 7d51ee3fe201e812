"""GPU memory of the paper-scale layouts (configs/paper_scale), from the models' shapes.

    python bench/scaling_plan.py                      # print the table
    python bench/scaling_plan.py --write docs/scaling.md   # replace the table in the page

Parameter counts are exact: each model is built from its published architecture (the facts in
MODELS, from each model's config.json) on PyTorch's meta device, which allocates nothing, and the
LoRA adapter is added by PEFT with the paper-scale config's rank. Memory is arithmetic on those
counts, per GPU, in GB (1e9 bytes):

- rollout worker: bf16 base (2 B/param) + every agent's adapter in bf16 + the KV cache of the rows
  in flight (2 tensors x layers x kv_heads x head_dim x 2 B per token);
- learner, LoRA: bf16 base + 16 B per adapter parameter (fp32 weight, gradient, two AdamW moments)
  + activations with gradient checkpointing (one bf16 hidden state per layer and token, and one
  layer recomputed: ~(10 h + 3 i) x 2 B per token) + the fp32 logits of the micro-batch's
  completion tokens and their gradient (2 x vocab x 4 B per completion token: only completion
  positions go through the LM head), the largest single term at these vocab sizes;
- learner, full weights: 16 B per parameter (bf16 weight and gradient, fp32 master and moments) +
  the same activations. coevo has no sharding (ZeRO/FSDP): a learner must fit on one GPU.
Activations are an estimate; weights, adapters, optimizer state and KV cache are exact given the
assumed batch shapes (rows x (prompt + completion) tokens).
"""
from __future__ import annotations

import argparse
import re
import sys
from functools import lru_cache
from pathlib import Path

# published architectures (config.json of each model); only the shapes matter, no weights are read
MODELS = {
    "Qwen/Qwen2.5-3B-Instruct": dict(arch="qwen2", hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                                     num_attention_heads=16, num_key_value_heads=2, vocab_size=151936,
                                     tie_word_embeddings=True),
    "Qwen/Qwen2.5-7B-Instruct": dict(arch="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                     num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                                     tie_word_embeddings=False),
    "meta-llama/Llama-3.2-3B-Instruct": dict(arch="llama", hidden_size=3072, intermediate_size=8192,
                                             num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8,
                                             vocab_size=128256, tie_word_embeddings=True),
}

# the paper-scale layouts: model, agents, LoRA rank and micro-batch from configs/paper_scale/<x>_paper.yaml;
# the batch shapes (rows generating at once, tokens per sequence) are this page's assumptions
# (prompt tokens: the discussion so far in comas, the step and its context in spc; completion: the
# config's largest max_new_tokens, or `completion` where the config sets none)
LAYOUTS = [
    dict(name="comas", config="comas_paper", rollout_rows=64, prompt=1024, completion=512),
    dict(name="rlccf", config="rlccf_paper", rollout_rows=64, prompt=256),
    dict(name="spc", config="spc_paper", rollout_rows=64, prompt=3072),
    dict(name="soar", config="soar_paper", rollout_rows=64, prompt=512),
]
GPU_GB = 80  # an A100/H100 80 GB
GB = 1e9
BEGIN, END = "<!-- scaling_plan: begin -->", "<!-- scaling_plan: end -->"


@lru_cache(maxsize=None)
def counts(model: str, rank: int) -> tuple[int, int]:
    """(base parameters, LoRA parameters of one agent at `rank` on every linear layer), exact."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, Qwen2Config
    from transformers import AutoModelForCausalLM

    facts = dict(MODELS[model])
    config = {"qwen2": Qwen2Config, "llama": LlamaConfig}[facts.pop("arch")](**facts)
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(config)
    base = sum(p.numel() for p in net.parameters())
    lora = get_peft_model(net, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear"))
    return base, sum(p.numel() for n, p in lora.named_parameters() if "lora_" in n)


def paper_config(name: str) -> dict:
    import yaml

    path = Path(__file__).resolve().parent.parent / "configs" / "paper_scale" / f"{name}.yaml"
    return yaml.safe_load(path.read_text())


def plan(layout: dict) -> dict:
    cfg = paper_config(layout["config"])
    model = cfg["model"]["name"]
    facts = MODELS[model]
    agents = len(cfg["population"].get("agents", ["a", "b"]))  # soar and spc: the game's two roles
    rank, micro = cfg["model"]["lora"]["r"], cfg["algo"]["micro_batch_size"]
    base, lora = counts(model, rank)
    limits = ((cfg.get("game") or {}).get("options") or {}).get("max_new_tokens")
    completion = max(limits.values()) if limits else layout["completion"]
    seq = layout["prompt"] + completion
    h, i, layers = facts["hidden_size"], facts["intermediate_size"], facts["num_hidden_layers"]
    head_dim = h // facts["num_attention_heads"]
    kv_per_token = 2 * layers * facts["num_key_value_heads"] * head_dim * 2
    rollout = 2 * base + agents * 2 * lora + layout["rollout_rows"] * seq * kv_per_token
    tokens = micro * seq
    # only completion tokens go through the LM head (coevo/models/logprobs.py): fp32 logits and their gradient
    logits = micro * completion * 2 * facts["vocab_size"] * 4
    activations = tokens * (layers * h * 2 + (10 * h + 3 * i) * 2) + logits
    learner_lora = 2 * base + 16 * lora + activations
    learner_full = 16 * base + activations
    gpus = agents * cfg["population"]["learner_num_gpus"] + cfg["population"].get("rollout_num_gpus", 0)
    return dict(layout=layout["name"], model=model, agents=agents, rank=rank, base=base, lora=lora,
                rollout=rollout, learner_lora=learner_lora, learner_full=learner_full, logits=logits, gpus=gpus,
                shape=f"{layout['rollout_rows']} x {seq}", micro=f"{micro} x ({layout['prompt']} + {completion})")


def fits(nbytes: float) -> str:
    return f"{nbytes / GB:.1f}" + ("" if nbytes <= GPU_GB * GB else " (over 80)")


def table() -> str:
    lines = ["| layout | model | agents | params | LoRA r | LoRA params / agent | rollout rows x tokens | rollout GPU GB "
             "| learner micro-batch | learner GB, LoRA | of which logits | learner GB, full weights | GPUs (LoRA layout) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for layout in LAYOUTS:
        p = plan(layout)
        lines.append(f"| {p['layout']} | {p['model']} | {p['agents']} | {p['base'] / 1e9:.2f} B | {p['rank']} | "
                     f"{p['lora'] / 1e6:.1f} M | {p['shape']} | {fits(p['rollout'])} | {p['micro']} | "
                     f"{fits(p['learner_lora'])} | {p['logits'] / GB:.1f} | {fits(p['learner_full'])} | {p['gpus']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", metavar="PAGE", help="replace the table between the page's scaling_plan markers")
    args = ap.parse_args()
    text = table()
    if not args.write:
        print(text)
        return
    page = Path(args.write)
    old = page.read_text()
    if BEGIN not in old or END not in old:
        sys.exit(f"{page}: no {BEGIN} ... {END} block to replace")
    page.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: f"{BEGIN}\n{text}\n{END}", old,
                           flags=re.S))
    print(f"wrote the table into {page}")


if __name__ == "__main__":
    main()
