"""One writer per run directory: a second process is refused with the holder's PID; a dead holder frees it."""

import os
import signal
import subprocess
import sys

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from a3.cli.main import app
from a3.llm import LLMClient
from a3.store import RunDir
from a3.store.lock import RunInUseError, release
from tests.helpers.meta_cli import sample_task_list


class Record(BaseModel):
    id: str


HOLD = """
import sys, time
from a3.store import RunDir
RunDir(sys.argv[1]).claim()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def other_process(tmp_path):
    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    yield run, child
    child.kill()
    child.wait()


def test_a_second_process_is_refused_naming_the_holder(other_process):
    run, child = other_process
    with pytest.raises(RunInUseError, match=rf"in use by process {child.pid} "):
        RunDir(run).stage("generate", inputs={})
    with pytest.raises(RunInUseError):
        LLMClient(run)  # its cache and ledger would be written twice
    with pytest.raises(RunInUseError):
        RunDir(run).log("summaries.jsonl", Record)
    assert RunDir(run).holder().pid == child.pid


def test_the_lock_dies_with_its_holder(other_process):
    run, child = other_process
    child.send_signal(signal.SIGKILL)
    child.wait()
    RunDir(run).stage("generate", inputs={})  # no stale lock after a kill
    assert RunDir(run).holder().pid == os.getpid()
    release(run)
    assert RunDir(run).holder() is None


def test_one_process_may_open_its_run_many_times(tmp_path):
    first, second = RunDir(tmp_path / "run"), RunDir(tmp_path / "run")
    first.claim()
    second.log("a.jsonl", Record).append(Record(id="x"))
    LLMClient(tmp_path / "run")


def test_the_cli_says_so_in_one_line_with_exit_2_and_status_shows_the_holder(other_process, tmp_path):
    run, child = other_process
    runner = CliRunner()
    tasks = sample_task_list(tmp_path)
    result = runner.invoke(
        app,
        ["meta", "summarize", "--task_list_file", str(tasks), "--work-dir", str(run), "--model", "mockllm/model"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 2
    assert f"in use by process {child.pid}" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (run / "summaries.jsonl").exists()
    (run / "stages").mkdir(exist_ok=True)
    (run / "stages" / "generate.json").write_text(
        '{"stage": "generate", "status": "running", "input_hash": "x", "started_at": "2026-12-02T07:00:00+00:00"}'
    )
    status = runner.invoke(app, ["status", str(run)], env={"COLUMNS": "300"})
    assert status.exit_code == 0 and f"process {child.pid}" in status.stdout
