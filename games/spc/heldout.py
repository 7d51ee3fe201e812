"""spc_v0's held-out measure `critic`: how well each agent judges steps whose truth is known.

The step set is built procedurally and never drawn from the live generator (PAPERS.md section 2:
SPC reports the critic's F1 on labelled step data). From each held-out task of the game's own
test split (`tasks` options; the steps need worked solutions, so `eval.tasks` does not apply),
the step the game would pick (the same rule and seed as a game) is shown twice:

- as written: truth Correct;
- corrupted: its last number (the step's result, "3 + 4 = 7." -> "3 + 4 = 9.") moved by 1-3 or
  doubled, never to the same value and never below 0: truth Incorrect.

Every agent judges every step with the critic's prompt, prefill and stop strings (greedy), so the
measure follows the game's options (e.g. `critique`; with `verdict_order: random` a task's two
steps name the verdicts in the order its game's seed draws). The positive class is Incorrect (the critic's
job is finding errors). A verdict that does not parse is wrong for either truth in the balanced
accuracy; in F1 it is a miss on an Incorrect step (FN) but, F1 having no true negatives, not a
false alarm on a Correct one: read F1 with the parse rate and the balanced accuracy beside it.

Metrics, per agent and as the mean over agents: `eval/critic_f1`, `eval/critic_balanced_accuracy`
((recall on Incorrect + recall on Correct) / 2; 0.5 for a critic that always says the same),
`eval/critic_parse_rate`, `eval/critic_says_incorrect` (the share of Incorrect verdicts: a critic
that learned one constant verdict shows here).
"""
from __future__ import annotations

import random
import re

from games.tasks import Task

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def corrupt(step: str, rng: random.Random) -> str:
    """The step with its last number changed (1-3 up or down, or doubled); unchanged when it has none."""
    numbers = list(_NUMBER.finditer(step))
    if not numbers:
        return step
    m = numbers[-1]
    value = float(m.group())
    choices = [value + d for d in (-3, -2, -1, 1, 2, 3) if value + d >= 0] + ([value * 2] if value else [])
    new = rng.choice(choices)
    text = str(int(new)) if new == int(new) and "." not in m.group() else f"{new:g}"
    return step[: m.start()] + text + step[m.end():]


def labelled_steps(game: str, options: dict, tasks: list[Task], seed: int) -> list[tuple[str, str]]:
    """[(critic prompt, truth)]: each task's picked step as written (Correct) and corrupted (Incorrect)."""
    import games

    env = games.make(game, **options)
    out = []
    for i, task in enumerate(tasks):
        env.reset(seed=seed * 100_003 + i, options={"task": task})
        step = env.outcome["original_step"]
        wrong = corrupt(step, random.Random(f"spc-heldout/{seed}/{i}"))
        if wrong == step:  # no number to break: this task gives no labelled pair
            continue
        for text, truth in ((step, "Correct"), (wrong, "Incorrect")):
            out.append((env.critic_prompt(text), truth))  # the game's own critic prompt (and its options)
    env.close()
    return out


def scores(verdicts: list[str | None], truths: list[str]) -> dict[str, float]:
    """F1 (positive class Incorrect), balanced accuracy and parse rate of one critic's verdicts."""
    pairs = list(zip(verdicts, truths))
    tp = sum(v == t == "Incorrect" for v, t in pairs)
    fp = sum(v == "Incorrect" and t == "Correct" for v, t in pairs)
    fn = sum(v != "Incorrect" and t == "Incorrect" for v, t in pairs)
    tn = sum(v == t == "Correct" for v, t in pairs)
    n_bad, n_good = truths.count("Incorrect"), truths.count("Correct")
    return {"f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
            "balanced_accuracy": ((tp / n_bad if n_bad else 0.0) + (tn / n_good if n_good else 0.0)) / 2,
            "parse_rate": sum(v is not None for v in verdicts) / len(verdicts) if verdicts else 0.0,
            # a critic that always says Incorrect has F1 2/3 on a half-wrong set and balanced accuracy 0.5
            "says_incorrect": sum(v == "Incorrect" for v in verdicts) / len(verdicts) if verdicts else 0.0}


def critic_measure(policies, agents: list[str], tasks: list, ctx) -> dict[str, float]:
    """`eval.measures: [critic]`: every agent judges the labelled step set, greedy."""
    import games
    from games.spc.spc import parse_verdict

    env = games.make(ctx.game, **ctx.options)
    heldout = env.task_source.heldout(ctx.num_tasks or len(tasks), seed=ctx.seed)
    steps = labelled_steps(ctx.game, ctx.options, heldout, ctx.seed)
    prefix, stop = env.response_prefix("critic_0"), env.stop_strings("critic_0")
    tokens = env.options.max_new_tokens["critic"]
    rows = [(a, prompt, truth) for a in agents for prompt, truth in steps]
    completions = policies.generate(agents=[a for a, _, _ in rows], prompts=[p for _, p, _ in rows],
                                    max_new_tokens=tokens, greedy=True, stop=[stop] * len(rows),
                                    prefixes=[prefix] * len(rows))
    verdicts: dict[str, list[str | None]] = {a: [] for a in agents}
    for (a, _, _), c in zip(rows, completions):
        verdicts[a].append(parse_verdict(prefix + c.text))
    truths = [t for _, t in steps]
    out: dict[str, float] = {}
    for a in agents:
        for k, v in scores(verdicts[a], truths).items():
            out[f"eval/critic_{k}/{a}"] = v
    for k in ("f1", "balanced_accuracy", "parse_rate", "says_incorrect"):
        out[f"eval/critic_{k}"] = sum(out[f"eval/critic_{k}/{a}"] for a in agents) / len(agents)
    return out
