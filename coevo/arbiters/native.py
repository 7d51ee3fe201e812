"""`native`: every turn earns its seat's native game reward (PettingZoo `rewards`, summed over the game).

For the classic board games (`tictactoe_v0`, `connect_four_v0`) that is win +1, loss -1, draw 0,
and a forfeit by an illegal move -1 for the offender, +1 for the other seat. Every turn of a seat
gets the same value: the game's result is the only signal, and the learner's advantage decides how
it spreads over the turns. With `illegal_penalty` (default 0) the turns that made an illegal
move get that much more, so the learner can tell the bad move from the rest of a lost game
(e.g. under `illegal="random"`, where an illegal move costs nothing natively).

| turn | reward |
|---|---|
| a legal move of seat s | native[s] |
| an illegal move of seat s (in `outcome["illegal_moves"]`) | native[s] + illegal_penalty |

`native[s]` is `episode.native_rewards[s]` (what the rollout summed from the env's `rewards`),
so the arbiter works for any game, not just adapted ones. An illegal move is matched to its turn by
`outcome["illegal_moves"][k]["turn"]` (its index in play order, which is `episode.turns`' order); an
entry that does not point at a turn of its seat is a framework bug and raises ValueError.

Metrics: `arbiter/illegal_rate` (illegal turns / turns), `arbiter/mean_native/<seat>`, and where
outcomes say who won (adapted games): `arbiter/win_rate/<seat>`, `arbiter/draw_rate`.
"""
from __future__ import annotations

from collections.abc import Sequence

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from coevo.arbiters import register_arbiter
from coevo.episode import Episode


def turn_rewards(seats: Sequence[str], native: dict[str, float], illegal_turns: set[int],
                 illegal_penalty: float = 0.0) -> list[float]:
    """Rewards of one game's turns (seats in play order): the whole rule, as a pure function."""
    return [float(native.get(s, 0.0)) + (illegal_penalty if i in illegal_turns else 0.0)
            for i, s in enumerate(seats)]


def illegal_turns(ep: Episode) -> set[int]:
    """Indices into `ep.turns` of the illegal moves the game recorded, checked against the seats."""
    out = set()
    for m in ep.outcome.get("illegal_moves", []):
        i = m.get("turn")
        if not isinstance(i, int) or not 0 <= i < len(ep.turns) or ep.turns[i].seat != m.get("agent"):
            raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}): illegal move {m} does not match "
                             f"a turn of its seat ({len(ep.turns)} turns)")
        out.add(i)
    return out


@register_arbiter("native")
class NativeArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # outcome keys it needs: none (any game's native rewards; `illegal_moves` when present)
    READS: ClassVar[tuple[str, ...]] = ()

    illegal_penalty: float = 0.0  # added to the reward of a turn that made an illegal move

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        if not episodes:
            return {}
        turns = illegal = 0
        native: dict[str, list[float]] = {}
        wins: dict[str, int] = {}
        decided = draws = 0
        for ep in episodes:
            bad = illegal_turns(ep)
            values = turn_rewards([t.seat for t in ep.turns], ep.native_rewards, bad, self.illegal_penalty)
            for t, r in zip(ep.turns, values):
                t.reward = r
            turns += len(ep.turns)
            illegal += len(bad)
            for seat, r in ep.native_rewards.items():
                native.setdefault(seat, []).append(float(r))
                wins.setdefault(seat, 0)
            if "winner" in ep.outcome:  # games that name a winner (the PettingZoo adapter's)
                decided += 1
                draws += bool(ep.outcome.get("draw"))
                if ep.outcome["winner"] is not None:
                    wins[ep.outcome["winner"]] = wins.get(ep.outcome["winner"], 0) + 1
        metrics = {"arbiter/illegal_rate": illegal / max(turns, 1)}
        metrics.update({f"arbiter/mean_native/{s}": sum(v) / len(v) for s, v in sorted(native.items())})
        if decided:
            metrics["arbiter/draw_rate"] = draws / decided
            metrics.update({f"arbiter/win_rate/{s}": n / decided for s, n in sorted(wins.items())})
        return metrics
