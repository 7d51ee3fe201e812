"""negotiation_v0 — a seller and a buyer bargain over an item (PAPERS.md section 4, Fu et al.).

The seller's item cost it `cost` ($8) and it asks `opening_price` ($20); the buyer wants to pay
about `buyer_budget` ($10). They talk in turns, the seller first, for at most `max_exchanges`
exchanges. A moderator decides whether a deal was struck and at what price. With `rounds` > 1 the
same pair negotiates again; with `feedback` a critic advises one player between rounds.

| | |
|---|---|
| id | `negotiation_v0` (`games.make("negotiation_v0", **options)`, `pettingzoo.make("aec", ...)`) |
| agents | `seller_0`, `buyer_0`; plus `moderator_0` when `moderator="llm"`; plus `critic_0` when `feedback` |
| turn order | per round: seller, buyer, [moderator], seller, buyer, [moderator], ... until a deal or the limit; then [critic] before the next round |
| observation | `{"text": str}`: the role's prompt from `prompts/<role>.txt` (the scenario, this round's conversation) |
| action | text; players may embed `<offer>N</offer>` and `<accept>` (see "Protocol") |
| native rewards | per round, deal at price p: seller (p - budget)/(opening - budget), buyer (opening - p)/(opening - budget); no deal: both `no_deal_reward`; summed over rounds. critic: its advice's gains (below); moderator 0 |

An **exchange** is one seller message followed by one buyer message (and, with the LLM moderator,
its verdict). `exchanges` in the outcome counts the seller messages of the round, so a deal struck
by the seller's message in exchange k counts k.

Protocol (the machine-readable part of a player's message; everything else is free talk):

- `<offer>N</offer>` proposes price N (`$` allowed, closing tag optional, the FIRST offer counts;
  N >= 0 with at most 9 digits before the point, else the tag is talk);
- `<accept>` (or `<accept/>`) accepts the other side's standing offer.

With `prefill_offer` (default) every player message starts with a prefilled `<offer>` (the
rollout's response prefix), so a small model names a price each turn: SmolLM2-135M wrote 0 offers
in 64 messages without it and 18 in 20 with it. The seller's standing offer starts at
`opening_price` (the asking price both sides are told); the buyer has none until it offers.
A later line of a message that starts with the other side's label (`Buyer:` in a seller's
message) ends the message: a player cannot speak for the other side. A message without tags is
legal talk, never an illegal move: players have no required format.

Moderators (`moderator` option):

- `rule` (no seat): after EVERY player message, deterministically: an `<accept>` with a standing
  offer on the other side is a deal at that offer; else an offer that crosses the other side's
  standing offer (seller asks <= buyer's offer, or buyer offers >= seller's ask) is a deal at the
  other side's (earlier) offer; else the offer becomes the player's standing offer. An `<accept>`
  with nothing to accept is ignored (the message's offer, if any, still counts).
- `llm` (seat `moderator_0`, usually the frozen base: `population.base_roles: [moderator]`): after
  every exchange it reads the round's conversation and writes `<deal>N</deal>` (deal at N) or
  `<deal>none</deal>` (`no` is read as none too); `<deal>` is prefilled and generation stops at
  `</deal>`. Anything else is an illegal move and counts as "no deal yet". Tags in players'
  messages are only hints for it. Its prompt names no example price: with `<deal>15</deal>` as
  the example, SmolLM2-135M (the frozen base) wrote exactly that in 6 of 13 verdicts and every
  deal was at $15 whatever was offered. Without it (8 games, 51 verdicts): 17 none/no, 7 `yes`
  (illegal), 4 deals at prices nobody offered. A 135M model is no reliable judge: the rule
  moderator is the default.

A round ends at a deal or after `max_exchanges` exchanges (no deal). Deals below `cost` are deals
(`below_cost` marks them; the seller's reward says the rest).

Feedback (`feedback: true`, needs `rounds` >= 2): after every round but the last, `critic_0`
reads the round and writes advice (free text) for `feedback_to` (seller or buyer). That player's
prompts in the next round show the latest advice, as in the paper's in-context AI feedback.
The critic's native reward for advice after round r is the advised player's reward in round r+1
minus its reward in round r (did the advice help?); these gains telescope to last minus first.

Outcome (`env.outcome`, also `infos[agent]["outcome"]` at the end):

    {"scenario": {"item", "cost", "opening_price", "buyer_budget", "max_exchanges",
                  "no_deal_reward", "moderator", "feedback_to": str | None},
     "rounds": [{"messages": [{"seat", "text", "offer": float | None, "accept": bool}],
                 "verdicts": [{"text", "deal": bool | None, "price": float | None}],  # llm only
                 "deal": bool, "price": float | None, "exchanges": int, "below_cost": bool,
                 "advice": str | None,      # what the advised player was shown in this round
                 "feedback": str | None,    # the critic's advice written after this round
                 "rewards": {"seller": float, "buyer": float}}, ...],
     "deal_rate": float, "mean_price": float | None, "mean_exchanges": float,
     "illegal_moves": [{"agent", "turn", "reason"}], "truncated": bool}

Training rewards are the arbiter's (`coevo.arbiters.negotiation`): the same formula per round.

Scripted players (tournament baselines): `concede_1`, `concede_2`, `concede_4` concede that many
dollars a message, as seller or as buyer (`conceding_player`).

Options (`Options`, pydantic, extra fields rejected): `item` ("balloon"), `cost` (8, below
`opening_price`), `opening_price` (20), `buyer_budget` (10, below `opening_price`),
`max_exchanges` (10), `moderator` ("rule" | "llm"), `rounds` (1), `feedback` (false),
`feedback_to` ("seller"), `no_deal_reward` (0.0), `prefill_offer` (true), `max_new_tokens` per
role (seller 48, buyer 48, moderator 8, critic 48), `max_obs_chars`, `max_action_chars`. `tasks`
is rejected: there is no question, every game gets one placeholder task (so GRPO/RLOO groups are
"one seat within one iteration") and there is no held-out set.

Example:

    >>> import games
    >>> env = games.make("negotiation_v0", max_exchanges=3)
    >>> env.reset(seed=0)
    >>> for text in ["A lovely balloon for $20.", "Too much. <offer>12</offer>",
    ...              "Meet me halfway: <offer>16</offer>", "<offer>15</offer>", "Fine, it is yours. <accept>"]:
    ...     env.step(text)
    >>> r = env.outcome["rounds"][0]; (r["deal"], r["price"], r["exchanges"])
    (True, 15.0, 3)
    >>> env.rewards
    {'seller_0': 0.5, 'buyer_0': 0.5}
"""
from __future__ import annotations

