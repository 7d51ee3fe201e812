"""Task sources: the problems games are played over, and how answers are read and compared.

Two sources, picked by `TaskSourceConfig.source`:

- `arithmetic` (default, needs no data): procedural word problems and sums calibrated for a 135M
  model (docs: DESIGN.md, "The embedded default model"). Difficulty 1 = one-digit additions and
  one-step word problems; 2 = one-digit multiplication and subtraction (result >= 0); 3 = two-digit
  addition; 4 = two-step word problems. Every task carries a short worked solution ending in
  `#### <answer>`, the GSM8K convention.
- `jsonl`: any GSM8K-format file (`{"question": ..., "answer": "...#### 42"}` per line), or a
  directory holding `train.jsonl` and/or `test.jsonl`.

Answers are canonical number strings ("42", "-3", "2.5"); `extract_answer` reads the LAST number
of a text (taking the first one instead costs most of the measured accuracy).
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Task", "TaskSourceConfig", "TaskSource", "ArithmeticTasks", "JsonlTasks", "make_task_source",
    "extract_answer", "answers_match", "answer_prompt", "canonical_number",
]


@dataclass
class Task:
    id: str
    question: str
    answer: str  # canonical number string
    solution: str | None = None  # a worked solution ending in "#### <answer>", when known

    @classmethod
    def scripted(cls, question: str, answer: str) -> "Task":
        """A hand-written task for a game's SCRIPTED_CASES (id derived from the answer)."""
        return cls(id=f"scripted-{answer}", question=question, answer=answer)


