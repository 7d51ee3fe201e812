"""The test kit every game passes (PettingZoo and OpenSpiel style):

- `check_api`: PettingZoo's `api_test`;
- `check_determinism`: the same seed and the same actions give the same task, observations, outcome;
- `check_garbage`: "", 10 kB of text, control characters, other roles' tags, non-str values, from
  every seat: no exception, the game ends properly, and the rule-defined penalty (and only it)
  shows in `outcome["illegal_moves"]`;
- `check_scripted`: the game's scripted cases, hand-worked games with known outcomes;
- in every game played: the seats `concurrent_agents()` lists act in that order and see, when
  they act, the observation they had when the batch was listed (what the rollout generates from).

`tests/test_games.py` runs `check_all` over every registered game id. A new game passes by
giving its cases (list of {"name", "task", "options"?, "script", "expected", "rewards"?,
"baseline"?}) as `GameSpec(cases=...)`, or as `SCRIPTED_CASES` in its module (a list when the
module registers one game, a dict {game id: list} when it registers several).

The garbage check mixes garbage into a **baseline** case, one seat at a time: the case marked
`"baseline": True`, else the first case that plays without illegal moves. A role whose legality
depends on what it says, not only on its format (a hint that must not contain the secret), is
listed in `FACTS.content_legality`: its garbage that carries the format may be legal or illegal,
and the check asks only that no other seat is penalised for it.
"""
from __future__ import annotations

import json
import random
import sys
import warnings
from collections.abc import Callable
from typing import Any

from pettingzoo.test import api_test

from games.base import TextGame, sanitize
from games.registry import GAMES, get_game, make
from games.tasks import Task

_GENERIC_TAGS = "<answer>3</answer> <offer>5</offer> <vote>1</vote>"
GARBAGE_TEXT = {
    "empty": "",
    "huge": ("lorem 7 ipsum 3 dolor <x> " * 420)[:10_240],
    "control": "\x00\x01\x07\x1b[31m\x7f\r\x0b\x0c\u200b\ud800\ufffd \u6570\u5b66 \u00bd \u221e",
}
GARBAGE_NON_STR: list[Any] = [None, 42, 3.5, b"<score>3</score>", {"text": "hi"}, ["a"]]


def _play(env: TextGame, act: Callable[[str, str], Any], task: Task | None = None,
          seed: int = 0) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Play one game to the end with `act(agent, observation_text) -> action`, checking the
    invariants every game keeps; returns (outcome, [(agent, observation text) per turn])."""
    env.reset(seed=seed, options={"task": task} if task is not None else None)
    seen, ended = [], False
    promised: list[tuple[str, str]] = []  # (seat, observation) that concurrent_agents() said act next
    for _ in range(4 * env.max_turns + 2 * len(env.possible_agents) + 4):
        if not env.agents:
            break
        agent = env.agent_selection
        obs, _, term, trunc, info = env.last()
        assert env.observation_space(agent).contains(obs), f"{agent}: observation out of its space"
        if term or trunc:
            if not ended:
                ended = True
                assert info.get("outcome") == env.outcome, "infos[agent]['outcome'] differs from env.outcome"
            env.step(None)
            continue
        # The rollout generates a concurrent batch from observations taken before any of its moves:
        # check each seat of the batch acts in the promised order and sees what it was shown.
        if not promised:
            promised = [(a, env.observe(a)["text"]) for a in env.concurrent_agents()]
        want_agent, want_obs = promised.pop(0)
        assert agent == want_agent, f"concurrent_agents() listed {want_agent} next, but {agent} acts"
        assert obs["text"] == want_obs, f"{agent}'s observation changed inside its concurrent batch"
        seen.append((agent, obs["text"]))
        env.step(act(agent, obs["text"]))
    assert not env.agents, f"game did not end within {env.max_turns} turns (+ dead steps)"
    outcome = env.outcome
    json.dumps(outcome, allow_nan=False)  # must serialise (transcripts.jsonl)
    assert len(seen) <= env.max_turns
    return outcome, seen


def play_scripted(env: TextGame, script: dict[str, list[Any]], task: Task | None = None) -> dict[str, Any]:
    """Play `script` (seat -> its actions in order) to the end; returns the outcome. Raises
    ValueError when a seat's script runs out or is not used up (a wrong script, not a game bug)."""
    return _run_script(env, script, task)[0]


