"""The PettingZoo adapter: any AEC environment with Discrete actions, played as a coevo text game.

coevo's agents speak text; most PettingZoo environments take an integer. The adapter wraps one such
environment (the *native* env) in a `TextGame`. Each turn it renders the native observation as text
(`obs_to_text`), parses the policy's reply into an action (`text_to_action`) and steps the native env
with it. The rollout, the arbiters and the game test kit drive it like any other coevo game.

Adapt an environment in a few lines (this is the whole setup of `connect_four.py` beside this file):

    from games.pettingzoo_adapter import PettingZooSpec, adapt
    from games.registry import register_game

    raw_env = adapt(PettingZooSpec(
        id="connect_four_v0", native="pettingzoo.classic.connect_four_v3:env",
        title="Connect Four", agents=("player_0", "player_1"), max_turns=42,
        rules="Drop a disc into a column; four of your discs in a row (any direction) win.",
    ))

    def env(**options):  # module level, so PettingZoo can import it by name
        return raw_env(**options)

    register_game(raw_env.game_spec(env))  # games.make("connect_four_v0"), pettingzoo.make("aec", ...)

Put `SCRIPTED_CASES` (hand-worked games, see `games/testing.py`) in the same module and
`tests/test_games.py` runs the whole test kit on the new game. `native` is the env factory or its
"module:attr" path (a path is imported at the first `make`, so `import games` does not pay for
it). `agents` may be left out: then the env is built once at `adapt` time to read them.

What the policy sees (the default `obs_to_text(env, agent, observation)`): the title and rules,
whose turn it is, the observation, the legal moves and the instruction to reply `<move>N</move>`.
Observations in the pettingzoo.classic style, `{"observation": (H, W, C) 0/1 planes,
"action_mask": ...}`, are drawn as a grid: plane 0 `X`, plane 1 `O`, then `A`, `B`, ...; with one
action per cell an empty legal cell shows its move number, with one action per column the columns
are numbered. Any other observation is printed as an array. Legal moves come from
`observation["action_mask"]` (or `infos[agent]["action_mask"]`), else every action is legal.

How a reply is read (the default `text_to_action(text, legal_actions)`, `legal_actions` a dict
{legal action: its name}, the name being the number as text when the env has no names): the first
`<move>` tag (closing tag optional) must start with a legal move number or a legal move name
(case-insensitive); else None. The tag is what keeps digits in chatter ("3 threats, so 7") from
being taken as a move; the rollout prefills `<move>` (`response_prefix`) and stops at `</move>`,
so the policy only has to write the move.

Illegal moves (no legal move parsed) are recorded in `outcome["illegal_moves"]`; option `illegal`:
- `"forfeit"` (default): the game ends; native reward -1 for the offender and +1/(n-1) for each
  other seat (+1 in a two-player game, so it stays zero-sum); a game whose score can go below -1
  overrides `_forfeit_rewards` (rps_v0: every round not yet scored is lost);
- `"random"`: a random legal move is played instead (the env's rng, seeded by `reset(seed)`).

Outcome (`env.outcome`, also `infos[agent]["outcome"]` at the end):

    {"env": "tictactoe_v3", "winner": seat | None, "draw": bool, "forfeit": seat | None,
     "native_rewards": {seat: float}, "num_moves": int,
     "moves": [{"agent": seat, "action": int, "name": str, "random": bool}, ...],
     "illegal_moves": [{"agent", "turn", "reason"}], "truncated": bool}

`winner` is the seat with the strictly highest native reward once the game is over; `draw`: the
game ended (not by the `max_turns` cap) with every seat's reward equal.

Per-game overrides are spec fields: `obs_to_text(env, agent, observation) -> str` (`env` is the
adapter game: `env.native` is the PettingZoo env, `env.legal_moves(agent, observation)` the legal
{action: name}); `text_to_action(text, legal_actions) -> int | None`; `move_names` (one per
action); `plane_names` (the board legend); `transpose_board` (draw `observation[i][j]` at column
i, row j, as tic-tac-toe stores its board); `max_new_tokens` (per reply, default 8); `players`
(scripted players for tournaments, beside the generic `random` and `illegal` of `players.py`).

Tasks: board games have no questions. Every game gets one placeholder task (id = the game id, so
GRPO/RLOO groups are "one seat within one iteration"); there is no held-out set (`heldout` is empty).
Seats keep the native env's names (`player_1`, `player_2` in tic-tac-toe; role `player`).
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

from games.base import GameFacts, TextGame, TextGameOptions
from games.registry import GameSpec
from games.tasks import Task, TaskSource

MOVE_OPEN, MOVE_CLOSE = "<move>", "</move>"
_MOVE_TAG = re.compile(r"<move>(.*?)(?:</move>|$)", re.S | re.I)
# At most 12 digits: a longer run is no move, and int() of a 10 kB digit string would raise.
_LEADING_INT = re.compile(r"[\s#(\[]*(\d{1,12})(?!\d)")
# A decimal ("4.5", "4,5") is no move, neither as a number nor as the name "4"; "4." still is.
_LEADING_DECIMAL = re.compile(r"[\s#(\[]*\d+[.,]\d")
_REPEATED_OPEN = re.compile(r"^(?:\s*<move>)+", re.I)
SYMBOLS = "XOABCDEFGH"


# ---- the two defaults a game may override ------------------------------------------------------
def default_text_to_action(text: str, legal_actions: Mapping[int, str]) -> int | None:
    """The legal action the reply's first `<move>` tag starts with (number or name), else None."""
    m = _MOVE_TAG.search(text)
    if m is None:
        return None
    # the rollout prefills `<move>`, and a model may still write the tag itself: `<move><move>4</move>`
    body = _REPEATED_OPEN.sub("", m.group(1))
    if _LEADING_DECIMAL.match(body):
        return None
    num = _LEADING_INT.match(body)
    if num:
        action = int(num.group(1))
        return action if action in legal_actions else None
    body = body.strip().lower()
    # longest name first, so a name that is a prefix of another ("pa" / "paper") cannot shadow it
    for action, name in sorted(legal_actions.items(), key=lambda kv: -len(kv[1])):
        name = name.lower()
        if name and body.startswith(name) and (len(body) == len(name) or not body[len(name)].isalnum()):
            return action
    return None


