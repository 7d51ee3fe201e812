"""Held-out evaluation: what the co-evolution did to each policy, measured apart from the game.

`eval.measures` names what a run measures on its held-out tasks (before training, after it, and
every `eval.every` iterations). Built in:

- `accuracy`: every agent answers every task alone, greedy (`answer_prompt`):
  `eval/accuracy/<agent>` and their mean `eval/accuracy` (the CoMAS table's measure).
- `sampled`: every agent answers every task `eval.samples` (k) times at the training temperature.
  `eval/sampled_accuracy[/<agent>]`: the share of right samples (pass@1 at that temperature, which a
  small model's RL moves before its greedy answer); `eval/pass_at_k[/<agent>]`: the share of tasks
  with at least one right sample; `eval/maj_accuracy[/<agent>]`: the agent's own
  majority answer of its k samples (single-model self-consistency, a crowd of one); and the
  crowd's answer over all agents' samples (RLCCF, PAPERS.md section 3) under the SC-weighted vote
  (`eval/crowd_accuracy_sc`) and the plain majority vote (`eval/crowd_accuracy_majority`).
- `vs_base`: each agent in each seat against the frozen base model in the others, on the game's
  own held-out tasks: its mean native reward per role and the arbiter's metrics over those games
  (negotiation: the price a trained seller gets from an untrained buyer).

A game adds its own measures (`GameSpec.measures`, e.g. spc_v0's `critic`: F1 on a labelled step
set). A measure is `fn(policies, agents, tasks, ctx) -> {metric: value}`; `ctx` is an `EvalContext`.
Each measure reseeds torch from `ctx.seed`, so a resumed run measures exactly what it would have.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from coevo.models.sampling import stable_seed
from games.tasks import answer_prompt, answers_match, extract_answer
from games.votes import crowd_answer


@dataclasses.dataclass(frozen=True)
class EvalContext:
    max_new_tokens: int
    temperature: float = 1.0  # the training temperature (the `sampled` measure)
    samples: int = 4          # k answers per agent and task (the `sampled` measure)
    seed: int = 0
    num_tasks: int = 0        # eval.num_tasks: measures with their own task source (critic, vs_base) use it
    game: str = ""            # the run's game, options and arbiter, for a game's own measures and vs_base
    options: dict = dataclasses.field(default_factory=dict)
    arbiter: str = ""
    arbiter_params: dict = dataclasses.field(default_factory=dict)


Measure = Callable[..., dict[str, float]]


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


def accuracy(policies, agents: list[str], tasks: list, ctx: EvalContext) -> dict[str, float]:
    """`eval/accuracy/<agent>` for each agent (greedy, alone), plus their mean as `eval/accuracy`."""
    if not tasks:
        return {}
    correct = {a: sum(ok) for a, ok in solved(policies, agents, tasks, ctx.max_new_tokens).items()}
    out = {f"eval/accuracy/{a}": correct[a] / len(tasks) for a in agents}
    out["eval/accuracy"] = sum(correct.values()) / (len(tasks) * len(agents))
    return out


def sample_answers(policies, agents: list[str], tasks: list, ctx: EvalContext) -> dict[str, list[list[str | None]]]:
    """agent -> for each task, its k sampled answers (None: no number), at ctx.temperature."""
    rows = [(a, i, j) for a in agents for i in range(len(tasks)) for j in range(ctx.samples)]
    # sample j of an agent on a task has the same seed before and after training: paired draws
    completions = policies.generate(agents=[a for a, _, _ in rows], prompts=[answer_prompt(tasks[i]) for _, i, _ in rows],
                                    max_new_tokens=ctx.max_new_tokens, temperature=ctx.temperature,
                                    seeds=[stable_seed("sampled", ctx.seed, a, i, j) for a, i, j in rows])
    out: dict[str, list[list[str | None]]] = {a: [[] for _ in tasks] for a in agents}
    for (a, i, _), c in zip(rows, completions):
        out[a][i].append(extract_answer(c.text))
    return out


def sampled(policies, agents: list[str], tasks: list, ctx: EvalContext) -> dict[str, float]:
    """pass@1 at the training temperature, each agent's own majority, and the crowd's two votes."""
    if not tasks:
        return {}
    answers = sample_answers(policies, agents, tasks, ctx)
    out: dict[str, float] = {}
    for a in agents:
        out[f"eval/sampled_accuracy/{a}"] = sum(
            answers_match(x, t.answer) for t, xs in zip(tasks, answers[a]) for x in xs) / (len(tasks) * ctx.samples)
        out[f"eval/maj_accuracy/{a}"] = sum(
            answers_match(crowd_answer({a: xs}, "majority"), t.answer) for t, xs in zip(tasks, answers[a])) / len(tasks)
        out[f"eval/pass_at_k/{a}"] = sum(
            any(answers_match(x, t.answer) for x in xs) for t, xs in zip(tasks, answers[a])) / len(tasks)
    for name in ("sampled_accuracy", "maj_accuracy", "pass_at_k"):
        out[f"eval/{name}"] = sum(out[f"eval/{name}/{a}"] for a in agents) / len(agents)
    for vote, name in (("sc_weighted", "crowd_accuracy_sc"), ("majority", "crowd_accuracy_majority")):
        out[f"eval/{name}"] = sum(answers_match(crowd_answer({a: answers[a][i] for a in agents}, vote), t.answer)
                                  for i, t in enumerate(tasks)) / len(tasks)
    return out


def vs_base(policies, agents: list[str], tasks: list, ctx: EvalContext) -> dict[str, float]:
    """Each agent in each seat of the game, the frozen base model in every other seat, on the
    game's own held-out tasks (one game per task and seat, at the training temperature), so a
    change can be credited to one side (a trained seller against an untrained buyer).

    `eval/vs_base/<agent>/<role>/reward`: the agent's mean native reward in that role; and the
    run's arbiter metrics over those games, `eval/vs_base/<agent>/<role>/<metric>` (negotiation:
    mean_price, deal_rate, below_cost_rate; an arbiter that trains inside its judgement, soar's,
    adds none)."""
    import games
    from coevo.arbiters import make_arbiter
    from coevo.episode import BASE_AGENT
    from coevo.rollout import GamePlan, play

    import random

    probe = games.make(ctx.game, **ctx.options)
    source = probe.task_source  # a game without solo questions (a board, a scenario) has no heldout()
    rng = random.Random(f"vs_base/{ctx.seed}")
    n = ctx.num_tasks or len(tasks)
    heldout = source.heldout(n, seed=ctx.seed) or [source.sample(rng, "test") for _ in range(n)]
    seats = list(probe.possible_agents)
    plans, where = [], []
    for a in agents:
        for seat in seats:
            for i, task in enumerate(heldout):
                plans.append(GamePlan(seed=ctx.seed * 100_003 + i, task=task,
                                      seats={s: a if s == seat else BASE_AGENT for s in seats}))
                where.append((a, probe.role(seat), seat))
    episodes, _ = play(policies, ctx.game, ctx.options, plans, ctx.temperature)
    arbiter = make_arbiter(ctx.arbiter, **ctx.arbiter_params) if ctx.arbiter else None
    groups: dict[tuple[str, str], list] = {}
    for (a, role, seat), ep in zip(where, episodes):
        groups.setdefault((a, role), []).append((seat, ep))
    out: dict[str, float] = {}
    for (a, role), played in groups.items():
        key = f"eval/vs_base/{a}/{role}/"
        out[key + "reward"] = sum(ep.native_rewards.get(seat, 0.0) for seat, ep in played) / len(played)
        if arbiter is not None and not hasattr(arbiter, "bind"):
            metrics = arbiter([ep for _, ep in played])
            out.update({key + k.removeprefix("arbiter/"): v for k, v in metrics.items() if "/" not in k.removeprefix("arbiter/")})
    return out


BUILTIN: dict[str, Measure] = {"accuracy": accuracy, "sampled": sampled, "vs_base": vs_base}


def measures_of(game: str) -> dict[str, Measure]:
    """The measures a run of `game` can name: the built-in ones and the game's own."""
    import games

    return {**BUILTIN, **games.GAMES[game].measures}


