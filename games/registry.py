"""The game registry: id -> GameSpec. Registering also registers the id with PettingZoo, so
`pettingzoo.make("aec", "comas_v0")` works once `games` is imported."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pettingzoo
from pettingzoo.env_registry.exceptions import PettingZooRegistryError
from pydantic import BaseModel

from games.base import TextGame
from games.scripted import ScriptedPlayer


@dataclass(frozen=True)
class GameSpec:
    id: str  # "<name>_v<N>"
    env_fn: Callable[..., TextGame]  # env(**options); a module-level function, so PettingZoo can import it
    Options: type[BaseModel]  # the game's options model (extra="forbid")
    roles: tuple[str, ...]
    summary: str  # one line for `coevo` listings and docs
    # (options, agent names) -> why this population cannot play the game, or None; run by config
    check_population: Callable[[Any, list[str]], str | None] | None = None
    # policies the game ships that play without a model (games/scripted.py): tournament baselines
    players: Mapping[str, ScriptedPlayer] = field(default_factory=dict)
    # the arbiter and population (config group options) the game is meant for: a config whose
    # arbiter reads outcome keys this game does not record is refused, naming these
    arbiter: str = "native"
    population: str = "duo"
    # hand-worked games with known outcomes for the test kit (games/testing.py); None: the
    # module's SCRIPTED_CASES
    cases: tuple[dict, ...] | None = None
    # held-out measures the game ships, by name (`eval.measures`, coevo/evaluate.py):
    # fn(policies, agents, tasks, ctx) -> {metric: value}
    measures: Mapping[str, Callable[..., dict]] = field(default_factory=dict)

    @property
    def entry_point(self) -> str | Callable[..., TextGame]:
        qualname = getattr(self.env_fn, "__qualname__", "")
        if "<" in qualname or "." in qualname:  # a lambda or a nested function: pass the callable
            return self.env_fn
        return f"{self.env_fn.__module__}:{qualname}"


GAMES: dict[str, GameSpec] = {}


def _source(fn: Callable) -> tuple[str, str] | None:
    """(resolved file, qualname) of a function: the same code whatever name its module was
    imported under (`import my_game` and `game.module=my_game.py` load one file twice)."""
    try:
        return str(Path(inspect.getfile(fn)).resolve()), fn.__qualname__
    except (TypeError, OSError):
        return None


def register_game(spec: GameSpec) -> GameSpec:
    """Add a game; registering the same id twice is allowed only for the same entry point (or the
    same function of the same file, imported under another module name: the first one stays)."""
    old = GAMES.get(spec.id)
    if old is not None and old.entry_point != spec.entry_point:
        if _source(old.env_fn) is not None and _source(old.env_fn) == _source(spec.env_fn):
            return old
        raise ValueError(f"game id {spec.id!r} is already registered by {old.entry_point!r}")
    GAMES[spec.id] = spec
    try:  # PettingZoo warns on re-registration (e.g. a module reload), so register only once
        pettingzoo.spec("aec", spec.id)
    except PettingZooRegistryError:
        pettingzoo.register("aec", spec.id, entry_point=spec.entry_point)
    return spec


def import_game_module(module: str) -> None:
    """Import a user's module that registers games (`register_game` at import time): a dotted
    module name importable here (`mypkg.mygame`) or a path to a `.py` file. Every process that
    makes the game needs it, so the config carries it (`game.module`) to the rollout worker too."""
    import hashlib
    import importlib
    import importlib.util
    import sys

    if not module.endswith(".py"):
        importlib.import_module(module)
        return
    path = Path(module).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"game module file {module!r} does not exist")
    # one module name per file (two my_game.py in different folders are two modules)
    name = f"coevo_user_game_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    for mod in list(sys.modules.values()):  # imported already, under any name (`import my_game`):
        if getattr(mod, "__file__", None) and Path(mod.__file__).resolve() == path:  # its games are registered
            return
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # before exec: PettingZoo's entry point `module:env` must resolve
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise


def get_game(game_id: str) -> GameSpec:
    try:
        return GAMES[game_id]
    except KeyError:
        known = ", ".join(sorted(GAMES)) or "none"
        raise KeyError(f"unknown game {game_id!r}; registered games: {known}") from None


def make(game_id: str, **options: Any) -> TextGame:
    """A new environment of `game_id`; `options` are validated by the game's Options model
    (a pydantic ValidationError names the bad field). `render_mode` is passed through too."""
    return get_game(game_id).env_fn(**options)
