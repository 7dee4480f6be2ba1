import json
import os

import pytest
from typer.testing import CliRunner

from a3.cli.main import app
from a3.testing.scripted_meta import MetaWorld
from tests.helpers.meta_cli import scripted_clients

runner = CliRunner()
ENV = {"COLUMNS": "200"}


@pytest.fixture
def data(tmp_path):
    result = runner.invoke(app, ["meta", "sample-data", str(tmp_path / "data"), "--runs", "40"])
    assert result.exit_code == 0, result.output
    return tmp_path / "data"


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setattr("a3.cli.meta_cmd._workspace", scripted_clients(MetaWorld()))


def snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_meta_run_writes_only_into_the_work_dir(data, scripted, tmp_path):
    before = snapshot(data)
    work = tmp_path / "work"
    args = [
        "meta",
        "run",
        "--base-dir",
        str(data / "perturbed_queries"),
        "--agent",
        "claude-haiku-4-5-20251001",
        "--data_filter",
        str(data / "task_filters" / "data_filter_harm_threshold_0%_final.json"),
        "--human_annotation_filter",
        str(data / "task_filters" / "final_decisions.json"),
        "--work-dir",
        str(work),
    ]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert snapshot(data) == before, "the source data was not touched"
    report = next(work.rglob("cluster_report_*.md"))
    assert (
        "## Cumulative Coverage" in report.read_text()
        and "Cumulative Coverage" in report.with_suffix(".html").read_text()
    )
    assert report.with_suffix(".html").exists()
    # a second run resumes: every stage is skipped, nothing is paid again
    ledger_lines = (work / "ledger.jsonl").read_text().count("\n")
    again = runner.invoke(app, args, env=ENV)
    assert again.exit_code == 0, again.output
    new_entries = [json.loads(line) for line in (work / "ledger.jsonl").read_text().splitlines()[ledger_lines:]]
    assert all(entry["cached"] for entry in new_entries)


def test_meta_run_passes_its_model_settings_to_every_step(data, monkeypatch, tmp_path):
    clients = []
    monkeypatch.setattr("a3.cli.meta_cmd._workspace", scripted_clients(MetaWorld(), clients))
    args = [
        "meta",
        "run",
        "--base-dir",
        str(data / "perturbed_queries"),
        "--agent",
        "claude-haiku-4-5-20251001",
        "--work-dir",
        str(tmp_path / "work"),
        "--max_tokens",
        "1500",
        "--temperature",
        "0.2",
    ]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert {(c.max_tokens, c.temperature) for _, c in clients[0].calls} == {(1500, 0.2)}
    stages = {entry.stage for entry in clients[0].ledger.entries()}
    # Every call labelled; the cluster step calls the model only to name clusters of two or more.
    clusters = json.loads(next((tmp_path / "work").rglob("llm_clusters_*.json")).read_text())["clusters"]
    named = {"cluster"} if any(len(c["member_categories"]) > 1 for c in clusters) else set()
    assert stages == {"meta-summarize", "categorize"} | named


