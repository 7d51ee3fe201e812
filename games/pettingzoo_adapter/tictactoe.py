"""tictactoe_v0 — tic-tac-toe from `pettingzoo.classic.tictactoe_v3`, played as text.

Nobody here wrote the game: PettingZoo's environment plays it, the adapter
(`games/pettingzoo_adapter/adapter.py`) turns its observations into text and replies into moves.

| | |
|---|---|
| id | `tictactoe_v0` (`games.make("tictactoe_v0", illegal="forfeit")`, `pettingzoo.make("aec", "tictactoe_v0")`) |
| agents | `player_1` (X, moves first), `player_2` (the native env's names; role `player`) |
| action | text: `<move>N</move>`, N an empty cell (the rollout prefills `<move>`) |
| native rewards | win +1, loss -1, draw 0; an illegal move forfeits (-1 / +1) unless `illegal="random"` |
| needs | `pygame-ce` (pettingzoo.classic imports it at module level) |

Cells are numbered as PettingZoo numbers them (column by column):

    0 | 3 | 6
    1 | 4 | 7
    2 | 5 | 8

What `player_1` sees after X on 0 and O on 4 (X is always the viewer's own mark):

    Game: Tic-tac-toe. Players take turns marking an empty cell; three of your marks in a row, column or diagonal win.
    Board:
    X = your marks, O = your opponent's marks
    X 3 6
    1 O 7
    2 5 8
    You are player_1. Moves played so far: 2.
    Legal moves: 1, 2, 3, 5, 6, 7, 8
    It is your turn. Reply with the number of your move as <move>N</move>.

Scripted players (tournament baselines): `minimax` (perfect play), `random`, `illegal`.

Options: `illegal` ("forfeit" | "random"), `max_new_tokens` ({"player": 8} by default),
`max_obs_chars`, `max_action_chars`. Outcome: see the adapter's docstring.

Example: X takes the first column (cells 0, 1, 2) while O plays 3 and 4:

    >>> import games
    >>> env = games.make("tictactoe_v0")
    >>> env.reset(seed=0)
    >>> for move in ["<move>0</move>", "<move>3</move>", "<move>1</move>", "<move>4</move>", "<move>2</move>"]:
    ...     env.step(move)
    >>> env.outcome["winner"], env.total_rewards
    ('player_1', {'player_1': 1.0, 'player_2': -1.0})
"""
from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import numpy as np

from games.pettingzoo_adapter.adapter import PettingZooSpec, adapt

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


@lru_cache(maxsize=None)
def _value(board: tuple[int, ...]) -> int:
    """Game value for the side to move under perfect play: > 0 a win, 0 a draw, < 0 a loss, larger
    the sooner a win comes (and the later a loss); `board` holds 1 for the mover's marks, -1 for
    the opponent's, 0 for empty cells."""
    if any(board[a] == board[b] == board[c] == -1 for a, b, c in LINES):
        return -(1 + board.count(0))  # the opponent's last move made a line
    empty = [i for i in range(9) if board[i] == 0]
    if not empty:
        return 0
    return max(-_value(_after(board, i)) for i in empty)


def _after(board: tuple[int, ...], cell: int) -> tuple[int, ...]:
    """The board after the mover marks `cell`, seen by the other side."""
    return tuple(-1 if i == cell else -v for i, v in enumerate(board))


def minimax_player(env, seat: str, rng: random.Random) -> str:
    """Perfect play: never loses, wins as soon as it can; among equally good moves, the lowest cell."""
    planes = np.asarray(env.native.observe(seat)["observation"]).reshape(9, 2)  # cell k = action k
    board = tuple(int(own) - int(other) for own, other in planes)
    empty = [i for i in range(9) if board[i] == 0]
    best = max(empty, key=lambda i: (-_value(_after(board, i)), -i))
    return f"<move>{best}</move>"


raw_env = adapt(PettingZooSpec(
    id="tictactoe_v0", native="pettingzoo.classic.tictactoe_v3:env", title="Tic-tac-toe",
    rules="Players take turns marking an empty cell; three of your marks in a row, column or diagonal win.",
    agents=("player_1", "player_2"), max_turns=9,
    plane_names=("your marks", "your opponent's marks"),
    transpose_board=True,  # the native observation is indexed [column][row]
    players={"minimax": minimax_player},
))


def env(**options: Any) -> raw_env:
    """The tictactoe_v0 environment (options: see the module docstring)."""
    return raw_env(**options)


def _m(*cells: int | str) -> list[str]:
    return [c if isinstance(c, str) else f"<move>{c}</move>" for c in cells]


_DRAW_X, _DRAW_O = [0, 8, 6, 1, 5], [4, 2, 3, 7]  # X O X / X O O / O X X: nobody has a line

# Hand-worked games with known outcomes (run by games.testing.check_scripted).
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "player_1 wins down the left column (0, 1, 2)",
     "task": None,
     "script": {"player_1": _m(0, "<move> 1 </move>", "<move>2"), "player_2": _m(3, 4)},
     "expected": {"winner": "player_1", "draw": False, "forfeit": None, "num_moves": 5,
                  "native_rewards": {"player_1": 1.0, "player_2": -1.0}, "illegal_moves": [],
                  "moves": [{"agent": "player_1", "action": 0}, {"agent": "player_2", "action": 3},
                            {"agent": "player_1", "action": 1}, {"agent": "player_2", "action": 4},
                            {"agent": "player_1", "action": 2, "random": False}]},
     "rewards": {"player_1": 1.0, "player_2": -1.0}},
    {"name": "a full board with no line is a draw",
     "task": None,
     "script": {"player_1": _m(*_DRAW_X), "player_2": _m(*_DRAW_O)},
     "expected": {"winner": None, "draw": True, "num_moves": 9, "illegal_moves": [],
                  "native_rewards": {"player_1": 0.0, "player_2": 0.0}},
     "rewards": {"player_1": 0.0, "player_2": 0.0}},
    {"name": "player_2 plays the occupied centre: forfeit",
     "task": None,
     "script": {"player_1": _m(4), "player_2": _m(4)},
     "expected": {"winner": "player_1", "forfeit": "player_2", "draw": False, "num_moves": 1,
                  "illegal_moves": [{"agent": "player_2", "turn": 1}]},
     "rewards": {"player_1": 1.0, "player_2": -1.0}},
    {"name": "player_1 chats without a <move> tag: forfeit on the first turn",
     "task": None,
     "script": {"player_1": ["I take the centre, cell 4."], "player_2": []},
     "expected": {"winner": "player_2", "forfeit": "player_1", "num_moves": 0,
                  "illegal_moves": [{"agent": "player_1", "turn": 0}]},
     "rewards": {"player_1": -1.0, "player_2": 1.0}},
    {"name": "illegal=random: a garbage last move plays the only empty cell (5), still a draw",
     "task": None, "options": {"illegal": "random"},
     "script": {"player_1": _m(*_DRAW_X[:4], "no idea"), "player_2": _m(*_DRAW_O)},
     "expected": {"draw": True, "forfeit": None, "num_moves": 9,
                  "moves": [{}] * 8 + [{"agent": "player_1", "action": 5, "random": True}],
                  "illegal_moves": [{"agent": "player_1", "turn": 8}]},
     "rewards": {"player_1": 0.0, "player_2": 0.0}},
]
