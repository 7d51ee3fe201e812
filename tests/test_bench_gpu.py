"""bench/gpu.py runs (its --smoke mode: the tiny shape on CPU), so the GPU benchmark cannot rot
between the sessions that have a GPU. Where CUDA is present, the `gpu`-marked test runs it for real."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

spec = importlib.util.spec_from_file_location("bench_gpu", Path(__file__).resolve().parent.parent / "bench" / "gpu.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_the_gpu_benchmark_runs_in_smoke_mode():
    table = bench.main(["--smoke"])
    rows = [line for line in table.splitlines() if line.startswith("| smoke")]
    assert len(rows) == 2 * 2 + 1  # 1 and 4 adapters x 2 batch sizes, one learner line
    assert all(float(r.split("|")[6]) > 0 for r in rows)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_the_gpu_benchmark_at_0_5b():
    table = bench.main(["--sizes", "0.5b", "--batches", "1", "8", "--new-tokens", "32"])
    rows = [line for line in table.splitlines() if line.startswith("| 0.5b |")]
    assert len(rows) == 5
    throughput = [float(r.split("|")[6]) for r in rows]
    assert all(math.isfinite(v) and v > 0 for v in throughput), throughput


def test_what_the_gpu_checks_import_needs_no_ray():
    """The GPU machine has torch, transformers and peft but no Ray or vLLM (bench/gpu_session.sh
    carries pydantic and PettingZoo as wheels): what bench/gpu.py and tests/test_gpu.py import must
    not import them."""
    import subprocess
    import sys

    code = ("import sys, coevo.config, coevo.episode, coevo.learners.learner, coevo.models.hf, coevo.models.tiny; "
            "print(sorted(m for m in ('ray', 'vllm', 'hydra', 'wandb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
