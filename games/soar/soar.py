"""soar_v0 — SOAR's teacher and student (PAPERS.md section 5): a teacher writes a problem, a student answers it.

The game is one problem: the teacher, shown an example problem from the task source, writes a new
problem with its answer; the student then answers that problem `samples` times, independently. The
game itself scores the student against the TEACHER's answer (there is no other gold for a made-up
problem). What the teacher is really paid for is decided outside the game by the `soar` arbiter:
it trains the student for a few steps on a batch of these problems, with the student's own
learner, and pays the teacher the student's accuracy gain on a fixed hard set.

| | |
|---|---|
| id | `soar_v0` (`games.make("soar_v0", **options)`, `pettingzoo.make("aec", "soar_v0")`) |
| agents | `teacher_0`, `student_0` |
| turn order | teacher_0 once, then student_0 `samples` times; `1 + samples` turns (1 after an illegal problem) |
| observation | `{"text": str}`: teacher: an example problem with its answer, and the format (`prompts/teacher.txt`); student: the teacher's problem + "Answer with just the number." (`prompts/student.txt`, the wording held-out accuracy uses) |
| action | text (any `str`) |
| native rewards | `student_0`: share of its answers equal to the teacher's answer; `teacher_0`: 0 (its reward is the arbiter's) |

The teacher's move must hold a line `Problem: <text>` followed by a line `Answer: <number>` (the
first such pair counts; the answer is the last number of its line, "1,200" is 1200). Its answer
is prefilled with `Problem:`. Measured with SmolLM2-135M on 24 difficulty-2 examples: 18 of 24
moves parse in this two-line format, 0 of 16 did with `<question>..</question><answer>..</answer>`
tags. Anything else (no `Answer:` line, an empty problem, no number) is an illegal move: the game
ends there, the student never plays (there is no problem to answer), and the arbiter charges the
teacher `invalid_problem_reward`.

The student's `samples` answers do not see each other, so `concurrent_agents()` lists them all:
the rollout generates them in one batched call. A student text without a number is answer None,
not an illegal move (the student has no required format, as in rlccf).

Outcome (`env.outcome`, also `infos[agent]["outcome"]` at the end):

    {"example": str,                       # the task-source problem shown to the teacher
     "problem": str | None, "problem_answer": str | None,   # None when the teacher's move was illegal
     "valid": bool,
     "student_answers": [str | None, ...], "student_correct": [bool, ...],
     "student_accuracy": float,            # share correct (0.0 when the student did not play)
     "illegal_moves": [...], "truncated": bool}

Options (`Options`, pydantic, extra fields rejected): `samples` (student answers per problem,
n >= 1, default 4: the RLOO group of the inner loop); `tasks` (where example problems come from,
default arithmetic difficulty 2); `max_new_tokens` (teacher 64, student 24); `max_obs_chars`,
`max_action_chars`.

Example:

    >>> import games
    >>> from games.tasks import Task
    >>> env = games.make("soar_v0", samples=2)
    >>> env.reset(seed=0, options={"task": Task("t", "What is 2 + 3?", "5")})
    >>> for text in ["Problem: What is 4 + 4?\\nAnswer: 8", "8", "9"]:
    ...     env.step(text)
    >>> env.outcome["problem_answer"], env.outcome["student_correct"], env.rewards["student_0"]
    ('8', [True, False], 0.5)
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from games.base import GameFacts, TextGame, TextGameOptions
from games.tasks import Task, TaskSourceConfig, answers_match, extract_answer

PROBLEM_RE = re.compile(r"Problem:(.*?)\n\s*Answer:([^\n]*)", re.DOTALL)


def parse_problem(text: str) -> tuple[str, str] | None:
    """(question, canonical answer) from a teacher's move, or None when it does not hold one."""
    m = PROBLEM_RE.search(text)
    if not m:
        return None
    question, answer = m.group(1).strip(), extract_answer(m.group(2))
    if not question or answer is None:
        return None
    return question, answer


class Options(TextGameOptions):
    ROLES: ClassVar[tuple[str, ...]] = ("teacher", "student")

    samples: int = Field(4, ge=1, le=64, description="student answers per problem (the inner RLOO group)")
    tasks: TaskSourceConfig = Field(default_factory=lambda: TaskSourceConfig(difficulty=2))
    max_new_tokens: dict[str, int] = Field(default_factory=lambda: {"teacher": 64, "student": 24})


