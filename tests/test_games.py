"""Every registered game passes the test kit; comas_v0 specifics on top."""
from __future__ import annotations

import doctest
import sys

import pettingzoo
import pytest
from pydantic import ValidationError

import games
from games import testing
from games.tasks import Task

TASK = Task("t1", "Tom has 3 apples and buys 4 more. How many apples does Tom have now?", "7")


@pytest.mark.parametrize("game_id", sorted(games.GAMES))
def test_game_passes_the_kit(game_id):
    testing.check_api(game_id)
    testing.check_determinism(game_id)
    testing.check_garbage(game_id)
    testing.check_scripted(game_id)


@pytest.mark.parametrize("game_id", sorted(games.GAMES))
def test_the_docstring_example_runs(game_id):
    """A game's docstring is its doc page; its `>>>` example must still be true."""
    module = sys.modules[games.get_game(game_id).env_fn.__module__]
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module.__name__}: its docstring has no `>>>` example to run"
    assert result.failed == 0, f"{module.__name__}: {result.failed} docstring example(s) failed"


def test_pettingzoo_make():
    env = pettingzoo.make("aec", "comas_v0", rounds=2)
    assert isinstance(env, games.TextGame) and env.max_turns == 6
    assert games.comas_v0.env().possible_agents == ["solver_0", "evaluator_0", "scorer_0"]
    with pytest.raises(ValidationError, match="rounds"):
        pettingzoo.make("aec", "comas_v0", rounds=0)


def test_registry_and_options():
    spec = games.get_game("comas_v0")
    assert spec.roles == ("solver", "evaluator", "scorer") and spec.entry_point == "games.comas.comas:env"
    with pytest.raises(KeyError, match="comas_v0"):
        games.get_game("chess_v9")
    with pytest.raises(ValidationError, match="Extra inputs"):
        games.make("comas_v0", round=2)
    with pytest.raises(ValidationError, match="unknown role"):
        games.make("comas_v0", max_new_tokens={"judge": 10})
    env = games.make("comas_v0", max_new_tokens={"solver": 256})  # a partial dict keeps the other defaults
    assert [env.max_new_tokens(a) for a in env.possible_agents] == [256, 96, 24]
    assert env.stop_strings("scorer_0") == ["</score>"] and env.stop_strings("solver_0") == []
    assert env.role("evaluator_0") == "evaluator"


def test_later_rounds_see_the_earlier_discussion():
    env = games.make("comas_v0", rounds=2)
    env.reset(seed=0, options={"task": TASK})
    first = env.observe("solver_0")["text"]
    assert TASK.question in first and "(none)" in first
    for text in ["3 + 4 = 8. So 8.", "Wrong, 3 + 4 = 7.", "<score>1</score>"]:
        env.step(text)
    second = env.observe("solver_0")["text"]
    assert "3 + 4 = 8. So 8." in second and "Wrong, 3 + 4 = 7." in second and "Score: 1 of 3" in second
    env.step("3 + 4 = 7.")
    ev = env.observe("evaluator_0")["text"]
    assert "Solution:\n3 + 4 = 7." in ev and TASK.question in ev
    env.step("Right.")
    sc = env.observe("scorer_0")["text"]
    assert "<score>3</score>" in sc and "Right." in sc
    assert env.response_prefix("scorer_0") == "<score>" and env.response_prefix("solver_0") == ""


def test_long_history_is_cut_from_the_front():
    env = games.make("comas_v0", rounds=3, max_obs_chars=700)
    env.reset(seed=0, options={"task": TASK})
    for r in range(2):
        for text in [f"round{r} " + "x" * 300, "critique", "<score>2</score>"]:
            env.step(text)
    obs = env.observe("solver_0")["text"]
    assert len(obs) <= 700 and env.observation_space("solver_0").contains({"text": obs})
    assert obs.startswith("Solve the math problem") and TASK.question in obs and obs.endswith("Your solution:\n")
    assert "[...]" in obs and "round1" in obs and "round0" not in obs


