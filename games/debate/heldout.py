"""debate_v0's held-out measure `rounds`: does debating make the answers better, round by round?

On each held-out task (the run's shared held-out set, `eval.tasks`) the population holds one debate
with the game's options (N debaters, R rounds, the training temperature); seat j is agent
j mod (number of agents), so a trio of agents fills the paper's three seats. Du et al.'s measure
(PAPERS.md "Other methods") is the accuracy of the debaters' answers and of their majority vote
after each round: a debate that helps shows round R above round 1.

Metrics, for each round k = 1..R (read iteration 0 for untrained debaters, the last for trained):
`eval/debate/round_<k>/accuracy` (the share of right individual answers, over seats and tasks) and
`eval/debate/round_<k>/majority_accuracy` (the share of tasks whose round-k majority is right).
Round 1 is each debater alone with the evaluation's prompt, sampled: its accuracy is pass@1 at
the training temperature, not the greedy `accuracy` measure.
"""
from __future__ import annotations

from games.tasks import answers_match


def debate_rounds(episodes: list, rounds: int) -> dict[str, float]:
    """The measure's metrics from finished debates' outcomes (see the module docstring)."""
    out: dict[str, float] = {}
    for k in range(rounds):
        individual = [answers_match(a[k] if len(a) > k else None, ep.outcome["gold"])
                      for ep in episodes for a in ep.outcome["answers"].values()]
        majority = [answers_match(ep.outcome["majority"][k] if len(ep.outcome["majority"]) > k else None,
                                  ep.outcome["gold"]) for ep in episodes]
        out[f"eval/debate/round_{k + 1}/accuracy"] = sum(individual) / len(individual)
        out[f"eval/debate/round_{k + 1}/majority_accuracy"] = sum(majority) / len(majority)
    return out


def rounds_measure(policies, agents: list[str], tasks: list, ctx) -> dict[str, float]:
    """`eval.measures: [rounds]`: one debate of the population per held-out task."""
    import games
    from coevo.rollout import GamePlan, play

    env = games.make(ctx.game, **ctx.options)
    plans = [GamePlan(seed=ctx.seed * 100_003 + i, task=task,
                      seats={s: agents[j % len(agents)] for j, s in enumerate(env.possible_agents)})
             for i, task in enumerate(tasks)]
    episodes, _ = play(policies, ctx.game, ctx.options, plans, ctx.temperature)
    return debate_rounds(episodes, env.options.rounds)
