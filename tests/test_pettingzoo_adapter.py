"""The PettingZoo adapter: reply parsing, board drawing, the illegal-move rules, adapting a new env
(rock-paper-scissors in a few lines), registration, configs, and a tiny-model training run."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import api_test
from pydantic import ValidationError

import games
from coevo.compose import load_config
from games.pettingzoo_adapter import PettingZooSpec, adapt, board_text, default_text_to_action

CELLS = {i: str(i) for i in range(9)}
RPS = {0: "rock", 1: "paper", 2: "scissors"}


@pytest.mark.parametrize("text,legal,expected", [
    ("<move>4</move>", CELLS, 4),
    ("<move> 4 </move>", CELLS, 4),
    ("<move>4", CELLS, 4),  # cut off before the closing tag (token budget)
    ("<MOVE>#4</MOVE> and more", CELLS, 4),
    ("I think <move>7</move>, or <move>2</move>", CELLS, 7),  # the first tag counts
    ("4", CELLS, None),  # no tag: digits in chatter are never a move
    ("I see 3 threats, so 7", CELLS, None),
    ("<move>cell 4</move>", CELLS, None),  # the tag must start with the move
    ("<move>9</move>", CELLS, None),  # not a legal action
    ("<move>4</move>", {0: "0", 8: "8"}, None),  # legal elsewhere, not now
    ("<move>" + "9" * 5000, CELLS, None),  # a huge number does not raise
    ("<move>4.5</move>", CELLS, None),  # a decimal is not its integer part
    ("<move>4,5</move>", CELLS, None),
    ("<move>4.</move>", CELLS, 4),  # a full stop after the number is punctuation
    ("<move><move>4</move>", CELLS, 4),  # the prefilled tag, then the model's own
    ("<move> <MOVE>paper</move>", RPS, 1),
    ("<move><move></move>", CELLS, None),
    ("<move></move>", CELLS, None),
    ("", CELLS, None),
    ("<move>rock</move>", RPS, 0),
    ("<move> Paper!</move>", RPS, 1),
    ("<move>2</move>", RPS, 2),  # the number works where names exist
    ("<move>rockets</move>", RPS, None),  # a name must end where a word ends
    ("<move>rock</move>", {1: "paper"}, None),
])
def test_text_to_action(text, legal, expected):
    assert default_text_to_action(text, legal) == expected


def test_board_text():
    planes = np.zeros((3, 3, 2), dtype=np.int8)
    planes[0, 0, 0] = 1  # native [column][row] indexing, as tic-tac-toe stores it: cell 0
    planes[1, 1, 1] = 1  # cell 4
    legal = {k: str(k) for k in range(9) if k not in (0, 4)}
    assert board_text(planes, legal, 9, ("me", "them"), transpose=True) == (
        "X = me, O = them\nX 3 6\n1 O 7\n2 5 8")
    drop = np.zeros((2, 3, 2), dtype=np.int8)
    drop[1, 2, 1] = 1
    assert board_text(drop, {0: "0", 1: "1", 2: "2"}, 3) == "X = plane 0, O = plane 1\n0 1 2\n. . .\n. . O"
    assert board_text(np.arange(4), {}, 4) is None  # not planes: printed as an array instead
    assert board_text(np.full((2, 2, 1), 3), {}, 4) is None


def test_tictactoe_prompts_and_turns():
    env = pettingzoo.make("aec", "tictactoe_v0")
    assert isinstance(env, games.TextGame) and env.possible_agents == ["player_1", "player_2"]
    env.reset(seed=0)
    env.step("<move>0</move>")
    env.step("<move>4</move>")
    text = env.observe("player_1")["text"]
    assert "Board:\nX = your marks, O = your opponent's marks\nX 3 6\n1 O 7\n2 5 8" in text
    assert "Legal moves: 1, 2, 3, 5, 6, 7, 8" in text and text.endswith("as <move>N</move>.")
    assert "not yours" in env.observe("player_2")["text"]  # the mask is empty off turn
    assert env.response_prefix("player_1") == "<move>" and env.stop_strings("player_2") == ["</move>"]
    assert env.max_new_tokens("player_1") == 8
    for cell in (1, 5, 2):  # X completes the left column
        env.step(f"<move>{cell}</move>")
    out = env.outcome
    assert out["winner"] == "player_1" and out["num_moves"] == 5 and env.rewards == {"player_1": 1.0, "player_2": -1.0}
    assert "The game is over." in env.observe("player_2")["text"]
    assert [m["action"] for m in out["moves"]] == [0, 4, 1, 5, 2]


def test_connect_four_board():
    env = games.make("connect_four_v0")
    env.reset(seed=0)
    env.step("<move>3</move>")
    text = env.observe("player_1")["text"]
    assert "0 1 2 3 4 5 6\n" + ". . . . . . .\n" * 5 + ". . . O . . ." in text


def test_illegal_random_is_seeded_and_keeps_playing():
    def garbage_game(seed):
        env = games.make("tictactoe_v0", illegal="random")
        env.reset(seed=seed)
        while not env.game_over:
            env.step("no idea")
        return env.outcome

    a, b = garbage_game(3), garbage_game(3)
    assert a == b and a["forfeit"] is None and 5 <= a["num_moves"] <= 9
    assert all(m["random"] for m in a["moves"]) and len(a["illegal_moves"]) == a["num_moves"]
    assert a["winner"] is not None or a["draw"]
    assert len({json.dumps(garbage_game(s)["moves"]) for s in range(6)}) > 1  # the seed matters


def test_a_non_text_action_forfeits():
    env = games.make("tictactoe_v0")
    env.reset(seed=0)
    env.step(12345)
    assert env.outcome["forfeit"] == "player_1" and env.outcome["illegal_moves"][0]["reason"].startswith("non-text")
    assert sum(env.rewards.values()) == 0.0 and env.observe("player_2")["text"].endswith("The game is over.")


def test_options_are_validated():
    with pytest.raises(ValidationError, match="illegal"):
        games.make("tictactoe_v0", illegal="retry")
    with pytest.raises(ValidationError, match="unknown role"):
        games.make("connect_four_v0", max_new_tokens={"solver": 4})
    assert games.make("tictactoe_v0", max_new_tokens={"player": 3}).max_new_tokens("player_2") == 3
    spec = games.get_game("connect_four_v0")
    assert spec.roles == ("player",) and spec.entry_point == "games.pettingzoo_adapter.connect_four:env"
    assert "connect_four_v3" in spec.summary


# ---- adapting an env nobody registered, as a user would ------------------------------------
def rps_text(env, agent, observation):
    """A per-game obs_to_text: rock-paper-scissors observes the opponent's last move (3 = none)."""
    last = {0: "rock", 1: "paper", 2: "scissors"}.get(int(observation), "nothing yet")
    moves = ", ".join(env.legal_moves(agent, observation).values())
    return f"Rock-paper-scissors. Your opponent last played {last}. Reply <move>NAME</move>, NAME one of {moves}."