def play_in_order(game_id: str, actions: list[Any], task: Task | None = None, seed: int = 0,
                  **options: Any) -> tuple[TextGame, list[str]]:
    """Play `actions` in play order (whoever's turn it is takes the next one) to the end of a
    game; returns the env and the seat that took each action. Asserts the game ends exactly
    when the actions do: a test's transcript that is too short or too long is a wrong test."""
    env = make(game_id, **options)
    env.reset(seed=seed, options={"task": task} if task is not None else None)
    seats = []
    for action in actions:
        assert not env.game_over, f"the game ended with {actions[len(seats):]} left"
        seats.append(env.agent_selection)
        env.step(action)
    assert env.game_over, "the actions ended before the game"
    return env, seats


def _run_script(env: TextGame, script: dict[str, list[Any]], task: Task | None = None,
                partial: bool = False, branching: bool = False) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """`play_scripted`, also returning the turns played; `partial`: the game may end before the
    script is used up right after an illegal move (a forfeit); `branching`: also anywhere (the
    garbage came from a role in `FACTS.branching_roles`, whose legal moves decide what follows)."""
    queues = {agent: list(actions) for agent, actions in script.items()}

    def act(agent: str, _obs: str) -> Any:
        if not queues.get(agent):
            raise ValueError(f"the script for {agent} ran out of actions")
        return queues[agent].pop(0)

    outcome, seen = _play(env, act, task)
    left = {a: q for a, q in queues.items() if q}
    ended_by_illegal = bool(outcome["illegal_moves"]) and outcome["illegal_moves"][-1]["turn"] == len(seen) - 1
    if left and not (partial and (ended_by_illegal or branching)):
        raise ValueError(f"{env.metadata.get('name', 'the game')} ended after {len(seen)} turns "
                         f"({[a for a, _ in seen]}) with scripted actions left over: {left}. Either the "
                         "game ends earlier than the case says (its rules or its expected turns are wrong), "
                         "or the case belongs to another game (cases are per game: GameSpec(cases=...))")
    return outcome, seen


