"""debate_v0: multi-agent debate (N debaters, R rounds, majority vote). See games/debate/debate.py."""
from games.debate.debate import SCRIPTED_CASES, Options, env, majority, raw_env
from games.debate.heldout import rounds_measure
from games.registry import GameSpec, register_game

register_game(GameSpec(
    arbiter="debate", population="trio", measures={"rounds": rounds_measure},
    id="debate_v0", env_fn=env, Options=Options, roles=raw_env.FACTS.roles,
    summary="Multi-agent debate: `debaters` answer, then revise after reading each other for `rounds` rounds; majority vote",
))

__all__ = ["SCRIPTED_CASES", "Options", "env", "majority", "raw_env"]
