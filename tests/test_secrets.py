"""A provider error that echoes the API key is printed and saved without it."""

import pytest
from typer.testing import CliRunner

from a3.cli.main import app
from a3.secrets import redact, register
from a3.store import RunDir
from tests.helpers.meta_cli import sample_task_list, scripted_clients

KEY = "sk-proj-Zq81mKx0aLw93Jd7Tq2Vb5Ns"


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def test_redact_removes_environment_keys_registered_arguments_and_key_shapes(api_key):
    assert KEY not in redact(f"Incorrect API key provided: {KEY}.")
    register("my-gateway-password-123")
    assert "my-gateway-password-123" not in redact("auth failed for my-gateway-password-123")
    assert "sk-ant-api03-abcdefghijklmnop" not in redact(
        "bad key sk-ant-api03-abcdefghijklmnop"
    )  # not in the environment
    assert redact("the key was rejected") == "the key was rejected"


def test_a_failed_stage_keeps_no_key_in_its_manifest(api_key, tmp_path):
    run = RunDir(tmp_path / "run")
    with pytest.raises(RuntimeError):
        with run.stage("generate", inputs={}):
            raise RuntimeError(f"Error code: 401 - Incorrect API key provided: {KEY}")
    assert KEY not in (tmp_path / "run" / "stages" / "generate.json").read_text()


def test_the_cli_and_the_saved_failures_never_show_the_key(api_key, monkeypatch, tmp_path):
    def echo_key(messages, config):
        return PermissionError(f"Error code: 401 - Incorrect API key provided: {KEY}. You can find your API key at ...")

    monkeypatch.setattr("a3.cli.meta_cmd._workspace", scripted_clients(echo_key))
    runner = CliRunner()
    tasks = sample_task_list(tmp_path)
    work = tmp_path / "work"
    result = runner.invoke(
        app, ["meta", "summarize", "--task_list_file", str(tasks), "--work-dir", str(work)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 1 and "Incorrect API key provided" in result.output
    assert KEY not in result.output
    for path in work.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl"):
            assert KEY not in path.read_text(), path
