"""Task sources, answer extraction and comparison."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from games.tasks import (ArithmeticTasks, JsonlTasks, Task, TaskSourceConfig, answer_prompt, answers_match,
                         extract_answer, make_task_source)

# ../shared beside the checkout (development and CI machines); users' machines do not have it
GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"


@pytest.mark.parametrize("text,expected", [
    ("The answer is 7.", "7"),
    ("3 + 4 = 7, so 7 apples", "7"),
    ("it is -3", "-3"),
    ("10-3 = 7 and then 10-3", "3"),  # a minus after a digit is subtraction, not a sign
    ("total: 1,234 dollars", "1234"),
    ("$1,234.50", "1234.5"),
    ("costs 2.50", "2.5"),
    ("12.0", "12"),
    ("007", "7"),
    ("1, 2, 3", "3"),  # a list, not a thousands-grouped number
    ("no digits here", None),
    ("", None),
    (None, None),
    ("The answer is \u22125", "-5"),  # a unicode minus, as raw (unsanitized) held-out text has it
    ("half: .5", "0.5"),  # a leading point is a decimal
    ("It is 2.", "2"),  # a full stop is not a decimal point
    ("9" * 4400, None),  # too long for int(): no number, not a crash
    ("The area is 25 m\u00b2.", "25"), ("The area is 25 m^2.", "25"),  # an exponent is no answer, raw or folded
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_answers_match():
    assert answers_match("12.0", "12") and answers_match("1,234", "1234") and answers_match("-3", "-3")
    assert not answers_match("12", "13")
    assert not answers_match(None, "1") and not answers_match("1", None) and not answers_match("x", "x")


def test_answer_prompt():
    p = answer_prompt(Task("t", "What is 2 + 3?", "5"))
    assert p.startswith("What is 2 + 3?") and p.endswith("Answer with just the number.")


_STEP = re.compile(r"(-?\d+) ([-+*]) (-?\d+) = (-?\d+)")


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4])
def test_arithmetic_tasks_are_right(difficulty):
    src = make_task_source(TaskSourceConfig(difficulty=difficulty))
    rng = random.Random(0)
    for _ in range(300):
        t = src.sample(rng)
        assert t.solution.endswith(f"#### {t.answer}")
        assert extract_answer(t.solution) == t.answer and int(t.answer) >= 0
        steps = _STEP.findall(t.solution)
        assert steps, t.solution
        for a, op, b, c in steps:  # every worked step is true arithmetic
            assert {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op] == int(c), t.solution
        assert steps[-1][3] == t.answer
        operands = [int(x) for x in re.findall(r"\d+", t.question)]
        if difficulty in (1, 2):
            assert all(x <= 9 for x in operands) and len(operands) == 2, t.question
        if difficulty == 3:
            assert all(10 <= x <= 99 for x in operands) and len(operands) == 2, t.question
        if difficulty == 4:
            assert len(steps) == 2 and len(operands) == 3, t.question


def test_arithmetic_levels_mix_their_kinds():
    kinds = {1: {"+"}, 2: {"*", "-"}, 3: {"+"}}
    for d, ops in kinds.items():
        qs = [ArithmeticTasks(d).sample(random.Random(i)) for i in range(100)]
        assert any(q.question.startswith("What is") for q in qs) and any("has" in q.question for q in qs)
        assert {op for q in qs for _, op, _, _ in _STEP.findall(q.solution)} == ops


def test_arithmetic_is_deterministic_and_heldout_separate():
    src = ArithmeticTasks(1)
    a = [src.sample(random.Random(5)) for _ in range(3)]
    b = [src.sample(random.Random(5)) for _ in range(3)]
    assert a == b
    assert src.heldout(20) == src.heldout(20) and src.heldout(20, seed=1) != src.heldout(20)
    assert len(src.heldout(64)) == 64
    # same question -> same id (the rollout groups by task id)
    t = src.sample(random.Random(1))
    assert src.sample(random.Random(1)).id == t.id and t.id.startswith("arith1-")


def test_config_validation():
    assert TaskSourceConfig().source == "arithmetic"
    with pytest.raises(ValidationError, match="needs `path`"):
        TaskSourceConfig(source="jsonl")
    with pytest.raises(ValidationError, match="does not exist"):
        TaskSourceConfig(source="jsonl", path="/no/such/file.jsonl")
    with pytest.raises(ValidationError, match="less than or equal to 4"):
        TaskSourceConfig(difficulty=5)
    with pytest.raises(ValidationError, match="source=jsonl only"):
        TaskSourceConfig(path="/tmp")
    with pytest.raises(ValidationError, match="Extra inputs"):
        TaskSourceConfig(sourc="jsonl")
    with pytest.raises(ValidationError):
        TaskSourceConfig(source="hub")


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_single_file_split(tmp_path):
    rows = [{"question": f"Q{i} costs \u2019", "answer": f"Step <<1+1=2>>2\n#### {i},000"} for i in range(20)]
    src = make_task_source({"source": "jsonl", "path": str(_write(tmp_path / "d.jsonl", rows))})
    assert len(src.splits["train"]) == 18 and len(src.splits["test"]) == 2
    t = src.splits["train"][3]
    assert t.answer == "3000" and t.solution == "Step 2\n#### 3,000" and t.id.endswith("d-4")
    assert [x.question for x in src.heldout(10)] == ["Q18 costs \u2019", "Q19 costs \u2019"]  # the tail
    assert src.sample(random.Random(0), split="test") in src.splits["test"]
    with pytest.raises(ValueError, match="split"):
        src.sample(random.Random(0), split="dev")


@pytest.mark.parametrize("bad,why", [
    ("{not json", "malformed"),
    ('{"question": "q"}', "missing field"),
    ('{"question": "q", "answer": "no marker"}', "####"),
    ('{"question": "q", "answer": "#### many"}', "no number"),
])
def test_jsonl_malformed_line_names_file_and_line(tmp_path, bad, why):
    path = _write(tmp_path / "bad.jsonl", [{"question": "q", "answer": "#### 1"}, "", bad])
    with pytest.raises(ValueError, match=rf"bad\.jsonl, line 3: .*{why}"):
        JsonlTasks(path)


@pytest.mark.skipif(not GSM8K.is_dir(), reason="GSM8K not present")
def test_gsm8k_dir():
    src = make_task_source(TaskSourceConfig(source="jsonl", path=str(GSM8K)))
    assert len(src.splits["train"]) == 7473 and len(src.splits["test"]) == 1319
    first = src.splits["test"][0]
    assert first.answer == "18" and first.id == "gsm8k-test-1" and "<<" not in first.solution
    h = src.heldout(50, seed=3)
    assert h == src.heldout(50, seed=3) and len(h) == 50 and h != src.heldout(50, seed=4)
    assert [int(t.id.rsplit("-", 1)[1]) for t in h] == sorted(int(t.id.rsplit("-", 1)[1]) for t in h)
    assert all(t.answer == extract_answer(t.solution) for t in src.splits["test"])
    assert len(src.heldout(5000)) == 1319
    assert make_task_source(TaskSourceConfig(source="jsonl", path=str(GSM8K))) is src  # read once


def test_games_and_evaluation_read_the_same_answer_from_typographic_text():
    """Games fold text (`sanitize`) before reading an answer; held-out evaluation reads it raw.
    Both must agree: a unicode minus is a sign, a superscript an exponent, not a digit."""
    from games.base import sanitize

    for text, answer in [("The answer is \u22125", "-5"), ("The area is 25 m\u00b2.", "25"), ("So x\u00b3 = 27, x = 3", "3")]:
        assert extract_answer(text) == extract_answer(sanitize(text)) == answer, text
