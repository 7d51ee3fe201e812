"""The tournament driver: parse players, schedule rounds, play each round as one batched rollout,
rate every game, write the outputs. Read top to bottom, `run_tournament` is the whole procedure."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import torch
from safetensors.torch import load_file

import games
from coevo.config import Config, ConfigError, check_machine
from coevo.episode import BASE_AGENT
from coevo.rollout import GamePlan, play
from coevo.tournament.outputs import write_all
from coevo.tournament.players import Player, parse_players
from coevo.tournament.ratings import Standings, pair_result
from coevo.tournament.schedule import round_robin, seatings, swiss_pairings, swiss_rounds

MATCHES = "matches.jsonl"


def prepare_out_dir(cfg: Config) -> Path:
    out_dir = Path(cfg.out_dir or f"runs/tournament-{cfg.experiment}").expanduser().resolve()
    if (out_dir / MATCHES).exists():
        raise ConfigError(f"out_dir {out_dir} already holds a tournament; choose another out_dir")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"out_dir {out_dir} is a file, not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def load_policies(cfg: Config, players: list[Player], agent_of: dict[str, str]):
    """The model with every adapter player as one adapter of it (base rows use no adapter)."""
    from coevo.models.routed import make_policies, policy_parts

    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    adapters = [p for p in players if p.kind == "adapter"]
    # every player on the tournament's model: one base with adapters, or (model.lora=null) one copy each
    policies = make_policies(policy_parts(cfg, [agent_of[p.label] for p in adapters]))
    for p in adapters:
        policies.set_adapter(agent_of[p.label], load_file(str(p.adapter)))
    return policies


def position(game, seats: list[str], by_role: bool) -> str:
    """What a player was in a game: its role(s) where the game's seats differ in role, else its seat(s)."""
    return "+".join(sorted({game.role(s) for s in seats} if by_role else set(seats)))


def run_tournament(cfg: Config, progress: bool = True) -> Path:
    check_machine(cfg)
    t = cfg.tournament
    spec = games.get_game(cfg.game.name)
    probe = games.make(cfg.game.name, **cfg.game.options)
    base_seats = [s for s in probe.possible_agents if probe.role(s) in cfg.population.base_roles]
    seats = [s for s in probe.possible_agents if s not in base_seats]
    if len(seats) < 2:
        raise ConfigError(f"game: {cfg.game.name} leaves {len(seats)} seat(s) to the players "
                          f"({len(base_seats)} taken by population.base_roles={list(cfg.population.base_roles)}); "
                          "a tournament pairs players in at least 2 seats")
    players = parse_players(t.players, dict(spec.players), cfg.model.model_dump())
    labels = [p.label for p in players]
    by_role = len({probe.role(s) for s in seats}) > 1
    pair_seatings = seatings(len(seats), t.fill)
    if t.games_per_pairing % len(pair_seatings):
        raise ConfigError(f"tournament.games_per_pairing={t.games_per_pairing}: a pair has {len(pair_seatings)} "
                          f"seatings in {cfg.game.name} ({len(seats)} seats, fill={t.fill}), so every player "
                          f"holds every seat equally often only with a multiple of {len(pair_seatings)}")
    out_dir = prepare_out_dir(cfg)

    # model players: the base is the bare model; adapter players are adapters `player_<i>` of it
    agent_of = {p.label: BASE_AGENT if p.kind == "base" else f"player_{i}" for i, p in enumerate(players)}
    scripted = {agent_of[p.label]: spec.players[p.script] for p in players if p.kind == "scripted"}
    fills = bool(base_seats) or any(None in s for s in pair_seatings)
    needs_model = fills or any(p.kind != "scripted" for p in players)
    policies = load_policies(cfg, players, agent_of) if needs_model else None

    standings = Standings(labels, t.rating, t.tau)
    rng = random.Random(f"{cfg.seed}/tournament")
    met: set[frozenset] = set()
    byes: set[int] = set()
    n_rounds = 1 if t.schedule == "round_robin" else swiss_rounds(len(players), t.rounds)
    with open(out_dir / MATCHES, "w") as log:
        for rnd in range(1, n_rounds + 1):
            if t.schedule == "round_robin":
                pairs = round_robin(len(players))
            else:  # Swiss: neighbours in the current standing
                standing = [labels.index(row["player"]) for row in standings.table()]
                pairs, bye = swiss_pairings(standing, met, byes)
                if bye is not None:
                    byes.add(bye)
            plans, holders = [], []
            met.update(frozenset(pair) for pair in pairs)
            # game g of every pairing, then game g + 1 of every pairing, ...: ratings are updated in
            # this order, so no pair's games all come before another's
            blocks = {pair: None for pair in pairs}
            for g in range(t.games_per_pairing):
                seating = pair_seatings[g % len(pair_seatings)]
                for a, b in pairs:
                    if g % len(pair_seatings) == 0:  # every seating of a block: same task, same game seed
                        blocks[(a, b)] = probe.task_source.sample(rng, split=t.split), rng.randrange(2**31)
                    task, seed = blocks[(a, b)]
                    holder = {s: None if k is None else labels[(a, b)[k]] for s, k in zip(seats, seating)}
                    holder.update({s: None for s in base_seats})
                    plans.append(GamePlan(seed=seed, task=task, seats={
                        s: BASE_AGENT if holder[s] is None else agent_of[holder[s]] for s in probe.possible_agents}))
                    holders.append((labels[a], labels[b], holder))
            episodes, stats = play(policies, cfg.game.name, cfg.game.options, plans, cfg.sampling.temperature, scripted)
            for ep, (a, b, holder) in zip(episodes, holders):
                ranks = probe.rank(ep.outcome, ep.native_rewards)
                result = pair_result(ranks, holder, a, b)
                held = {p: [s for s, h in holder.items() if h == p] for p in (a, b)}
                rewards = {p: sum(ep.native_rewards.get(s, 0.0) for s in held[p]) for p in (a, b)}
                standings.add(result, rewards, {p: position(probe, held[p], by_role) for p in (a, b)})
                log.write(json.dumps({"round": rnd, "pairing": [a, b], "seats": holder, "ranks": ranks,
                                      "result": result, "rewards": rewards, "episode": ep.to_json()}) + "\n")
            if progress:
                print(f"round {rnd}/{n_rounds}: {len(plans)} games, {stats.turns} turns, "
                      f"{stats.completion_tokens} generated tokens in {stats.generate_s:.1f} s")
    probe.close()
    about = [("game", cfg.game.name), ("players", ", ".join(labels)), ("schedule", f"{t.schedule}, {n_rounds} round(s)"),
             ("games per pairing", t.games_per_pairing), ("seatings per pair", len(pair_seatings)),
             ("rating", f"{t.rating}, tau {t.tau:g}"), ("model", cfg.model.name if needs_model else "none (scripted players only)"),
             ("temperature", cfg.sampling.temperature), ("seed", cfg.seed)]
    write_all(out_dir, standings, f"Tournament: {cfg.game.name}", about)
    return out_dir