def default_obs_to_text(env: PettingZooGame, agent: str, observation: Any) -> str:
    """Title and rules, whose turn, the board (or the raw observation), the legal moves, the ask."""
    spec = env.SPEC
    legal = env.legal_moves(agent, observation)
    planes = observation.get("observation") if isinstance(observation, Mapping) else observation
    n_actions = env.native.action_space(agent).n
    lines = [f"Game: {spec.title}." + (f" {spec.rules}" if spec.rules else "")]
    board = board_text(planes, legal, n_actions, spec.plane_names, spec.transpose_board)
    lines += ["Board:", board] if board is not None else [f"Observation: {array_text(planes)}"]
    if env.game_over or env.native_over:  # game_over also covers a forfeit the native env never saw
        return "\n".join(lines + ["The game is over."])
    lines.append(f"You are {agent}. Moves played so far: {len(env.moves)}.")
    if not legal:
        return "\n".join(lines + [f"It is {env.native.agent_selection}'s turn, not yours."])
    if any(name != str(a) for a, name in legal.items()):
        lines += ["Legal moves:"] + [f"{a}: {name}" for a, name in legal.items()]
    else:
        lines.append("Legal moves: " + ", ".join(legal.values()))
    lines.append(f"It is your turn. Reply with the number of your move as {MOVE_OPEN}N{MOVE_CLOSE}.")
    return "\n".join(lines)


