"""Votes over numeric answers, shared by games and arbiters: a model's self-consistency, the
self-consistency-weighted crowd vote of RLCCF (PAPERS.md section 3) and the plain majority vote
(rlccf_v0's arbiter, debate_v0's final vote).

Ties are broken by the smallest numeric value, so a result does not depend on the order of
models or samples (it is a function of the multiset of each model's answers). Votes are summed as
exact fractions, so weights that are equal on paper are equal in code (0.1 + 0.2 vs 0.3 cannot
pick a winner). None answers (no number) count in a model's n but never vote.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

from games.tasks import canonical_number

Answers = Sequence[str | None]


def canon(answer: str | None) -> str | None:
    # Outcomes already hold canonical numbers; this keeps "7.0" and "7" one answer in any input.
    return None if answer is None else canonical_number(str(answer))


def self_consistency(answers: Answers) -> Fraction:
    """Share of the samples giving the most common (non-None) answer; 0 for no samples/answers."""
    counts = Counter(a for a in map(canon, answers) if a is not None)
    return Fraction(max(counts.values()), len(answers)) if counts else Fraction(0)


def vote_weights(answers_by_model: Mapping[str, Answers], vote: str) -> dict[str, Fraction]:
    """The vote each answer gets: SC-weighted shares, or plain sample counts (`majority`)."""
    weights: dict[str, Fraction] = {}
    for answers in answers_by_model.values():
        if not answers:
            continue
        sc = self_consistency(answers) if vote == "sc_weighted" else None
        for a, c in Counter(a for a in map(canon, answers) if a is not None).items():
            w = sc * Fraction(c, len(answers)) if sc is not None else Fraction(c)
            weights[a] = weights.get(a, Fraction(0)) + w
    return weights


def crowd_answer(answers_by_model: Mapping[str, Answers], vote: str = "sc_weighted") -> str | None:
    """argmax of the vote; ties go to the smallest number; None when no model gave any answer."""
    if vote not in ("sc_weighted", "majority"):
        raise ValueError(f"vote must be 'sc_weighted' or 'majority', not {vote!r}")
    weights = {a: w for a, w in vote_weights(answers_by_model, vote).items() if w > 0}
    if not weights:
        return None
    return min(weights, key=lambda a: (-weights[a], Decimal(a)))
