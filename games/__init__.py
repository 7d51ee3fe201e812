"""coevo's games: PettingZoo AEC text games, the shared `TextGame` base, task sources and the test kit.

Importing `games` registers every game here and with PettingZoo:

    import games
    env = games.make("comas_v0", rounds=2)        # or pettingzoo.make("aec", "comas_v0", rounds=2)
    from games import comas_v0; env = comas_v0.env()
"""
from games.base import CHARSET, GameFacts, TextGame, TextGameOptions, sanitize
from games.registry import GAMES, GameSpec, get_game, import_game_module, make, register_game
from games.tasks import Task, TaskSourceConfig, make_task_source

# Each game package registers itself on import.
from games import comas  # noqa: E402,F401  (registers comas_v0)
from games.comas import comas as comas_v0  # noqa: E402  PettingZoo style: comas_v0.env()
from games import rlccf  # noqa: E402,F401  (registers rlccf_v0)
from games import debate  # noqa: E402,F401  (registers debate_v0)
from games import soar  # noqa: E402,F401  (registers soar_v0)
from games import negotiation  # noqa: E402,F401  (registers negotiation_v0)
from games import spc  # noqa: E402,F401  (registers spc_v0)
from games import pettingzoo_adapter  # noqa: E402,F401  (registers tictactoe_v0, connect_four_v0)

__all__ = [
    "CHARSET", "GAMES", "GameFacts", "GameSpec", "Task", "TaskSourceConfig", "TextGame", "TextGameOptions",
    "comas_v0", "get_game", "import_game_module", "make", "make_task_source", "register_game", "sanitize",
]
