"""Operating-system trouble comes out as one line naming the path and what to do, with a documented
exit code (2 for bad input, 4 for the machine or the run directory), and the run stays resumable."""

import errno
import os
import re

from pydantic import BaseModel
from typer.testing import CliRunner

from a3.cli.main import app
from a3.store import JsonlLog
from tests.helpers.meta_cli import sample_task_list, scripted_clients


class Record(BaseModel):
    id: str


runner = CliRunner()
WIDE = {"COLUMNS": "300"}


PROGRESS_LINE = re.compile(r"^\[\d+:\d\d:\d\d\] ")  # a log's progress lines (output is not a terminal here)


def one_line(result):
    lines = [line for line in result.stderr.strip().splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_config_that_is_not_utf8_is_a_clear_input_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes("attack:\n  name: caf\xe9\n".encode("latin-1"))
    result = runner.invoke(app, ["check", str(config)], env=WIDE)
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr and str(config) in result.stderr.replace("\n", "")


def test_a_run_dir_under_a_file_is_one_line_with_exit_3(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = runner.invoke(app, ["meta", "sample-data", str(tmp_path / "afile" / "sub")], env=WIDE)
    assert result.exit_code == 4
    line = one_line(result)
    assert "afile" in line and "not a folder" in line


def test_a_full_disk_is_one_line_with_exit_3_and_the_log_stays_whole(tmp_path, monkeypatch):
    log = JsonlLog(tmp_path / "run" / "log.jsonl", Record)
    log.append(Record(id="a"))
    tasks = sample_task_list(tmp_path)
    real_open = os.open

    def full_disk(path, flags, *args):
        if str(path).endswith("summaries.jsonl") and flags & os.O_APPEND:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", full_disk)
    monkeypatch.setattr("a3.cli.meta_cmd._workspace", scripted_clients(lambda messages, config: "a summary"))
    result = runner.invoke(
        app, ["meta", "summarize", "--task_list_file", str(tasks), "--work-dir", str(tmp_path / "work")], env=WIDE
    )
    assert result.exit_code == 4
    line = one_line(result)
    assert "summaries.jsonl" in line and "the disk is full" in line and "run the same command again" in line


def test_a_damaged_stage_manifest_is_named_not_a_traceback(tmp_path):
    stages = tmp_path / "run" / "stages"
    stages.mkdir(parents=True)
    (stages / "generate.json").write_text('{"stage": "generate", "status": "do')
    result = runner.invoke(app, ["status", str(tmp_path / "run")], env=WIDE)
    assert result.exit_code == 4
    line = one_line(result)
    assert "generate.json" in line and "damaged" in line and "delete it" in line


def test_permission_denied_is_one_line_with_exit_3(tmp_path, monkeypatch):
    import a3.meta.synthetic.sample_data as sample_data

    def denied(path, obj):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(sample_data, "_write", denied)
    result = runner.invoke(app, ["meta", "sample-data", str(tmp_path / "data")], env=WIDE)
    assert result.exit_code == 4
    assert "no permission" in one_line(result)