import dataclasses
import random
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from games.base import GameFacts, TextGame, TextGameOptions
from games.tasks import Task, TaskSource

# A price has at most 9 integer digits: longer ones are talk (a float of 400 digits is inf).
# Thousands may be grouped ("1,200" is 1200, not 1).
PRICE = r"(\d{1,3}(?:,\d{3}){1,2}(?:\.\d+)?(?![\d,])|\d{1,9}(?:\.\d+)?)(?!\d)"
OFFER_RE = re.compile(r"<offer>\s*\$?\s*" + PRICE, re.IGNORECASE)
ACCEPT_RE = re.compile(r"<accept\s*/?>", re.IGNORECASE)
DEAL_RE = re.compile(r"<deal>\s*(?:(none|no)|\$?\s*" + PRICE + r")\s*</deal>", re.IGNORECASE)
# A line where a player starts writing the other side's part (the model role-plays both sides).
# (Not at the very start: models often open with their own side's or an echoed label.)
OTHER_SIDE_RE = {"seller": re.compile(r"\n[ \t]*buyer[ \t]*:", re.IGNORECASE),
                 "buyer": re.compile(r"\n[ \t]*seller[ \t]*:", re.IGNORECASE)}
ROLES = ("seller", "buyer", "moderator", "critic")


def parse_offer(text: str) -> float | None:
    """The first `<offer>N</offer>` of a message, or None (plain talk, however many numbers)."""
    m = OFFER_RE.search(text)
    return float(m.group(1).replace(",", "")) if m else None


