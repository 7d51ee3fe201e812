"""negotiation_v0: a seller and a buyer bargain; rule or LLM moderator; optional critic feedback.
See games/negotiation/negotiation.py."""
from games.negotiation.negotiation import (
    PLAYERS, SCRIPTED_CASES, Options, env, parse_accept, parse_offer, parse_verdict, price_rewards, raw_env,
)
from games.registry import GameSpec, register_game

register_game(GameSpec(
    arbiter="negotiation", population="duo",
    id="negotiation_v0", env_fn=env, Options=Options, roles=raw_env.FACTS.roles, players=PLAYERS,
    summary="Negotiation (Fu et al.): seller and buyer bargain over an item; a rule or LLM moderator "
            "spots the deal; optional critic advice between rounds",
))

__all__ = ["PLAYERS", "SCRIPTED_CASES", "Options", "env", "parse_accept", "parse_offer", "parse_verdict",
           "price_rewards", "raw_env"]