def evaluate(policies, agents: list[str], tasks: list, names: list[str], ctx: EvalContext) -> dict[str, float]:
    """Run the named measures on the held-out tasks (a measure with its own tasks, such as
    vs_base in a board game, runs `ctx.num_tasks` games without them)."""
    known = measures_of(ctx.game) if ctx.game else BUILTIN
    out: dict[str, float] = {}
    import torch

    for name in names:
        torch.manual_seed(ctx.seed)  # every measure samples the same way before and after a resume
        out.update(known[name](policies, agents, tasks, ctx))
    return out


def heldout_tasks(cfg) -> list:
    """The run's held-out tasks: `eval.tasks` when set (one set shared by studies of several
    games), else the game's own test split; `eval.num_tasks` of them, chosen by the seed."""
    import games
    from games.tasks import make_task_source

    if cfg.eval.tasks is not None:
        source = make_task_source(cfg.eval.tasks)
    else:
        source = games.make(cfg.game.name, **cfg.game.options).task_source
    return source.heldout(cfg.eval.num_tasks, seed=cfg.seed)


def eval_context(cfg) -> EvalContext:
    return EvalContext(max_new_tokens=cfg.eval.max_new_tokens, temperature=cfg.sampling.temperature,
                       samples=cfg.eval.samples, seed=cfg.seed, num_tasks=cfg.eval.num_tasks, game=cfg.game.name, options=dict(cfg.game.options),
                       arbiter=cfg.arbiter.name, arbiter_params=dict(cfg.arbiter.params))


def evaluate_run(cfg) -> str:
    """`coevo eval`: load the run's latest checkpoint (if any) and run its held-out measures."""
    from pathlib import Path

    from safetensors.torch import load_file

    from coevo.checkpoint import ADAPTER_FILE, latest_checkpoint
    from coevo.config import ConfigError, check_machine
    from coevo.models.routed import make_policies, policy_parts

    check_machine(cfg)
    run_dir = Path(cfg.run_dir).expanduser().resolve()
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir {run_dir} does not exist: name a run to evaluate (coevo eval run_dir=runs/...)")
    agents = cfg.population.agents
    policies = make_policies(policy_parts(cfg, agents))
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        where = "no checkpoint: untrained adapters (equal to the base)"
    else:
        for a in agents:
            policies.set_adapter(a, load_file(str(ckpt / a / ADAPTER_FILE)))
        where = str(ckpt)
    tasks = heldout_tasks(cfg)
    result = evaluate(policies, agents, tasks, cfg.eval.measures, eval_context(cfg))
    lines = [f"{where}: {len(tasks)} held-out tasks"] + [f"  {k}: {v:.3f}" for k, v in sorted(result.items())]
    return "\n".join(lines)