RPSGame = adapt(PettingZooSpec(
    id="rps_v0", native="pettingzoo.classic.rps_v2:env", native_kwargs={"max_cycles": 2},
    move_names=("rock", "paper", "scissors"), obs_to_text=rps_text, max_turns=4,
))


@pytest.mark.filterwarnings("ignore:Observation is not a NumPy array", "ignore:.*probably should be gymnasium")
def test_adapting_a_new_env_in_a_few_lines():
    env = RPSGame()
    assert env.possible_agents == ["player_0", "player_1"]  # read from the env (no `agents` given)
    env.reset(seed=0)
    assert env.observe("player_0")["text"].startswith("Rock-paper-scissors. Your opponent last played nothing yet.")
    for text in ["<move>rock</move>", "<move>scissors</move>", "<move>Paper</move>", "<move>1</move>"]:
        env.step(text)
    out = env.outcome
    assert [m["name"] for m in out["moves"]] == ["rock", "scissors", "paper", "paper"]  # no mask: all legal
    assert out["native_rewards"] == {"player_0": 1.0, "player_1": -1.0} and out["winner"] == "player_0"
    assert env.game_over and "rock" in env.observe("player_1")["text"]
    api_env = RPSGame()
    api_test(api_env, num_cycles=10)


def test_a_parser_override_cannot_smuggle_an_illegal_move():
    Cheat = adapt(PettingZooSpec(id="cheat_v0", native="pettingzoo.classic.tictactoe_v3:env",
                                 agents=("player_1", "player_2"), text_to_action=lambda text, legal: 4))
    env = Cheat()
    env.reset(seed=0)
    env.step("anything")
    env.step("anything")  # cell 4 is taken now: illegal, forfeit
    assert env.outcome["forfeit"] == "player_2" and env.outcome["num_moves"] == 1


