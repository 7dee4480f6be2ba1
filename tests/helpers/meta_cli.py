"""Shared steps of the meta CLI tests: a small sample tree with its task list, and a scripted client factory."""

from pathlib import Path

from typer.testing import CliRunner

from a3.cli.common import Workspace
from a3.cli.main import app
from a3.store import RunDir
from a3.testing import ScriptedClient

AGENT = "claude-haiku-4-5-20251001"


def sample_task_list(tmp_path: Path, runs: int = 6) -> Path:
    """`a3 meta sample-data` then `a3 meta select`: the task list's path."""
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(app, ["meta", "sample-data", str(data), "--runs", str(runs)]).exit_code == 0
    tasks = tmp_path / "tasks.json"
    result = runner.invoke(
        app, ["meta", "select", "--base-dir", str(data / "perturbed_queries"), "--agent", AGENT, "--output", str(tasks)]
    )
    assert result.exit_code == 0, result.output
    return tasks


def scripted_clients(respond, made: list | None = None, fixed_concurrency: int | None = None):
    """A stand-in for `a3.cli.meta_cmd._workspace` whose clients answer with ``respond`` (and are kept in ``made``)."""

    def client(work_dir, max_cost, prices, concurrency=16, model=None):
        run = RunDir(work_dir)
        made_client = ScriptedClient(respond, run_dir=run, concurrency=fixed_concurrency or concurrency)
        if made is not None:
            made.append(made_client)
        return Workspace(run, made_client)

    return client
