"""comas_v0 — the CoMAS discussion (PAPERS.md section 1).

A solver, an evaluator and a scorer discuss one math problem for `rounds` rounds.

| | |
|---|---|
| id | `comas_v0` (`games.make("comas_v0", **options)`, `pettingzoo.make("aec", "comas_v0")`) |
| agents | `solver_0`, `evaluator_0`, `scorer_0` |
| turn order | each round: solver -> evaluator -> scorer; `3 * rounds` turns in all |
| observation | `{"text": str}`: the role's prompt, filled from `prompts/<role>.txt` |
| action | text (any `str`; see "Illegal moves") |
| native rewards | `solver_0`: 1.0 at the end if the final answer is correct, else 0.0; others 0 |

Roles and what each one sees:

- **solver**: the problem and the whole discussion of earlier rounds (solutions, critiques,
  scores); writes a step-by-step solution ending with its answer. The answer is the LAST number of
  its text (`games.tasks.extract_answer`).
- **evaluator**: the problem and this round's solution; writes a critique (it is meant to find flaws).
- **scorer**: the problem, this round's solution and critique; writes `<score>N</score>`, N in 1..3.
  Generation stops at `</score>` (`env.stop_strings("scorer_0")`).

Templates get the fields `question`, `history` (earlier rounds, "(none)" in round 1), `solution`,
`critique`; edit `prompts/*.txt` to change what a role sees (e.g. add `{history}` to the evaluator).

Illegal moves: the score is read ONLY from the scorer's own action, with
`<score>\\s*([1-3])\\s*</score>` (first match). No match (garbage, "", `<score>4</score>`) gives
score None and an entry in `outcome["illegal_moves"]`; there is no fallback to a middle score
(that would invite reward hacking). A `<score>3</score>` written by the solver or the evaluator is
just text: it never counts as a score. A non-text action is illegal for every role and counts as "".

Outcome (`env.outcome`, also `infos[agent]["outcome"]` at the end):

    {"question": str, "gold": str,
     "rounds": [{"solution": str, "answer": str | None, "critique": str,
                 "score": int | None, "score_text": str}, ...],
     "final_answer": str | None,      # the last round's answer
     "correct": bool,                 # final_answer equals gold numerically
     "illegal_moves": [{"agent", "turn", "reason"}], "truncated": bool}

Training rewards are the arbiter's business (`coevo.arbiters.comas`): solver (tau-1)/2,
evaluator 1-(tau-1)/2, scorer 0 or -1 when its score does not parse.

Options (`Options`, pydantic, extra fields rejected): `rounds` (>= 1, default 1); `tasks` (a
`TaskSourceConfig`, default procedural arithmetic difficulty 1); `max_new_tokens` per role
(defaults solver 128, evaluator 96, scorer 24: enough for a 135M model, override any subset);
`max_obs_chars`, `max_action_chars`.

Example:

    >>> import games
    >>> from games.tasks import Task
    >>> env = games.make("comas_v0", rounds=1)
    >>> env.reset(seed=0, options={"task": Task("t", "What is 2 + 3?", "5")})
    >>> for text in ["2 + 3 = 5. The answer is 5.", "The solution is right.", "<score>3</score>"]:
    ...     env.step(text)
    >>> env.outcome["rounds"][0]["score"], env.outcome["correct"], env.rewards["solver_0"]
    (3, True, 1.0)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from games.base import GameFacts, TextGame, TextGameOptions
from games.tasks import Task, answers_match, extract_answer

SCORE_RE = re.compile(r"<score>\s*([1-3])\s*</score>")


def parse_score(text: str) -> int | None:
    """The scorer's score, 1..3, or None when its text holds no `<score>N</score>`."""
    m = SCORE_RE.search(text)
    return int(m.group(1)) if m else None


class Options(TextGameOptions):
    ROLES: ClassVar[tuple[str, ...]] = ("solver", "evaluator", "scorer")

    rounds: int = Field(1, ge=1, description="discussion rounds (solver, evaluator, scorer each)")
    max_new_tokens: dict[str, int] = Field(default_factory=lambda: {"solver": 128, "evaluator": 96, "scorer": 24})