def _mismatches(expected: Any, actual: Any, path: str = "outcome") -> list[str]:
    """Where `actual` fails to contain `expected` (dicts: a subset of keys; lists: same length)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a dict, got {actual!r}"]
        out = []
        for k, v in expected.items():
            out += [f"{path}[{k!r}]: missing"] if k not in actual else _mismatches(v, actual[k], f"{path}[{k!r}]")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        return [m for i, (e, a) in enumerate(zip(expected, actual)) for m in _mismatches(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def _cases(game_id: str) -> list[dict[str, Any]]:
    """The game's scripted cases: `GameSpec.cases`, else its module's `SCRIPTED_CASES`."""
    spec = get_game(game_id)
    if spec.cases:
        return list(spec.cases)
    module = sys.modules[spec.env_fn.__module__]
    cases = getattr(module, "SCRIPTED_CASES", None)
    if isinstance(cases, dict):
        cases = cases.get(game_id)
        assert cases, f"{game_id}: SCRIPTED_CASES of {module.__name__} has no entry for {game_id!r}"
        return cases
    assert cases, f"{game_id}: no scripted cases: give GameSpec(cases=[...]) or SCRIPTED_CASES in {module.__name__}"
    sharing = sorted(g for g, sp in GAMES.items() if sp.env_fn.__module__ == module.__name__ and not sp.cases)
    assert len(sharing) == 1, (f"{game_id}: {module.__name__} registers {sharing}, and one SCRIPTED_CASES list "
                               "cannot be the cases of several games: give each GameSpec(cases=...) or make "
                               "SCRIPTED_CASES a dict {game id: cases}")
    return cases


def baseline_case(game_id: str) -> dict[str, Any]:
    """The case garbage is mixed into: the one marked `"baseline": True`, else the first that
    plays without illegal moves."""
    cases = _cases(game_id)
    marked = [c for c in cases if c.get("baseline")]
    if marked:
        return marked[0]
    base = next((c for c in cases if not play_scripted(
        make(game_id, **c.get("options", {})), c["script"], c["task"]).get("illegal_moves")), None)
    assert base is not None, f"{game_id}: no scripted case plays without illegal moves (needed as baseline)"
    return base


def check_api(game_id: str) -> None:
    env = make(game_id)
    with warnings.catch_warnings():
        # Text spaces are the point of a text game; silence the two advisory warnings about that.
        warnings.filterwarnings("ignore", message=r".*probably should be gymnasium\.spaces")
        warnings.filterwarnings("ignore", message=r"Observation is not a NumPy array")
        api_test(env, num_cycles=max(10, env.max_turns + 2))


def check_scripted(game_id: str) -> None:
    for case in _cases(game_id):
        env = make(game_id, **case.get("options", {}))
        outcome = play_scripted(env, case["script"], case["task"])
        errors = _mismatches(case["expected"], outcome)
        if "rewards" in case:
            errors += _mismatches(case["rewards"], env.total_rewards, "native rewards")
        assert not errors, f"{game_id} case {case.get('name', '?')!r}: " + "; ".join(errors)


def check_determinism(game_id: str, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    for seed in seeds:
        runs = []
        for _ in range(2):
            env = make(game_id)
            pool = random.Random(seed)  # the same action stream for both runs
            examples = list(env.FACTS.formats.values())

            def act(agent: str, _obs: str) -> str:
                return pool.choice([f"{pool.randint(0, 99)} is it", ""] + examples) + " " * pool.randint(0, 2)

            outcome, seen = _play(env, act, task=None, seed=seed)
            runs.append((env.task, outcome, seen, dict(env.total_rewards), env.render()))
            env.reset(seed=seed)  # a second reset with the same seed draws the same task again
            assert env.task == runs[-1][0], f"{game_id}: reset(seed={seed}) twice gave different tasks"
        assert runs[0] == runs[1], f"{game_id}: seed {seed} with the same actions played out differently"
    if make(game_id).FACTS.seeded:  # and the seed matters: the same actions under other seeds, other games
        env, games_seen = make(game_id), []
        for seed in seeds:
            pool = random.Random(0)
            outcome, seen = _play(env, lambda a, o: pool.choice(["7", "", *env.FACTS.formats.values()]), seed=seed)
            games_seen.append((env.task, seen))
        assert any(g != games_seen[0] for g in games_seen[1:]), (
            f"{game_id}: seeds {seeds} with the same actions gave the same game: reset(seed) ignores its seed "
            "(or set FACTS.seeded=False for a game that always starts the same)")


def check_garbage(game_id: str) -> None:
    """Garbage from every seat at once (other roles' tags), then from one seat at a time with the
    other seats playing the legal baseline script. The penalty rule checked: a non-text action is
    always illegal; a text is illegal exactly when the seat's role has a required format
    (`FACTS.formats`) and the text lacks it; no other seat is ever penalised. Garbage may end a
    game early on an illegal move (a forfeit), and anywhere when it comes from a role in
    `FACTS.branching_roles` (spc: an empty rewrite skips the solvers); the expectation covers the
    garbage turns actually played. Any other early end is a bug the check reports."""
    base = baseline_case(game_id)
    env = make(game_id, **base.get("options", {}))
    formats = env.FACTS.formats

    def foreign_tags(role: str) -> str:  # the formats of every other role, plus tags of no role
        return " ".join([f for r, f in formats.items() if r != role] + [_GENERIC_TAGS])

    # Every seat at once writes the other roles' tags: a game that reads a role's move out of
    # another seat's text shows up here as a missing illegal move.
    script = {seat: [foreign_tags(env.role(seat))] * len(acts) for seat, acts in base["script"].items()}
    branching = set(env.FACTS.branching_roles)
    outcome, seen = _run_script(make(game_id, **base.get("options", {})), script, base["task"], partial=True,
                                branching=bool(branching))
    want = [s for s, _ in seen if env.role(s) in formats]  # every turn played by a role with a format
    who = [m["agent"] for m in outcome["illegal_moves"]]
    assert sorted(who) == sorted(want), f"{game_id}: all seats writing foreign tags: illegal {who}, expected {want}"
    for seat, actions in base["script"].items():
        role = env.role(seat)
        foreign = foreign_tags(role)
        kinds = {**GARBAGE_TEXT, "foreign_tags": foreign, **{f"non_str:{v!r}": v for v in GARBAGE_NON_STR}}
        for kind, garbage in kinds.items():
            script = {**base["script"], seat: [garbage] * len(actions)}
            try:
                outcome, seen = _run_script(make(game_id, **base.get("options", {})), script, base["task"],
                                            partial=True, branching=role in branching)
            except Exception as e:  # noqa: BLE001 - any exception is the failure being tested for
                raise AssertionError(f"{game_id}: {seat} playing {kind} garbage raised {e!r}") from e
            illegal = not isinstance(garbage, str) or (role in formats and formats[role] not in sanitize(garbage))
            who = [m["agent"] for m in outcome["illegal_moves"]]
            want = [a for a, _ in seen if a == seat] if illegal else []  # each garbage turn it played
            if not illegal and role in env.FACTS.content_legality:  # legal or not by content: only
                assert set(who) <= {seat}, f"{game_id}: {seat} playing {kind} garbage penalised {who}"  # its own
                continue
            assert who == want, f"{game_id}: {seat} playing {kind} garbage: illegal moves {who}, expected {want}"


def check_all(game_id: str) -> None:
    check_api(game_id)
    check_determinism(game_id)
    check_garbage(game_id)
    check_scripted(game_id)
