"""spc_v0: SPC's sneaky generator against a critic, a solver measuring the rewrite. See games/spc/spc.py."""
from games.registry import GameSpec, register_game
from games.spc.heldout import critic_measure
from games.spc.spc import SCRIPTED_CASES, Options, env, parse_rewrite, parse_verdict, raw_env, solution_steps

register_game(GameSpec(
    arbiter="spc", population="duo", measures={"critic": critic_measure},
    id="spc_v0", env_fn=env, Options=Options, roles=raw_env.FACTS.roles,
    summary="SPC: a sneaky generator breaks a solution step, solvers check it breaks, a critic judges the step",
))

__all__ = ["SCRIPTED_CASES", "Options", "env", "parse_rewrite", "parse_verdict", "raw_env", "solution_steps"]
