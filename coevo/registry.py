"""The one registry type behind every leaf extension point (advantages, losses, arbiters).

A `Registry` is a dict from name to function or class, with a decorator that refuses a name
twice and a lookup whose error lists every known name (config validation shows it to the user).
"""
from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")


class Registry(dict):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind  # "advantage", "loss", ... as it should read in an error message

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated function or class under `name` (names are unique)."""

        def decorator(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self[name] = obj
            return obj

        return decorator

    def lookup(self, name: str):
        """The entry called `name`; KeyError listing the known names if there is none."""
        if name not in self:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self)) or 'none'}")
        return self[name]