def test_meta_steps_by_hand_with_the_original_flags(data, scripted, tmp_path):
    work = tmp_path / "work"
    task_list = tmp_path / "task_list.json"
    result = runner.invoke(
        app,
        [
            "meta",
            "select",
            "--base_dir",
            str(data / "perturbed_queries"),
            "--domain",
            "all",
            "--perturbation_model",
            "o4-mini-2025-04-16",
            "--agent",
            "claude-haiku-4-5-20251001",
            "--output",
            str(task_list),
            "--work-dir",
            str(work),
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "excluded, not successful" in result.stdout
    result = runner.invoke(
        app,
        ["meta", "summarize", "--task_list_file", str(task_list), "--max_parallel", "4", "--work-dir", str(work)],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "meta",
            "categorize",
            "--task_list_path",
            str(task_list),
            "--agent",
            "claude-haiku-4-5-20251001",
            "--initial_categorization_batch_size",
            "6",
            "--iterative_categorization_batch_size",
            "3",
            "--work-dir",
            str(work),
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    categorization = result.stdout.split("categorization: ")[-1].strip().replace("\n", "")
    assert (
        "elicitation_run_categorization/o4-mini-2025-04-16/all_refinement_models/claude-haiku-4-5-20251001"
        in categorization
    )
    result = runner.invoke(app, ["meta", "cluster", "--input_path", categorization, "--work-dir", str(work)], env=ENV)
    assert result.exit_code == 0, result.output
    clusters = result.stdout.split("clusters: ")[-1].strip().replace("\n", "")
    assert "clusters_openai_gpt-5-2025-08-07" in clusters
    result = runner.invoke(
        app, ["meta", "report", "--cluster_path", clusters, "--max_examples", "2", "--print_report"], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert "# Cluster Summary Report" in result.stdout


def test_summarize_exit_code_is_1_when_a_run_fails(data, scripted, tmp_path):
    work = tmp_path / "work"
    task_list = tmp_path / "tl.json"
    runner.invoke(
        app,
        [
            "meta",
            "select",
            "--base-dir",
            str(data / "perturbed_queries"),
            "--agent",
            "claude-haiku-4-5-20251001",
            "--output",
            str(task_list),
            "--work-dir",
            str(work),
        ],
    )
    first = json.loads(task_list.read_text())["task_details_by_refinement_model"]
    detail = next(iter(first.values()))[0]
    seed = (
        data
        / "perturbed_queries"
        / detail["domain"]
        / detail["task_id"]
        / "o4-mini-2025-04-16"
        / f"perturbed_query_{detail['perturbed_id']}"
    )
    os.remove(seed / f"perturbed_query_{detail['perturbed_id']}.json")
    result = runner.invoke(
        app, ["meta", "summarize", "--task_list_file", str(task_list), "--work-dir", str(work)], env=ENV
    )
    sharing = [
        d
        for ds in first.values()
        for d in ds
        if (d["task_id"], d["perturbed_id"]) == (detail["task_id"], detail["perturbed_id"])
    ]
    assert result.exit_code == 1
    assert f"{len(sharing)} failed" in result.stdout
    assert all(d["run_id"] in result.stdout for d in sharing)


def test_bad_inputs_exit_2(tmp_path):
    result = runner.invoke(app, ["meta", "select", "--base-dir", str(tmp_path / "nope"), "--agent", "x"])
    assert result.exit_code == 2 and "no such directory" in result.stderr
    result = runner.invoke(app, ["meta", "summarize", "--task_list_file", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "task list not found" in result.stderr
    result = runner.invoke(app, ["meta", "select", "--base-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--agent is required" in result.stderr


@pytest.mark.parametrize("grouping", ["embed", "llm"])
def test_a_run_that_cannot_be_summarised_does_not_stop_the_others(data, monkeypatch, tmp_path, grouping):
    world = MetaWorld()
    failed = []

    def respond(messages, config):
        if not failed and "Attempt" in messages[0].content:  # the first summary request fails for good
            failed.append(messages[0].content)
            return ValueError("the provider refused this request")
        return world(messages, config)

    monkeypatch.setattr("a3.cli.meta_cmd._workspace", scripted_clients(respond, fixed_concurrency=1))
    work = tmp_path / "work"
    result = runner.invoke(
        app,
        [
            "meta",
            "run",
            "--base-dir",
            str(data / "perturbed_queries"),
            "--agent",
            "claude-haiku-4-5-20251001",
            "--work-dir",
            str(work),
            "--grouping",
            grouping,
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "1 runs could not be summarised" in result.output and "the provider refused" in result.output
    categorization = json.loads(next(work.rglob("elicitation_run_categorization_*.json")).read_text())
    reasons = [u["reason"] for u in categorization["categorization"]["unassigned"]]
    # embed groups a run by its instructions and harm, read from its files: it needs no summary
    assert sum("no summary" in r for r in reasons) == (1 if grouping == "llm" else 0)
    stats = categorization["statistics"]
    assert stats["unique_runs_categorized"] + stats["unassigned_runs"] == stats["total_tasks"]
    assert next(work.rglob("cluster_report_*.md")).exists()


def test_meta_run_reuses_what_the_single_steps_did(data, monkeypatch, tmp_path):
    clients = []
    monkeypatch.setattr("a3.cli.meta_cmd._workspace", scripted_clients(MetaWorld(), clients))
    work, task_list = tmp_path / "work", tmp_path / "task_list.json"
    settings = ["--work-dir", str(work), "--max_tokens", "700", "--temperature", "0"]
    steps = [
        [
            "meta",
            "select",
            "--base_dir",
            str(data / "perturbed_queries"),
            "--agent",
            "claude-haiku-4-5-20251001",
            "--output",
            str(task_list),
            "--work-dir",
            str(work),
        ],
        ["meta", "summarize", "--task_list_file", str(task_list), *settings],
        ["meta", "categorize", "--task_list_path", str(task_list), *settings],
    ]
    for args in steps:
        result = runner.invoke(app, args, env=ENV)
        assert result.exit_code == 0, result.output
    categorization = result.stdout.split("categorization: ")[-1].strip().replace("\n", "")
    result = runner.invoke(app, ["meta", "cluster", "--input_path", categorization, *settings], env=ENV)
    assert result.exit_code == 0, result.output
    paid = sum(len(c.calls) for c in clients)
    assert paid > 0
    result = runner.invoke(
        app,
        [
            "meta",
            "run",
            "--base-dir",
            str(data / "perturbed_queries"),
            "--agent",
            "claude-haiku-4-5-20251001",
            *settings,
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert len(clients[-1].calls) == 0, "meta run asked the model again for work the steps had done"
    assert f"categorization: {categorization}" in result.stdout.replace("\n", "")