def parse_accept(text: str) -> bool:
    return ACCEPT_RE.search(text) is not None


def parse_verdict(text: str) -> tuple[bool | None, float | None]:
    """The LLM moderator's verdict: (True, price), (False, None), or (None, None) if unparseable."""
    m = DEAL_RE.search(text)
    if not m:
        return None, None
    return (False, None) if m.group(1) else (True, float(m.group(2).replace(",", "")))


def price_rewards(price: float | None, opening_price: float, buyer_budget: float,
                  no_deal_reward: float = 0.0) -> dict[str, float]:
    """One round's rewards: the paper's (p - 10)/10 and (20 - p)/10 with its numbers."""
    if price is None:
        return {"seller": no_deal_reward, "buyer": no_deal_reward}
    span = opening_price - buyer_budget
    return {"seller": (price - buyer_budget) / span, "buyer": (opening_price - price) / span}


def money(x: float) -> str:
    return f"${int(x)}" if float(x).is_integer() else f"${x:.2f}"


class Options(TextGameOptions):
    ROLES: ClassVar[tuple[str, ...]] = ROLES

    item: str = Field("balloon", min_length=1, max_length=60, description="what is sold")
    cost: float = Field(8.0, ge=0, description="what the item cost the seller (private to it)")
    opening_price: float = Field(20.0, gt=0, description="the seller's asking price, its first standing offer")
    buyer_budget: float = Field(10.0, ge=0, description="what the buyer wants to pay (private to it)")
    max_exchanges: int = Field(10, ge=1, le=100, description="seller+buyer message pairs per round")
    moderator: Literal["rule", "llm"] = Field("rule", description="rule: price parser; llm: a moderator seat")
    rounds: int = Field(1, ge=1, le=20, description="complete negotiations per game")
    feedback: bool = Field(False, description="a critic advises `feedback_to` between rounds")
    feedback_to: Literal["seller", "buyer"] = "seller"
    no_deal_reward: float = Field(0.0, description="both players' reward for a round without a deal")
    prefill_offer: bool = Field(True, description="every player message starts with `<offer>` (prefilled)")
    max_new_tokens: dict[str, int] = Field(
        default_factory=lambda: {"seller": 48, "buyer": 48, "moderator": 8, "critic": 48})

    @model_validator(mode="after")
    def _check_combinations(self) -> Options:
        if "tasks" in self.model_fields_set:
            raise ValueError("negotiation_v0 has no questions: remove the `tasks` option")
        if self.buyer_budget >= self.opening_price:
            raise ValueError(f"buyer_budget ({self.buyer_budget:g}) must be below opening_price "
                             f"({self.opening_price:g}): rewards divide by opening_price - buyer_budget")
        if self.cost >= self.opening_price:
            raise ValueError(f"cost ({self.cost:g}) must be below opening_price ({self.opening_price:g})")
        if self.feedback and self.rounds < 2:
            raise ValueError(f"feedback needs rounds >= 2 (advice is shown in the next round); got rounds={self.rounds}")
        return self


def seats(options: Options) -> tuple[str, ...]:
    return (("seller_0", "buyer_0") + (("moderator_0",) if options.moderator == "llm" else ())
            + (("critic_0",) if options.feedback else ()))


class ScenarioTask(TaskSource):
    """No questions: every game gets one placeholder task naming the scenario; nothing held out."""

    def __init__(self, options: Options):
        self._task = Task(id=f"negotiation-{options.item}", answer="", question=(
            f"sell a {options.item}: cost {money(options.cost)}, asking {money(options.opening_price)}, "
            f"buyer's budget {money(options.buyer_budget)}"))

    def sample(self, rng: random.Random, split: str = "train") -> Task:
        return self._task

    def heldout(self, n: int, seed: int = 0) -> list[Task]:
        return []


