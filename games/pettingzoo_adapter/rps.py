"""rps_v0 — rock-paper-scissors from `pettingzoo.classic.rps_v2`, several rounds, played as text.

| | |
|---|---|
| id | `rps_v0` (`games.make("rps_v0", rounds=5)`) |
| agents | `player_0`, `player_1` (both move every round; the native env takes them in turn) |
| action | text: `<move>NAME</move>`, NAME rock, paper or scissors (or its number 0, 1, 2) |
| native rewards | per round won +1, lost -1, tied 0; summed over the rounds |

The native observation is one number, the opponent's last move (3 before the first round); the
text names it, the round and the score so far. What `player_1` sees in round 2:

    Game: Rock-paper-scissors, 5 rounds. Rock beats scissors, scissors beats paper, paper beats rock.
    Round 2 of 5. Your opponent's last move: paper. Your score so far: -1.
    Legal moves: rock, paper, scissors
    It is your turn. Reply with your move as <move>NAME</move>.

Scripted players (tournament baselines): `rock` (always rock), `cycle` (rock, paper, scissors,
...), `beat_last` (plays what beats the opponent's last move), `random`, `illegal`.
Options: `rounds` (5), `illegal` ("forfeit" | "random"), `max_new_tokens`.

A forfeit (an illegal move under `illegal="forfeit"`) loses every round not yet scored, the one being
played included: the score so far minus those rounds for the offender, plus them for the opponent.
So resigning never pays better than playing on (at -1 flat, a player 0-3 down would resign).

Example: two rounds, paper beats rock, then a tie:

    >>> import games
    >>> env = games.make("rps_v0", rounds=2)
    >>> env.reset(seed=0)
    >>> for move in ["<move>rock</move>", "<move>paper</move>", "<move>scissors</move>", "<move>2</move>"]:
    ...     env.step(move)
    >>> env.outcome["winner"], env.total_rewards
    ('player_1', {'player_0': -1.0, 'player_1': 1.0})
"""
from __future__ import annotations

import random
from typing import Any, ClassVar

from pydantic import Field

from games.pettingzoo_adapter.adapter import AdapterOptions, PettingZooSpec, adapt

MOVES = ("rock", "paper", "scissors")


def rps_text(env, agent: str, observation: Any) -> str:
    rounds = env.options.rounds
    last = MOVES[int(observation)] if int(observation) < 3 else "none yet"
    lines = [f"Game: Rock-paper-scissors, {rounds} rounds. Rock beats scissors, scissors beats paper, paper beats rock."]
    if env.game_over or env.native_over:
        return "\n".join(lines + ["The game is over."])
    played = sum(m["agent"] == agent for m in env.moves)
    score = env._native_sum.get(agent, 0.0)
    lines.append(f"Round {played + 1} of {rounds}. Your opponent's last move: {last}. Your score so far: {score:g}.")
    lines.append("Legal moves: " + ", ".join(env.legal_moves(agent, observation).values()))
    lines.append("It is your turn. Reply with your move as <move>NAME</move>.")
    return "\n".join(lines)


def _seen(env, seat: str) -> int:
    return int(env.native.observe(seat))


def rock(env, seat: str, rng: random.Random) -> str:
    return "<move>rock</move>"


def cycle(env, seat: str, rng: random.Random) -> str:
    return f"<move>{MOVES[sum(m['agent'] == seat for m in env.moves) % 3]}</move>"


def beat_last(env, seat: str, rng: random.Random) -> str:
    last = _seen(env, seat)
    return f"<move>{MOVES[(last + 1) % 3] if last < 3 else 'rock'}</move>"


class Options(AdapterOptions):
    ROLES: ClassVar[tuple[str, ...]] = ("player",)
    rounds: int = Field(5, ge=1, le=100, description="rounds per game (the native env's max_cycles)")


class raw_env(adapt(PettingZooSpec(
    id="rps_v0", native="pettingzoo.classic.rps_v2:env", title="Rock-paper-scissors",
    agents=("player_0", "player_1"), max_turns=200, move_names=MOVES, obs_to_text=rps_text,
    players={"rock": rock, "cycle": cycle, "beat_last": beat_last},
))):
    """Rock-paper-scissors through the PettingZoo adapter, `rounds` per game."""

    Options = Options

    def native_options(self) -> dict[str, Any]:
        return {"max_cycles": self.options.rounds}

    def _forfeit_rewards(self) -> dict[str, float]:
        scored = min(sum(m["agent"] == a for m in self.moves) for a in self.possible_agents)
        left = self.options.rounds - scored  # the round being played included
        return {a: self._native_sum[a] + (-left if a == self._forfeit else left) for a in self.possible_agents}


def env(**options: Any) -> raw_env:
    """The rps_v0 environment (options: see the module docstring)."""
    return raw_env(**options)


SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "paper beats rock, scissors loses to it, paper (by number) wins again: 2-1",
     "task": None, "options": {"rounds": 3},
     "script": {"player_0": ["<move>paper</move>", "<move>scissors</move>", "<move>1</move>"],
                "player_1": ["<move>rock</move>"] * 3},
     "expected": {"winner": "player_0", "num_moves": 6, "illegal_moves": [],
                  "native_rewards": {"player_0": 1.0, "player_1": -1.0}},
     "rewards": {"player_0": 1.0, "player_1": -1.0}},
    {"name": "two ties", "task": None, "options": {"rounds": 2},
     "script": {"player_0": ["<move>rock</move>"] * 2, "player_1": ["<move>ROCK</move>"] * 2},
     "expected": {"draw": True, "winner": None, "num_moves": 4, "illegal_moves": []},
     "rewards": {"player_0": 0.0, "player_1": 0.0}},
    {"name": "no move tag: forfeit, both rounds lost", "task": None, "options": {"rounds": 2},
     "script": {"player_0": ["rock!"], "player_1": []},
     "expected": {"forfeit": "player_0", "winner": "player_1", "illegal_moves": [{"agent": "player_0", "turn": 0}]},
     "rewards": {"player_0": -2.0, "player_1": 2.0}},
    {"name": "0-2 down in round 3 of 5, player_1 resigns: the 2 rounds lost and the 3 left, -5",
     "task": None, "options": {"rounds": 5},
     "script": {"player_0": ["<move>paper</move>", "<move>paper</move>", "<move>rock</move>"],
                "player_1": ["<move>rock</move>", "<move>rock</move>", "I give up"]},
     "expected": {"forfeit": "player_1", "winner": "player_0", "illegal_moves": [{"agent": "player_1", "turn": 5}]},
     "rewards": {"player_0": 5.0, "player_1": -5.0}},
]
