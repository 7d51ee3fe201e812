"""From finished games to ratings and a win/draw/loss matrix.

A game's seats are ranked by the game (`TextGame.rank`, 1 best, ties shared). A player who holds
several seats of one game (`fill=cycle`) gets the mean rank of its seats; the two players of the
pairing are then ranked by that (equal: a draw). Ratings are openskill's (Plackett-Luce by default),
updated game by game in play order: mu, sigma, and the conservative `ordinal` mu - 3 sigma by
which tables sort. The interval [mu - 3 sigma, mu + 3 sigma] is what "how sure" means here.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import openskill.models as osk

MODELS = {"plackett_luce": osk.PlackettLuce, "bradley_terry_full": osk.BradleyTerryFull,
          "bradley_terry_part": osk.BradleyTerryPart, "thurstone_mosteller_full": osk.ThurstoneMostellerFull,
          "thurstone_mosteller_part": osk.ThurstoneMostellerPart}
RESULT = {-1: "loss", 0: "draw", 1: "win"}
ORDER = {"win": 1, "draw": 2, "loss": 3}  # openskill ranks: lower is better, equal is a draw


def rate_pair(model, ratings: dict, result: Mapping[str, str]) -> None:
    """Update `ratings` (name -> openskill rating) in place from one game of a pair, `result`
    {a: win|draw|loss, b: ...}."""
    a, b = list(result)
    (ra,), (rb,) = model.rate([[ratings[a]], [ratings[b]]], ranks=[ORDER[result[a]], ORDER[result[b]]])
    ratings[a], ratings[b] = ra, rb


def pair_result(seat_ranks: Mapping[str, int], holder: Mapping[str, str | None], a: str, b: str) -> dict[str, str]:
    """{a: win|draw|loss, b: ...} from the game's seat ranks; `holder[seat]` is the player holding
    the seat (None: a filled seat, not counted)."""
    def mean_rank(p):
        ranks = [r for s, r in seat_ranks.items() if holder.get(s) == p]
        return sum(ranks) / len(ranks)

    ra, rb = mean_rank(a), mean_rank(b)
    sign = (ra < rb) - (ra > rb)  # a lower rank is better
    return {a: RESULT[sign], b: RESULT[-sign]}


@dataclass
class Tally:
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    reward: float = 0.0  # summed native reward of the player's seats

    def add(self, result: str, reward: float) -> None:
        self.games += 1
        self.wins += result == "win"
        self.draws += result == "draw"
        self.losses += result == "loss"
        self.reward += reward

    @property
    def score(self) -> float:
        """Wins plus half the draws, per game."""
        return (self.wins + 0.5 * self.draws) / self.games if self.games else 0.0

    @property
    def mean_reward(self) -> float:
        return self.reward / self.games if self.games else 0.0


@dataclass
class Standings:
    """Ratings and tallies of a tournament, fed one game at a time."""

    players: list[str]
    model_name: str = "plackett_luce"
    tau: float = 0.0  # skill drift per game
    ratings: dict = field(init=False)
    overall: dict[str, Tally] = field(init=False)
    # (player, opponent, position) -> tally; position "all", or the role (seat) the player held
    pairwise: dict[tuple[str, str, str], Tally] = field(init=False)
    by_position: dict[tuple[str, str], Tally] = field(init=False)

    def __post_init__(self):
        self.model = MODELS[self.model_name](tau=self.tau)
        self.ratings = {p: self.model.rating(name=p) for p in self.players}
        self.overall = {p: Tally() for p in self.players}
        self.pairwise = defaultdict(Tally)
        self.by_position = defaultdict(Tally)

    def add(self, result: Mapping[str, str], rewards: Mapping[str, float], positions: Mapping[str, str]) -> None:
        """One game of a pairing: result[p] in win/draw/loss, rewards[p] the native reward of p's
        seats, positions[p] the role (or seat) p held."""
        a, b = list(result)
        rate_pair(self.model, self.ratings, result)
        for p, q in ((a, b), (b, a)):
            self.overall[p].add(result[p], rewards[p])
            self.pairwise[(p, q, "all")].add(result[p], rewards[p])
            self.pairwise[(p, q, positions[p])].add(result[p], rewards[p])
            self.by_position[(p, positions[p])].add(result[p], rewards[p])

    def table(self) -> list[dict]:
        """One row per player, best conservative rating first (ties: the order players were given)."""
        rows = []
        for p in self.players:
            r, t = self.ratings[p], self.overall[p]
            row = {"player": p, "ordinal": r.ordinal(), "mu": r.mu, "sigma": r.sigma,
                   "low": r.mu - 3 * r.sigma, "high": r.mu + 3 * r.sigma, "games": t.games, "wins": t.wins,
                   "draws": t.draws, "losses": t.losses, "score": t.score, "mean_reward": t.mean_reward}
            for (q, pos), tally in sorted(self.by_position.items()):
                if q == p:
                    row[f"mean_reward/{pos}"] = tally.mean_reward
            rows.append(row)
        return sorted(rows, key=lambda row: -row["ordinal"])

    def pairwise_rows(self) -> list[dict]:
        order = [row["player"] for row in self.table()]
        rows = [{"player": p, "opponent": q, "as": pos, "games": t.games, "wins": t.wins, "draws": t.draws,
                 "losses": t.losses, "score": t.score, "mean_reward": t.mean_reward}
                for (p, q, pos), t in self.pairwise.items()]
        return sorted(rows, key=lambda r: (order.index(r["player"]), order.index(r["opponent"]), r["as"] != "all", r["as"]))