def test_outcome_rewards_and_sanitising():
    env = games.make("comas_v0")
    env.reset(options={"task": {"id": "g", "question": "Janet\u2019s ducks lay 7 eggs \u00d7 1.", "answer": "7"}})
    assert "Janet's ducks lay 7 eggs * 1." in env.observe("solver_0")["text"]
    env.step("Answer: 7 \u2713")
    env.step(12345)  # a non-str action never raises; it is recorded as illegal
    env.step("<score>2</score> trailing")
    out = env.outcome
    assert out["rounds"][0]["solution"] == "Answer: 7 ?" and out["rounds"][0]["critique"] == ""
    assert out["correct"] and out["rounds"][0]["score"] == 2
    assert out["illegal_moves"] == [{"agent": "evaluator_0", "turn": 1, "reason": "non-text action (int)"}]
    assert env.rewards == {"solver_0": 1.0, "evaluator_0": 0.0, "scorer_0": 0.0}
    assert all(env.infos[a]["outcome"] == out for a in env.agents)
    assert env.game_over and "[scorer_0]" in env.render()
    with pytest.raises(ValueError):  # PettingZoo's rule: a finished agent steps with None only
        env.step("more text")
    for _ in range(3):
        env.step(None)
    assert env.agents == []


def test_reset_without_task_draws_from_the_source():
    env = games.make("comas_v0", tasks={"source": "arithmetic", "difficulty": 3})
    env.reset(seed=11)
    t = env.task
    env.reset(seed=11)
    assert env.task == t and t.id.startswith("arith3-")


USER_GAME = '''
from games import GameSpec, register_game
from games.comas import Options, raw_env

def env(**options):  # defined here, so the entry point names this module
    return raw_env(**options)

register_game(GameSpec(id="my_comas_v0", env_fn=env, Options=Options, roles=("solver",), summary="a user's game"))
'''


def test_a_users_game_module_imported_twice_and_listed(tmp_path):
    """`import my_game` and then `game.module=my_game.py` in one process (a notebook) is one
    registration, not a clash; `coevo games --module` lists the user's game."""
    import subprocess

    (tmp_path / "my_game.py").write_text(USER_GAME)
    for first, then in [("import my_game", "games.import_game_module(sys.argv[1] + '/my_game.py')"),
                        ("games.import_game_module(sys.argv[1] + '/my_game.py')", "import my_game")]:
        code = (f"import sys; sys.path.insert(0, sys.argv[1]); import games\n{first}\n{then}\n"
                "from coevo.cli import main; main(['games', '--module', sys.argv[1] + '/my_game.py'])")
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        listed = {line.split()[0] for line in out.stdout.splitlines()}
        assert {"my_comas_v0", "comas_v0", "spc_v0"} <= listed
        # a tournament's `scripted:NAME` players are listed with their game
        ttt = next(line for line in out.stdout.splitlines() if line.startswith("tictactoe_v0"))
        assert "scripted players: illegal, minimax, random" in ttt


def test_the_kit_catches_garbage_that_silently_ends_a_game(monkeypatch):
    """A planted bug (a message over 1000 characters ends the debate, with no illegal move) passes
    api, determinism and scripted checks; the garbage check must report it."""
    from games.debate import debate

    apply, over = debate.raw_env._apply, debate.raw_env._game_over

    def buggy_apply(self, agent, text):
        self._bug = getattr(self, "_bug", False) or len(text) > 1000
        return apply(self, agent, text)

    monkeypatch.setattr(debate.raw_env, "_apply", buggy_apply)
    monkeypatch.setattr(debate.raw_env, "_game_over", lambda self: getattr(self, "_bug", False) or over(self))
    testing.check_scripted("debate_v0")
    with pytest.raises(AssertionError, match="huge garbage raised ValueError.*left over"):
        testing.check_garbage("debate_v0")


def test_reset_seeds_the_games_own_numpy_generator():
    """PettingZoo's convention: a game draws its randomness from `self.np_random`, reseeded by reset(seed)."""
    env = games.make("comas_v0")
    draws = []
    for seed in (3, 3, 4):
        env.reset(seed=seed)
        draws.append(env.np_random.integers(0, 2**62, size=4).tolist())
    assert draws[0] == draws[1] != draws[2]


