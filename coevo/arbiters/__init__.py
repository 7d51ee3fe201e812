"""Arbiters: finished games -> training rewards.

An arbiter is a callable object built from config params (`make_arbiter(name, **params)`):

    metrics = arbiter(episodes)   # list[Episode], all finished

It writes `turn.reward` on EVERY turn of every episode, in place, and returns a dict of metrics
whose names start with `arbiter/`. Arbiters read `episode.outcome` (what the game recorded) and
the turns; they never call a model unless they are judges (which generate through the rollout).

Arbiters are pydantic models (extra fields rejected), so a bad param fails with a message that
names it. Registered: see `ARBITERS`.
"""
from __future__ import annotations

from typing import Any, Protocol

from coevo.episode import Episode
from coevo.registry import Registry


class Arbiter(Protocol):
    def __call__(self, episodes: list[Episode]) -> dict[str, float]: ...


ARBITERS = Registry("arbiter")
register_arbiter = ARBITERS.register


def make_arbiter(name: str, **params: Any) -> Arbiter:
    """Build the arbiter `name` with `params` (a pydantic ValidationError names a bad param)."""
    return ARBITERS.lookup(name)(**params)


# Importing registers them.
from coevo.arbiters import comas  # noqa: E402,F401
from coevo.arbiters import debate  # noqa: E402,F401
from coevo.arbiters import gold  # noqa: E402,F401
from coevo.arbiters import native  # noqa: E402,F401
from coevo.arbiters import negotiation  # noqa: E402,F401
from coevo.arbiters import rlccf  # noqa: E402,F401
from coevo.arbiters import soar  # noqa: E402,F401
from coevo.arbiters import spc  # noqa: E402,F401

__all__ = ["ARBITERS", "Arbiter", "make_arbiter", "register_arbiter"]
