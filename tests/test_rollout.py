"""Rollout: many games at once, one generate call per tick, complete episodes."""
import dataclasses

import pytest
import torch

import games
from coevo.models.hf import HFPolicies
from coevo.episode import BASE_AGENT
from coevo.rollout import move_seeds, plan_games, play

AGENTS = ["agent_0", "agent_1", "agent_2"]
OPTIONS = {"rounds": 2, "max_new_tokens": {"solver": 12, "evaluator": 8, "scorer": 6}}


class CountingPolicies:
    """The real tiny-model policies, counting how often `generate` is called and with how many rows."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def generate(self, agents, prompts, **kwargs):
        self.calls.append(len(prompts))
        return self.inner.generate(agents, prompts, **kwargs)


@pytest.fixture(scope="module")
def policies(tiny_model_path):
    return HFPolicies(tiny_model_path, AGENTS, {"r": 4, "alpha": 8, "target_modules": "all-linear"},
                      dtype="float32", device="cpu")


def test_eight_games_one_generate_call_per_tick(policies):
    plans = plan_games("comas_v0", OPTIONS, AGENTS, n_games=8, games_per_task=1, seating="rotate", seed=0, iteration=1)
    counting = CountingPolicies(policies)
    episodes, stats = play(counting, "comas_v0", OPTIONS, plans, temperature=1.0)
    # 8 games x 2 rounds x 3 seats = 48 turns, played in 6 ticks of 8 rows each
    assert stats.turns == 48 and sum(counting.calls) == 48
    assert counting.calls == [8] * 6 and stats.generate_calls == 6
    for ep, plan in zip(episodes, plans):
        assert [t.seat for t in ep.turns] == ["solver_0", "evaluator_0", "scorer_0"] * 2
        assert all(t.agent == plan.seats[t.seat] for t in ep.turns)
        # the scorer's answer is prefilled with "<score>": the game sees it, the completion ids do not
        assert all(t.completion_text.startswith("<score>") for t in ep.turns_of("scorer_0"))
        assert len(ep.outcome["rounds"]) == 2 and ep.outcome["gold"] == plan.task.answer
        for t in ep.turns:
            assert len(t.completion_ids) == len(t.logprobs) > 0 and t.prompt_ids
            assert t.prompt_text and t.group == f"{plan.task.id}/{t.seat}"
            assert all(lp <= 0 for lp in t.logprobs)
    assert stats.metrics()["perf/tokens_per_s"] > 0
    turns = [t for ep in episodes for t in ep.turns]
    assert stats.metrics()["rollout/prompt_tokens"] == sum(len(t.prompt_ids) for t in turns)
    assert stats.metrics()["rollout/completion_tokens"] == sum(len(t.completion_ids) for t in turns)


def test_a_game_replays_whatever_games_are_played_beside_it(policies):
    """A move's draws come from (game seed, seat, move number): the same game played in another
    batch replays token for token (so an untrained agent's held-out games do not move when a
    trained agent's games change beside them); a game of another seed does not."""
    plans = plan_games("comas_v0", OPTIONS, AGENTS, n_games=4, games_per_task=1, seating="rotate", seed=0, iteration=1)
    together, _ = play(policies, "comas_v0", OPTIONS, plans, temperature=1.0)
    apart, _ = play(policies, "comas_v0", OPTIONS, [plans[2], plans[0]], temperature=1.0)
    ids = lambda ep: [t.completion_ids for t in ep.turns]  # noqa: E731
    assert ids(apart[0]) == ids(together[2]) and ids(apart[1]) == ids(together[0])
    reseeded, _ = play(policies, "comas_v0", OPTIONS, [dataclasses.replace(plans[0], seed=plans[0].seed + 1)],
                       temperature=1.0)
    assert ids(reseeded[0]) != ids(together[0])


def test_a_seats_samples_in_one_tick_draw_apart(policies):
    """rlccf asks each seat for 4 independent answers in one tick: each has a seed of its own (the
    first the seat's plain move seed), so at temperature 1 they differ."""
    from coevo.models.sampling import stable_seed

    options = {"crowd_size": 2, "samples": 4, "max_new_tokens": {"answerer": 12}}
    plans = plan_games("rlccf_v0", options, AGENTS[:2], n_games=1, games_per_task=1, seating="fixed", seed=0, iteration=1)
    episode, _ = play(policies, "rlccf_v0", options, plans, temperature=1.0)
    for seat in ("answerer_0", "answerer_1"):
        samples = [tuple(t.completion_ids) for t in episode[0].turns_of(seat)]
        assert len(samples) == 4 and len(set(samples)) == 4
    batch = [(0, "answerer_0", ""), (0, "answerer_1", ""), (0, "answerer_0", "")]
    seeds = move_seeds(plans, [dataclasses.replace(episode[0], turns=[])], batch)
    assert seeds[0] == stable_seed(plans[0].seed, "answerer_0", 0) and len(set(seeds)) == 3


def test_an_untrained_agents_games_against_the_base_do_not_move_when_another_trains(tiny_model_path):
    """vs_base's control: agent_1 never trains, so its held-out games replay exactly after agent_0's
    adapter changed, although both agents' games share every batch; agent_0's games change."""
    pol = HFPolicies(tiny_model_path, AGENTS[:2], {"r": 4, "alpha": 8, "target_modules": "all-linear"},
                     dtype="float32", device="cpu")
    seats = ["solver_0", "evaluator_0", "scorer_0"]
    plans = [dataclasses.replace(p, seats={s: a if s == "solver_0" else BASE_AGENT for s in seats})
             for a in AGENTS[:2]
             for p in plan_games("comas_v0", OPTIONS, AGENTS, n_games=3, games_per_task=1, seating="fixed",
                                 seed=5, iteration=0)]
    ids = lambda eps: [[t.completion_ids for t in ep.turns] for ep in eps]  # noqa: E731
    before, _ = play(pol, "comas_v0", OPTIONS, plans, temperature=1.0)
    g = torch.Generator().manual_seed(0)
    pol.set_adapter("agent_0", {k: v + 0.3 * torch.randn(v.shape, generator=g) for k, v in pol.get_adapter("agent_0").items()})
    after, _ = play(pol, "comas_v0", OPTIONS, plans, temperature=1.0)
    assert ids(after[3:]) == ids(before[3:])  # agent_1 and the base: token for token
    assert all(a != b for a, b in zip(ids(after[:3]), ids(before[:3])))


def test_rotation_puts_every_agent_in_every_seat():
    plans = plan_games("comas_v0", {}, AGENTS, n_games=3, games_per_task=1, seating="rotate", seed=0, iteration=1)
    for seat in ["solver_0", "evaluator_0", "scorer_0"]:
        assert sorted(p.seats[seat] for p in plans) == AGENTS
    fixed = plan_games("comas_v0", {}, AGENTS, n_games=3, games_per_task=1, seating="fixed", seed=0, iteration=1)
    assert all(p.seats == {"solver_0": "agent_0", "evaluator_0": "agent_1", "scorer_0": "agent_2"} for p in fixed)


def test_plans_replay_from_seed_and_iteration_and_groups_share_tasks():
    a = plan_games("comas_v0", {}, AGENTS, 6, 3, "rotate", seed=5, iteration=2)
    b = plan_games("comas_v0", {}, AGENTS, 6, 3, "rotate", seed=5, iteration=2)
    c = plan_games("comas_v0", {}, AGENTS, 6, 3, "rotate", seed=5, iteration=3)
    assert [(p.seed, p.task.id) for p in a] == [(p.seed, p.task.id) for p in b]
    assert [p.task.id for p in a] != [p.task.id for p in c]
    # games_per_task=3: three games on one task with the same seating form one GRPO group per seat
    assert a[0].task.id == a[1].task.id == a[2].task.id != a[3].task.id
    assert a[0].seats == a[1].seats == a[2].seats != a[3].seats


def test_base_roles_are_played_by_the_frozen_base_and_the_rest_rotate():
    plans = plan_games("comas_v0", {}, ["agent_0", "agent_1"], n_games=2, games_per_task=1, seating="rotate",
                       seed=0, iteration=1, base_roles=("evaluator",))
    assert [p.seats for p in plans] == [
        {"solver_0": "agent_0", "evaluator_0": BASE_AGENT, "scorer_0": "agent_1"},
        {"solver_0": "agent_1", "evaluator_0": BASE_AGENT, "scorer_0": "agent_0"}]


def test_concurrent_batch_that_breaks_its_promise_is_an_error(policies, monkeypatch):
    # comas' moves see each other; a game claiming otherwise must fail loudly, not play out of turn
    from games.comas.comas import raw_env
    monkeypatch.setattr(raw_env, "concurrent_agents", lambda self: ["evaluator_0", "solver_0"])
    plans = plan_games("comas_v0", {}, AGENTS, n_games=1, games_per_task=1, seating="rotate", seed=0, iteration=1)
    with pytest.raises(RuntimeError, match="promised evaluator_0 would act, but it is solver_0's turn"):
        play(policies, "comas_v0", {"max_new_tokens": {"solver": 4, "evaluator": 4, "scorer": 4}}, plans, 1.0)
