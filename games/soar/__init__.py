"""soar_v0: SOAR's teacher writes a problem, the student answers it. See games/soar/soar.py."""
from games.registry import GameSpec, register_game
from games.soar.soar import SCRIPTED_CASES, Options, env, parse_problem, raw_env

register_game(GameSpec(
    arbiter="soar", population="duo",
    id="soar_v0", env_fn=env, Options=Options, roles=raw_env.FACTS.roles,
    summary="SOAR teacher-student: the teacher writes a problem with its answer, the student answers it `samples` times",
))

__all__ = ["SCRIPTED_CASES", "Options", "env", "parse_problem", "raw_env"]
