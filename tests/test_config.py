"""Config composition and validation: the user contract spellings, and one clear message per mistake."""
import pytest

from coevo.cli import main
from coevo.compose import load_config
from coevo.config import ConfigError


def test_contract_spelling_composes():
    cfg = load_config(["experiment=comas", "model=tiny", "iterations=2", "run_dir=/tmp/x", "seed=0", "resume=false"])
    assert cfg.experiment == "comas" and cfg.model.name == "tiny" and cfg.iterations == 2
    assert cfg.game.name == "comas_v0" and cfg.algo.advantage == "reinforce_pp"
    assert cfg.run_dir == "/tmp/x" and cfg.resume is False and cfg.seed == 0


def test_default_model_is_smollm2():
    assert load_config([]).model.name == "smollm2-135m"


@pytest.mark.parametrize("overrides, expected", [
    (["iteratons=2"], "unknown config field 'iteratons'; did you mean iterations?"),
    (["algo.lrr=1e-4"], "unknown config field 'algo.lrr'; did you mean lr?"),
    (["model=foo"], "model=foo: no such option; available: smollm2, tiny"),
    (["iterations=abc"], "iterations: Input should be a valid integer"),
    (["algo.advantage=ppo2"], "unknown advantage 'ppo2'; known: "),
    (["game.name=chess_v9"], "unknown game 'chess_v9'; registered games: comas_v0"),
    (["game.options.rounds=0"], "game.options.rounds"),
    (["model.rollout_dtype=fp8"], "model.rollout_dtype: Input should be 'auto', 'float32', 'bfloat16' or 'float16'"),
    (["arbiter.name=oracle"], "unknown arbiter 'oracle'"),
    (["arbiter.params.scorer_reward=maybe"], "arbiter.params.scorer_reward: Input should be a valid boolean"),
    (["game.module=/nonexistent/my_game.py"],
     "game.module '/nonexistent/my_game.py' failed to import: FileNotFoundError"),
    (["game=custom"], "game: name your game: game.name=<id>; registered games: "),
    (["game=custom", "game.name=spc_v0", "game.options.rounds=2"], "Could not override 'game.options.rounds'"),
    (["population.base_roles=[judge]"], "population.base_roles: ['judge'] are not roles of comas_v0"),
    (["population.base_roles=[solver,evaluator,scorer]"], "every role of comas_v0 is played by the base"),
    (["population.agents=[a,__base__]"], "'__base__' names the frozen base model"),
    (["experiment=rlccf", "game.options.crowd_size=2"],
     "rlccf_v0 needs one agent per crowd seat: crowd_size=2 but 3 agents"),
    (["eval.measures=[accuracy,critic]"], "eval.measures: ['critic'] unknown for comas_v0"),
    (["eval.measures=[]"], "eval.measures: List should have at least 1 item"),
    (["eval.samples=0"], "eval.samples: Input should be greater than or equal to 1"),
    (["eval.tasks={difficulty:9}"], "eval.tasks.difficulty: Input should be less than or equal to 4"),
    (["eval.tasks={source:jsonl,path:/nonexistent.jsonl}"], "path '/nonexistent.jsonl' does not exist"),
    (["experiment=spc", "game.options.min_original=2"], "game.options.min_original"),
])
def test_mistakes_name_the_field(overrides, expected):
    with pytest.raises(ConfigError) as err:
        load_config(overrides)
    assert expected in str(err.value)


