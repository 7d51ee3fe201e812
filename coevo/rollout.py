"""Play many game instances at once: one batched `generate` per tick.

A tick collects the pending turn of every unfinished game, sends all of them to the policies in a
single `generate` call (each row on its agent's adapter; scripted players answer without the
model) and steps every game with its completion.
Games never see the model and the model never sees a game: text goes in, text comes out.
"""
from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import games
from coevo.episode import BASE_AGENT, Episode, Turn
from coevo.models.sampling import stable_seed
from games.scripted import ScriptedPlayer


@dataclass
class GamePlan:
    """What one game instance of an iteration will be: its seed, task and who sits where."""

    seed: int
    task: object  # games.tasks.Task
    seats: dict[str, str]  # seat -> agent


@dataclass
class RolloutStats:
    games: int = 0
    turns: int = 0
    generate_calls: int = 0
    prompt_tokens: int = 0
    kept_prompt_tokens: int = 0  # of those, started from an earlier prompt's kept keys and values
    completion_tokens: int = 0
    generate_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        return {
            "rollout/games": self.games, "rollout/turns": self.turns,
            "rollout/generate_calls": self.generate_calls,
            "rollout/prompt_tokens": self.prompt_tokens,
            "rollout/kept_prompt_tokens": self.kept_prompt_tokens,
            "rollout/completion_tokens": self.completion_tokens,
            "rollout/mean_completion_tokens": self.completion_tokens / max(self.turns, 1),
            "perf/generate_s": self.generate_s,
            "perf/tokens_per_s": self.completion_tokens / max(self.generate_s, 1e-9),
        }


def plan_games(game_name: str, game_options: dict, agents: list[str], n_games: int, games_per_task: int,
               seating: str, seed: int, iteration: int, split: str = "train",
               base_roles: tuple[str, ...] = ()) -> list[GamePlan]:
    """The games of one iteration, a pure function of (seed, iteration) so a resumed run replays it.
    Seats whose role is in `base_roles` are played by the frozen base model (`BASE_AGENT`)."""
    probe = games.make(game_name, **game_options)
    seats = [s for s in probe.possible_agents if probe.role(s) not in base_roles]
    base_seats = [s for s in probe.possible_agents if probe.role(s) in base_roles]
    rng = random.Random(f"{seed}/{iteration}")
    plans = []
    for g in range(n_games):
        if g % games_per_task == 0:
            task = probe.task_source.sample(rng, split=split)
        # rotate: game g shifts every agent one seat further, so over len(agents) games each agent
        # has played each seat; fixed: seat j always belongs to agent j (mod the population)
        shift = g // games_per_task if seating == "rotate" else 0
        seating_of_game = {s: agents[(j + shift) % len(agents)] for j, s in enumerate(seats)}
        seating_of_game.update({s: BASE_AGENT for s in base_seats})
        plans.append(GamePlan(seed=rng.randrange(2**31), task=task,
                              seats={s: seating_of_game[s] for s in probe.possible_agents}))
    probe.close()
    return plans


def move_seeds(plans: list[GamePlan], episodes: list[Episode], batch: list[tuple[int, str, str]]) -> list[int]:
    """Each row's sampling seed, from its game's seed, its seat and the game's move number. A seat
    that answers several times in one tick (rlccf's samples, soar's student answers, spc's solver
    attempts) also numbers its repeats, so its samples differ; the first keeps the three-part key
    every run before repeats were numbered used, so those runs replay to the digit."""
    repeats: dict[tuple[int, str], int] = {}
    seeds = []
    for i, seat, _ in batch:
        r = repeats[i, seat] = repeats.get((i, seat), -1) + 1
        seeds.append(stable_seed(plans[i].seed, seat, len(episodes[i].turns), *([r] if r else [])))
    return seeds


