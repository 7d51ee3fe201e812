"""`TextGame`: the PettingZoo AEC plumbing shared by every text game, so a game only writes its rules.

A game subclasses `TextGame` and provides:

- `FACTS = GameFacts(...)`: roles, the seat order of one round, stop strings, required formats;
- `Options`: a pydantic model (extends `TextGameOptions`, `extra="forbid"`);
- `PROMPTS_DIR`: a folder of `<name>.txt` templates (`str.format` fields; `{history}` is the field
  that gets cut from the front when the observation would not fit);
- `_new_game()`, `_apply(agent, text) -> str | None` (returns the reason when the move is illegal),
  `_game_over()`, `_outcome()`, `_native_rewards()`, `_observation_text(agent)`.

The base does the rest: agents, rewards, terminations, `step` (with PettingZoo's dead-agent
`step(None)` rule), `reset(seed, options={"task": Task})`, spaces, sanitising, `render`, and the
hooks the rollout uses: `task`, `task_source`, `outcome`, `max_new_tokens(agent)`,
`stop_strings(agent)`, `role(agent)`, `concurrent_agents()`, and `rank(outcome, native_rewards)`
(how a finished game orders its seats, for tournament ratings; default: by native reward).

A game whose next few moves do not see each other (independent samples, one debate round, the
solver samples of spc) overrides `concurrent_agents()` to list them, so the rollout generates them
in ONE batched call and then steps them in that order.

Actions are text. Any `str` is passed to the game after sanitising (to the observation charset,
so outcomes and observations agree and always serialise) and truncation to `max_action_chars`.
A non-`str` action of a live agent never raises: the game sees it as "" and the base records it
in `outcome["illegal_moves"]`. Every outcome also carries `truncated` (the `max_turns` safety cap
ended the game, not its rules).
"""
from __future__ import annotations

import copy
import json
import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import AECEnv
from pydantic import BaseModel, ConfigDict, Field, field_validator

from games.tasks import Task, TaskSourceConfig, make_task_source

# Printable ASCII plus newline and tab: what a tokenizer round-trips and a terminal shows.
CHARSET = "".join(chr(i) for i in range(32, 127)) + "\n\t"
MAX_OBS_CHARS = 16_000
MAX_ACTION_CHARS = 4_000
DEFAULT_MAX_NEW_TOKENS = 128
_NOT_IN_CHARSET = re.compile(r"[^\x20-\x7e\n\t]")
# Common typography folded to ASCII so "Janet's" (GSM8K writes U+2019) does not become "Janet?s".
_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u2212": "-", "\u00d7": "*", "\u00f7": "/", "\u2044": "/", "\u00a0": " ", "\u2026": "...",
    # superscript digits stay exponents ("25 m²" -> "25 m^2", not "25 m2"); extract_answer skips them
    **{c: f"^{d}" for d, c in enumerate("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")},
})