def board_text(planes: Any, legal: Mapping[int, str], n_actions: int,
               plane_names: Sequence[str] | None = None, transpose: bool = False) -> str | None:
    """A (H, W, C) array of 0/1 planes drawn as a grid with a legend; None for anything else."""
    a = np.asarray(planes)
    if a.ndim != 3 or not 1 <= a.shape[2] <= len(SYMBOLS) or not np.isin(a, (0, 1)).all():
        return None
    h, w, c = a.shape

    def cell(i: int, j: int) -> str:
        for p in range(c):
            if a[i, j, p]:
                return SYMBOLS[p]
        k = i * w + j  # one action per cell: the cell's action is its flat index
        return str(k) if n_actions == h * w and k in legal else "."

    grid = [[cell(i, j) for j in range(w)] for i in range(h)]
    if transpose:
        grid = [list(row) for row in zip(*grid)]
    elif n_actions == w:  # one action per column (drop games): number the columns
        grid.insert(0, [str(j) for j in range(w)])
    width = max(len(s) for row in grid for s in row)
    names = list(plane_names or [f"plane {p}" for p in range(c)])
    legend = ", ".join(f"{SYMBOLS[p]} = {names[p]}" for p in range(min(c, len(names))))
    return legend + "\n" + "\n".join(" ".join(s.rjust(width) for s in row) for row in grid)


def array_text(obs: Any) -> str:
    a = np.asarray(obs)
    if a.dtype == object:
        return repr(obs)
    return str(a.item()) if a.ndim == 0 else np.array2string(a, max_line_width=100, threshold=2000)


# pip packages of the modules pettingzoo.classic environments import (module -> package)
PACKAGES = {"pygame": "pygame-ce", "rlcard": "rlcard", "chess": "chess", "open_spiel": "open_spiel",
            "shimmy": "shimmy[openspiel]"}


def install_hint(error: ImportError) -> str:
    """What to install for an env that failed to import, from the module that was missing."""
    missing = (error.name or "").split(".")[0]
    if missing in PACKAGES:
        return f"it needs `pip install {PACKAGES[missing]}`"
    text = str(error)
    return text if "pip install" in text else f"it needs the package that provides {missing or 'a missing module'!r}"


# ---- the spec: what a user writes ----------------------------------------------------------------
@dataclass(frozen=True)
class PettingZooSpec:
    id: str  # the coevo game id, "<name>_v<N>"
    native: Callable[..., AECEnv] | str  # the env factory, or its "module:attr" path (imported lazily)
    title: str = ""  # the game's name in the prompt (default: the id)
    rules: str = ""  # one or two sentences of rules for the prompt
    agents: tuple[str, ...] | None = None  # the native possible_agents; None: read from the env
    max_turns: int = 500  # a safety cap; a well-formed game ends by its own rules first
    seeded: bool = False  # does reset(seed) change the native game (dealt cards, dice)? boards: no
    native_kwargs: Mapping[str, Any] = field(default_factory=dict)
    move_names: Sequence[str] | None = None  # one name per action, shown and accepted in replies
    plane_names: Sequence[str] | None = None  # legend of the observation planes (plane 0 first)
    transpose_board: bool = False
    max_new_tokens: int = 8  # "4</move>" is 3 to 4 tokens; a role's option overrides it
    obs_to_text: Callable[[PettingZooGame, str, Any], str] = default_obs_to_text
    text_to_action: Callable[[str, Mapping[int, str]], int | None] = default_text_to_action
    summary: str = ""
    # scripted players of this game beyond the generic `random` and `illegal` (players.py)
    players: Mapping[str, Callable] = field(default_factory=dict)

    def make_native(self, **kwargs: Any) -> AECEnv:
        """The native env, built with `native_kwargs` updated by `kwargs`."""
        factory = self.native
        if isinstance(factory, str):
            # pettingzoo.classic imports pygame, whose import prints a banner on stdout
            os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
            module, _, attr = factory.partition(":")
            try:
                factory = getattr(importlib.import_module(module), attr or "env")
            except ImportError as e:
                raise ImportError(f"{self.id} wraps {self.native}, which failed to import ({e}); "
                                  f"{install_hint(e)}") from e
        return factory(**{**self.native_kwargs, **kwargs})


class AdapterOptions(TextGameOptions):
    # `tasks` (inherited) is ignored: board games get a placeholder task
    illegal: Literal["forfeit", "random"] = "forfeit"  # what an illegal move does (module docstring)