class raw_env(TextGame):
    FACTS = GameFacts(
        roles=("solver", "evaluator", "scorer"),
        turn_order=("solver_0", "evaluator_0", "scorer_0"),
        stop_strings={"scorer": ("</score>",)},
        formats={"scorer": "<score>3</score>"},
        response_prefix={"scorer": "<score>"},  # parse rate 0/24 -> 13/24 with SmolLM2-135M
    )
    Options = Options
    PROMPTS_DIR = Path(__file__).parent / "prompts"
    metadata = {"name": "comas_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    # ---- rules ----------------------------------------------------------------------------
    def _new_game(self) -> None:
        self._rounds: list[dict[str, Any]] = []

    def _apply(self, agent: str, text: str) -> str | None:
        role = self.role(agent)
        if role == "solver":
            self._rounds.append({"solution": text, "answer": extract_answer(text),
                                 "critique": "", "score": None, "score_text": ""})
        elif role == "evaluator":
            self._rounds[-1]["critique"] = text
        else:
            score = parse_score(text)
            self._rounds[-1].update(score=score, score_text=text)
            if score is None:
                return "no <score>N</score> with N in 1..3"
        return None

    def _game_over(self) -> bool:
        # The base counts the move before asking; the game ends after the last round's scorer.
        return self._num_turns >= 3 * self.options.rounds

    def _outcome(self) -> dict[str, Any]:
        final = self._rounds[-1]["answer"] if self._rounds else None
        return {
            "question": self.task.question,
            "gold": self.task.answer,
            "rounds": [dict(r) for r in self._rounds],
            "final_answer": final,
            "correct": answers_match(final, self.task.answer),
        }

    def _native_rewards(self) -> dict[str, float]:
        return {"solver_0": 1.0 if self._outcome()["correct"] else 0.0}

    # ---- what each role sees ----------------------------------------------------------------
    def _observation_text(self, agent: str) -> str:
        role = self.role(agent)
        q = self.task.question
        if role == "solver":
            done = self._rounds[: self._num_turns // 3]  # rounds whose scorer has moved
            return self.fit_prompt("solver", history=self._history(done), question=q)
        current = self._rounds[-1] if self._rounds else {"solution": "", "critique": ""}
        earlier = self._history(self._rounds[:-1])
        return self.fit_prompt(role, history=earlier, question=q,
                               solution=current["solution"], critique=current["critique"])

    @staticmethod
    def _history(rounds: list[dict[str, Any]]) -> str:
        if not rounds:
            return "(none)"
        parts = []
        for i, r in enumerate(rounds, 1):
            score = f"{r['score']} of 3" if r["score"] is not None else "none (no valid score)"
            parts.append(f"Round {i}\nSolution: {r['solution']}\nCritique: {r['critique']}\nScore: {score}")
        return "\n\n".join(parts)


def env(**options: Any) -> raw_env:
    """The comas_v0 environment. The base class enforces the AEC order rules itself, so there
    are no PettingZoo wrappers (they would hide `task`, `outcome` and the other rollout hooks)."""
    return raw_env(**options)


# Hand-worked games with known outcomes (run by games.testing.check_scripted).
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "correct answer scored 3",
     "task": Task.scripted("Tom has 3 apples and buys 4 more. How many apples does Tom have now?", "7"),
     "script": {"solver_0": ["Tom starts with 3 apples. 3 + 4 = 7. The answer is 7."],
                "evaluator_0": ["Every step is right: 3 + 4 = 7."],
                "scorer_0": ["<score>3</score>"]},
     "expected": {"rounds": [{"answer": "7", "score": 3}], "final_answer": "7", "correct": True,
                  "illegal_moves": []},
     "rewards": {"solver_0": 1.0, "evaluator_0": 0.0, "scorer_0": 0.0}},
    {"name": "wrong answer scored 1",
     "task": Task.scripted("What is 6 * 7?", "42"),
     "script": {"solver_0": ["6 * 7 = 48, so the answer is 48."],
                "evaluator_0": ["Wrong: 6 * 7 is 42, not 48."],
                "scorer_0": ["The critique is right. <score>1</score>"]},
     "expected": {"rounds": [{"answer": "48", "score": 1}], "final_answer": "48", "correct": False,
                  "illegal_moves": []},
     "rewards": {"solver_0": 0.0, "evaluator_0": 0.0, "scorer_0": 0.0}},
    {"name": "scorer writes garbage: score None, illegal move",
     "task": Task.scripted("What is 2 + 2?", "4"),
     "script": {"solver_0": ["2 + 2 = 4"], "evaluator_0": ["Looks fine."],
                "scorer_0": ["I think it deserves a three, score: 3"]},
     "expected": {"rounds": [{"answer": "4", "score": None}], "correct": True,
                  "illegal_moves": [{"agent": "scorer_0", "turn": 2}]}},
    {"name": "solver writes <score>3</score>, scorer writes 1: score 1",
     "task": Task.scripted("What is 9 - 5?", "4"),
     "script": {"solver_0": ["9 - 5 = 3. <score>3</score>"],
                "evaluator_0": ["9 - 5 is 4, not 3. <score>3</score>"],
                "scorer_0": ["<score> 1 </score>"]},
     "expected": {"rounds": [{"answer": "3", "score": 1}], "correct": False, "illegal_moves": []}},
    {"name": "solver writes <score>3</score>, scorer writes garbage: still no score",
     "task": Task.scripted("What is 9 - 5?", "4"),
     "script": {"solver_0": ["<score>3</score> 9 - 5 = 4"], "evaluator_0": ["ok"],
                "scorer_0": ["<score>4</score>"]},
     "expected": {"rounds": [{"answer": "4", "score": None}], "correct": True,
                  "illegal_moves": [{"agent": "scorer_0"}]}},
    {"name": "two rounds: the second solver fixes the answer",
     "task": Task.scripted("Anna has 5 pencils and finds 3 more. How many pencils does Anna have now?", "8"),
     "options": {"rounds": 2},
     "script": {"solver_0": ["5 + 3 = 9. Anna has 9 pencils.", "The critique is right: 5 + 3 = 8. Answer: 8"],
                "evaluator_0": ["5 + 3 is 8, not 9.", "Now it is correct."],
                "scorer_0": ["<score>1</score>", "<score>3</score>"]},
     "expected": {"rounds": [{"answer": "9", "score": 1}, {"answer": "8", "score": 3}],
                  "final_answer": "8", "correct": True, "illegal_moves": []},
     "rewards": {"solver_0": 1.0, "evaluator_0": 0.0, "scorer_0": 0.0}},
]