def sanitize(text: str) -> str:
    """Map text into CHARSET: fold typography and accents, turn anything else into '?'."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_FOLD)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _NOT_IN_CHARSET.sub("?", text)


@dataclass(frozen=True)
class GameFacts:
    """What a game is, as data (OpenSpiel style)."""

    roles: tuple[str, ...]
    turn_order: tuple[str, ...]  # seats (`<role>_<i>`) in the order they act during one round
    max_turns: int | None = None  # None: len(turn_order) * options.rounds (1 if no such option)
    stop_strings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # role -> stop strings
    # role -> an example of the format its action must contain (the test kit expects an action
    # without it to be recorded as illegal); roles not listed may say anything
    formats: Mapping[str, str] = field(default_factory=dict)
    # role -> text the policy's answer starts with (prefilled after the chat template's assistant
    # header). The game receives prefix + generated text as the action. It lets a small model hit
    # a strict format: SmolLM2-135M wrote `<score>N</score>` in 0 of 72 samples unprefilled.
    response_prefix: Mapping[str, str] = field(default_factory=dict)
    # roles whose LEGAL moves decide how many turns follow (spc: an empty rewrite skips the
    # solvers); the test kit lets garbage from them end a game early, and no other garbage
    branching_roles: tuple[str, ...] = ()
    # roles whose legality depends on what the move says, not only on its format (a hint that
    # must not contain the secret): the test kit does not expect their formatted garbage legal
    content_legality: tuple[str, ...] = ()
    # reset(seed) changes the game (its task, scenario or dice); False for a game that always
    # starts the same (a board): the test kit then does not ask that seeds differ
    seeded: bool = True


class TextGameOptions(BaseModel):
    """Options every text game has; a game extends this model with its own fields."""

    model_config = ConfigDict(extra="forbid")
    ROLES: ClassVar[tuple[str, ...]] = ()  # set by the game, to check max_new_tokens keys

    tasks: TaskSourceConfig = Field(default_factory=TaskSourceConfig)
    max_new_tokens: dict[str, int] = Field(default_factory=dict)  # role -> generation budget
    max_obs_chars: int = Field(MAX_OBS_CHARS, ge=256)
    max_action_chars: int = Field(MAX_ACTION_CHARS, ge=16)

    @field_validator("max_new_tokens")
    @classmethod
    def _merge_token_budgets(cls, v: dict[str, int]) -> dict[str, int]:
        # A partial dict ({"solver": 256}) overrides only those roles; the rest keep their defaults.
        unknown = sorted(set(v) - set(cls.ROLES)) if cls.ROLES else []
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; roles of this game: {list(cls.ROLES)}")
        bad = {k: n for k, n in v.items() if not isinstance(n, int) or n < 1}
        if bad:
            raise ValueError(f"max_new_tokens must be >= 1, got {bad}")
        return {**cls.model_fields["max_new_tokens"].get_default(call_default_factory=True), **v}


def rank_by_score(scores: Mapping[str, float]) -> dict[str, int]:
    """Competition ranking, higher score first: {a: 3, b: 3, c: 1} -> {a: 1, b: 1, c: 3}."""
    return {k: 1 + sum(other > v for other in scores.values()) for k, v in scores.items()}


@lru_cache(maxsize=None)
def _template(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class TextGame(AECEnv):
    FACTS: ClassVar[GameFacts]
    Options: ClassVar[type[TextGameOptions]] = TextGameOptions
    PROMPTS_DIR: ClassVar[Path | None] = None
    metadata: ClassVar[dict[str, Any]] = {
        "name": "text_game", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, render_mode: str | None = None, **options: Any):
        super().__init__()
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.render_mode = render_mode
        self.options = self.Options(**options)
        self.task_source = make_task_source(self.options.tasks)
        self.possible_agents = list(dict.fromkeys(self.FACTS.turn_order))
        # One space object for every agent (api_test wants the same object back each call).
        self._obs_space = spaces.Dict({"text": spaces.Text(
            max_length=self.options.max_obs_chars, min_length=0, charset=CHARSET)})
        self._act_space = spaces.Text(max_length=self.options.max_action_chars, min_length=0, charset=CHARSET)
        self._rng = random.Random()
        # a game's own dice, PettingZoo's convention: `self.np_random`, seeded by `reset(seed)`
        self.np_random, self.np_random_seed = seeding.np_random()
        self.task: Task | None = None
        self.agents, self.rewards, self._cumulative_rewards = [], {}, {}
        self.terminations, self.truncations, self.infos = {}, {}, {}
        self.total_rewards: dict[str, float] = {}  # native rewards summed over the game, per seat

    # ---- spaces and facts -------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Dict:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Text:
        return self._act_space

    @property
    def max_turns(self) -> int:
        if self.FACTS.max_turns is not None:
            return self.FACTS.max_turns
        return len(self.FACTS.turn_order) * int(getattr(self.options, "rounds", 1))

    def role(self, agent: str) -> str:
        """"solver_0" -> "solver"."""
        return agent.rsplit("_", 1)[0]

    def max_new_tokens(self, agent: str) -> int:
        return self.options.max_new_tokens.get(self.role(agent), DEFAULT_MAX_NEW_TOKENS)

    def stop_strings(self, agent: str) -> list[str]:
        return list(self.FACTS.stop_strings.get(self.role(agent), ()))

    def response_prefix(self, agent: str) -> str:
        return self.FACTS.response_prefix.get(self.role(agent), "")

    def concurrent_agents(self) -> list[str]:
        """The seats that will act next, in order, whose observations do not depend on each
        other's moves: the rollout observes all of them now, generates their moves in one batch,
        then steps them in this order. A seat may appear more than once (repeated samples).
        Default: only `agent_selection` (every move sees the one before)."""
        return [self.agent_selection]

    # ---- AEC API ----------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a game. `options={"task": Task | dict}` fixes the task; without one the task is
        drawn from the task source with the env's rng (seeded by `seed`). Other keys are ignored.
        A game that draws its own randomness (a deck, a hidden number) uses `self.np_random`, a
        numpy Generator that `seed` reseeds (PettingZoo's convention), so a seeded game replays."""
        if seed is not None:
            self._rng = random.Random(seed)
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        task = (options or {}).get("task")
        if task is None:
            task = self.task_source.sample(self._rng)
        elif isinstance(task, Mapping):
            task = Task(**task)
        elif not isinstance(task, Task):
            raise TypeError(f"options['task'] must be a Task or a dict of its fields, not {type(task).__name__}")
        self.task = task
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.total_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self._skip_agent_selection = None
        self._log: list[tuple[str, str]] = []
        self._illegal: list[dict[str, Any]] = []
        self._num_turns = 0
        self._truncated = False
        self._final_outcome: dict[str, Any] | None = None
        self._new_game()
        self.agent_selection = self.FACTS.turn_order[0]

    def step(self, action: Any) -> None:
        if self.task is None:
            raise RuntimeError("call reset() before step()")
        if not self.agents:
            raise RuntimeError("the game is over and every agent has left: call reset()")
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)  # PettingZoo's rule: a finished agent steps with None, then leaves
            return
        self._cumulative_rewards[agent] = 0.0
        self._clear_rewards()
        if isinstance(action, str):
            text = sanitize(action)[: self.options.max_action_chars]
            reason = self._apply(agent, text)
        else:
            text = ""
            self._apply(agent, text)
            reason = f"non-text action ({type(action).__name__})"
        if reason:
            self._illegal.append({"agent": agent, "turn": self._num_turns, "reason": reason})
        self._log.append((agent, text))
        self._num_turns += 1
        if self._game_over():
            self._finish(truncated=False)
        elif self._num_turns >= self.max_turns:
            self._finish(truncated=True)  # a safety cap: a well-formed game ends by its own rules
        else:
            self.agent_selection = self._next_agent()
        self._accumulate_rewards()
        for a, r in self.rewards.items():
            self.total_rewards[a] += r

    def _finish(self, truncated: bool) -> None:
        self._truncated = truncated
        native = {} if truncated else self._native_rewards()
        self._final_outcome = self._compose_outcome()
        for a in self.agents:
            self.rewards[a] = float(native.get(a, 0.0))
            self.terminations[a] = not truncated
            self.truncations[a] = truncated
            self.infos[a] = {"outcome": copy.deepcopy(self._final_outcome)}
        self.agent_selection = self.agents[0]

    def observe(self, agent: str) -> dict[str, str]:
        if self.task is None:
            raise RuntimeError("call reset() before observe()")
        return {"text": self._fit(self._observation_text(agent))}

    @property
    def outcome(self) -> dict[str, Any]:
        """What the game recorded (JSON-serialisable); final once the game is over. Read
        mid-game, fields about the end (a final answer, rates over rounds) describe the game so far."""
        if self._final_outcome is not None:
            return copy.deepcopy(self._final_outcome)
        return self._compose_outcome()

    @property
    def game_over(self) -> bool:
        return self._final_outcome is not None

    def _compose_outcome(self) -> dict[str, Any]:
        return {**self._outcome(), "illegal_moves": copy.deepcopy(self._illegal), "truncated": self._truncated}

    def rank(self, outcome: dict[str, Any], native_rewards: Mapping[str, float]) -> dict[str, int]:
        """How a finished game ranks its seats: {seat: rank}, 1 the best, tied seats sharing a
        rank (a draw). Tournaments rate players from it. Default: by the native rewards summed
        over the game, higher is better. A game whose result is not its rewards (a judge's
        verdict, a solved flag) overrides this."""
        return rank_by_score({s: float(native_rewards.get(s, 0.0)) for s in self.possible_agents})

    def render(self) -> str:
        """The transcript so far as text."""
        lines = [f"{self.metadata['name']} | task {self.task.id if self.task else '-'}"]
        if self.task is not None:
            lines.append(f"question: {self.task.question}")
        for agent, text in getattr(self, "_log", []):
            lines += [f"[{agent}]", text]
        if self._final_outcome is not None:
            lines.append("[outcome] " + json.dumps(self._final_outcome))
        return "\n".join(lines)

    def close(self) -> None:
        pass

    # ---- helpers for games ------------------------------------------------------------------
    def fit_prompt(self, name: str, history: str = "", **fields: Any) -> str:
        """Fill template `<PROMPTS_DIR>/<name>.txt`; if too long, cut `history` from the front
        (older discussion goes first), keeping the task and the instruction to act."""
        template = _template(Path(self.PROMPTS_DIR) / f"{name}.txt")
        fields = {k: sanitize(str(v)) for k, v in fields.items()}
        history = sanitize(history)
        budget = self.options.max_obs_chars - len(template.format(history="", **fields))
        if len(history) > budget:
            marker = "[...]\n"
            history = marker + history[len(history) - budget + len(marker):] if budget > len(marker) else ""
        return template.format(history=history, **fields)

    def _fit(self, text: str) -> str:
        # Last resort when even the fixed part is too long: keep the end, where the instruction is.
        return sanitize(text)[-self.options.max_obs_chars:]

    def _next_agent(self) -> str:
        """Who acts next (called after a move that did not end the game): the round's seat order."""
        order = self.FACTS.turn_order
        return order[self._num_turns % len(order)]

    # ---- the rules: implemented by each game ------------------------------------------------
    def _new_game(self) -> None:
        raise NotImplementedError

    def _apply(self, agent: str, text: str) -> str | None:
        """Apply `agent`'s move; return why it was illegal (recorded in the outcome) or None."""
        raise NotImplementedError

    def _game_over(self) -> bool:
        raise NotImplementedError

    def _outcome(self) -> dict[str, Any]:
        raise NotImplementedError

    def _native_rewards(self) -> dict[str, float]:
        raise NotImplementedError

    def _observation_text(self, agent: str) -> str:
        raise NotImplementedError