class raw_env(TextGame):
    FACTS = GameFacts(
        roles=("teacher", "student"),
        turn_order=("teacher_0", "student_0"),
        formats={"teacher": "Problem: What is 2 + 2?\nAnswer: 4"},
        response_prefix={"teacher": "Problem:"},
    )
    Options = Options
    PROMPTS_DIR = Path(__file__).parent / "prompts"
    metadata = {"name": "soar_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, render_mode: str | None = None, **options: Any):
        opts = Options(**options)  # the game's length depends on `samples`
        self.FACTS = dataclasses.replace(type(self).FACTS, max_turns=1 + opts.samples)
        super().__init__(render_mode, **options)

    # ---- rules ----------------------------------------------------------------------------
    def _new_game(self) -> None:
        self._problem: tuple[str, str] | None = None
        self._teacher_done = False
        self._answers: list[str | None] = []

    def _apply(self, agent: str, text: str) -> str | None:
        if agent == "teacher_0":
            self._teacher_done = True
            self._problem = parse_problem(text)
            if self._problem is None:
                return "no 'Problem: ...' line followed by an 'Answer: <number>' line"
            return None
        self._answers.append(extract_answer(text))
        return None

    def _game_over(self) -> bool:
        return self._teacher_done and (self._problem is None or len(self._answers) >= self.options.samples)

    def _next_agent(self) -> str:
        return "student_0"  # after the teacher's one move, only the student acts

    def concurrent_agents(self) -> list[str]:
        if self.agent_selection == "teacher_0":
            return ["teacher_0"]
        return ["student_0"] * (self.options.samples - len(self._answers))

    def _outcome(self) -> dict[str, Any]:
        problem, answer = self._problem or (None, None)
        correct = [answers_match(a, answer) for a in self._answers]
        return {
            "example": self.task.question,
            "problem": problem,
            "problem_answer": answer,
            "valid": self._problem is not None,
            "student_answers": list(self._answers),
            "student_correct": correct,
            "student_accuracy": sum(correct) / len(correct) if correct else 0.0,
        }

    def _native_rewards(self) -> dict[str, float]:
        return {"student_0": self._outcome()["student_accuracy"]}

    # ---- what each role sees ----------------------------------------------------------------
    def _observation_text(self, agent: str) -> str:
        if agent == "teacher_0":
            return self.fit_prompt("teacher", example=self.task.question, example_answer=self.task.answer)
        return self.fit_prompt("student", question=self._problem[0] if self._problem else "")


def env(**options: Any) -> raw_env:
    """The soar_v0 environment (no PettingZoo wrappers, as in comas_v0: they would hide the hooks)."""
    return raw_env(**options)


# Hand-worked games with known outcomes (run by games.testing.check_scripted).
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "a valid problem, the student right 3 times of 4",
     "task": Task.scripted("What is 3 * 4?", "12"),
     "script": {"teacher_0": ["Problem: Sam has 2 bags with 5 cards each. How many cards?\nAnswer: 10\n\nMore text."],
                "student_0": ["10", "2 * 5 = 10", "7", "10.0"]},
     "expected": {"problem": "Sam has 2 bags with 5 cards each. How many cards?", "problem_answer": "10",
                  "valid": True, "student_answers": ["10", "10", "7", "10"],
                  "student_correct": [True, True, False, True], "student_accuracy": 0.75, "illegal_moves": []},
     "rewards": {"teacher_0": 0.0, "student_0": 0.75}},
    {"name": "the answer is the last number of its line: 1,200 is 1200; a student text without a number is None",
     "task": Task.scripted("What is 6 + 1?", "7"), "options": {"samples": 2},
     "script": {"teacher_0": ["Problem: What is 600 * 2?\n\nAnswer: 600 * 2 = 1,200\nProblem: 3 + 3?\nAnswer: 6"],
                "student_0": ["1200", "I do not know"]},
     "expected": {"problem_answer": "1200", "valid": True, "student_answers": ["1200", None],
                  "student_correct": [True, False], "illegal_moves": []},
     "rewards": {"student_0": 0.5}},
    {"name": "no Answer line: illegal, the game ends before the student plays",
     "task": Task.scripted("What is 2 + 2?", "4"),
     "script": {"teacher_0": ["Problem: What is 5 + 5? The answer is 10."], "student_0": []},
     "expected": {"problem": None, "valid": False, "student_answers": [],
                  "illegal_moves": [{"agent": "teacher_0", "turn": 0}]},
     "rewards": {"teacher_0": 0.0, "student_0": 0.0}},
    {"name": "an answer that is not a number, or an empty problem, is illegal",
     "task": Task.scripted("What is 2 + 2?", "4"),
     "script": {"teacher_0": ["Problem: What is five plus five?\nAnswer: ten"],
                "student_0": []},
     "expected": {"valid": False, "illegal_moves": [{"agent": "teacher_0", "turn": 0}]}},
    {"name": "an empty problem is illegal",
     "task": Task.scripted("What is 2 + 2?", "4"),
     "script": {"teacher_0": ["Problem:  \nAnswer: 4"], "student_0": []},
     "expected": {"valid": False, "illegal_moves": [{"agent": "teacher_0", "turn": 0}]}},
]
