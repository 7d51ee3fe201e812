"""rlccf_v0: the RLCCF crowd (N answerers, n samples each). See games/rlccf/rlccf.py."""
from games.registry import GameSpec, register_game
from games.rlccf.rlccf import SCRIPTED_CASES, Options, check_population, env, raw_env

register_game(GameSpec(
    arbiter="rlccf", population="crowd",
    id="rlccf_v0", env_fn=env, Options=Options, roles=raw_env.FACTS.roles,
    summary="RLCCF crowd: crowd_size answerers each answer the same question `samples` times, independently",
    check_population=check_population,
))

__all__ = ["SCRIPTED_CASES", "Options", "check_population", "env", "raw_env"]
