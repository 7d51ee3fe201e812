"""The summary table `coevo train` ends with and `coevo report` prints, from a hand-written metrics.jsonl."""
import json

from coevo.report import summary_table


def test_summary_table_from_metrics(tmp_path):
    rows = [{"iteration": 0, "eval/accuracy/agent_0": 0.25, "eval/accuracy/agent_1": 0.5},
            {"iteration": 1, "reward/agent_0": 0.5, "reward/agent_1": -1.0, "reward/agent_1/critic": -1.0,
             "reward/__base__": 0.0, "perf/tokens_per_s": 10.0, "perf/iteration_s": 30.0},
            {"iteration": 2, "reward/agent_0": 1.0, "reward/agent_1": 0.0, "reward/__base__": 0.0,
             "perf/tokens_per_s": 20.0, "perf/iteration_s": 50.0, "eval/accuracy/agent_0": 0.75}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = summary_table(tmp_path).splitlines()
    assert lines[1].split() == ["agent_0", "1.000", "0.250", "0.750"]
    assert lines[2].split() == ["agent_1", "0.000", "0.500", "-"]  # no eval at the end for agent_1
    assert not any("__base__" in line for line in lines)  # the frozen base never trains: no row
    assert "rollout tokens/s: 15.0" in lines[3] and "s/iteration: 40.0" in lines[3]
    assert summary_table(tmp_path / "nothing").endswith("no metrics yet")