HINT_GAMES = '''
"""Two games in one module, each with its own cases; the hinter's legality depends on content."""
import dataclasses
import re

from games import GameFacts, GameSpec, Task, TextGame, TextGameOptions, register_game

ANSWER = re.compile(r"<answer>\\s*(\\d+)\\s*</answer>")
TASK = Task(id="secret-3", question="guess the secret", answer="3")


class HintGame(TextGame):
    """The hinter writes <answer>N</answer>, a number that must NOT be the secret; the guesser
    writes <guess>N</guess>, +1 for both when it is the secret."""
    FACTS = GameFacts(roles=("hinter", "guesser"), turn_order=("hinter_0", "guesser_0"),
                      formats={"hinter": "<answer>3</answer>", "guesser": "<guess>1</guess>"},
                      content_legality=("hinter",))
    Options = TextGameOptions
    metadata = {"name": "hint_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def _new_game(self):
        self.moves = {}

    def _apply(self, agent, text):
        pattern = ANSWER if agent == "hinter_0" else re.compile(r"<guess>\\s*(\\d+)\\s*</guess>")
        m = pattern.search(text)
        self.moves[agent] = m.group(1) if m else None
        if m is None:
            return "no tag"
        if agent == "hinter_0" and m.group(1) == self.task.answer:
            return "the hint gives the secret away"  # legality by content, not format

    def _game_over(self):
        return len(self.moves) == len(self.FACTS.turn_order)

    def _outcome(self):
        return {"moves": dict(self.moves)}

    def _native_rewards(self):
        won = self.moves.get("guesser_0") == self.task.answer
        return {a: 1.0 if won else 0.0 for a in self.possible_agents}

    def _observation_text(self, agent):
        return f"{self.task.question}; hint so far: {self.moves.get('hinter_0')}"


class StrictHintGame(HintGame):  # the same rules, but the kit is NOT told about content legality
    FACTS = dataclasses.replace(HintGame.FACTS, content_legality=())
    metadata = {**HintGame.metadata, "name": "strict_hint_v0"}


def hint(**options):
    return HintGame(**options)


def strict_hint(**options):
    return StrictHintGame(**options)


CASE = {"name": "a good hint, a right guess", "task": TASK, "baseline": True,
        "script": {"hinter_0": ["<answer>4</answer>"], "guesser_0": ["<guess>3</guess>"]},
        "expected": {"moves": {"hinter_0": "4", "guesser_0": "3"}, "illegal_moves": []},
        "rewards": {"hinter_0": 1.0, "guesser_0": 1.0}}
GIVEAWAY = {"name": "the hint is the secret: illegal", "task": TASK,
            "script": {"hinter_0": ["<answer>3</answer>"], "guesser_0": ["<guess>3</guess>"]},
            "expected": {"illegal_moves": [{"agent": "hinter_0", "turn": 0}]}}
for gid, fn in (("hint_v0", hint), ("strict_hint_v0", strict_hint)):
    register_game(GameSpec(id=gid, env_fn=fn, Options=TextGameOptions, roles=("hinter", "guesser"),
                           summary="hints", cases=(CASE, GIVEAWAY)))
'''


def test_cases_belong_to_a_game_and_content_legality_is_declared(tmp_path):
    """Two games in one module pass the kit on their own cases. The kit's garbage includes
    `<answer>3</answer>`, the hinter's format example, which gives the baseline's secret (3) away:
    legal by format, illegal by content. Declared in FACTS.content_legality, the kit accepts it; the same
    game without the declaration fails, naming the seat."""
    (tmp_path / "hint_games.py").write_text(HINT_GAMES)
    games.import_game_module(str(tmp_path / "hint_games.py"))
    testing.check_all("hint_v0")
    testing.check_scripted("strict_hint_v0")
    with pytest.raises(AssertionError, match="hinter_0 playing foreign_tags garbage"):
        testing.check_garbage("strict_hint_v0")


def test_one_cases_list_for_two_games_is_named_as_the_cause(tmp_path):
    source = HINT_GAMES.replace(", cases=(CASE, GIVEAWAY)", "").replace(
        '("hint_v0", hint), ("strict_hint_v0", strict_hint)', '("hint2_v0", hint), ("strict_hint2_v0", strict_hint)')
    (tmp_path / "hint_games2.py").write_text(source + "\nSCRIPTED_CASES = [CASE, GIVEAWAY]\n")
    games.import_game_module(str(tmp_path / "hint_games2.py"))
    with pytest.raises(AssertionError, match="cannot be the cases of several games"):
        testing.check_scripted("hint2_v0")
