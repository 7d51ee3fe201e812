"""negotiation_v0 (rule and LLM moderators, critic feedback) and the `negotiation` arbiter, on
hand-written transcripts and hand-worked rewards. The test kit (tests/test_games.py) also plays
the module's SCRIPTED_CASES, which include the LLM-moderator and feedback variants."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

import games
from coevo.arbiters import ARBITERS, make_arbiter
from coevo.episode import Episode, Turn
from coevo.models.hf import Completion
from coevo.rollout import plan_games, play
from games.negotiation import parse_accept, parse_offer, parse_verdict, price_rewards
from games.testing import play_in_order

GAME = "negotiation_v0"


def run(script: list[str], **options) -> tuple[games.TextGame, list[str]]:
    """Play `script` (the actions in play order) to the end; returns the env and who acted when."""
    return play_in_order(GAME, script, **options)


def rnd(env, k: int = 0) -> dict:
    return env.outcome["rounds"][k]


# ---- the protocol parsers ---------------------------------------------------------------------
def test_parsers():
    assert parse_offer("ok <offer> $15.50 </offer>") == 15.5 and parse_offer("<OFFER>7") == 7.0
    assert parse_offer("<offer>12</offer> or <offer>13</offer>") == 12.0  # the first offer counts
    assert parse_offer("I offer 15 dollars") is None and parse_offer("<offer>fifteen</offer>") is None
    assert parse_offer("<offer>-5</offer>") is None  # no negative prices
    assert parse_offer("<offer>$1,200</offer>") == 1200.0 and parse_offer("<offer>1,000,000.5") == 1000000.5
    assert parse_verdict("<deal>1,500</deal>") == (True, 1500.0)  # grouped thousands, not $1
    assert parse_offer("<offer>" + "9" * 400) is None and parse_verdict("<deal>1" + "0" * 30 + "</deal>") == (None, None)
    assert parse_offer("<offer>123456789.5") == 123456789.5
    assert parse_accept("yes <accept>") and parse_accept("<Accept/>") and parse_accept("<accept />")
    assert not parse_accept("I accept") and not parse_accept("<accepted>")
    assert parse_verdict("<deal>15</deal>") == (True, 15.0) and parse_verdict("<deal> $9.5 </deal>") == (True, 9.5)
    assert parse_verdict("<deal>none</deal>") == (False, None) and parse_verdict("<deal>No</deal>") == (False, None)
    for bad in ("", "yes, at 15", "<deal>yes</deal>", "<deal>15", "<price>15</price>"):
        assert parse_verdict(bad) == (None, None), bad


# ---- the rule moderator on hand-written transcripts -------------------------------------------
def test_accept_ends_the_round_at_the_standing_offer():
    # The asking price is the seller's standing offer before it says anything.
    env, seats = run(["Hello!", "<accept>"])
    assert seats == ["seller_0", "buyer_0"] and (rnd(env)["deal"], rnd(env)["price"]) == (True, 20.0)
    # The seller accepts the buyer's offer: the game ends right there, the buyer does not reply.
    env, seats = run(["<offer>18</offer>", "<offer>11</offer>", "OK then. <accept>"])
    assert seats == ["seller_0", "buyer_0", "seller_0"]
    assert (rnd(env)["price"], rnd(env)["exchanges"]) == (11.0, 2)


def test_crossing_offers_deal_at_the_earlier_offer():
    env, _ = run(["<offer>18</offer>", "<offer>12</offer>", "<offer>11</offer>"])  # seller undercuts
    assert rnd(env)["price"] == 12.0
    env, _ = run(["I ask $20.", "<offer>25</offer>"])  # buyer overshoots the asking price
    assert rnd(env)["price"] == 20.0
    env, _ = run(["<offer>17</offer>", "<offer>14</offer>", "<offer>16</offer>", "<offer>16</offer>"])
    assert (rnd(env)["price"], rnd(env)["exchanges"]) == (16.0, 2)  # equal offers cross too


def test_accept_with_nothing_to_accept_is_ignored_but_its_offer_counts():
    env, seats = run(["<accept> <offer>18</offer>", "<offer>18</offer>"])
    assert [m["accept"] for m in rnd(env)["messages"]] == [True, False]
    assert rnd(env)["price"] == 18.0 and len(seats) == 2


def test_offers_without_tags_and_no_deal_at_the_limit():
    talk = ["I want 15.", "15 is fine, I accept.", "Deal at 15?", "Yes, deal, 15."]
    env, seats = run(talk, max_exchanges=2)
    assert seats == ["seller_0", "buyer_0"] * 2
    assert (rnd(env)["deal"], rnd(env)["price"], rnd(env)["exchanges"]) == (False, None, 2)
    assert all(m["offer"] is None and not m["accept"] for m in rnd(env)["messages"])
    assert env.outcome["deal_rate"] == 0.0 and env.outcome["mean_price"] is None
    assert env.rewards == {"seller_0": 0.0, "buyer_0": 0.0}


def test_a_deal_below_cost():
    env, _ = run(["Take it for <offer>6</offer>.", "<accept>"])
    assert rnd(env)["deal"] and rnd(env)["below_cost"] and rnd(env)["price"] == 6.0
    assert env.rewards == {"seller_0": -0.4, "buyer_0": 1.4}  # (6-10)/10, (20-6)/10


def test_a_player_cannot_speak_for_the_other_side():
    env, _ = run(["Seller: my price is <offer>19</offer>\nBuyer: <accept>", "<offer>12</offer>"] + ["..."] * 18)
    first = rnd(env)["messages"][0]
    assert first["text"] == "Seller: my price is <offer>19</offer>" and not first["accept"]
    assert not rnd(env)["deal"]


# ---- rewards ----------------------------------------------------------------------------------
@pytest.mark.parametrize("price,seller,buyer", [
    (20, 1.0, 0.0), (15, 0.5, 0.5), (12, 0.2, 0.8), (10, 0.0, 1.0), (8, -0.2, 1.2), (25, 1.5, -0.5)])
def test_reward_formula_at_the_papers_numbers(price, seller, buyer):
    # (p - 10)/10 and (20 - p)/10, worked by hand
    assert price_rewards(price, 20, 10) == pytest.approx({"seller": seller, "buyer": buyer})


def test_reward_formula_other_numbers_and_no_deal():
    # opening 100, budget 60, deal at 90: seller 30/40, buyer 10/40; a deal always sums to 1
    assert price_rewards(90, 100, 60) == {"seller": 0.75, "buyer": 0.25}
    assert price_rewards(None, 20, 10, -0.5) == {"seller": -0.5, "buyer": -0.5}
    env, _ = run(["<offer>90</offer>", "<accept>"], opening_price=100, buyer_budget=60, cost=50)
    assert env.rewards == {"seller_0": 0.75, "buyer_0": 0.25}


# ---- seats, prompts, options ------------------------------------------------------------------
def test_seats_and_turn_cap_depend_on_options():
    cases = [({}, ["seller_0", "buyer_0"], 20),
             ({"moderator": "llm"}, ["seller_0", "buyer_0", "moderator_0"], 30),
             ({"rounds": 3, "feedback": True, "max_exchanges": 2}, ["seller_0", "buyer_0", "critic_0"], 3 * 4 + 2)]
    for options, seats, max_turns in cases:
        env = games.make(GAME, **options)
        assert env.possible_agents == seats and env.max_turns == max_turns
    env = games.make(GAME, moderator="llm")
    assert env.response_prefix("moderator_0") == "<deal>" and env.stop_strings("moderator_0") == ["</deal>"]
    assert env.response_prefix("seller_0") == "<offer>" and env.stop_strings("seller_0") == ["\nBuyer:"]
    assert games.make(GAME, prefill_offer=False).response_prefix("buyer_0") == ""
    assert env.FACTS.formats == {"moderator": "<deal>none</deal>"}  # players: no required format


def test_private_information_stays_private():
    env = games.make(GAME, cost=7, buyer_budget=11, opening_price=21)
    env.reset(seed=0)
    seller, buyer = env.observe("seller_0")["text"], env.observe("buyer_0")["text"]
    assert "$7" in seller and "$11" not in seller and "$21" in seller
    assert "$11" in buyer and "$7" not in buyer and "$21" in buyer
    env.step("Only <offer>19</offer> today.")
    buyer = env.observe("buyer_0")["text"]
    assert "Seller: Only <offer>19</offer> today." in buyer and "Seller's offer: $19" in buyer
    # nothing in a player's prompt depends on the other side's private number
    def first_prompt(seat, **options):
        env = games.make(GAME, **options)
        env.reset(seed=0)
        return env.observe(seat)["text"]

    assert first_prompt("seller_0", buyer_budget=4) == first_prompt("seller_0", buyer_budget=16)
    assert first_prompt("buyer_0", cost=2) == first_prompt("buyer_0", cost=18)


def test_llm_moderator_judges_after_each_exchange():
    env, seats = run(["<offer>18</offer>", "<offer>19</offer>", "yes they agreed", "Sold at 17?", "Yes, 17.",
                      "<deal>17</deal>"], moderator="llm", max_exchanges=4)
    # crossing offers decide nothing here, an unparseable verdict is illegal and means "no deal yet"
    assert seats == ["seller_0", "buyer_0", "moderator_0"] * 2
    assert (rnd(env)["price"], rnd(env)["exchanges"]) == (17.0, 2)
    assert [m["agent"] for m in env.outcome["illegal_moves"]] == ["moderator_0"]
    env.reset(seed=0)
    env.step("A balloon for you.")
    env.step("<offer>12</offer>")
    obs = env.observe("moderator_0")["text"]
    assert "Seller: A balloon for you.\nBuyer: <offer>12</offer>" in obs and "<deal>none</deal>" in obs


@pytest.mark.parametrize("advisee,other", [("seller", "buyer"), ("buyer", "seller")])
def test_feedback_is_shown_to_the_advised_player_only(advisee, other):
    env = games.make(GAME, rounds=2, feedback=True, feedback_to=advisee, max_exchanges=1)
    env.reset(seed=0)
    env.step("<offer>20</offer>")
    env.step("<offer>10</offer>")
    assert env.agent_selection == "critic_0"
    critic = env.observe("critic_0")["text"]
    assert "Buyer: <offer>10</offer>" in critic and "Result: no deal." in critic and f"Give the {advisee}" in critic
    env.step("Split the difference.")
    assert env.agent_selection == "seller_0" and len(env.outcome["rounds"]) == 2
    assert "Split the difference." in env.observe(f"{advisee}_0")["text"]
    assert "Split the difference." not in env.observe(f"{other}_0")["text"]
    assert "Conversation so far:\n(nothing yet)" in env.observe("seller_0")["text"]  # a fresh round


def test_option_validation_names_the_option():
    bad = [({"buyer_budget": 20}, "buyer_budget"), ({"cost": 25}, "cost"),
           ({"feedback": True}, "rounds >= 2"), ({"tasks": {"difficulty": 2}}, "tasks"),
           ({"moderator": "gpt"}, "moderator"), ({"max_exchanges": 0}, "max_exchanges"),
           ({"max_new_tokens": {"judge": 4}}, "unknown role"), ({"item": ""}, "item"), ({"price": 3}, "Extra")]
    for options, message in bad:
        with pytest.raises(ValidationError, match=message):
            games.make(GAME, **options)


# ---- the arbiter ------------------------------------------------------------------------------
def episode(script: list[str], **options) -> Episode:
    """A played game as an Episode: turns in play order, every reward a stale 9.0."""
    env, seats = run(script, **options)
    turns = [Turn(agent=f"a_{s}", seat=s, prompt_text="p", completion_text=a, reward=9.0)
             for s, a in zip(seats, script)]
    return Episode(game=GAME, seed=0, seats={s: f"a_{s}" for s in env.possible_agents}, turns=turns,
                   outcome=env.outcome, native_rewards=dict(env.total_rewards))


def rewards(ep: Episode) -> list[tuple[str, float]]:
    return [(t.seat.rsplit("_", 1)[0], round(t.reward, 9)) for t in ep.turns]


def test_arbiter_every_player_turn_earns_its_round_reward():
    deal = episode(["<offer>18</offer>", "<offer>12</offer>", "<offer>15</offer>", "<offer>16</offer>"])
    none = episode(["hi", "hi", "hi", "hi"], max_exchanges=2)
    cheap = episode(["<offer>6</offer>", "<accept>"])
    m = make_arbiter("negotiation")([deal, none, cheap])
    assert rewards(deal) == [("seller", 0.5), ("buyer", 0.5)] * 2  # deal at 15
    assert rewards(none) == [("seller", 0.0), ("buyer", 0.0)] * 2
    assert rewards(cheap) == [("seller", -0.4), ("buyer", 1.4)]  # (6-10)/10, (20-6)/10
    assert m == pytest.approx({
        "arbiter/deal_rate": 2 / 3, "arbiter/mean_price": (15 + 6) / 2, "arbiter/mean_exchanges": (2 + 2 + 1) / 3,
        "arbiter/median_price": (15 + 6) / 2, "arbiter/below_cost_rate": 0.5, "arbiter/above_opening_rate": 0.0,
        "arbiter/illegal_rate": 0.0,
        "arbiter/mean_reward/seller": (0.5 + 0 - 0.4) / 3, "arbiter/mean_reward/buyer": (0.5 + 0 + 1.4) / 3})
    # the arbiter's rewards agree with the game's native ones on a one-round game
    assert all(t.reward == deal.native_rewards[t.seat] for t in deal.turns)


def test_arbiter_no_deal_reward_and_clip():
    none = episode(["hi", "hi"], max_exchanges=1, no_deal_reward=-0.5)
    make_arbiter("negotiation")([none])
    assert rewards(none) == [("seller", -0.5), ("buyer", -0.5)]  # the game's option
    make_arbiter("negotiation", no_deal_reward=-0.25)([none])
    assert rewards(none) == [("seller", -0.25), ("buyer", -0.25)]  # the arbiter's override
    absurd = episode(["<offer>1000</offer>", "<accept>"])  # seller (1000-10)/10 = 99, buyer -98
    make_arbiter("negotiation")([absurd])
    assert rewards(absurd) == [("seller", 2.0), ("buyer", -2.0)]
    make_arbiter("negotiation", reward_clip=None)([absurd])
    assert rewards(absurd) == [("seller", 99.0), ("buyer", -98.0)]


def test_arbiter_median_price_resists_one_absurd_deal():
    fair = [episode([f"<offer>{p}</offer>", "<accept>"]) for p in (14, 16, 18)]
    absurd = episode(["<offer>2000</offer>", "<accept>"])  # above the $20 ask: the buyer accepted anyway
    m = make_arbiter("negotiation")([*fair, absurd])
    assert m["arbiter/mean_price"] == pytest.approx((14 + 16 + 18 + 2000) / 4)  # 512
    assert m["arbiter/median_price"] == pytest.approx(17.0)  # (16 + 18) / 2
    assert m["arbiter/above_opening_rate"] == pytest.approx(0.25)


def test_arbiter_critic_earns_the_advised_players_change():
    # round 1 no deal (seller 0), round 2 deal at 14 (0.4), round 3 deal at 12 (0.2)
    ep = episode(["<offer>20</offer>", "<offer>10</offer>", "Come down.",
                  "<offer>14</offer>", "<accept>", "Hold firmer.",
                  "<offer>12</offer>", "<accept>"],
                 rounds=3, feedback=True, max_exchanges=1)
    m = make_arbiter("negotiation")([ep])
    assert rewards(ep) == [("seller", 0.0), ("buyer", 0.0), ("critic", 0.4),
                           ("seller", 0.4), ("buyer", 0.6), ("critic", -0.2),
                           ("seller", 0.2), ("buyer", 0.8)]
    assert ep.native_rewards["critic_0"] == pytest.approx(0.2)  # 0.4 - 0.2: last round minus first
    assert m["arbiter/mean_reward/critic"] == pytest.approx(0.1)
    assert m["arbiter/deal_rate/round_1"] == 0.0 and m["arbiter/mean_price/round_2"] == 14.0
    assert m["arbiter/mean_price/round_3"] == 12.0 and "arbiter/mean_price/round_1" not in m
    buyer = episode(["<offer>20</offer>", "<offer>10</offer>", "Offer more.", "<offer>14</offer>", "<accept>"],
                    rounds=2, feedback=True, feedback_to="buyer", max_exchanges=1)
    make_arbiter("negotiation")([buyer])
    assert rewards(buyer)[2] == ("critic", 0.6)  # the buyer went from 0 to 0.6


def test_arbiter_llm_moderator_and_illegal_penalty():
    ep = episode(["<offer>18</offer>", "<offer>12</offer>", "garbage", "<offer>15</offer>", "ok", "<deal>15</deal>"],
                 moderator="llm", max_exchanges=3)
    m = make_arbiter("negotiation", illegal_penalty=-1.0)([ep])
    assert rewards(ep) == [("seller", 0.5), ("buyer", 0.5), ("moderator", -1.0)] + \
        [("seller", 0.5), ("buyer", 0.5), ("moderator", 0.0)]
    assert m["arbiter/illegal_rate"] == 1 / 6 and "arbiter/mean_reward/moderator" not in m


def test_arbiter_bad_input_and_params():
    assert "negotiation" in ARBITERS and make_arbiter("negotiation")([]) == {}
    with pytest.raises(ValidationError, match="Extra inputs"):
        make_arbiter("negotiation", clip=1.0)
    with pytest.raises(ValidationError, match="reward_clip"):
        make_arbiter("negotiation", reward_clip=0)
    with pytest.raises(ValueError, match="negotiation_v0 outcomes"):
        make_arbiter("negotiation")([Episode(game="comas_v0", seed=0, seats={}, outcome={"rounds": []})])
    ep = episode(["<offer>18</offer>", "<offer>12</offer>", "<offer>15</offer>", "<offer>16</offer>"])
    ep.turns.pop()  # a missing turn is a framework bug, never silently rewarded
    with pytest.raises(ValueError, match="round 1 expects turns"):
        make_arbiter("negotiation")([ep])
    ep = episode(["hi", "hi"], max_exchanges=1)
    ep.turns.append(Turn(agent="x", seat="seller_0", prompt_text="p", completion_text="c"))
    with pytest.raises(ValueError, match="3 turns but"):
        make_arbiter("negotiation")([ep])


# ---- through the rollout ----------------------------------------------------------------------
class PricePolicies:
    """Stands in for HFPolicies: after the prefilled `<offer>`, agent_0 asks 16 and agent_1 bids 16."""

    def __init__(self):
        self.prefixes = []

    def generate(self, agents, prompts, max_new_tokens, stop, prefixes, temperature, seeds=None):
        self.prefixes += prefixes
        return [Completion(prompt_ids=[1], completion_ids=[2], logprobs=[0.0], text="16</offer> my price")
                for _ in agents]


def test_rollout_fixed_seats_and_arbiter():
    agents = ["agent_0", "agent_1"]
    plans = plan_games(GAME, {}, agents, n_games=2, games_per_task=1, seating="fixed", seed=0, iteration=1)
    assert all(p.seats == {"seller_0": "agent_0", "buyer_0": "agent_1"} for p in plans)
    policies = PricePolicies()
    episodes, stats = play(policies, GAME, {}, plans, temperature=1.0)
    assert stats.turns == 4 and stats.generate_calls == 2 and set(policies.prefixes) == {"<offer>"}
    m = make_arbiter("negotiation")(episodes)
    for ep in episodes:  # the buyer's 16 meets the seller's 16: a deal at 16
        assert [t.completion_text for t in ep.turns] == ["<offer>16</offer> my price"] * 2
        assert [(t.agent, t.reward) for t in ep.turns] == [("agent_0", pytest.approx(0.6)),
                                                            ("agent_1", pytest.approx(0.4))]
        assert {t.group for t in ep.turns} == {f"{plans[0].task.id}/seller_0", f"{plans[0].task.id}/buyer_0"}
    assert m["arbiter/deal_rate"] == 1.0 and m["arbiter/mean_price"] == 16.0
