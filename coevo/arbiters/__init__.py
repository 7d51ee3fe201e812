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

from collections.abc import Callable
from typing import Any, Protocol

from coevo.episode import Episode


class Arbiter(Protocol):
    def __call__(self, episodes: list[Episode]) -> dict[str, float]: ...


ARBITERS: dict[str, Callable[..., Arbiter]] = {}


def register_arbiter(name: str) -> Callable[[type], type]:
    """Decorator: register an arbiter class (or factory) under `name` (names are unique)."""

    def decorator(cls: type) -> type:
        if name in ARBITERS:
            raise ValueError(f"arbiter {name!r} is already registered")
        ARBITERS[name] = cls
        return cls

    return decorator


def make_arbiter(name: str, **params: Any) -> Arbiter:
    """Build the arbiter `name` with `params` (a pydantic ValidationError names a bad param)."""
    if name not in ARBITERS:
        raise KeyError(f"unknown arbiter {name!r}; known: {', '.join(sorted(ARBITERS)) or 'none'}")
    return ARBITERS[name](**params)


# Importing registers them.
from coevo.arbiters import comas  # noqa: E402,F401

__all__ = ["ARBITERS", "Arbiter", "make_arbiter", "register_arbiter"]