class TaskSourceConfig(BaseModel):
    """Where a game's problems come from."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["arithmetic", "jsonl"] = "arithmetic"
    difficulty: int = Field(1, ge=1, le=4, description="arithmetic only: 1..4")
    path: str | None = Field(None, description="jsonl only: a .jsonl file, or a dir with train.jsonl/test.jsonl")

    @model_validator(mode="after")
    def _check_source(self) -> TaskSourceConfig:
        if self.source == "jsonl":
            if not self.path:
                raise ValueError("source=jsonl needs `path` (a .jsonl file, or a directory holding "
                                 "train.jsonl/test.jsonl)")
            p = Path(self.path)
            if not p.exists():
                raise ValueError(f"path {self.path!r} does not exist")
            if p.is_dir() and not any((p / f).is_file() for f in ("train.jsonl", "test.jsonl")):
                raise ValueError(f"directory {self.path!r} holds neither train.jsonl nor test.jsonl")
            if self.difficulty != 1:
                raise ValueError("`difficulty` applies to source=arithmetic only")
        elif self.path is not None:
            raise ValueError("`path` is read by source=jsonl only; set source: jsonl or drop path")
        return self


# ---------------------------------------------------------------------------------------------
# answers

# A number: thousands-grouped ("1,234") or plain ("1234", "2.50"). The minus sign counts only when
# it does not follow a digit or letter, so "10-3" ends in 3, not -3.
# A leading point is a decimal (".5" is 0.5). Unicode minus signs count as "-" (games fold them
# already; held-out evaluation reads the raw text). An exponent ("m^2", as games fold "m²") is no answer.
_NUMBER = re.compile(r"(?<![\^\d])(?:(?<![0-9A-Za-z])-)?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<!\d)\.\d+)")
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-", "\ufe63": "-", "\uff0d": "-"})


def canonical_number(text: str) -> str | None:
    """"1,234" -> "1234", "2.50" -> "2.5", "12.0" -> "12", "-0" -> "0"; None if not a number."""
    try:
        d = Decimal(text.strip().replace(",", ""))
        if not d.is_finite():
            return None
        if d == d.to_integral_value():
            return str(int(d))
        return format(d.normalize(), "f")
    except (InvalidOperation, ValueError):  # ValueError: int() of more than 4,300 digits
        return None


def extract_answer(text: str | None) -> str | None:
    """The last number in `text`, canonical; None when there is none."""
    if not text:
        return None
    found = _NUMBER.findall(text.translate(_MINUS))
    return canonical_number(found[-1]) if found else None


def answers_match(pred: str | None, gold: str | None) -> bool:
    """Numeric equality of two answers ("12.0" matches "12"); None never matches."""
    if pred is None or gold is None:
        return False
    a, b = canonical_number(str(pred)), canonical_number(str(gold))
    return a is not None and b is not None and Decimal(a) == Decimal(b)


def answer_prompt(task: Task) -> str:
    """The solo question prompt used for held-out accuracy (the wording the model was measured with)."""
    return f"{task.question}\nAnswer with just the number."


# ---------------------------------------------------------------------------------------------
# sources

class TaskSource(ABC):
    """Draws tasks: `sample` for play, `heldout` for a fixed evaluation list."""

    @abstractmethod
    def sample(self, rng: random.Random, split: str = "train") -> Task: ...

    @abstractmethod
    def heldout(self, n: int, seed: int = 0) -> list[Task]: ...


_NAMES = ("Tom", "Anna", "Sam", "Mia", "Ben", "Lily", "Max", "Emma", "Leo", "Zoe")
_THINGS = ("apples", "pencils", "books", "cookies", "marbles", "stickers", "cards", "balloons")
_GAINS = ("buys", "finds", "gets")


def _task(difficulty: int, question: str, steps: str, answer: int) -> Task:
    # The id is a hash of the question, so the same problem gets the same id in every run
    # (the rollout groups turns by task id).
    tid = f"arith{difficulty}-" + hashlib.sha1(question.encode()).hexdigest()[:10]
    return Task(id=tid, question=question, answer=str(answer), solution=f"{steps}\n#### {answer}")


def _level1(r: random.Random) -> Task:
    if r.random() < 0.5:
        a, b = r.randint(1, 9), r.randint(1, 9)
        return _task(1, f"What is {a} + {b}?", f"{a} + {b} = {a + b}.", a + b)
    name, thing, verb = r.choice(_NAMES), r.choice(_THINGS), r.choice(_GAINS)
    a, b = r.randint(2, 9), r.randint(2, 9)
    q = f"{name} has {a} {thing} and {verb} {b} more. How many {thing} does {name} have now?"
    return _task(1, q, f"{name} has {a} {thing} and {verb} {b} more, so {a} + {b} = {a + b}.", a + b)


def _level2(r: random.Random) -> Task:
    kind = r.randrange(4)
    name, thing = r.choice(_NAMES), r.choice(_THINGS)
    if kind == 0:
        a, b = r.randint(2, 9), r.randint(2, 9)
        return _task(2, f"What is {a} * {b}?", f"{a} * {b} = {a * b}.", a * b)
    if kind == 1:
        a = r.randint(1, 9)
        b = r.randint(0, a)
        return _task(2, f"What is {a} - {b}?", f"{a} - {b} = {a - b}.", a - b)
    if kind == 2:
        a, b = r.randint(2, 9), r.randint(2, 9)
        q = f"{name} has {a} bags with {b} {thing} in each bag. How many {thing} does {name} have?"
        return _task(2, q, f"{a} bags with {b} {thing} each: {a} * {b} = {a * b}.", a * b)
    a = r.randint(2, 9)
    b = r.randint(1, a)
    q = f"{name} has {a} {thing} and gives away {b}. How many {thing} does {name} have left?"
    return _task(2, q, f"{name} had {a} and gave away {b}, so {a} - {b} = {a - b}.", a - b)


def _level3(r: random.Random) -> Task:
    a, b = r.randint(10, 99), r.randint(10, 99)
    if r.random() < 0.5:
        return _task(3, f"What is {a} + {b}?", f"{a} + {b} = {a + b}.", a + b)
    name, thing = r.choice(_NAMES), r.choice(_THINGS)
    q = f"{name} has {a} {thing} and buys {b} more. How many {thing} does {name} have now?"
    return _task(3, q, f"{a} + {b} = {a + b}.", a + b)


def _level4(r: random.Random) -> Task:
    name, thing = r.choice(_NAMES), r.choice(_THINGS)
    friend = r.choice([n for n in _NAMES if n != name])
    kind = r.randrange(3)
    if kind == 0:
        a, b = r.randint(2, 9), r.randint(2, 9)
        c = r.randint(1, a + b)
        q = (f"{name} has {a} {thing}. {name} buys {b} more and then gives {c} to {friend}. "
             f"How many {thing} does {name} have now?")
        s = a + b
        return _task(4, q, f"First {a} + {b} = {s}. Then {s} - {c} = {s - c}.", s - c)
    if kind == 1:
        a, b, c = r.randint(2, 5), r.randint(2, 5), r.randint(2, 9)
        q = (f"{name} buys {a} bags with {b} {thing} in each bag and then finds {c} more {thing}. "
             f"How many {thing} does {name} have now?")
        s = a * b
        return _task(4, q, f"First {a} * {b} = {s}. Then {s} + {c} = {s + c}.", s + c)
    a, b, c = r.randint(2, 9), r.randint(2, 9), r.randint(2, 9)
    q = (f"{name} has {a} {thing} and buys {b} more. {friend} has {c} {thing}. "
         f"How many {thing} do they have together?")
    s = a + b
    return _task(4, q, f"{name} has {a} + {b} = {s}. Together {s} + {c} = {s + c}.", s + c)


_LEVELS = {1: _level1, 2: _level2, 3: _level3, 4: _level4}


class ArithmeticTasks(TaskSource):
    """Procedural problems. The problem space is small (difficulty 1 has ~100 bare sums), so train
    and held-out draws overlap: held-out accuracy measures skill on the distribution, not recall
    of unseen items. `heldout` uses its own random stream, independent of the training rng."""

    def __init__(self, difficulty: int = 1):
        self.difficulty = difficulty
        self._make = _LEVELS[difficulty]

    def sample(self, rng: random.Random, split: str = "train") -> Task:
        _check_split(split)
        return self._make(rng)

    def heldout(self, n: int, seed: int = 0) -> list[Task]:
        rng = random.Random(f"arithmetic-heldout/{self.difficulty}/{seed}")
        return [self._make(rng) for _ in range(n)]


class JsonlTasks(TaskSource):
    """GSM8K-format JSONL. A directory gives train.jsonl / test.jsonl; a single file (or a directory
    with only one of them) is split: its last 10% of lines (at least one) are the test split."""

    def __init__(self, path: str | Path):
        p = Path(path)
        files = {s: p / f"{s}.jsonl" for s in ("train", "test")} if p.is_dir() else {}
        present = {s: f for s, f in files.items() if f.is_file()}
        if len(present) == 2:
            self.splits = {s: _read_jsonl(f) for s, f in present.items()}
        else:
            only = next(iter(present.values())) if present else p
            tasks = _read_jsonl(only)
            cut = len(tasks) - max(1, len(tasks) // 10) if len(tasks) > 1 else len(tasks)
            self.splits = {"train": tasks[:cut] or tasks, "test": tasks[cut:] or tasks}
        for s, tasks in self.splits.items():
            if not tasks:
                raise ValueError(f"{path}: the {s} split holds no tasks")

    def sample(self, rng: random.Random, split: str = "train") -> Task:
        _check_split(split)
        return rng.choice(self.splits[split])

    def heldout(self, n: int, seed: int = 0) -> list[Task]:
        """n tasks of the test split, chosen by `seed`, in file order (all of it when n >= its size)."""
        test = self.splits["test"]
        if n >= len(test):
            return list(test)
        keep = sorted(random.Random(f"jsonl-heldout/{seed}").sample(range(len(test)), n))
        return [test[i] for i in keep]


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")


_CALC = re.compile(r"<<[^>]*>>")  # GSM8K calculator annotations: noise for a reader


def _read_jsonl(path: Path) -> list[Task]:
    tasks = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                question, text = row["question"], row["answer"]
                if not isinstance(question, str) or not isinstance(text, str):
                    raise TypeError("question and answer must be strings")
                if "####" not in text:
                    raise ValueError("answer has no '#### <number>'")
                answer = canonical_number(text.rsplit("####", 1)[1])
                if answer is None:
                    raise ValueError(f"no number after '####': {text.rsplit('####', 1)[1].strip()!r}")
            except (ValueError, KeyError, TypeError) as e:
                what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
                raise ValueError(f"{path}, line {lineno}: malformed task ({what})") from None
            tasks.append(Task(id=f"{path.parent.name}-{path.stem}-{lineno}", question=question.strip(),
                              answer=answer, solution=_CALC.sub("", text).strip()))
    return tasks


# Sources are read-only, so every env with the same config can share one (a JSONL file is read once).
_SOURCES: dict[str, TaskSource] = {}


def make_task_source(cfg: TaskSourceConfig | dict | None = None) -> TaskSource:
    """The TaskSource of a config (a TaskSourceConfig, a dict of its fields, or None = default)."""
    if not isinstance(cfg, TaskSourceConfig):
        cfg = TaskSourceConfig(**(cfg or {}))
    key = cfg.model_dump_json()
    if key not in _SOURCES:
        if cfg.source == "arithmetic":
            _SOURCES[key] = ArithmeticTasks(cfg.difficulty)
        else:
            _SOURCES[key] = JsonlTasks(str(Path(cfg.path).resolve()))
    return _SOURCES[key]
