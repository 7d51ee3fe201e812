"""Scripted players: policies a game ships, which answer from the game's state without a model.

A tournament seats them like any model player (`tournament.players=[scripted:minimax, ...]`), as
baselines of known strength: a trained agent that cannot beat `random` at tic-tac-toe has learnt
nothing. A scripted player is a function

    player(env, seat, rng) -> action text

called when `seat` is about to act, with the live game (`env`, the `TextGame`: read its public
state, never step it) and a `random.Random` of its own, seeded per game, so tournaments replay.
The text is the whole action, response prefix included (a model's reply is prefix + completion;
a scripted one writes both).

A game lists its players in `GameSpec.players` ({name: function}); adapted PettingZoo games get
`random` and `illegal` for free (see the adapter) and may add their own.
"""
from __future__ import annotations

import random
from collections.abc import Callable

from games.base import TextGame

ScriptedPlayer = Callable[[TextGame, str, random.Random], str]
