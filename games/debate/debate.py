"""debate_v0 — multi-agent debate (Du et al., "Improving Factuality and Reasoning in Language
Models through Multiagent Debate"; PAPERS.md, "Other methods").

N debaters answer the same question; then, for R - 1 more rounds, each reads the other debaters'
previous answers and revises its own. The debate's answer is the plain majority of the last round.

| | |
|---|---|
| id | `debate_v0` (`games.make("debate_v0", **options)`, `pettingzoo.make("aec", "debate_v0")`) |
| agents | `debater_0` .. `debater_{N-1}` |
| turn order | each round: debater_0, .., debater_{N-1}; `N * R` turns in all |
| observation | `{"text": str}`: round 1 `prompts/answer.txt` (the question alone); rounds 2..R `prompts/revise.txt` (the question, the debater's own previous answer, the others' previous-round answers) |
| action | text (any `str`); its answer is the LAST number in it (`games.tasks.extract_answer`) |
| native rewards | each seat: 1.0 if its last-round answer equals the gold answer, else 0.0 (evaluation only) |

Within a round no debater sees another's move of that round (they answer simultaneously, as in
the paper), so `concurrent_agents()` lists the rest of the current round and the rollout
generates a whole round of every game in one batched call.

Malformed moves: a text holding no number is an answer of None, NOT an illegal move (the game
has no required format; `FACTS.formats` is empty). None never votes. A non-text action is illegal
(the base records it) and counts as "" (answer None); the other debaters then read "(no answer)".

The majority vote is `games.votes.crowd_answer` with `vote="majority"`, one vote per debater: the
most common non-None answer; ties go to the smallest number; None when nobody answered.

Outcome (`env.outcome`, also `infos[agent]["outcome"]` at the end). The texts are in the
episode's turns (turn k of seat s is its round k + 1), so the outcome keeps only the answers:

    {"question": str, "gold": str,                # gold: for evaluation and verifier rewards only
     "answers": {seat: [str | None, ...]},        # the seat's answer in each round
     "majority": [str | None, ...],               # per round: the majority answer
     "agreement": [float, ...],                   # per round: share of the N debaters giving it
     "final_answer": str | None,                  # majority of the last round
     "correct": bool,                             # final_answer equals gold numerically
     "illegal_moves": [...], "truncated": bool}

Training rewards: `coevo.arbiters.debate` (target gold = verifier, or majority = label-free).

Seating: any population size works; with fewer agents than seats an agent debates with copies
of itself (the paper's setting is N copies of one model).

Options (`Options`, pydantic, extra fields rejected): `debaters` (N >= 2, default 3); `rounds`
(R >= 1, default 2; R = 1 is a plain majority vote of independent answers); `instruction` (the
last line of every prompt; default "Answer with just the number.", the wording held-out accuracy
uses, so round 1 is exactly the evaluation prompt; a model that can reason wants e.g. "Think step
by step, then write the final answer as a number on the last line."); `tasks` (default arithmetic
difficulty 1); `max_new_tokens` (default debater 64); `max_obs_chars`, `max_action_chars`.

Example:

    >>> import games
    >>> from games.tasks import Task
    >>> env = games.make("debate_v0", debaters=3, rounds=2)
    >>> env.reset(seed=0, options={"task": Task("t", "What is 3 + 4?", "7")})
    >>> env.concurrent_agents()
    ['debater_0', 'debater_1', 'debater_2']
    >>> for text in ["3 + 4 = 8", "8", "3 + 4 = 7"]:   # round 1: the majority says 8
    ...     env.step(text)
    >>> print(env.observe("debater_0")["text"])
    What is 3 + 4?
    <BLANKLINE>
    Your previous answer:
    3 + 4 = 8
    <BLANKLINE>
    The other debaters' answers:
    Debater 1: 8
    <BLANKLINE>
    Debater 2: 3 + 4 = 7
    <BLANKLINE>
    Using the other debaters' answers as additional advice, give your updated answer. Answer with just the number.
    <BLANKLINE>
    >>> for text in ["You are right, it is 7.", "8", "7"]:   # round 2: debater_0 changes its mind
    ...     env.step(text)
    >>> env.outcome["majority"], env.outcome["final_answer"], env.rewards
    (['8', '7'], '7', {'debater_0': 1.0, 'debater_1': 0.0, 'debater_2': 1.0})
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from games.base import GameFacts, TextGame, TextGameOptions
from games.tasks import Task, answers_match, extract_answer
from games.votes import crowd_answer


class Options(TextGameOptions):
    ROLES: ClassVar[tuple[str, ...]] = ("debater",)

    debaters: int = Field(3, ge=2, le=16, description="N: debaters, one seat each")
    rounds: int = Field(2, ge=1, le=8, description="R: round 1 answers alone, rounds 2..R revise")
    instruction: str = Field("Answer with just the number.", min_length=1,
                             description="the last line of every prompt")
    # 64 tokens: a short answer plus a sentence of reasoning for a 135M model
    max_new_tokens: dict[str, int] = Field(default_factory=lambda: {"debater": 64})


def seats(debaters: int) -> tuple[str, ...]:
    return tuple(f"debater_{i}" for i in range(debaters))


def majority(answers: Sequence[str | None]) -> str | None:
    """Plain majority of one round, one vote per debater (`games.votes.crowd_answer`): None never
    votes, ties go to the smallest number, None when nobody answered."""
    return crowd_answer({str(i): [a] for i, a in enumerate(answers)}, "majority")


class raw_env(TextGame):
    # The class facts describe the default debate; each env replaces them with its own N.
    FACTS = GameFacts(roles=("debater",), turn_order=seats(3))
    Options = Options
    PROMPTS_DIR = Path(__file__).parent / "prompts"
    metadata = {"name": "debate_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, render_mode: str | None = None, **options: Any):
        # The seats depend on an option, and the base reads FACTS while it sets up the agents.
        # max_turns stays None: the base derives N * rounds from the `rounds` option.
        opts = Options(**options)
        self.FACTS = dataclasses.replace(type(self).FACTS, turn_order=seats(opts.debaters))
        super().__init__(render_mode, **options)

    # ---- rules ----------------------------------------------------------------------------
    def _new_game(self) -> None:
        self._texts: dict[str, list[str]] = {s: [] for s in self.possible_agents}
        self._answers: dict[str, list[str | None]] = {s: [] for s in self.possible_agents}

    def _apply(self, agent: str, text: str) -> str | None:
        self._texts[agent].append(text)
        self._answers[agent].append(extract_answer(text))
        return None  # no number is a None answer, not an illegal move (see the docstring)

    def _game_over(self) -> bool:
        return self._num_turns >= self.max_turns

    def _outcome(self) -> dict[str, Any]:
        n = len(self.possible_agents)
        played = max(len(a) for a in self._answers.values())  # rounds begun so far
        votes = [majority([a[k] for a in self._answers.values() if len(a) > k]) for k in range(played)]
        agreement = [sum(len(a) > k and a[k] is not None and a[k] == votes[k] for a in self._answers.values()) / n
                     for k in range(played)]
        final = votes[-1] if votes else None
        return {
            "question": self.task.question,
            "gold": self.task.answer,
            "answers": {s: list(a) for s, a in self._answers.items()},
            "majority": votes,
            "agreement": agreement,
            "final_answer": final,
            "correct": answers_match(final, self.task.answer),
        }

    def _native_rewards(self) -> dict[str, float]:
        return {s: float(bool(a) and answers_match(a[-1], self.task.answer)) for s, a in self._answers.items()}

    def concurrent_agents(self) -> list[str]:
        # The rest of the current round: its moves see only earlier rounds.
        order = self.FACTS.turn_order
        return list(order[self._num_turns % len(order):])

    # ---- what each seat sees ------------------------------------------------------------------
    def _observation_text(self, agent: str) -> str:
        k = len(self._texts[agent])  # rounds this seat has played: it answers round k + 1 next
        if k == 0:
            return self.fit_prompt("answer", question=self.task.question, instruction=self.options.instruction)
        others = [self._texts[s][k - 1] if len(self._texts[s]) >= k else ""
                  for s in self.possible_agents if s != agent]
        history = "\n\n".join(f"Debater {i}: {_shown(t)}" for i, t in enumerate(others, 1))
        return self.fit_prompt("revise", history=history, question=self.task.question,
                               own=_shown(self._texts[agent][k - 1]), instruction=self.options.instruction)


def _shown(text: str) -> str:
    return text.strip() or "(no answer)"


def env(**options: Any) -> raw_env:
    """The debate_v0 environment (no PettingZoo wrappers, as in comas_v0: they would hide the hooks)."""
    return raw_env(**options)


# Hand-worked debates with known outcomes (run by games.testing.check_scripted). Scripts list each
# seat's moves in round order; play is round by round, so round k of seat j is turn (k-1)*N + j.
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "the majority flips from wrong (8) to right (7) in round 2",
     "task": Task.scripted("Tom has 3 apples and buys 4 more. How many apples does Tom have now?", "7"),
     "script": {"debater_0": ["3 + 4 = 8", "I was wrong: 3 + 4 = 7."],
                "debater_1": ["8 apples", "8"],
                "debater_2": ["Tom has 7 apples.", "7"]},
     "expected": {"answers": {"debater_0": ["8", "7"], "debater_1": ["8", "8"], "debater_2": ["7", "7"]},
                  "majority": ["8", "7"], "agreement": [2 / 3, 2 / 3], "final_answer": "7",
                  "correct": True, "illegal_moves": []},
     "rewards": {"debater_0": 1.0, "debater_1": 0.0, "debater_2": 1.0}},
    {"name": "ties go to the smallest number (9 < 10 numerically), even when it is wrong",
     "task": Task.scripted("What is 5 + 5?", "10"), "options": {"debaters": 4, "rounds": 2},
     "script": {"debater_0": ["10", "9"], "debater_1": ["9", "5 + 5 = 10"],
                "debater_2": ["10", "10"], "debater_3": ["9", "9.0"]},
     "expected": {"answers": {"debater_0": ["10", "9"], "debater_1": ["9", "10"],
                              "debater_2": ["10", "10"], "debater_3": ["9", "9"]},
                  "majority": ["9", "9"], "agreement": [0.5, 0.5], "final_answer": "9",
                  "correct": False, "illegal_moves": []},
     "rewards": {"debater_0": 0.0, "debater_1": 1.0, "debater_2": 1.0, "debater_3": 0.0}},
    {"name": "nobody writes a number: all None, no vote, no illegal moves",
     "task": Task.scripted("What is 2 + 2?", "4"),
     "script": {"debater_0": ["", "four"], "debater_1": ["no idea", "<answer>four</answer>"],
                "debater_2": ["I agree.", "   "]},
     "expected": {"answers": {s: [None, None] for s in seats(3)}, "majority": [None, None],
                  "agreement": [0.0, 0.0], "final_answer": None, "correct": False, "illegal_moves": []},
     "rewards": {s: 0.0 for s in seats(3)}},
    {"name": "a non-text move is illegal, counts as no answer, and does not vote",
     "task": Task.scripted("What is 6 * 7?", "42"),
     "script": {"debater_0": ["6 * 7 = 42", "42"], "debater_1": [42, "42"], "debater_2": ["48", "48"]},
     "expected": {"answers": {"debater_0": ["42", "42"], "debater_1": [None, "42"], "debater_2": ["48", "48"]},
                  "majority": ["42", "42"], "agreement": [1 / 3, 2 / 3], "final_answer": "42", "correct": True,
                  "illegal_moves": [{"agent": "debater_1", "turn": 1, "reason": "non-text action (int)"}]},
     "rewards": {"debater_0": 1.0, "debater_1": 1.0, "debater_2": 0.0}},
    {"name": "two debaters, one round: a plain vote of independent answers",
     "task": Task.scripted("What is 9 - 5?", "4"), "options": {"debaters": 2, "rounds": 1},
     "script": {"debater_0": ["9 - 5 = 4"], "debater_1": ["The answer is 4."]},
     "expected": {"answers": {"debater_0": ["4"], "debater_1": ["4"]}, "majority": ["4"], "agreement": [1.0],
                  "final_answer": "4", "correct": True, "illegal_moves": []},
     "rewards": {"debater_0": 1.0, "debater_1": 1.0}},
]
