"""League training: some games of an iteration are played against frozen snapshots of the agents.

Self-play against only the current peers can cycle or collapse (each agent overfits to the others'
latest habits). With `population.league.snapshot_every=k`, every k iterations each agent's adapter
is copied into a pool of frozen snapshots (`agent_0@4`: agent_0 after iteration 4). In later
iterations a share of the games (`league.share`, drawn per task group) are **league games**: one
seat keeps its trainee, every other seat is played by a snapshot of the agent the plan put there,
a past self of that seat's player. Which snapshot (`league.opponents`):

- `uniform`: any of that agent's snapshots, equally likely;
- `latest`: its most recent one;
- `rated`: the one whose rating is closest to the trainee's (ties: the more recent);
- `none`: no league games (the pool is still kept).

Ratings are openskill's (Plackett-Luce), updated from the league games themselves: the trainee
against each snapshot seat, by the game's own ranking of its seats (`TextGame.rank`). A new
snapshot starts at its agent's rating. Snapshots are extra adapters of the rollout worker
(`league_<k>` slots, `max_snapshots` of them, the oldest evicted first); their turns have no
learner. The pool (names, iterations, slots, ratings) is part of the driver's checkpoint state and
the snapshots' adapters are saved beside the learners', so a resumed run continues exactly.

Metrics: `league/pool_size`, `league/games`, `league/<agent>/met/<snapshot>` (games this iteration),
`league/<agent>/score_vs_pool` (wins + draws/2 per game), `league/<agent>/mu` and `/ordinal`.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import openskill.models as osk

from coevo.rollout import GamePlan
from coevo.tournament.ratings import pair_result, rate_pair

SCORE = {"win": 1.0, "draw": 0.5, "loss": 0.0}


@dataclass
class Snapshot:
    name: str  # "<agent>@<iteration>"
    agent: str
    iteration: int
    slot: str  # the rollout worker's adapter that holds it


@dataclass
class LeagueGame:
    index: int  # into the iteration's plans
    trainee: str
    trainee_seat: str
    opponents: dict[str, str]  # seat -> snapshot name


class League:
    def __init__(self, cfg: dict, agents: list[str]):
        self.cfg = cfg
        self.agents = list(agents)
        self.slots = [f"league_{k}" for k in range(cfg["max_snapshots"])]
        self.pool: list[Snapshot] = []
        self.model = osk.PlackettLuce()
        self.ratings = {a: self.model.rating(name=a) for a in agents}

    @property
    def enabled(self) -> bool:
        return self.cfg["snapshot_every"] > 0

    # ---- the pool -------------------------------------------------------------------------------
    def due(self, iteration: int) -> bool:
        return self.enabled and iteration % self.cfg["snapshot_every"] == 0

    def add(self, agent: str, iteration: int) -> Snapshot:
        """Register agent's adapter after `iteration` as a snapshot; returns it (the caller copies
        the weights into `snapshot.slot`). A full pool evicts its oldest snapshot."""
        used = {s.slot for s in self.pool}
        free = [s for s in self.slots if s not in used]
        if not free:
            oldest = self.pool.pop(0)
            self.ratings.pop(oldest.name, None)
            free = [oldest.slot]
        snap = Snapshot(f"{agent}@{iteration}", agent, iteration, free[0])
        self.pool.append(snap)
        current = self.ratings[agent]
        self.ratings[snap.name] = self.model.rating(mu=current.mu, sigma=current.sigma, name=snap.name)
        return snap

    def _pick(self, rng: random.Random, trainee: str, seat_agent: str) -> Snapshot | None:
        mine = [s for s in self.pool if s.agent == seat_agent]
        if not mine:
            return None
        how = self.cfg["opponents"]
        if how == "latest":
            return mine[-1]
        if how == "rated":
            mu = self.ratings[trainee].mu
            return min(reversed(mine), key=lambda s: abs(self.ratings[s.name].mu - mu))
        return rng.choice(mine)

    # ---- an iteration's games -----------------------------------------------------------------
    def assign(self, plans: list[GamePlan], seed: int, iteration: int, games_per_task: int) -> list[LeagueGame]:
        """Turn a share of `plans` into league games, in place; a pure function of (seed,
        iteration, pool), so a resumed run makes the same choice."""
        if not self.pool or self.cfg["opponents"] == "none" or self.cfg["share"] <= 0:
            return []
        rng = random.Random(f"{seed}/{iteration}/league")
        out = []
        for start in range(0, len(plans), games_per_task):
            if rng.random() >= self.cfg["share"]:
                continue
            # the trainee's seat rotates with the group, so every seat gets trained against the pool
            seats = [s for s, a in plans[start].seats.items() if a in self.agents]
            if len(seats) < 2:
                continue
            trainee_seat = seats[(start // games_per_task) % len(seats)]
            trainee = plans[start].seats[trainee_seat]
            picks = {s: self._pick(rng, trainee, plans[start].seats[s]) for s in seats if s != trainee_seat}
            if any(p is None for p in picks.values()):
                continue  # some seat's agent has no snapshot yet
            for i in range(start, min(start + games_per_task, len(plans))):
                for s, snap in picks.items():
                    plans[i].seats[s] = snap.slot
                out.append(LeagueGame(i, trainee, trainee_seat, {s: snap.name for s, snap in picks.items()}))
        return out

    def rate(self, episodes, games: list[LeagueGame], rank) -> dict[str, float]:
        """Update ratings from the finished league games (`rank(episode) -> {seat: rank}`); metrics."""
        metrics: dict[str, float] = {}
        scores: dict[str, list[float]] = {}
        for g in games:
            ep = episodes[g.index]
            ranks = rank(ep)
            for seat, snap in g.opponents.items():
                holder = {g.trainee_seat: g.trainee, seat: snap}
                result = pair_result(ranks, holder, g.trainee, snap)
                rate_pair(self.model, self.ratings, result)
                scores.setdefault(g.trainee, []).append(SCORE[result[g.trainee]])
                key = f"league/{g.trainee}/met/{snap}"
                metrics[key] = metrics.get(key, 0) + 1
        metrics["league/pool_size"] = len(self.pool)
        metrics["league/games"] = len(games)
        for agent in self.agents:
            r = self.ratings[agent]
            metrics[f"league/{agent}/mu"], metrics[f"league/{agent}/ordinal"] = r.mu, r.ordinal()
            if agent in scores:
                metrics[f"league/{agent}/score_vs_pool"] = sum(scores[agent]) / len(scores[agent])
        return metrics

    # ---- checkpoint -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"pool": [asdict(s) for s in self.pool],
                "ratings": {k: [r.mu, r.sigma] for k, r in self.ratings.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.pool = [Snapshot(**s) for s in state["pool"]]
        self.ratings = {k: self.model.rating(mu=mu, sigma=sigma, name=k) for k, (mu, sigma) in state["ratings"].items()}

