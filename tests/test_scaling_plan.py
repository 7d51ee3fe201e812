"""bench/scaling_plan.py: exact parameter counts (checked against the shapes by hand) and the
table in docs/scaling.md is the script's output, not typed."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("scaling_plan", ROOT / "bench" / "scaling_plan.py")
plan = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plan)


def test_qwen25_3b_counts_by_hand():
    h, i, kv, layers, vocab, r = 2048, 11008, 2 * 128, 36, 151936, 64
    # per layer: q, k, v (with biases), o, gate, up, down, two norms; embeddings tied to the head
    per_layer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * i + 2 * h
    base = vocab * h + layers * per_layer + h
    # LoRA on every linear layer: r x (fan_in + fan_out) each
    lora = layers * r * (2 * (h + h) + 2 * (h + kv) + 3 * (h + i))
    assert plan.counts("Qwen/Qwen2.5-3B-Instruct", r) == (base, lora) == (3_085_938_688, 119_734_272)


def test_the_page_holds_the_scripts_table():
    page = (ROOT / "docs" / "scaling.md").read_text()
    block = re.search(re.escape(plan.BEGIN) + r"\n(.*?)\n" + re.escape(plan.END), page, re.S)
    assert block, "docs/scaling.md lost its scaling_plan block"
    assert block.group(1) == plan.table(), "rerun: python bench/scaling_plan.py --write docs/scaling.md"