def test_cli_prints_one_line_not_a_traceback(capsys):
    assert main(["train", "iteratons=2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coevo: config error: unknown config field 'iteratons'")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_of_every_subcommand(capsys):
    for cmd in ["train", "eval", "report", "models", "games", "tournament", "study"]:
        with pytest.raises(SystemExit) as ex:
            main([cmd, "--help"])
        assert ex.value.code == 0
        assert len(capsys.readouterr().out) > 100


def test_an_arbiter_that_cannot_read_the_games_outcome_is_refused_before_start(tmp_path, capsys):
    # the custom-game trap: game=tictactoe keeps the default comas arbiter, whose outcome keys it lacks
    assert main(["train", "game=tictactoe", f"run_dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("coevo: invalid config: arbiter comas reads outcome ['rounds', 'correct'], which tictactoe_v0 "
                   "does not record; tictactoe_v0 is played with arbiter=native population=duo")
    assert not (tmp_path / "r").exists()  # nothing written
    load_config(["game=tictactoe", "arbiter=native", "population=duo"])  # the remedy it names works


def test_every_paper_scale_composes_and_validates():
    """`experiment=<paper> scale=paper` is one override away from the paper's setting; nothing runs."""
    from coevo.config import CONFIG_DIR

    papers = sorted(p.stem.removesuffix("_paper") for p in (CONFIG_DIR / "paper_scale").glob("*_paper.yaml"))
    assert "comas" in papers
    for exp in papers:
        small, paper = load_config([f"experiment={exp}"]), load_config([f"experiment={exp}", "scale=paper"])
        assert paper.scale.name == "paper" and paper.model.device == "cuda" and paper.model.name != small.model.name
        assert paper.population.learner_num_gpus > 0 and paper.game.name == small.game.name
    assert {"comas", "spc", "rlccf", "soar"} <= set(papers)
    assert len(load_config(["experiment=comas", "scale=paper"]).population.agents) == 4  # the paper's 4 agents
    rlccf = load_config(["experiment=rlccf", "scale=paper"])
    assert rlccf.game.options["crowd_size"] == len(rlccf.population.agents) == 4
    spc = load_config(["experiment=spc", "scale=paper"])
    assert spc.population.train_schedule.mode == "alternate" and spc.algo.sft_coef == 0.15  # alternating rounds
    assert load_config(["experiment=soar", "scale=paper"]).arbiter.params["inner_steps"] == 10
    with pytest.raises(ConfigError, match="has no paper scale"):
        load_config(["experiment=tictactoe", "scale=paper"])


def test_the_readmes_gsm8k_command_composes():
    """README: `game.options.tasks.source=jsonl game.options.tasks.path=...` without hydra's `+`."""
    from pathlib import Path

    gsm8k = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
    if not gsm8k.is_dir():
        pytest.skip(f"{gsm8k} is not on this machine (it is beside the checkout on development machines)")
    cfg = load_config(["experiment=comas", "game.options.tasks.source=jsonl", f"game.options.tasks.path={gsm8k}"])
    assert cfg.game.options["tasks"] == {"source": "jsonl", "difficulty": 1, "path": str(gsm8k)}


@pytest.mark.parametrize("argv,expected", [
    (["train", "algo.lr=inf"], "algo.lr: Input should be a finite number"),
    (["train", "sampling.temperature=nan"], "sampling.temperature: Input should be a finite number"),
    (["train", "model.name=/nonexistent/dir"], "model.name: '/nonexistent/dir' is not a directory"),
    (["train", "population.agents=[a/b,c]"], "agent names are letters, digits"),
    (["train", "model.device=cuda"], "model.device=cuda: torch sees no CUDA device"),
    (["train", "logger=wandb_online"], "logger.wandb=online needs a wandb login"),
    (["eval", "model=tiny"], "does not exist: name a run to evaluate"),
    (["train", "model=tiny", "ray.address=127.0.0.1:1"], "ray.address=127.0.0.1:1: no Ray cluster to join"),
    (["train", "model=tiny", "model.lora.target_modules=[]"], "model.lora.target_modules: name at least one module"),
    (["train", "model=tiny", "model.lora.rr=4"], "unknown config field 'model.lora.rr'; did you mean r?"),
])
def test_hostile_settings_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch, argv, expected):
    import torch

    if "model.device=cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    run_dir = tmp_path / "run"
    assert main([*argv, f"run_dir={run_dir}"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not run_dir.exists()


@pytest.mark.usefixtures("local_ray")
def test_an_address_with_no_cluster_is_refused_even_when_this_process_has_a_ray(tmp_path, capsys):
    # a notebook (or a test session) already runs Ray: an address with nothing behind it is still
    # an error, not silently replaced by the Ray at hand
    run_dir = tmp_path / "run"
    assert main(["train", "model=tiny", "ray.address=127.0.0.1:1", f"run_dir={run_dir}"]) == 2
    assert "ray.address=127.0.0.1:1: no Ray cluster to join" in capsys.readouterr().err
    assert not run_dir.exists()


def test_a_run_dir_that_is_a_file_or_not_writable(tmp_path, capsys, monkeypatch):
    import os

    import coevo.loop

    def no_ray(cfg):
        raise AssertionError("a run_dir that cannot take the run must stop before Ray starts")

    monkeypatch.setattr(coevo.loop, "start_ray", no_ray)
    (tmp_path / "file").write_text("x")
    assert main(["train", "model=tiny", f"run_dir={tmp_path / 'file'}"]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["train", "model=tiny", f"run_dir={locked / 'run'}"]) == 2
        assert "cannot be created" in capsys.readouterr().err


@pytest.mark.parametrize("content, expected", [
    ("", "eval.tasks: {path}: the train split holds no tasks"),
    ('{"question": "q", "answer": "#### 3"}\n{bad\n', "eval.tasks: {path}, line 2: malformed task"),
])
def test_a_bad_eval_task_file_stops_before_start(tmp_path, content, expected):
    path = tmp_path / "tasks.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_config([f"eval.tasks={{source:jsonl,path:{path}}}"])
    assert expected.format(path=path) in str(err.value)


def test_config_changes_name_what_changes_the_run_and_nothing_else():
    from coevo.resume import config_changes

    saved = {"seed": 0, "iterations": 3, "run_dir": "/a", "logger": {"wandb": "offline"},
             "algo": {"lr": 1e-4, "clip_eps": 0.2}, "game": {"options": {"rounds": 1}},
             "population": {"learner_num_gpus": 0.0, "games_per_iteration": 12}, "old_field": 1}
    now = {"seed": 0, "iterations": 5, "run_dir": "/b", "logger": {"wandb": "disabled"},
           "algo": {"lr": 2e-4, "clip_eps": 0.2}, "game": {"options": {"rounds": 3, "critic": True}},
           "population": {"learner_num_gpus": 1.0, "games_per_iteration": 8}, "new_field": 2}
    # length, place, logging and placement may change on a resume; config fields on one side only
    # are skipped, a game option on one side only is not
    assert config_changes(saved, now) == ["algo.lr: 0.0001 -> 0.0002", "game.options.critic: (unset) -> True",
                                          "game.options.rounds: 1 -> 3", "population.games_per_iteration: 12 -> 8"]
    assert config_changes(saved, saved) == []


def test_a_game_option_at_its_default_is_no_change_but_another_value_is(tmp_path):
    import yaml

    from coevo.resume import config_conflict

    cfg = load_config(["experiment=spc", "model=tiny"]).model_dump()
    saved = yaml.safe_load(yaml.safe_dump(cfg))
    del saved["game"]["options"]["verdict_order"]  # a run made before the option existed
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    assert cfg["game"]["options"]["verdict_order"] == "random"  # the option's default
    assert config_conflict(tmp_path, cfg) == []
    cfg["game"]["options"]["verdict_order"] = "correct_first"
    assert config_conflict(tmp_path, cfg) == ["game.options.verdict_order: 'random' -> 'correct_first'"]
    assert config_conflict(tmp_path / "nothing", cfg) == []
    # a saved config that cannot be read is a conflict that says so, not "nothing to compare"
    for broken in ("", "game: [unclosed"):
        (tmp_path / "config.yaml").write_text(broken)
        (problem,) = config_conflict(tmp_path, cfg)
        assert "config.yaml is empty, cut short or not a mapping" in problem, broken
    (tmp_path / "config.yaml").write_text("game:\n  na")  # cut short, still YAML: its game differs
    problems = config_conflict(tmp_path, cfg)
    assert [p[:14] for p in problems] == ["game: 'na' -> "]
