"""`negotiation`: the RL rewards of PAPERS.md section 4 (Fu et al.) for `negotiation_v0` episodes.

Per round, with the scenario the game recorded (`outcome["scenario"]`: opening price O, buyer
budget B; the paper's O = 20, B = 10):

| turn | reward |
|---|---|
| a seller turn of round r | deal at p: (p - B) / (O - B), the paper's (p - 10)/10; no deal: `no_deal_reward` |
| a buyer turn of round r | deal at p: (O - p) / (O - B), the paper's (20 - p)/10; no deal: `no_deal_reward` |
| a moderator turn | 0 |
| the critic turn after round r | R(r+1) - R(r) of the advised player (`scenario["feedback_to"]`) |
| any illegal turn (`outcome["illegal_moves"]`) | the above + `illegal_penalty` |

Every turn of a player in a round earns that round's reward: the deal (or its absence) is the only
signal, and the learner's advantage decides how it spreads over the messages that led to it.
The critic's advice is judged by what it changed: the advised player's reward in the round it was
shown in, minus its reward in the round the critic read (gains telescope over rounds).

`no_deal_reward: null` (default) takes the game's option as recorded in the scenario; a number
overrides it. `reward_clip` (default 2.0) clips each player's round reward to [-c, c] before
anything else: an accepted absurd offer (a deal at $1000 gives the seller 99) would otherwise
swamp batch-normalised advantages; `null` keeps the paper's unbounded formula. Within the paper's
price range ($0 to $30) nothing is clipped.

Turns are matched to rounds in play order: round r holds its messages, its verdicts (LLM
moderator) and, when `feedback` is set on it, the critic's turn after it. An episode whose turns
do not match its outcome is a framework bug and raises ValueError.

Metrics: `arbiter/deal_rate`, `arbiter/mean_price` and `arbiter/median_price` (over deals; absent
without one), `arbiter/mean_exchanges`, `arbiter/below_cost_rate` (deals under the seller's cost,
over deals), `arbiter/above_opening_rate` (deals above the seller's own asking price, over deals:
a buyer that accepted an absurd ask; one such deal at $2,000 moved a 4-game mean price by +500,
so a study of a few games should read the median),
`arbiter/mean_reward/{seller,buyer}` (per round), `arbiter/mean_reward/critic` (per advice, when
any), `arbiter/illegal_rate` (illegal turns / turns); with several rounds per game also
`arbiter/deal_rate/round_k` and `arbiter/mean_price/round_k` (k from 1): the paper's
across-rounds view of in-context feedback.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from coevo.arbiters import register_arbiter
from coevo.arbiters.native import illegal_turns
from coevo.episode import Episode
from games.negotiation import price_rewards

PLAYERS = ("seller", "buyer")


def round_rewards(rnd: dict, scenario: dict, no_deal_reward: float | None = None,
                  reward_clip: float | None = 2.0) -> dict[str, float]:
    """{"seller": r, "buyer": r} of one outcome round: the whole price rule, as a pure function."""
    ndr = scenario["no_deal_reward"] if no_deal_reward is None else no_deal_reward
    price = rnd["price"] if rnd["deal"] else None
    r = price_rewards(price, scenario["opening_price"], scenario["buyer_budget"], ndr)
    if reward_clip is not None:
        r = {k: min(max(v, -reward_clip), reward_clip) for k, v in r.items()}
    return r


def _round_of_turns(ep: Episode) -> list[int]:
    """The round index of every turn of `ep` in play order, checked against the outcome."""
    rounds, out = ep.outcome["rounds"], []
    for r, rnd in enumerate(rounds):
        want = sorted([m["seat"] for m in rnd["messages"]] + ["moderator_0"] * len(rnd["verdicts"])
                      + (["critic_0"] if rnd.get("feedback") is not None else []))
        got = sorted(t.seat for t in ep.turns[len(out):len(out) + len(want)])
        if got != want:
            raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}): round {r + 1} expects turns of "
                             f"{want}, the turns hold {got}")
        if rnd.get("feedback") is not None and (r + 1 == len(rounds) or not ep.outcome["scenario"].get("feedback_to")):
            raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}): advice after round {r + 1} "
                             "without a next round or without scenario['feedback_to']")
        out += [r] * len(want)
    if len(out) != len(ep.turns):
        raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}): {len(ep.turns)} turns but the "
                         f"outcome's {len(rounds)} round(s) account for {len(out)}")
    return out


@register_arbiter("negotiation")
class NegotiationArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # outcome keys it reads: a game whose outcome lacks one is refused at config time
    READS: ClassVar[tuple[str, ...]] = ("scenario", "rounds")

    no_deal_reward: float | None = None  # None: the game's option (outcome["scenario"])
    reward_clip: float | None = Field(2.0, gt=0)  # None: the paper's unbounded formula
    illegal_penalty: float = 0.0  # added to a turn the game recorded as illegal

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        if not episodes:
            return {}
        per_role: dict[str, list[float]] = defaultdict(list)
        deals_by_round: dict[int, list[bool]] = defaultdict(list)
        prices_by_round: dict[int, list[float]] = defaultdict(list)
        exchanges, below_cost, above_opening, turns, illegal = [], 0, 0, 0, 0
        for ep in episodes:
            scenario, rounds = ep.outcome.get("scenario"), ep.outcome.get("rounds")
            if not isinstance(scenario, dict) or not isinstance(rounds, list):
                raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}) has no outcome['scenario'] and "
                                 "['rounds']: the negotiation arbiter reads negotiation_v0 outcomes")
            rewards = [round_rewards(rnd, scenario, self.no_deal_reward, self.reward_clip) for rnd in rounds]
            bad = illegal_turns(ep)
            for i, (t, r) in enumerate(zip(ep.turns, _round_of_turns(ep))):
                role = t.seat.rsplit("_", 1)[0]
                if role in PLAYERS:
                    t.reward = rewards[r][role]
                elif role == "critic":  # advice after round r, shown in round r + 1
                    side = scenario["feedback_to"]
                    t.reward = rewards[r + 1][side] - rewards[r][side]
                    per_role["critic"].append(t.reward)
                else:
                    t.reward = 0.0
                t.reward += self.illegal_penalty if i in bad else 0.0
            for r, (rnd, rew) in enumerate(zip(rounds, rewards)):
                for side in PLAYERS:
                    per_role[side].append(rew[side])
                deals_by_round[r].append(bool(rnd["deal"]))
                exchanges.append(rnd["exchanges"])
                if rnd["deal"]:
                    prices_by_round[r].append(rnd["price"])
                    below_cost += rnd["price"] < scenario["cost"]
                    above_opening += rnd["price"] > scenario["opening_price"]
            turns += len(ep.turns)
            illegal += len(bad)
        deals = [d for ds in deals_by_round.values() for d in ds]
        prices = [p for ps in prices_by_round.values() for p in ps]
        metrics = {"arbiter/deal_rate": sum(deals) / len(deals),
                   "arbiter/mean_exchanges": sum(exchanges) / len(exchanges),
                   "arbiter/illegal_rate": illegal / max(turns, 1)}
        if prices:
            metrics["arbiter/mean_price"] = sum(prices) / len(prices)
            metrics["arbiter/median_price"] = statistics.median(prices)
            metrics["arbiter/below_cost_rate"] = below_cost / len(prices)
            metrics["arbiter/above_opening_rate"] = above_opening / len(prices)
        metrics.update({f"arbiter/mean_reward/{k}": sum(v) / len(v) for k, v in per_role.items()})
        if len(deals_by_round) > 1:
            for r, ds in sorted(deals_by_round.items()):
                metrics[f"arbiter/deal_rate/round_{r + 1}"] = sum(ds) / len(ds)
                if prices_by_round[r]:
                    metrics[f"arbiter/mean_price/round_{r + 1}"] = sum(prices_by_round[r]) / len(prices_by_round[r])
        return metrics
