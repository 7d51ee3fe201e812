"""spc_v0 — SPC's sneaky generator against a critic (PAPERS.md section 2, self-play critic).

The game takes one correct step of a worked solution. The **sneaky** generator rewrites it into a
step that looks right but is wrong. The rewrite counts (is *valid*) only when it really breaks
the solution: a **solver** continuing from the altered step succeeds clearly less often than a
solver continuing from the original step. The **critic** then judges the step in context and
answers `<Answer>Correct</Answer>` or `<Answer>Incorrect</Answer>`.

| | |
|---|---|
| id | `spc_v0` (`games.make("spc_v0", **options)`, `pettingzoo.make("aec", "spc_v0")`) |
| agents | `sneaky_0`, `solver_0` (continues from the original step), `solver_1` (from the altered step), `critic_0` |
| turn order | sneaky_0; then solver_0 n times and solver_1 n times (one batched call); then critic_0 once per judged step |
| observation | `{"text": str}`: the role's prompt from `prompts/<role>.txt` (problem, earlier steps, the step) |
| action | text; the critic's must hold `<Answer>Correct</Answer>` or `<Answer>Incorrect</Answer>` |
| native rewards | valid rewrite: sneaky_0 +1 when the critic is fooled, -1 when caught; critic_0 +1 / -1 per judgement; invalid rewrite: sneaky_0 0 |

The step: the task's worked solution (GSM8K `answer` text, or the procedural tasks' steps) is
split into steps, one per line (a one-line solution into sentences); the game's rng (the reset
seed) picks one step that holds a number. The steps before it are the context every role sees.
A task without a worked solution gets the one step "The answer is <gold>.".

The rewrite is the first line of the sneaky move that says something once a leading label
(`Rewritten step:`, `Step 2:`) is removed, skipping lines that end in ':' (a preamble such as
"Here is the rewritten step:"). It is *invalid* at once, and the solvers do not play, when it is
empty, unchanged (whitespace and case aside), or holds no number where the original step does
(a refusal or a preamble is not a step; it would otherwise "break" the solution for free).
Otherwise each solver writes `solver_samples` (n) continuations; a continuation succeeds when the
last number of (context + step + continuation) equals the gold answer, so a solver that stops at
once is judged by the step itself. The rewrite is valid when success(original) -
success(altered) >= `min_drop` (compared exactly: 3/5 - 1/5 passes 0.4) and, when `min_original`
is set, success(original) >= `min_original` (a step the solvers cannot continue from even as
written measures nothing: "original fails"). Invalid rewrites are recorded (`invalid_reason`) and
earn the generator nothing.

The critic judges the altered step when the rewrite is valid (the truth: Incorrect) and the
original step (the truth: Correct) as `judge_original` says: `paired` (default) only in games
where it also judges the altered step, so half of its judgements are of correct steps and half of
broken ones and always answering the same verdict earns nothing on average; `always` in every
game (more critic data, but with few valid rewrites mostly Correct truths, which an
always-Correct critic would exploit); `never`. The judgements are separate turns, altered first;
neither shows the other. The verdict is read from the critic's own text with `<Answer>\\s*(Correct|Incorrect)\\s*</Answer>`
(case-insensitive, first match); `<Answer>` is prefilled and generation stops at `</Answer>`.
The critic's prompt names the two verdicts in an order the game's rng draws per game
(`verdict_order: random`; `correct_first` or `incorrect_first` fix it). Why: SmolLM2-135M answers
with whichever verdict the prompt names last, whatever the truth (on 48 train-split steps x 4
samples, 71 of 72 parsed verdicts with Correct named first, 67 of 68 with it second), so under one
fixed order the critic never samples the other verdict and has nothing to learn it from.
With `critique: true` the critic first writes a short critique (`prompts/critic_critique.txt`),
nothing is prefilled, and the verdict is the first `<Answer>` tag in its text (give it room:
`max_new_tokens.critic` of 48 or more).
No match is an illegal move, judged wrong (-1); on the altered step it counts as not caught
(the sneaky +1): zero-sum, as in the paper. Players other than the critic have no format.
A non-text action is illegal for every seat and counts as "".

Play the solvers with the frozen base (`population.base_roles: [solver]`): they only measure.

Outcome (`env.outcome`, also `infos[agent]["outcome"]` at the end):

    {"question": str, "gold": str, "context": [str], "step_index": int, "original_step": str,
     "rewrite": str | None,                 # None before the sneaky moved
     "solver_answers": {"original": [str | None], "altered": [str | None]},
     "success_original": float | None, "success_altered": float | None, "drop": float | None,
     "valid": bool, "invalid_reason": "empty" | "unchanged" | "no number" | "original fails" | "no drop" | None,
     "judgements": [{"step": "altered" | "original", "truth": "Correct" | "Incorrect",
                     "verdict": "Correct" | "Incorrect" | None, "right": bool}],
     "fooled": bool | None,                 # valid rewrites only: the critic did not say Incorrect
     "illegal_moves": [...], "truncated": bool}

Training rewards are the arbiter's (`coevo.arbiters.spc`): the same zero-sum +-1.

Held-out measure `critic` (`eval.measures: [critic]`, games/spc/heldout.py): every agent judges a
labelled step set built from the test split (each picked step as written, and with its result
corrupted), greedy; `eval/critic_f1`, `eval/critic_balanced_accuracy`, `eval/critic_parse_rate`.

Options (`Options`, pydantic, extra fields rejected): `solver_samples` (n >= 1, default 4),
`min_drop` (0 < d <= 1, default 0.5), `min_original` (0), `critique` (false), `judge_original` ("paired"), `tasks` (default arithmetic
difficulty 4: two-step problems, so there is context), `max_new_tokens` (sneaky 48, solver 32,
critic 8), `max_obs_chars`, `max_action_chars`.

Example:

    >>> import games
    >>> from games.tasks import Task
    >>> env = games.make("spc_v0", solver_samples=2)
    >>> env.reset(seed=0, options={"task": Task("t", "Tom has 3 apples and buys 4.", "7", "3 + 4 = 7.\\n#### 7")})
    >>> for text in ["3 + 4 = 8.", "So 7.", "", "", "", "<Answer>Correct</Answer>", "<Answer>Correct</Answer>"]:
    ...     env.step(text)   # sneaky; solver_0 x2 (original); solver_1 x2 (altered); critic x2
    >>> o = env.outcome; (o["drop"], o["valid"], o["fooled"], env.rewards["sneaky_0"], env.rewards["critic_0"])
    (1.0, True, True, 1.0, 0.0)
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from fractions import Fraction
from typing import Any, ClassVar, Literal

from pydantic import Field

from games.base import GameFacts, TextGame, TextGameOptions
from games.tasks import Task, TaskSourceConfig, answers_match, extract_answer

VERDICTS = ("Correct", "Incorrect")
VERDICT_RE = re.compile(r"<Answer>\s*(Correct|Incorrect)\s*</Answer>", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:rewritten step|new step|step)(?:\s*\d+)?\s*:\s*", re.IGNORECASE)
_BEFORE_SOLVERS = ("empty", "unchanged", "no number")  # invalid at once: the solvers do not play
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def parse_verdict(text: str) -> str | None:
    """"Correct" or "Incorrect" from the critic's own text, or None when it holds no verdict."""
    m = VERDICT_RE.search(text)
    return m.group(1).capitalize() if m else None


