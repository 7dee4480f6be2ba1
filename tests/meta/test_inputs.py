"""Meta-analysis inputs of the wrong shape: a bad run is skipped with its reason, a bad filter is a
clear error naming the file, and no id may lead outside the data tree."""

import json

import pytest
from typer.testing import CliRunner

from a3.cli.main import app
from a3.errors import UserInputError
from a3.meta.formats import load_task_list, task_list_document
from a3.meta.select import SelectOptions, select_runs
from a3.meta.synthetic.sample_data import write_sample_data

runner = CliRunner()


@pytest.fixture
def sample(tmp_path):
    return write_sample_data(tmp_path / "data", n_runs=30, seed=2)


def test_a_malformed_run_is_skipped_with_its_reason_and_the_others_kept(sample):
    good = task_list_document(select_runs(SelectOptions(agent=sample.agent, base_dir=sample.runs_dir)))["metadata"][
        "total_successful_runs"
    ]
    summaries = sorted(sample.runs_dir.rglob("refinement_summary.json"))
    readable = [p for p in summaries if "_attempt_" not in str(p) and p.read_text().startswith("{\n")]
    victim = next(p for p in readable if json.loads(p.read_text())["success"])
    data = json.loads(victim.read_text())
    data["execution_history"] = "not a list"
    victim.write_text(json.dumps(data))
    result = task_list_document(select_runs(SelectOptions(agent=sample.agent, base_dir=sample.runs_dir)))
    meta = result["metadata"]
    assert meta["total_successful_runs"] == good - 1
    assert meta["exclusions"]["malformed_refinement_summary"]["count"] == 1
    assert any("execution_history should be a list" in note for note in meta["notes"])


@pytest.mark.parametrize(
    "agents, message",
    [
        ({"agent_claude-haiku-4-5-20251001": "0f2e"}, "expected a list of task ids"),
        ({"agent_claude-haiku-4-5-20251001": [1, 2]}, "expected a list of task ids"),
        ("everything", r"expected \{agent: \[task ids\]\}"),
    ],
)
def test_a_filter_of_the_wrong_shape_is_a_clear_error_not_a_silent_no_op(sample, tmp_path, agents, message):
    bad = tmp_path / "filter.json"
    bad.write_text(json.dumps({"os": agents, "multi_apps_test": {}}))
    with pytest.raises(UserInputError, match=message) as caught:
        select_runs(SelectOptions(agent=sample.agent, base_dir=sample.runs_dir, data_filter=bad))
    assert str(bad) in str(caught.value) and "os" in str(caught.value)
    result = runner.invoke(
        app,
        [
            "meta",
            "select",
            "--base-dir",
            str(sample.runs_dir),
            "--agent",
            sample.agent,
            "--data_filter",
            str(bad),
            "--output",
            str(tmp_path / "tl.json"),
        ],
    )
    assert result.exit_code == 2 and not (tmp_path / "tl.json").exists()


def test_a_human_filter_entry_of_the_wrong_shape_is_a_clear_error(sample, tmp_path):
    bad = tmp_path / "decisions.json"
    bad.write_text(json.dumps({"t:p:r:a": "False Positive"}))
    with pytest.raises(UserInputError, match="t:p:r:a: expected an annotation object"):
        select_runs(SelectOptions(agent=sample.agent, base_dir=sample.runs_dir, human_annotation_filter=bad))


@pytest.mark.parametrize("spec", ["os:../../../outside:abc", "os:task:..", "os/../x:task:abc"])
def test_a_task_list_id_cannot_lead_outside_the_tree(sample, tmp_path, spec):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(
        json.dumps(
            {
                "metadata": {"agent": sample.agent, "base_dir": str(sample.runs_dir)},
                "task_lists_by_refinement_model": {"gpt-5-2025-08-07": [spec]},
            }
        )
    )
    with pytest.raises(UserInputError, match="not a plain folder name"):
        load_task_list(tasks)
    result = runner.invoke(
        app,
        ["meta", "summarize", "--task_list_file", str(tasks), "--work-dir", str(tmp_path / "work"), "--beside-runs"],
    )
    assert result.exit_code == 2 and not (tmp_path / "work").exists()


def test_an_empty_tree_says_no_runs_were_selected(tmp_path):
    (tmp_path / "empty" / "os").mkdir(parents=True)
    result = runner.invoke(
        app,
        [
            "meta",
            "run",
            "--base-dir",
            str(tmp_path / "empty"),
            "--agent",
            "some-agent",
            "--work-dir",
            str(tmp_path / "work"),
            "--model",
            "mockllm/model",
        ],
    )
    assert result.exit_code == 2 and "no runs selected" in result.stderr