class _PlaceholderTasks(TaskSource):
    """Board games have no questions: every game gets the same placeholder task."""

    def __init__(self, game_id: str, title: str):
        self._task = (game_id, f"a game of {title}")

    def sample(self, rng: random.Random, split: str = "train") -> Task:
        return Task(id=self._task[0], question=self._task[1], answer="")

    def heldout(self, n: int, seed: int = 0) -> list[Task]:
        return []  # nothing to answer alone: eval is meaningless for board games


# ---- the game ---------------------------------------------------------------------------------
class PettingZooGame(TextGame):
    """A native PettingZoo env as a text game; `adapt(spec)` makes the subclass for one spec."""

    SPEC: ClassVar[PettingZooSpec]
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions

    def __init__(self, render_mode: str | None = None, **options: Any):
        super().__init__(render_mode=render_mode, **options)
        self.native = self.SPEC.make_native(**self.native_options())
        if list(self.native.possible_agents) != list(self.possible_agents):
            raise ValueError(f"{self.SPEC.id}: the native env's agents are {self.native.possible_agents}, "
                             f"the spec says {list(self.possible_agents)}")
        for a in self.possible_agents:
            if not isinstance(self.native.action_space(a), spaces.Discrete):
                raise TypeError(f"{self.SPEC.id}: the adapter needs Discrete actions, {a} has "
                                f"{self.native.action_space(a)}")
        self.task_source = _PlaceholderTasks(self.SPEC.id, self.SPEC.title)
        self.moves: list[dict[str, Any]] = []

    def native_options(self) -> dict[str, Any]:
        """Keyword arguments of the native env that come from this game's options (a game whose
        options change the native env overrides this); `SPEC.native_kwargs` are the fixed ones."""
        return {}

    @classmethod
    def game_spec(cls, env_fn: Callable[..., TextGame]) -> GameSpec:
        """The registry entry of this game, played through `env_fn` (a module-level function)."""
        from games.pettingzoo_adapter.players import GENERIC_PLAYERS

        native = cls.SPEC.native if isinstance(cls.SPEC.native, str) else cls.SPEC.native.__module__
        return GameSpec(id=cls.SPEC.id, env_fn=env_fn, Options=cls.Options, roles=cls.FACTS.roles,
                        summary=cls.SPEC.summary or f"{cls.SPEC.title} ({native}) through the PettingZoo adapter",
                        players={**GENERIC_PLAYERS, **cls.SPEC.players})

    def max_new_tokens(self, agent: str) -> int:
        return self.options.max_new_tokens.get(self.role(agent), self.SPEC.max_new_tokens)

    def legal_moves(self, agent: str, observation: Any) -> dict[int, str]:
        """{legal action: its name} from the observation's action mask (else every action)."""
        space = self.native.action_space(agent)
        mask = observation.get("action_mask") if isinstance(observation, Mapping) else None
        if mask is None:
            mask = (self.native.infos.get(agent) or {}).get("action_mask")
        idx = range(space.n) if mask is None else np.flatnonzero(np.asarray(mask))
        names = self.SPEC.move_names
        start = int(space.start)
        return {start + int(i): (str(names[i]) if names else str(start + int(i))) for i in idx}

    @property
    def native_over(self) -> bool:
        nat = self.native
        return not nat.agents or all(nat.terminations.get(a) or nat.truncations.get(a) for a in nat.agents)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        super().reset(seed=seed, options=options)
        self.agent_selection = self.native.agent_selection  # the native env says who opens

    # ---- rules: the native env's, plus the illegal-move rule ----------------------------------
    def _new_game(self) -> None:
        self.native.reset(seed=self._rng.randrange(2**31))
        self.moves = []
        self._forfeit: str | None = None
        self._native_sum = {a: 0.0 for a in self.possible_agents}

    def _apply(self, agent: str, text: str) -> str | None:
        legal = self.legal_moves(agent, self.native.observe(agent))
        action = self.SPEC.text_to_action(text, legal) if legal else None
        if action is None or action not in legal:  # an override must not smuggle in an illegal move
            reason = "no legal move in the reply; legal: " + ", ".join(map(str, legal))
            if self.options.illegal == "forfeit" or not legal:
                self._forfeit = agent
                return reason
            self._play(agent, self._rng.choice(sorted(legal)), legal, randomly=True)
            return reason
        self._play(agent, action, legal, randomly=False)
        return None

    def _play(self, agent: str, action: int, legal: Mapping[int, str], randomly: bool) -> None:
        self.moves.append({"agent": agent, "action": action, "name": legal[action], "random": randomly})
        self.native.step(action)
        self._add_native_rewards()
        # an agent the native env finished mid-game steps with None (PettingZoo's dead-step rule)
        while not self.native_over and self._native_dead(self.native.agent_selection):
            self.native.step(None)
            self._add_native_rewards()

    def _native_dead(self, agent: str) -> bool:
        return bool(self.native.terminations.get(agent) or self.native.truncations.get(agent))

    def _add_native_rewards(self) -> None:
        for a, r in self.native.rewards.items():  # `rewards` holds what the last step produced
            self._native_sum[a] = self._native_sum.get(a, 0.0) + float(r)

    def _game_over(self) -> bool:
        return self._forfeit is not None or self.native_over

    def _next_agent(self) -> str:
        return self.native.agent_selection

    def _native_rewards(self) -> dict[str, float]:
        return dict(self._native_sum) if self._forfeit is None else self._forfeit_rewards()

    def _forfeit_rewards(self) -> dict[str, float]:
        """-1 for the offender, +1/(n-1) for each other seat: a board game's loss. A game whose
        score can fall below -1 overrides this, so that resigning never pays better than playing on."""
        others = [a for a in self.possible_agents if a != self._forfeit]
        return {a: (-1.0 if a == self._forfeit else 1.0 / len(others)) for a in self.possible_agents}

    def _outcome(self) -> dict[str, Any]:
        rewards = self._native_rewards()
        ended = self._game_over() and not self._truncated
        best = max(rewards.values())
        leaders = [a for a, r in rewards.items() if r == best]
        return {
            "env": self.native.metadata.get("name", str(self.SPEC.native)),
            "winner": leaders[0] if ended and len(leaders) == 1 else None,
            "draw": ended and len(leaders) == len(rewards),
            "forfeit": self._forfeit,
            "native_rewards": rewards,
            "num_moves": len(self.moves),
            "moves": [dict(m) for m in self.moves],
        }

    def _observation_text(self, agent: str) -> str:
        return self.SPEC.obs_to_text(self, agent, self.native.observe(agent))

    def close(self) -> None:
        self.native.close()


