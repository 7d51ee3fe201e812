"""Held-out accuracy: every agent answers every held-out task alone, greedy, in one batched call.

This measures what the co-evolution did to each policy's own problem solving, apart from the game
(PAPERS.md: the CoMAS table reports the trained agents' accuracy on GSM8K etc.).
"""
from __future__ import annotations

from games.tasks import answer_prompt, answers_match, extract_answer


def solved(policies, agents: list[str], tasks: list, max_new_tokens: int) -> dict[str, list[bool]]:
    """agent -> for each task, whether its greedy answer alone (`answer_prompt`) is right."""
    rows = [(agent, task) for agent in agents for task in tasks]
    completions = policies.generate(
        agents=[a for a, _ in rows], prompts=[answer_prompt(t) for _, t in rows],
        max_new_tokens=max_new_tokens, greedy=True,
    ) if rows else []
    out: dict[str, list[bool]] = {a: [] for a in agents}
    for (agent, task), c in zip(rows, completions):
        out[agent].append(answers_match(extract_answer(c.text), task.answer))
    return out


def heldout_accuracy(policies, agents: list[str], tasks: list, max_new_tokens: int) -> dict[str, float]:
    """`eval/accuracy/<agent>` for each agent, plus their mean as `eval/accuracy`."""
    if not tasks:
        return {}
    correct = {a: sum(ok) for a, ok in solved(policies, agents, tasks, max_new_tokens).items()}
    out = {f"eval/accuracy/{a}": correct[a] / len(tasks) for a in agents}
    out["eval/accuracy"] = sum(correct.values()) / (len(tasks) * len(agents))
    return out


def evaluate_run(cfg) -> str:
    """`coevo eval`: load the run's latest checkpoint (if any) and report held-out accuracy."""
    from pathlib import Path

    from safetensors.torch import load_file

    import games
    from coevo.checkpoint import ADAPTER_FILE, latest_checkpoint
    from coevo.config import ConfigError, check_machine
    from coevo.models.hf import HFPolicies
    from coevo.models.store import resolve_model

    check_machine(cfg)
    run_dir = Path(cfg.run_dir).expanduser().resolve()
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir {run_dir} does not exist: name a run to evaluate (coevo eval run_dir=runs/...)")
    agents = cfg.population.agents
    policies = HFPolicies.from_config(resolve_model(cfg.model.name), agents, cfg.model.model_dump())
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        where = "no checkpoint: untrained adapters (equal to the base)"
    else:
        for a in agents:
            policies.set_adapter(a, load_file(str(ckpt / a / ADAPTER_FILE)))
        where = str(ckpt)
    tasks = games.make(cfg.game.name, **cfg.game.options).task_source.heldout(cfg.eval.num_tasks, seed=cfg.seed)
    acc = heldout_accuracy(policies, agents, tasks, cfg.eval.max_new_tokens)
    lines = [f"{where}: {len(tasks)} held-out tasks"] + [f"  {k}: {v:.3f}" for k, v in sorted(acc.items())]
    return "\n".join(lines)