class raw_env(TextGame):
    # The class facts describe the default seats; each env replaces them with its own (see __init__).
    FACTS = GameFacts(
        roles=ROLES, turn_order=("seller_0", "buyer_0"),
        stop_strings={"moderator": ("</deal>",), "seller": ("\nBuyer:",), "buyer": ("\nSeller:",)},
        formats={"moderator": "<deal>none</deal>"},
        response_prefix={"moderator": "<deal>"},
        seeded=False,  # one fixed scenario (the options), as in the paper: every seed starts the same game
    )
    Options = Options
    PROMPTS_DIR = Path(__file__).parent / "prompts"
    metadata = {"name": "negotiation_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, render_mode: str | None = None, **options: Any):
        # Seats and the turn cap depend on options, and the base reads FACTS while it sets up.
        opts = Options(**options)
        per_round = opts.max_exchanges * (3 if opts.moderator == "llm" else 2)
        critic_turns = opts.rounds - 1 if opts.feedback else 0
        prefix = {"moderator": "<deal>"} | ({"seller": "<offer>", "buyer": "<offer>"} if opts.prefill_offer else {})
        self.FACTS = dataclasses.replace(type(self).FACTS, turn_order=seats(opts), response_prefix=prefix,
                                         max_turns=opts.rounds * per_round + critic_turns)
        super().__init__(render_mode, **options)
        self.task_source = ScenarioTask(self.options)

    # ---- rules ----------------------------------------------------------------------------
    def _new_game(self) -> None:
        self._rounds: list[dict[str, Any]] = []
        self._advice: str | None = None  # the critic's latest advice
        self._done = False
        self._start_round()

    def _start_round(self) -> None:
        self._rounds.append({"messages": [], "verdicts": [], "deal": False, "price": None, "exchanges": 0,
                             "below_cost": False, "advice": self._advice, "feedback": None,
                             "rewards": {}})
        self._standing: dict[str, float | None] = {"seller": self.options.opening_price, "buyer": None}
        self._next = "seller_0"

    def _apply(self, agent: str, text: str) -> str | None:
        role, rnd = self.role(agent), self._rounds[-1]
        if role == "critic":
            rnd["feedback"] = self._advice = text
            self._start_round()
            return None
        if role == "moderator":
            deal, price = parse_verdict(text)
            rnd["verdicts"].append({"text": text, "deal": deal, "price": price})
            self._after_exchange(price if deal else None)
            return None if deal is not None else "no <deal>N</deal> or <deal>none</deal>"
        cut = OTHER_SIDE_RE[role].search(text)
        text = (text[: cut.start()] if cut else text).strip()
        offer, accept = parse_offer(text), parse_accept(text)
        rnd["messages"].append({"seat": agent, "text": text, "offer": offer, "accept": accept})
        rnd["exchanges"] += role == "seller"
        if role == "seller":
            self._next = "buyer_0"
        if self.options.moderator == "rule":
            price = self._rule_deal(role, offer, accept)
        else:  # the LLM decides; standing offers are only shown to the players
            price = None
            self._standing[role] = offer if offer is not None else self._standing[role]
        if price is not None:
            self._end_round(price)
        elif role == "buyer":
            if self.options.moderator == "llm":
                self._next = "moderator_0"
            else:
                self._after_exchange(None)
        return None  # players have no required format: a message without tags is talk

    def _rule_deal(self, role: str, offer: float | None, accept: bool) -> float | None:
        """The rule moderator: the price of a deal this message strikes, or None."""
        other = "buyer" if role == "seller" else "seller"
        theirs = self._standing[other]
        if accept and theirs is not None:
            return theirs
        if offer is None:
            return None
        if theirs is not None and (offer <= theirs if role == "seller" else offer >= theirs):
            return theirs  # crossing offers: the earlier offer stands
        self._standing[role] = offer
        return None

    def _after_exchange(self, price: float | None) -> None:
        if price is not None:
            self._end_round(price)
        elif self._rounds[-1]["exchanges"] >= self.options.max_exchanges:
            self._end_round(None)
        else:
            self._next = "seller_0"

    def _end_round(self, price: float | None) -> None:
        o, rnd = self.options, self._rounds[-1]
        rnd.update(deal=price is not None, price=price, below_cost=price is not None and price < o.cost,
                   rewards=price_rewards(price, o.opening_price, o.buyer_budget, o.no_deal_reward))
        if len(self._rounds) >= o.rounds:
            self._done = True
        elif o.feedback:
            self._next = "critic_0"
        else:
            self._start_round()

    def _next_agent(self) -> str:
        return self._next

    def _game_over(self) -> bool:
        return self._done

    def _outcome(self) -> dict[str, Any]:
        o = self.options
        rounds = [{**r, "messages": [dict(m) for m in r["messages"]],
                   "verdicts": [dict(v) for v in r["verdicts"]], "rewards": dict(r["rewards"])}
                  for r in self._rounds]
        prices = [r["price"] for r in rounds if r["deal"]]
        return {
            "scenario": {"item": o.item, "cost": o.cost, "opening_price": o.opening_price,
                         "buyer_budget": o.buyer_budget, "max_exchanges": o.max_exchanges,
                         "no_deal_reward": o.no_deal_reward, "moderator": o.moderator,
                         "feedback_to": o.feedback_to if o.feedback else None},
            "rounds": rounds,
            "deal_rate": len(prices) / len(rounds),
            "mean_price": sum(prices) / len(prices) if prices else None,
            "mean_exchanges": sum(r["exchanges"] for r in rounds) / len(rounds),
        }

    def _native_rewards(self) -> dict[str, float]:
        totals = {"seller_0": 0.0, "buyer_0": 0.0}
        for r in self._rounds:
            totals["seller_0"] += r["rewards"]["seller"]
            totals["buyer_0"] += r["rewards"]["buyer"]
        if self.options.feedback:  # each advice earns the advised player's change to the next round
            side = self.options.feedback_to
            totals["critic_0"] = sum(b["rewards"][side] - a["rewards"][side]
                                     for a, b in zip(self._rounds, self._rounds[1:]))
        return totals

    # ---- what each role sees ----------------------------------------------------------------
    def _observation_text(self, agent: str) -> str:
        o, role = self.options, self.role(agent)
        rnd = self._rounds[-1]  # the critic acts before the next round starts: this is the one it judges
        fields = {"item": o.item, "cost": money(o.cost), "opening_price": money(o.opening_price),
                  "buyer_budget": money(o.buyer_budget), "max_exchanges": o.max_exchanges}
        history = "\n".join(f"{self.role(m['seat']).capitalize()}: {m['text']}" for m in rnd["messages"])
        if role in ("seller", "buyer"):
            advice = self._advice if o.feedback and role == o.feedback_to else None
            fields["advice"] = f"Advice from your coach: {advice}\n" if advice else ""
            fields["offers"] = (f"Seller's offer: {money(self._standing['seller'])}. Buyer's offer: "
                                + (money(self._standing["buyer"]) if self._standing["buyer"] is not None
                                   else "none yet") + ".")
            # an example price from what the player itself knows: the seller a fifth of the way from
            # its asking price down to its cost, the buyer a fifth of the way from its budget up to the
            # asking price (the buyer's budget in the seller's prompt would leak it)
            fields["example"] = (f"{o.opening_price - (o.opening_price - o.cost) / 5:g}" if role == "seller"
                                 else f"{o.buyer_budget + (o.opening_price - o.buyer_budget) / 5:g}")
            fields["exchange"] = min(max(rnd["exchanges"] + (role == "seller"), 1), o.max_exchanges)
        if role == "critic":
            fields["advisee"] = o.feedback_to
            fields["result"] = f"sold for {money(rnd['price'])}" if rnd["deal"] else "no deal"
        return self.fit_prompt(role, history=history or "(nothing yet)", **fields)


def env(**options: Any) -> raw_env:
    """The negotiation_v0 environment (no PettingZoo wrappers, as in comas_v0: they would hide the hooks)."""
    return raw_env(**options)

def conceding_player(step: float):
    """A scripted player that concedes `step` dollars a message, as seller or as buyer.

    The seller asks `opening_price - step`, then `step` less each message, never below its
    `cost`; the buyer offers half its budget, then `step` more each message, never above the
    asking price. Against the same opponent, a player that concedes faster strikes worse deals:
    tournaments of them have a known order (tests check it).
    """

    def player(env, seat: str, rng: random.Random) -> str:
        o = env.options
        said = sum(m["seat"] == seat for m in env.outcome["rounds"][-1]["messages"])
        if env.role(seat) == "seller":
            price = max(o.cost, o.opening_price - step * (said + 1))
        elif env.role(seat) == "buyer":
            price = min(o.opening_price, o.buyer_budget / 2 + step * said)
        else:
            raise ValueError(f"conceding players play seller or buyer, not {seat}")
        return f"<offer>{money(price)[1:]}</offer>"

    return player


# Scripted players (tournament baselines, games/scripted.py)
PLAYERS = {"concede_1": conceding_player(1.0), "concede_2": conceding_player(2.0),
           "concede_4": conceding_player(4.0)}


# Hand-worked games with known outcomes (run by games.testing.check_scripted). The first case has
# no illegal moves and is the test kit's garbage baseline: with one exchange a round is always two
# messages long, whatever either player writes, so garbage cannot end the game early or late.
SCRIPTED_CASES: list[dict[str, Any]] = [
    {"name": "the buyer accepts the asking price at once",
     "task": None, "options": {"max_exchanges": 1},
     "script": {"seller_0": ["A fine red balloon, only $20. <offer>20</offer>"],
                "buyer_0": ["Deal, I will take it. <accept>"]},
     "expected": {"rounds": [{"deal": True, "price": 20.0, "exchanges": 1, "below_cost": False,
                              "messages": [{"offer": 20.0, "accept": False}, {"offer": None, "accept": True}],
                              "rewards": {"seller": 1.0, "buyer": 0.0}}],
                  "deal_rate": 1.0, "mean_price": 20.0, "illegal_moves": []},
     "rewards": {"seller_0": 1.0, "buyer_0": 0.0}},
    {"name": "crossing offers: a deal at the earlier offer",
     "task": None,
     "script": {"seller_0": ["<offer>18</offer> is my price.", "OK, <offer>15</offer>, last word."],
                "buyer_0": ["I can pay <offer>10</offer>.", "Then <offer>$16</offer>!"]},
     "expected": {"rounds": [{"deal": True, "price": 15.0, "exchanges": 2, "verdicts": []}],
                  "deal_rate": 1.0, "mean_exchanges": 2.0, "illegal_moves": []},
     "rewards": {"seller_0": 0.5, "buyer_0": 0.5}},
    {"name": "the seller accepts the buyer's offer; a second offer in a message is ignored",
     "task": None,
     "script": {"seller_0": ["Twenty dollars, it is a good balloon.", "Fine. <accept>"],
                "buyer_0": ["I can pay <offer>12</offer>, or maybe <offer>13</offer>."]},
     "expected": {"rounds": [{"deal": True, "price": 12.0, "exchanges": 2,
                              "messages": [{"offer": None}, {"offer": 12.0}, {"accept": True}]}],
                  "illegal_moves": []},
     "rewards": {"seller_0": 0.2, "buyer_0": 0.8}},
    {"name": "offers without tags are talk: no deal at the limit, no_deal_reward",
     "task": None, "options": {"max_exchanges": 2, "no_deal_reward": -0.5},
     "script": {"seller_0": ["I want 15 dollars.", "$14 then, final."],
                "buyer_0": ["I accept 15.", "ok, 14 it is"]},
     "expected": {"rounds": [{"deal": False, "price": None, "exchanges": 2,
                              "messages": [{"offer": None, "accept": False}] * 4}],
                  "deal_rate": 0.0, "mean_price": None, "illegal_moves": []},
     "rewards": {"seller_0": -0.5, "buyer_0": -0.5}},
    {"name": "a deal below cost is still a deal; a player cannot speak for the other side",
     "task": None,
     "script": {"seller_0": ["Please, <offer>7</offer>.\nBuyer: no thanks"],
                "buyer_0": ["Yes! <accept>\nSeller: <offer>30</offer>"]},
     "expected": {"rounds": [{"deal": True, "price": 7.0, "below_cost": True, "exchanges": 1,
                              "messages": [{"text": "Please, <offer>7</offer>."}, {"text": "Yes! <accept>"}]}],
                  "illegal_moves": []},
     "rewards": {"seller_0": -0.3, "buyer_0": 1.3}},
    {"name": "LLM moderator: judges after each exchange, tags or not",
     "task": None, "options": {"moderator": "llm", "max_exchanges": 3},
     "script": {"seller_0": ["<offer>18</offer>", "I could do 15."],
                "buyer_0": ["<offer>10</offer>", "15 works for me."],
                "moderator_0": ["<deal>none</deal>", "<deal>15</deal>"]},
     "expected": {"rounds": [{"deal": True, "price": 15.0, "exchanges": 2,
                              "verdicts": [{"deal": False, "price": None}, {"deal": True, "price": 15.0}]}],
                  "illegal_moves": []},
     "rewards": {"seller_0": 0.5, "buyer_0": 0.5, "moderator_0": 0.0}},
    {"name": "LLM moderator writes garbage: illegal, no deal yet; crossing tags alone decide nothing",
     "task": None, "options": {"moderator": "llm", "max_exchanges": 2},
     "script": {"seller_0": ["<offer>15</offer>", "<offer>14</offer>"],
                "buyer_0": ["<offer>15</offer>", "<accept>"],
                "moderator_0": ["yes, they agreed on 15", "<deal>no</deal>"]},
     "expected": {"rounds": [{"deal": False, "price": None, "exchanges": 2,
                              "verdicts": [{"deal": None}, {"deal": False}]}],
                  "illegal_moves": [{"agent": "moderator_0", "turn": 2}]},
     "rewards": {"seller_0": 0.0, "buyer_0": 0.0, "moderator_0": 0.0}},
    {"name": "feedback: the critic advises the seller, who sells in round 2",
     "task": None, "options": {"rounds": 2, "feedback": True, "max_exchanges": 1},
     "script": {"seller_0": ["<offer>20</offer>", "For you, <offer>14</offer>."],
                "buyer_0": ["<offer>10</offer>", "<accept>"],
                "critic_0": ["Come down a little so the buyer can say yes."]},
     "expected": {"rounds": [{"deal": False, "advice": None,
                              "feedback": "Come down a little so the buyer can say yes."},
                             {"deal": True, "price": 14.0, "feedback": None,
                              "advice": "Come down a little so the buyer can say yes."}],
                  "deal_rate": 0.5, "mean_price": 14.0, "illegal_moves": []},
     "rewards": {"seller_0": 0.4, "buyer_0": 0.6, "critic_0": 0.4}},
    {"name": "a non-text message is illegal and counts as silence",
     "task": None, "options": {"max_exchanges": 1},
     "script": {"seller_0": ["<offer>16</offer>"], "buyer_0": [16]},
     "expected": {"rounds": [{"deal": False, "messages": [{"offer": 16.0}, {"text": "", "offer": None}]}],
                  "illegal_moves": [{"agent": "buyer_0", "turn": 1}]},
     "rewards": {"seller_0": 0.0, "buyer_0": 0.0}},
]