def adapt(spec: PettingZooSpec) -> type[PettingZooGame]:
    """The text-game class of `spec` (instantiate it with the game's options)."""
    agents = spec.agents
    if agents is None:
        probe = spec.make_native()
        agents = tuple(probe.possible_agents)
        probe.close()
    roles = tuple(dict.fromkeys(a.rsplit("_", 1)[0] for a in agents))
    title = spec.title or spec.id
    spec = dataclasses.replace(spec, agents=tuple(agents), title=title)

    class Options(AdapterOptions):
        ROLES: ClassVar[tuple[str, ...]] = roles

    facts = GameFacts(
        roles=roles, turn_order=tuple(agents), max_turns=spec.max_turns,
        stop_strings={r: (MOVE_CLOSE,) for r in roles},
        formats={r: f"{MOVE_OPEN}0{MOVE_CLOSE}" for r in roles},
        response_prefix={r: MOVE_OPEN for r in roles},  # the policy writes only "N</move>"
        seeded=spec.seeded,
    )
    name = spec.id.replace("-", "_")
    return type(name, (PettingZooGame,), {
        "SPEC": spec, "FACTS": facts, "Options": Options, "__doc__": f"{title} through the PettingZoo adapter.",
        "metadata": {"name": spec.id, "render_modes": ["ansi"], "is_parallelizable": False},
    })
