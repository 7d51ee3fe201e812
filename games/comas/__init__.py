"""comas_v0: the CoMAS discussion game (solver, evaluator, scorer). See games/comas/comas.py."""
from games.comas.comas import SCRIPTED_CASES, Options, env, parse_score, raw_env
from games.registry import GameSpec, register_game

register_game(GameSpec(
    arbiter="comas", population="trio",
    id="comas_v0", env_fn=env, Options=Options, roles=raw_env.FACTS.roles,
    summary="CoMAS discussion: solver proposes, evaluator critiques, scorer scores 1-3, for `rounds` rounds",
))

__all__ = ["SCRIPTED_CASES", "Options", "env", "parse_score", "raw_env"]
