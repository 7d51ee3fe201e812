"""connect_four_v0 — Connect Four from `pettingzoo.classic.connect_four_v3`, played as text.

Nobody here wrote the game: PettingZoo's environment plays it, the adapter
(`games/pettingzoo_adapter/adapter.py`) turns its observations into text and replies into moves.

| | |
|---|---|
| id | `connect_four_v0` (`games.make("connect_four_v0")`, `pettingzoo.make("aec", "connect_four_v0")`) |
| agents | `player_0` (moves first), `player_1` (the native env's names; role `player`) |
| action | text: `<move>N</move>`, N a column 0..6 that is not full (the rollout prefills `<move>`) |
| native rewards | win +1, loss -1, draw 0; an illegal move forfeits (-1 / +1) unless `illegal="random"` |
| needs | `pygame-ce` (pettingzoo.classic imports it at module level) |

What `player_1` sees after `player_0` dropped a disc into column 3 (X is always the viewer's own):

    Game: Connect Four. Drop a disc into a column; it falls to the lowest empty row. Four of your discs in a row (across, down or diagonally) win.
    Board:
    X = your discs, O = your opponent's discs
    0 1 2 3 4 5 6
    . . . . . . .
    (four more empty rows)
    . . . O . . .
    You are player_1. Moves played so far: 1.
    Legal moves: 0, 1, 2, 3, 4, 5, 6
    It is your turn. Reply with the number of your move as <move>N</move>.

Options and outcome: as for every adapted game (see the adapter's docstring).

Example: player_0 stacks four in column 0 while player_1 stacks three in column 1:

    >>> import games
    >>> env = games.make("connect_four_v0")
    >>> env.reset(seed=0)
    >>> for move in ["<move>0</move>", "<move>1</move>"] * 3 + ["<move>0</move>"]:
    ...     env.step(move)
    >>> env.outcome["winner"], env.outcome["num_moves"], env.total_rewards
    ('player_0', 7, {'player_0': 1.0, 'player_1': -1.0})
"""
from __future__ import annotations

from typing import Any

from games.pettingzoo_adapter.adapter import PettingZooSpec, adapt

raw_env = adapt(PettingZooSpec(
    id="connect_four_v0", native="pettingzoo.classic.connect_four_v3:env", title="Connect Four",
    rules="Drop a disc into a column; it falls to the lowest empty row. "
          "Four of your discs in a row (across, down or diagonally) win.",
    agents=("player_0", "player_1"), max_turns=42,
    plane_names=("your discs", "your opponent's discs"),
))


def env(**options: Any) -> raw_env:
    """The connect_four_v0 environment (options: see the adapter's docstring)."""
    return raw_env(**options)


def _m(*cols: int) -> list[str]:
    return [f"<move>{c}</move>" for c in cols]


# Hand-worked games with known outcomes (run by games.testing.check_scripted).
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "player_0 stacks four in column 0",
     "task": None,
     "script": {"player_0": _m(0, 0, 0, 0), "player_1": _m(1, 1, 1)},
     "expected": {"winner": "player_0", "draw": False, "num_moves": 7, "illegal_moves": [],
                  "native_rewards": {"player_0": 1.0, "player_1": -1.0}},
     "rewards": {"player_0": 1.0, "player_1": -1.0}},
    {"name": "player_1 completes the bottom row 1-4 (player_0 has three in column 0)",
     "task": None,
     "script": {"player_0": _m(0, 0, 0, 6), "player_1": _m(1, 2, 3, 4)},
     "expected": {"winner": "player_1", "num_moves": 8, "illegal_moves": [],
                  "moves": [{"action": a} for a in (0, 1, 0, 2, 0, 3, 6, 4)]},
     "rewards": {"player_0": -1.0, "player_1": 1.0}},
    {"name": "player_0 drops into the full column 0: forfeit",
     "task": None,
     "script": {"player_0": _m(0, 0, 0, 0), "player_1": _m(0, 0, 0)},
     "expected": {"winner": "player_1", "forfeit": "player_0", "num_moves": 6,
                  "illegal_moves": [{"agent": "player_0", "turn": 6}]},
     "rewards": {"player_0": -1.0, "player_1": 1.0}},
    {"name": "column 7 does not exist: forfeit",
     "task": None,
     "script": {"player_0": _m(7), "player_1": []},
     "expected": {"winner": "player_1", "forfeit": "player_0", "num_moves": 0,
                  "illegal_moves": [{"agent": "player_0", "turn": 0}]}},
]
