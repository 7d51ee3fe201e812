"""The counting in the benchmarks' summaries, on cases worked by hand: what a printed ratio or
GFLOP/s is made of must be right before the number means anything."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent


def bench(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def episode(*completion_lengths: int):
    return SimpleNamespace(turns=[SimpleNamespace(completion_ids=[7] * n) for n in completion_lengths])


def test_decoding_steps_lockstep_against_the_longest_game():
    steps = bench("rollout_batching").decoding_steps
    # tick 1: max(5, 2, 4) = 5; tick 2: max(3, 7) = 7; tick 3: game b alone, 1 -> 13 steps.
    # games: a 5+3 = 8, b 2+7+1 = 10, c 4 -> the longest has 10 tokens; 22 tokens in all
    assert steps([episode(5, 3), episode(2, 7, 1), episode(4)]) == (13, 10, 22)
    # one game: lockstep is the game itself, nothing to save
    assert steps([episode(6, 2, 9)]) == (17, 17, 17)


def test_matmul_kind_by_shapes():
    kind = bench("learner").matmul_kind
    rank, vocab = 16, 49152
    assert kind("aten::mm", [[940, 576], [576, 1536]], rank, vocab) == ("projections", 2.0 * 940 * 576 * 1536)
    # addmm's first input is the tensor added to, not a factor
    assert kind("aten::addmm", [[940, 576], [940, 16], [16, 576], [], []], rank, vocab) == \
        ("LoRA (rank-r matmuls)", 2.0 * 940 * 16 * 576)
    assert kind("aten::mm", [[631, 576], [576, vocab]], rank, vocab) == ("LM head", 2.0 * 631 * 576 * vocab)