def solution_steps(task: Task) -> list[str]:
    """The task's worked solution as steps: its lines before `####`, or the sentences of a
    one-line solution; `["The answer is <gold>."]` when the task has no solution."""
    text = (task.solution or "").split("####", 1)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1:
        lines = [s.strip() for s in _SENTENCE_END.split(lines[0]) if s.strip()]
    return lines or [f"The answer is {task.answer}."]


def parse_rewrite(text: str) -> str:
    """The sneaky move's rewritten step: its first line that says something after a leading
    `Step:` / `Step 2:` / `Rewritten step:` label is removed and does not end in ':' (a preamble
    such as "Here is the rewritten step:"); "" when there is none."""
    for line in text.splitlines():
        line = _LABEL.sub("", line).strip()
        if line and not line.endswith(":"):
            return line
    return ""


def _float(x: Fraction | None) -> float | None:
    return None if x is None else float(x)


def _same_step(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


class Options(TextGameOptions):
    ROLES: ClassVar[tuple[str, ...]] = ("sneaky", "solver", "critic")

    solver_samples: int = Field(4, ge=1, le=64, description="n: continuations from each version of the step")
    min_drop: float = Field(0.5, gt=0.0, le=1.0, description="success(original) - success(altered) a valid rewrite needs")
    min_original: float = Field(0.0, ge=0.0, le=1.0, description="success(original) a valid rewrite also needs")
    critique: bool = Field(False, description="the critic writes a short critique before its verdict")
    judge_original: Literal["paired", "always", "never"] = Field(
        "paired", description="when the critic also judges the original (correct) step")
    verdict_order: Literal["random", "correct_first", "incorrect_first"] = Field(
        "random", description="the order the critic's prompt names the two verdicts in: random draws it per game")
    tasks: TaskSourceConfig = Field(default_factory=lambda: TaskSourceConfig(difficulty=4))
    max_new_tokens: dict[str, int] = Field(default_factory=lambda: {"sneaky": 48, "solver": 32, "critic": 8})


class raw_env(TextGame):
    FACTS = GameFacts(
        roles=("sneaky", "solver", "critic"),
        turn_order=("sneaky_0", "solver_0", "solver_1", "critic_0"),
        stop_strings={"critic": ("</Answer>",)},
        formats={"critic": "<Answer>Correct</Answer>"},
        response_prefix={"critic": "<Answer>"},
        branching_roles=("sneaky", "solver"),  # their moves decide whether the solvers and the critic play
    )
    Options = Options
    PROMPTS_DIR = Path(__file__).parent / "prompts"
    metadata = {"name": "spc_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, render_mode: str | None = None, **options: Any):
        opts = Options(**options)  # the game's length depends on solver_samples
        self.FACTS = dataclasses.replace(type(self).FACTS, max_turns=1 + 2 * opts.solver_samples + 2)
        if opts.critique:  # the critic writes before its verdict: nothing is prefilled
            self.FACTS = dataclasses.replace(self.FACTS, response_prefix={})
        super().__init__(render_mode, **options)

    # ---- rules ----------------------------------------------------------------------------
    def _new_game(self) -> None:
        steps = solution_steps(self.task)
        with_number = [i for i, s in enumerate(steps) if extract_answer(s) is not None] or list(range(len(steps)))
        self._k = self._rng.choice(with_number)
        self._context, self._original = steps[: self._k], steps[self._k]
        self._rewrite: str | None = None
        self._invalid: str | None = None
        self._answers: dict[str, list[str | None]] = {"original": [], "altered": []}
        self._to_judge: list[str] = []  # "altered" / "original", in the order the critic judges them
        self._judgements: list[dict[str, Any]] = []
        order = self.options.verdict_order  # drawn last: the step picked above is the same in every order
        self._correct_first = self._rng.random() < 0.5 if order == "random" else order == "correct_first"

    def _apply(self, agent: str, text: str) -> str | None:
        role = self.role(agent)
        if role == "sneaky":
            self._rewrite = parse_rewrite(text)
            if not self._rewrite:
                self._invalid = "empty"
            elif _same_step(self._rewrite, self._original):
                self._invalid = "unchanged"
            elif extract_answer(self._rewrite) is None and extract_answer(self._original) is not None:
                self._invalid = "no number"  # not a step any more (a preamble, a refusal)
            if self._invalid:
                self._to_judge = ["original"] if self.options.judge_original == "always" else []
            return None
        if role == "solver":
            version = "original" if agent == "solver_0" else "altered"
            step = self._original if version == "original" else self._rewrite
            self._answers[version].append(extract_answer("\n".join([*self._context, step, text])))
            if len(self._answers["altered"]) == self.options.solver_samples:  # the last solver sample
                if self._success("original") < Fraction(str(self.options.min_original)):
                    self._invalid = "original fails"  # the step was not solvable to begin with
                elif self._drop() < Fraction(str(self.options.min_drop)):  # exact: 3/5 - 1/5 is 2/5
                    self._invalid = "no drop"
                judge_original = self.options.judge_original == "always" or (
                    self.options.judge_original == "paired" and self._invalid is None)
                self._to_judge = (["altered"] if self._invalid is None else []) + (["original"] if judge_original else [])
            return None
        version = self._to_judge[len(self._judgements)]
        verdict = parse_verdict(text)
        truth = "Correct" if version == "original" else "Incorrect"
        self._judgements.append({"step": version, "truth": truth, "verdict": verdict, "right": verdict == truth})
        return None if verdict else "no <Answer>Correct</Answer> or <Answer>Incorrect</Answer>"

    def _success(self, version: str) -> Fraction | None:
        answers = self._answers[version]
        if not answers:
            return None
        return Fraction(sum(answers_match(a, self.task.answer) for a in answers), len(answers))

    def _drop(self) -> Fraction | None:
        if len(self._answers["altered"]) < self.options.solver_samples:
            return None
        return self._success("original") - self._success("altered")

    def _next_agent(self) -> str:
        n = self.options.solver_samples
        if self._rewrite is None:
            return "sneaky_0"
        if self._drop_known():  # the solvers are done (or never play): only the critic is left
            return "critic_0"
        return "solver_0" if len(self._answers["original"]) < n else "solver_1"

    def concurrent_agents(self) -> list[str]:
        # The 2n continuations do not see each other: one batched call. Critic turns are sequential
        # (each shows its own step); everything else is one move at a time.
        if self.agent_selection not in ("solver_0", "solver_1"):
            return [self.agent_selection]
        n = self.options.solver_samples
        return ["solver_0"] * (n - len(self._answers["original"])) + ["solver_1"] * (n - len(self._answers["altered"]))

    def _game_over(self) -> bool:
        return self._rewrite is not None and self._drop_known() and len(self._judgements) == len(self._to_judge)

    def _drop_known(self) -> bool:
        return self._invalid in _BEFORE_SOLVERS or len(self._answers["altered"]) == self.options.solver_samples

    def _outcome(self) -> dict[str, Any]:
        altered = next((j for j in self._judgements if j["step"] == "altered"), None)
        return {
            "question": self.task.question, "gold": self.task.answer,
            "context": list(self._context), "step_index": self._k, "original_step": self._original,
            "rewrite": self._rewrite,
            "solver_answers": {v: list(a) for v, a in self._answers.items()},
            "success_original": _float(self._success("original")),
            "success_altered": _float(self._success("altered")), "drop": _float(self._drop()),
            "valid": self._rewrite is not None and self._drop_known() and self._invalid is None,
            "invalid_reason": self._invalid,
            "judgements": [dict(j) for j in self._judgements],
            "fooled": None if altered is None else altered["verdict"] != "Incorrect",
        }

    def _native_rewards(self) -> dict[str, float]:
        out = self._outcome()
        critic = sum(1.0 if j["right"] else -1.0 for j in out["judgements"])
        sneaky = 0.0 if out["fooled"] is None else (1.0 if out["fooled"] else -1.0)
        return {"sneaky_0": sneaky, "critic_0": critic}

    # ---- what each role sees ----------------------------------------------------------------
    def _observation_text(self, agent: str) -> str:
        role, q = self.role(agent), self.task.question
        if role == "sneaky":
            return self.fit_prompt("sneaky", history="\n".join(self._context) or "(none)", question=q,
                                   step=self._original)
        if role == "solver":
            step = self._original if agent == "solver_0" else (self._rewrite or "")
            return self.fit_prompt("solver", history="\n".join(self._context), question=q, step=step)
        version = self._to_judge[len(self._judgements)] if len(self._judgements) < len(self._to_judge) else "original"
        return self.critic_prompt(self._original if version == "original" else self._rewrite)

    def critic_prompt(self, step: str) -> str:
        """The critic's prompt for `step` after this game's earlier steps (also the held-out
        `critic` measure's, games/spc/heldout.py)."""
        template = "critic_critique" if self.options.critique else "critic"
        verdicts = VERDICTS if self._correct_first else VERDICTS[::-1]
        return self.fit_prompt(template, history="\n".join(self._context) or "(none)", question=self.task.question,
                               step=step, verdicts=" or ".join(f"<Answer>{v}</Answer>" for v in verdicts))


def env(**options: Any) -> raw_env:
    """The spc_v0 environment (no PettingZoo wrappers, as in comas_v0: they would hide the hooks)."""
    return raw_env(**options)


# A two-step task: reset(seed=0) picks step 1 ("Then 7 - 2 = 5."), see test_spc.py.
_TWO_STEPS = Task("spc-two", "Tom has 3 apples and buys 4 more. He gives 2 away. How many are left?", "5",
                  "First 3 + 4 = 7. Then 7 - 2 = 5.\n#### 5")
_ONE_STEP = Task("spc-one", "What is 6 * 7?", "42", "6 * 7 = 42.\n#### 42")

# Hand-worked games with known outcomes (run by games.testing.check_scripted).
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "a valid rewrite that fools the critic; the critic is right on the original",
     "task": _ONE_STEP, "options": {"solver_samples": 2},
     "script": {"sneaky_0": ["Sure! Here is the rewritten step:\nStep 1: 6 * 7 = 48.\nThis looks right."],
                "solver_0": ["So the answer is 42.", ""], "solver_1": ["", "48"],
                "critic_0": ["<Answer>Correct</Answer>", "<answer> correct </answer>"]},
     "expected": {"rewrite": "6 * 7 = 48.", "solver_answers": {"original": ["42", "42"], "altered": ["48", "48"]},
                  "success_original": 1.0, "success_altered": 0.0, "drop": 1.0, "valid": True,
                  "invalid_reason": None, "fooled": True, "illegal_moves": [],
                  "judgements": [{"step": "altered", "truth": "Incorrect", "verdict": "Correct", "right": False},
                                 {"step": "original", "truth": "Correct", "verdict": "Correct", "right": True}]},
     "rewards": {"sneaky_0": 1.0, "critic_0": 0.0}},
    {"name": "the critic catches a valid rewrite",
     "task": _ONE_STEP, "options": {"solver_samples": 1},
     "script": {"sneaky_0": ["6 * 7 = 40."], "solver_0": [""], "solver_1": ["Yes, 40."],
                "critic_0": ["<Answer>Incorrect</Answer>", "<Answer>Correct</Answer>"]},
     "expected": {"valid": True, "fooled": False, "drop": 1.0, "illegal_moves": [],
                  "judgements": [{"right": True}, {"right": True}]},
     "rewards": {"sneaky_0": -1.0, "critic_0": 2.0}},
    {"name": "no drop: the solver recovers from the rewrite, so it is invalid and earns nothing",
     "task": _ONE_STEP, "options": {"solver_samples": 2, "min_drop": 0.5, "judge_original": "always"},
     "script": {"sneaky_0": ["6 times 7 = 42 (by counting)."], "solver_0": ["42", "41"],
                "solver_1": ["So 42.", "42"], "critic_0": ["<Answer>Incorrect</Answer>"]},
     "expected": {"valid": False, "invalid_reason": "no drop", "drop": -0.5, "fooled": None,
                  "judgements": [{"step": "original", "verdict": "Incorrect", "right": False}],
                  "illegal_moves": []},
     "rewards": {"sneaky_0": 0.0, "critic_0": -1.0}},
    {"name": "an unchanged rewrite is invalid; the solvers do not play; judge_original always",
     "task": _ONE_STEP, "options": {"solver_samples": 3, "judge_original": "always"},
     "script": {"sneaky_0": ["  6 * 7 = 42.  "], "solver_0": [], "solver_1": [],
                "critic_0": ["<Answer>Correct</Answer>"]},
     "expected": {"valid": False, "invalid_reason": "unchanged", "drop": None,
                  "solver_answers": {"original": [], "altered": []}, "illegal_moves": []},
     "rewards": {"sneaky_0": 0.0, "critic_0": 1.0}},
    {"name": "an invalid rewrite under judge_original paired (the default): the game ends at once",
     "task": _ONE_STEP,
     "script": {"sneaky_0": ["\n \n"], "solver_0": [], "solver_1": [], "critic_0": []},
     "expected": {"rewrite": "", "valid": False, "invalid_reason": "empty", "judgements": [],
                  "illegal_moves": []},
     "rewards": {"sneaky_0": 0.0, "critic_0": 0.0}},
    {"name": "an unparseable verdict is illegal: judged wrong, and the sneaky is not caught",
     "task": _ONE_STEP, "options": {"solver_samples": 1},
     "script": {"sneaky_0": ["6 * 7 = 36."], "solver_0": [""], "solver_1": [""],
                "critic_0": ["It is wrong.", "<Answer>Correct</Answer>"]},
     "expected": {"valid": True, "fooled": True,
                  "judgements": [{"verdict": None, "right": False}, {"verdict": "Correct", "right": True}],
                  "illegal_moves": [{"agent": "critic_0", "turn": 3}]},
     "rewards": {"sneaky_0": 1.0, "critic_0": 0.0}},
    {"name": "two-step solution: the earlier step is context, the step picked is the second",
     "task": _TWO_STEPS, "options": {"solver_samples": 1, "judge_original": "never"},
     "script": {"sneaky_0": ["Then 7 - 2 = 4."], "solver_0": ["5 apples."], "solver_1": ["4 apples."],
                "critic_0": ["<Answer>Incorrect</Answer>"]},
     "expected": {"context": ["First 3 + 4 = 7."], "step_index": 1, "original_step": "Then 7 - 2 = 5.",
                  "valid": True, "fooled": False, "illegal_moves": []},
     "rewards": {"sneaky_0": -1.0, "critic_0": 1.0}},
    {"name": "min_original: a rewrite of a step the solvers fail from even as written is invalid",
     "task": _ONE_STEP, "options": {"solver_samples": 2, "min_original": 1.0, "judge_original": "always"},
     "script": {"sneaky_0": ["6 * 7 = 41."], "solver_0": ["42", "40"], "solver_1": ["41", "41"],
                "critic_0": ["<Answer>Correct</Answer>"]},
     "expected": {"success_original": 0.5, "success_altered": 0.0, "drop": 0.5, "valid": False,
                  "invalid_reason": "original fails", "fooled": None, "illegal_moves": [],
                  "judgements": [{"step": "original", "verdict": "Correct", "right": True}]},
     "rewards": {"sneaky_0": 0.0, "critic_0": 1.0}},
    {"name": "min_original met exactly (1/2 >= 0.5): the rewrite is valid",
     "task": _ONE_STEP, "options": {"solver_samples": 2, "min_original": 0.5},
     "script": {"sneaky_0": ["6 * 7 = 41."], "solver_0": ["42", "40"], "solver_1": ["41", "41"],
                "critic_0": ["<Answer>Incorrect</Answer>", "<Answer>Correct</Answer>"]},
     "expected": {"valid": True, "invalid_reason": None, "fooled": False, "illegal_moves": []},
     "rewards": {"sneaky_0": -1.0, "critic_0": 2.0}},
    {"name": "critique: the critic writes first, nothing is prefilled, the first <Answer> tag counts",
     "task": _ONE_STEP, "options": {"solver_samples": 1, "critique": True, "judge_original": "never"},
     "script": {"sneaky_0": ["6 * 7 = 43."], "solver_0": ["42"], "solver_1": ["43"],
                "critic_0": ["6 * 7 is 42, not 43. <Answer>Incorrect</Answer> <Answer>Correct</Answer>"]},
     "expected": {"valid": True, "fooled": False, "illegal_moves": [],
                  "judgements": [{"verdict": "Incorrect", "right": True}]},
     "rewards": {"sneaky_0": -1.0, "critic_0": 1.0}},
    {"name": "a rewrite without a number is no step: invalid before the solvers",
     "task": _ONE_STEP, "options": {"judge_original": "always"},
     "script": {"sneaky_0": ["I cannot make this step wrong."], "solver_0": [], "solver_1": [],
                "critic_0": ["<Answer>Correct</Answer>"]},
     "expected": {"rewrite": "I cannot make this step wrong.", "valid": False, "invalid_reason": "no number",
                  "drop": None, "illegal_moves": []},
     "rewards": {"sneaky_0": 0.0, "critic_0": 1.0}},
    {"name": "the drop is exact: 3/5 - 1/5 passes min_drop 0.4",
     "task": _ONE_STEP, "options": {"solver_samples": 5, "min_drop": 0.4, "judge_original": "never"},
     "script": {"sneaky_0": ["6 * 7 = 49."], "solver_0": ["", "", "", "1", "1"], "solver_1": ["42", "", "", "", ""],
                "critic_0": ["<Answer>Incorrect</Answer>"]},
     "expected": {"success_original": 0.6, "success_altered": 0.2, "valid": True, "illegal_moves": []},
     "rewards": {"sneaky_0": -1.0, "critic_0": 1.0}},
]
