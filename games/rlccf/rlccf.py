"""rlccf_v0 — the RLCCF crowd: N models each answer one question n times (PAPERS.md section 3).

"Wisdom of the crowd": reinforcement learning from collective consistency. A crowd of
`crowd_size` (N) answerers each sample `samples` (n) independent answers to the same question.
The game only records the answers; the `rlccf` arbiter turns them into rewards without ever
looking at the gold answer.

| | |
|---|---|
| id | `rlccf_v0` (`games.make("rlccf_v0", **options)`, `pettingzoo.make("aec", "rlccf_v0")`) |
| agents | `answerer_0` .. `answerer_{N-1}` (one seat per model of the crowd) |
| turn order | round-robin: answerer_0, answerer_1, .., answerer_{N-1}, then again, `samples` times; `N * n` turns |
| observation | `{"text": str}`: the question, filled from `prompts/<prompt>.txt`; the SAME text for every turn |
| action | text (any `str`); its answer is the LAST number in it (`games.tasks.extract_answer`) |
| native rewards | each seat: the share of its n answers that equal the gold answer (evaluation only) |

Why round-robin: one round = every seat once, so a game's `samples` play the part other games
give `rounds`, and a game cut short still holds about as many samples of every model. No sample
sees another (the observation never shows earlier answers; the samples are independent, as
self-consistency needs), so `concurrent_agents()` lists all N * n turns and the rollout
generates a whole game in one batched call.

Malformed samples: a text holding no number is an answer of None. It is NOT an illegal move: the
game has no required format (`FACTS.formats` is empty), so the test kit's rule "a text is illegal
only when its role's format is missing" holds, and None already costs the sample its reward (it
never equals the crowd answer) and lowers its model's self-consistency. A non-text action is
illegal (the base records it) and counts as "" (answer None).

Outcome (`env.outcome`, also `infos[agent]["outcome"]` at the end):

    {"question": str, "gold": str,            # gold: for evaluation metrics only
     "answers": {seat: [str | None, ...]},     # the seat's n answers in sample order
     "correct": {seat: [bool, ...]},           # per sample: answer equals gold numerically
     "accuracy": float,                        # share of all N * n samples that are correct
     "illegal_moves": [...], "truncated": bool}

Training rewards (`coevo.arbiters.rlccf`): per seat, self-consistency SC = share of its n
samples giving its most common answer; the crowd answer is the SC-weighted vote
argmax_a sum_models SC_model * share_model(a) (or a plain majority, `vote: majority`); a sample
earns 1 when its answer is the crowd answer, else 0. Each model then trains with GRPO on its own
n samples: the rollout puts them in group `<task id>/<seat>`. With `seating: fixed` and N agents
(configs/population/crowd.yaml) seat j is always agent j, so the crowd is N different policies.

Options (`Options`, pydantic, extra fields rejected): `crowd_size` (N >= 1, default 3; set it to
the number of agents: seats beyond it wrap around the population); `samples` (n >= 1, default 4);
`prompt` (`answer`: "<question>\\nAnswer with just the number.", the wording held-out accuracy
uses; `reason`: step-by-step, for models that can reason); `tasks` (default arithmetic
difficulty 1); `max_new_tokens` (default answerer 48); `max_obs_chars`, `max_action_chars`.

Example:

    >>> import games
    >>> from games.tasks import Task
    >>> env = games.make("rlccf_v0", crowd_size=2, samples=2)
    >>> env.reset(seed=0, options={"task": Task("t", "What is 2 + 3?", "5")})
    >>> for text in ["5", "6", "The answer is 5.", "no idea"]:   # a0, a1, a0, a1
    ...     env.step(text)
    >>> env.outcome["answers"], env.rewards
    ({'answerer_0': ['5', '5'], 'answerer_1': ['6', None]}, {'answerer_0': 1.0, 'answerer_1': 0.0})
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from games.base import GameFacts, TextGame, TextGameOptions
from games.tasks import Task, answers_match, extract_answer


class Options(TextGameOptions):
    ROLES: ClassVar[tuple[str, ...]] = ("answerer",)

    crowd_size: int = Field(3, ge=1, le=64, description="N: models in the crowd, one seat each")
    samples: int = Field(4, ge=1, le=64, description="n: independent answers per model")
    prompt: Literal["answer", "reason"] = Field("answer", description="template in prompts/")
    # 48 tokens: the budget the 135M model's answer accuracy was measured with (DESIGN.md)
    max_new_tokens: dict[str, int] = Field(default_factory=lambda: {"answerer": 48})


def seats(crowd_size: int) -> tuple[str, ...]:
    return tuple(f"answerer_{i}" for i in range(crowd_size))


class raw_env(TextGame):
    # The class facts describe the default crowd; each env replaces them with its own crowd size.
    FACTS = GameFacts(roles=("answerer",), turn_order=seats(3))
    Options = Options
    PROMPTS_DIR = Path(__file__).parent / "prompts"
    metadata = {"name": "rlccf_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, render_mode: str | None = None, **options: Any):
        # The seats depend on an option, and the base reads FACTS while it sets up the agents.
        opts = Options(**options)
        self.FACTS = dataclasses.replace(type(self).FACTS, turn_order=seats(opts.crowd_size),
                                         max_turns=opts.crowd_size * opts.samples)
        super().__init__(render_mode, **options)

    # ---- rules ----------------------------------------------------------------------------
    def _new_game(self) -> None:
        self._answers: dict[str, list[str | None]] = {s: [] for s in self.possible_agents}

    def _apply(self, agent: str, text: str) -> str | None:
        self._answers[agent].append(extract_answer(text))
        return None  # no number is a None answer, not an illegal move (see the docstring)

    def _game_over(self) -> bool:
        return self._num_turns >= self.max_turns

    def _outcome(self) -> dict[str, Any]:
        gold = self.task.answer
        correct = {s: [answers_match(a, gold) for a in ans] for s, ans in self._answers.items()}
        flat = [c for cs in correct.values() for c in cs]
        return {
            "question": self.task.question,
            "gold": gold,
            "answers": {s: list(ans) for s, ans in self._answers.items()},
            "correct": correct,
            "accuracy": sum(flat) / len(flat) if flat else 0.0,
        }

    def _native_rewards(self) -> dict[str, float]:
        correct = self._outcome()["correct"]
        return {s: sum(cs) / len(cs) for s, cs in correct.items() if cs}

    def concurrent_agents(self) -> list[str]:
        # No sample sees another, so every remaining sample of every seat is one batched call.
        order = self.FACTS.turn_order
        return [order[k % len(order)] for k in range(self._num_turns, self.max_turns)]

    # ---- what each seat sees: the question, never the other samples -------------------------
    def _observation_text(self, agent: str) -> str:
        return self.fit_prompt(self.options.prompt, question=self.task.question)


def check_population(options: Options, agents: list[str]) -> str | None:
    """The crowd is N different models: one agent per seat. Fewer agents would put one model in
    several seats (its votes counted twice); more would leave agents that never play."""
    if options.crowd_size != len(agents):
        return (f"rlccf_v0 needs one agent per crowd seat: crowd_size={options.crowd_size} but "
                f"{len(agents)} agents {agents}; set game.options.crowd_size={len(agents)}")
    return None


def env(**options: Any) -> raw_env:
    """The rlccf_v0 environment (no PettingZoo wrappers, as in comas_v0: they would hide the hooks)."""
    return raw_env(**options)


# Hand-worked games with known outcomes (run by games.testing.check_scripted). Scripts list each
# seat's samples in order; play is round-robin, so sample k of every seat is turn k*N + seat.
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "a crowd of three, four samples each",
     "task": Task.scripted("Tom has 3 apples and buys 4 more. How many apples does Tom have now?", "7"),
     "script": {"answerer_0": ["7", "3 + 4 = 7", "7 apples", "7"],
                "answerer_1": ["7", "8", "The answer is 7.", "12"],
                "answerer_2": ["6", "I do not know.", "7.0", "1,007"]},
     "expected": {"answers": {"answerer_0": ["7", "7", "7", "7"], "answerer_1": ["7", "8", "7", "12"],
                              "answerer_2": ["6", None, "7", "1007"]},
                  "correct": {"answerer_0": [True] * 4, "answerer_1": [True, False, True, False],
                              "answerer_2": [False, False, True, False]},
                  "accuracy": 7 / 12, "illegal_moves": []},
     "rewards": {"answerer_0": 1.0, "answerer_1": 0.5, "answerer_2": 0.25}},
    {"name": "nobody writes a number: all None, no illegal moves",
     "task": Task.scripted("What is 2 + 2?", "4"), "options": {"crowd_size": 2, "samples": 2},
     "script": {"answerer_0": ["", "four"], "answerer_1": ["no", "<answer>four</answer>"]},
     "expected": {"answers": {"answerer_0": [None, None], "answerer_1": [None, None]},
                  "accuracy": 0.0, "illegal_moves": []},
     "rewards": {"answerer_0": 0.0, "answerer_1": 0.0}},
    {"name": "a non-text sample is illegal and counts as no answer",
     "task": Task.scripted("What is 6 * 7?", "42"), "options": {"crowd_size": 2, "samples": 1},
     "script": {"answerer_0": ["6 * 7 = 42"], "answerer_1": [42]},
     "expected": {"answers": {"answerer_0": ["42"], "answerer_1": [None]},
                  "correct": {"answerer_0": [True], "answerer_1": [False]},
                  "illegal_moves": [{"agent": "answerer_1", "turn": 1}]},
     "rewards": {"answerer_0": 1.0, "answerer_1": 0.0}},
    {"name": "a crowd of one (self-consistency only), the last number counts",
     "task": Task.scripted("What is 9 - 5?", "4"), "options": {"crowd_size": 1, "samples": 3},
     "script": {"answerer_0": ["9 - 5 = 4", "5 - 9 = -4", "4 or 3"]},
     "expected": {"answers": {"answerer_0": ["4", "-4", "3"]}, "accuracy": 1 / 3, "illegal_moves": []},
     "rewards": {"answerer_0": 1 / 3}},
]
