"""Scripted players every adapted PettingZoo game gets (games/scripted.py says what they are).

- `random`: a uniformly random legal move (the player's own rng, seeded per game);
- `illegal`: a reply without a move, every time: it forfeits (or, under `illegal="random"`, the
  game plays a random move for it). The floor of any rating table.
"""
from __future__ import annotations

import random

from games.pettingzoo_adapter.adapter import MOVE_CLOSE, MOVE_OPEN, PettingZooGame


def move(action: int) -> str:
    return f"{MOVE_OPEN}{action}{MOVE_CLOSE}"


def random_player(env: PettingZooGame, seat: str, rng: random.Random) -> str:
    legal = env.legal_moves(seat, env.native.observe(seat))
    return move(rng.choice(sorted(legal))) if legal else ""


def illegal_player(env: PettingZooGame, seat: str, rng: random.Random) -> str:
    return "I pass."


GENERIC_PLAYERS = {"random": random_player, "illegal": illegal_player}