def play(policies, game_name: str, game_options: dict, plans: list[GamePlan], temperature: float,
         scripted: Mapping[str, ScriptedPlayer] | None = None) -> tuple[list[Episode], RolloutStats]:
    """Play every planned game to the end; returns finished Episodes in plan order.

    `scripted` maps agent names to scripted players (games/scripted.py): their seats answer in the
    same tick, from the game's state, without a model call; their turns are never trained."""
    scripted = scripted or {}
    envs = [games.make(game_name, **game_options) for _ in plans]
    rngs = [random.Random(f"{plan.seed}/scripted") for plan in plans]  # scripted players' own dice
    episodes = []
    for env, plan in zip(envs, plans):
        env.reset(seed=plan.seed, options={"task": plan.task})
        episodes.append(Episode(game=game_name, seed=plan.seed, seats=dict(plan.seats),
                                task=asdict(plan.task), native_rewards={s: 0.0 for s in env.possible_agents}))
    stats = RolloutStats(games=len(plans))
    active = list(range(len(plans)))
    # in a game of several turns an agent's next prompt repeats its last one up to the new messages:
    # HF policies keep every prompt's keys and values while these games play (models/prompt_cache.py)
    keeping = getattr(policies, "keeping_prompts", contextlib.nullcontext)
    with keeping() as kept:
        while active:
            rows = []  # (game index, seat, observation text): every game's next independent moves
            for i in active:
                env = envs[i]
                while env.agents and (env.terminations[env.agent_selection] or env.truncations[env.agent_selection]):
                    env.step(None)  # PettingZoo removes finished agents one dead step at a time
                if env.agents:
                    rows += [(i, seat, env.observe(seat)["text"]) for seat in env.concurrent_agents()]
                else:
                    episodes[i].outcome = env.outcome
            active = sorted({i for i, _, _ in rows})
            if not rows:
                break
            # scripted seats answer now, from the state their observation shows; the rest in one batch
            actions: list[str | None] = [
                scripted[plans[i].seats[seat]](envs[i], seat, rngs[i]) if plans[i].seats[seat] in scripted else None
                for i, seat, _ in rows]
            model_rows = [k for k, a in enumerate(actions) if a is None]
            completions: dict[int, object] = {}
            if model_rows:
                t0 = time.perf_counter()
                batch = [rows[k] for k in model_rows]
                outs = policies.generate(
                    agents=[plans[i].seats[seat] for i, seat, _ in batch],
                    prompts=[obs for _, _, obs in batch],
                    max_new_tokens=[envs[i].max_new_tokens(seat) for i, seat, _ in batch],
                    stop=[envs[i].stop_strings(seat) for i, seat, _ in batch],
                    prefixes=[envs[i].response_prefix(seat) for i, seat, _ in batch],
                    temperature=temperature,
                    # a move's draws depend on its game's seed, seat and move number only: a game whose
                    # moves so far are unchanged replays exactly, whatever the other games do
                    seeds=move_seeds(plans, episodes, batch),
                )
                stats.generate_s += time.perf_counter() - t0
                stats.generate_calls += 1
                for k, c in zip(model_rows, outs):
                    i, seat, _ = rows[k]
                    completions[k] = c
                    actions[k] = envs[i].response_prefix(seat) + c.text  # the prefilled start is part of the move
            for k, (i, seat, obs) in enumerate(rows):
                env = envs[i]
                if env.game_over:
                    continue  # an earlier move of this batch ended the game (a forfeit): drop the rest
                if env.agent_selection != seat:
                    raise RuntimeError(f"{game_name}: concurrent_agents() promised {seat} would act, "
                                       f"but it is {env.agent_selection}'s turn")
                c = completions.get(k)
                episodes[i].turns.append(Turn(
                    agent=plans[i].seats[seat], seat=seat, prompt_text=obs, completion_text=actions[k],
                    prompt_ids=c.prompt_ids if c else [], completion_ids=c.completion_ids if c else [],
                    logprobs=c.logprobs if c else [], group=f"{plans[i].task.id}/{seat}", train=c is not None,
                ))
                env.step(actions[k])
                for s, r in env.rewards.items():
                    episodes[i].native_rewards[s] += float(r)
                stats.turns += 1
                if c:
                    stats.prompt_tokens += len(c.prompt_ids)
                    stats.completion_tokens += len(c.completion_ids)
    if kept is not None:  # HFPolicies' cache; RoutedPolicies' parts do not report theirs
        stats.kept_prompt_tokens = kept.reused_tokens
    for env in envs:
        env.close()
    return episodes, stats