def test_wrong_agents_in_the_spec():
    Wrong = adapt(PettingZooSpec(id="wrong_v0", native="pettingzoo.classic.tictactoe_v3:env",
                                 agents=("player_0", "player_1")))
    with pytest.raises(ValueError, match="player_1', 'player_2"):
        Wrong()


def test_import_games_does_not_import_pygame():
    code = "import sys, games; games.get_game('tictactoe_v0'); print('pygame' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_tictactoe_experiment_config():
    cfg = load_config(["experiment=tictactoe", "model=tiny"])
    assert cfg.game.name == "tictactoe_v0" and cfg.arbiter.name == "native"
    assert cfg.arbiter.params == {"illegal_penalty": -1.0}
    assert cfg.population.agents == ["agent_0", "agent_1"] and cfg.eval.num_tasks == 0
    assert load_config(["game=connect_four", "arbiter=native", "population=duo"]).game.name == "connect_four_v0"


@pytest.mark.slow
def test_train_tictactoe_tiny(tmp_path):
    """`coevo train experiment=tictactoe model=tiny iterations=2` end to end (about 50 s here, most
    of it starting Ray and the actors: hence slow)."""
    from coevo.cli import main
    from coevo.tracking import read_jsonl

    run = tmp_path / "ttt"
    assert main(["train", "experiment=tictactoe", "model=tiny", "iterations=2", f"run_dir={run}",
                 "logger=none", "population.games_per_iteration=4"]) == 0
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    assert "arbiter/illegal_rate" in rows[1] and "reward/agent_1" in rows[2]
    first = json.loads((run / "transcripts.jsonl").read_text().splitlines()[0])
    assert first["game"] == "tictactoe_v0" and first["outcome"]["env"] == "tictactoe_v3"


# ---- every pettingzoo.classic environment: played, or listed with the reason -------------------
def classic_envs() -> list[str]:
    import pkgutil
    import re

    import pettingzoo.classic

    return sorted(m.name for m in pkgutil.iter_modules(pettingzoo.classic.__path__) if re.fullmatch(r".+_v\d+", m.name))


def test_every_classic_env_is_played_or_listed_with_a_reason():
    from games.pettingzoo_adapter.classic import PLAYED, UNSUPPORTED

    envs = classic_envs()
    assert len(envs) >= 9 and set(envs) == set(PLAYED) | set(UNSUPPORTED), set(envs) ^ (set(PLAYED) | set(UNSUPPORTED))
    assert all(len(reason) > 40 for reason in UNSUPPORTED.values())
    for native, game_id in PLAYED.items():  # each plays to the end from text a model can read
        spec = games.get_game(game_id)
        assert native in spec.summary
        env = games.make(game_id)
        env.reset(seed=0)
        rng = __import__("random").Random(0)
        while not env.game_over:
            text = env.observe(env.agent_selection)["text"]
            assert "It is your turn" in text and not re.search(r"\d\.\d{3}", text), text  # no raw float arrays
            env.step(spec.players["random"](env, env.agent_selection, rng))
        assert env.outcome["illegal_moves"] == []


@pytest.mark.parametrize("native,package", [("pettingzoo.classic.texas_holdem_v4:env", "rlcard"),
                                            ("pettingzoo.classic.chess_v6:env", "chess")])
def test_a_missing_dependency_names_its_package(native, package):
    pytest.importorskip("pettingzoo.classic.rps_v2")
    try:
        __import__(package)
        pytest.skip(f"{package} is installed here")
    except ImportError:
        pass
    Poker = adapt(PettingZooSpec(id="poker_v0", native=native, agents=("player_0", "player_1")))
    with pytest.raises(ImportError, match=rf"pip install {package}`"):
        Poker()
