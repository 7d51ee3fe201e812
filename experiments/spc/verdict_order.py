"""Which verdict does the untrained critic give, by the order its prompt names the two verdicts?

The measurement behind spc_v0's `verdict_order` option (games/spc/spc.py): on labelled steps of
the TRAIN split (never the held-out set), SmolLM2-135M samples the critic's verdict with the game's
prefill and stop string, once with Correct named first and once with Incorrect first, and prints
(truth, verdict) counts. A model that echoes the verdict named last gives (almost) one verdict per
order whatever the truth; under one fixed order its critic would never sample the other.

With run dirs, it then judges the same steps greedy (the held-out measure's decoding) with the order
drawn per game (`verdict_order: random`), by the base model and by each run's trained critic (its
last checkpoint's `agent_1` adapter), and prints how often the verdict is the one named last and
the balanced accuracy: a critic whose verdict follows the order alone scores 0.5.
(git keeps a run's metrics and config, not its checkpoints: this part needs the runs made on this machine.)

    python experiments/spc/verdict_order.py            # about 2 minutes on a 2-core CPU
    python experiments/spc/verdict_order.py --runs experiments/spc/runs/*/*_seed=*
"""
from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

import games
from coevo.checkpoint import latest_checkpoint
from coevo.episode import BASE_AGENT
from coevo.models.hf import HFPolicies
from coevo.models.store import resolve_model
from games.spc.heldout import labelled_steps, scores
from games.spc.spc import parse_verdict

GAME, OPTIONS = "spc_v0", {"min_drop": 0.25, "max_new_tokens": {"sneaky": 48, "solver": 12, "critic": 8}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tasks", type=int, default=24, help="train-split tasks; each gives a correct and a broken step")
    ap.add_argument("--samples", type=int, default=4, help="verdicts sampled per step")
    ap.add_argument("--temperature", type=float, default=0.8, help="the training temperature (sampling.temperature)")
    ap.add_argument("--runs", nargs="*", default=[], help="spc run dirs whose trained critic (agent_1) to judge")
    args = ap.parse_args(argv)
    torch.manual_seed(0)

    env = games.make(GAME, **OPTIONS)
    rng = random.Random(7)
    tasks = [env.task_source.sample(rng, "train") for _ in range(args.tasks)]
    policies = HFPolicies(resolve_model(args.model), ["critic"], None)
    prefix, stop = env.response_prefix("critic_0"), env.stop_strings("critic_0")
    for order in ("correct_first", "incorrect_first"):
        steps = labelled_steps(GAME, {**OPTIONS, "verdict_order": order}, tasks, seed=123)
        rows = [(prompt, truth) for prompt, truth in steps for _ in range(args.samples)]
        out = policies.generate(["critic"] * len(rows), [p for p, _ in rows], env.options.max_new_tokens["critic"],
                                stop=[stop] * len(rows), temperature=args.temperature,
                                prefixes=[prefix] * len(rows), seeds=list(range(len(rows))))
        counts = Counter((truth, parse_verdict(prefix + c.text)) for (_, truth), c in zip(rows, out))
        parsed = {v: sum(n for (_, verdict), n in counts.items() if verdict == v) for v in ("Correct", "Incorrect")}
        print(f"{order}: {len(rows)} verdicts on {len(steps)} steps; parsed Correct {parsed['Correct']}, "
              f"Incorrect {parsed['Incorrect']}, unparsed {len(rows) - sum(parsed.values())}")
        for (truth, verdict), n in sorted(counts.items(), key=str):
            print(f"  truth {truth:9s} verdict {verdict!s:9s} {n}")
    if args.runs:
        trained_critics(args.runs, resolve_model(args.model), tasks, prefix, stop, env.options.max_new_tokens["critic"])


def last_named(prompt: str) -> str:
    return max(("Correct", "Incorrect"), key=lambda v: prompt.rindex(f"<Answer>{v}</Answer>"))


def trained_critics(runs: list[str], model_path: str, tasks: list, prefix: str, stop: list[str], tokens: int) -> None:
    """Greedy verdicts of the base and of each run's last-checkpoint critic, the order drawn per game."""
    steps = labelled_steps(GAME, {**OPTIONS, "verdict_order": "random"}, tasks, seed=123)
    lora = yaml.safe_load((Path(runs[0]) / "config.yaml").read_text())["model"]["lora"]
    labels = [f"run{i}" for i in range(len(runs))]
    policies = HFPolicies(model_path, labels, lora)
    for label, run in zip(labels, runs):
        policies.set_adapter(label, load_file(str(latest_checkpoint(Path(run)) / "agent_1" / "adapter.safetensors")))
    print(f"greedy, order drawn per game, {len(steps)} steps ({sum(last_named(p) == 'Correct' for p, _ in steps)} "
          "with Correct named last)")
    for label, name in [(BASE_AGENT, "base (untrained)"), *zip(labels, runs)]:
        out = policies.generate([label] * len(steps), [p for p, _ in steps], tokens, stop=[stop] * len(steps),
                                greedy=True, prefixes=[prefix] * len(steps))
        verdicts = [parse_verdict(prefix + c.text) for c in out]
        echo = sum(v == last_named(p) for v, (p, _) in zip(verdicts, steps)) / len(steps)
        sc = scores(verdicts, [t for _, t in steps])
        print(f"  {name}: parsed {sc['parse_rate']:.3f}, verdict = the one named last {echo:.3f}, "
              f"balanced accuracy {sc['balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
