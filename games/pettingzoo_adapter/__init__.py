"""PettingZoo environments nobody here wrote, played as text games (see `adapter.py`).

Registers `tictactoe_v0` (pettingzoo.classic.tictactoe_v3), `connect_four_v0`
(pettingzoo.classic.connect_four_v3) and `rps_v0` (pettingzoo.classic.rps_v2); `classic.py` says
which pettingzoo.classic environments are not played yet, and why. The native envs are imported at the first `make`, so
`import games` works without pettingzoo.classic's own dependency (pygame-ce).
"""
from games.pettingzoo_adapter import connect_four, rps, tictactoe
from games.pettingzoo_adapter.adapter import (
    AdapterOptions, PettingZooGame, PettingZooSpec, adapt, board_text, default_obs_to_text,
    default_text_to_action,
)
from games.registry import register_game

register_game(tictactoe.raw_env.game_spec(tictactoe.env))
register_game(connect_four.raw_env.game_spec(connect_four.env))
register_game(rps.raw_env.game_spec(rps.env))

__all__ = [
    "AdapterOptions", "PettingZooGame", "PettingZooSpec", "adapt", "board_text", "connect_four",
    "default_obs_to_text", "default_text_to_action", "rps", "tictactoe",
]
