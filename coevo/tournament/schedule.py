"""Who meets whom, in which seats: round robin, Swiss rounds, and seat rotation.

A **pairing** (A, B) plays `games_per_pairing` games. In every block of games, each seating of the
pair appears once, so both players hold every seat (and every role) equally often:

- a 2-seat game: (A, B) then (B, A);
- more seats, `fill=cycle`: the pattern A, B, A, B, ... and its swap B, A, B, A, ..., each rotated
  through all seats (duplicates dropped): 3 seats give ABA, BAA, AAB, BAB, ABB, BBA;
- more seats, `fill=base`: A and B in every ordered pair of seats, the frozen base in the others
  (3 seats: 6 seatings).

Seats of `population.base_roles` (an LLM moderator) are the base model's in every seating and
take no part in this. **Round robin**: one round holding every pairing, played in one batched
rollout. **Swiss**: rounds of pairings between neighbours in the current rating who have not met
yet (the highest-rated unpaired player takes the next one it has not met); with an odd number of
players the lowest-rated player without a bye sits the round out.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

Seating = tuple  # per seat: 0 (the pair's first player), 1 (its second) or None (the base fills it)


def seatings(n_seats: int, fill: str) -> list[Seating]:
    """Every seating of a pair in a game of `n_seats` seats (see the module docstring)."""
    if n_seats < 2:
        raise ValueError(f"a pairing needs 2 seats, the game has {n_seats}")
    if fill == "base" and n_seats > 2:
        return [tuple(0 if s == i else 1 if s == j else None for s in range(n_seats))
                for i, j in itertools.permutations(range(n_seats), 2)]
    out: list[Seating] = []
    for first in (0, 1):
        pattern = [(first + s) % 2 for s in range(n_seats)]
        for shift in range(n_seats):
            seating = tuple(pattern[(s - shift) % n_seats] for s in range(n_seats))
            if seating not in out:
                out.append(seating)
    return out


def round_robin(n_players: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(n_players), 2))


def swiss_rounds(n_players: int, rounds: int | None) -> int:
    return rounds or max(1, math.ceil(math.log2(n_players)))


def swiss_pairings(standing: Sequence[int], met: set[frozenset], byes: set[int]) -> tuple[list[tuple[int, int]], int | None]:
    """One Swiss round: `standing` is the players best first. Returns the pairings and who sits
    out (None with an even count). A pair that has met is paired again only when nothing else is left."""
    order = list(standing)
    bye = None
    if len(order) % 2:
        bye = next((p for p in reversed(order) if p not in byes), order[-1])
        order.remove(bye)
    pairs = []
    while order:
        a = order.pop(0)
        b = next((q for q in order if frozenset((a, q)) not in met), order[0])
        order.remove(b)
        pairs.append((a, b))
    return pairs, bye
