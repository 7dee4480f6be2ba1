import json
import os

import pytest
from typer.testing import CliRunner

import a3
from a3.cli.main import app
from a3.cli.progress import make_progress, set_enabled
from a3.store import LedgerEntry, RunDir
from tests.paths import CONFIGS

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"a3 {a3.__version__}"


def test_check_accepts_a_good_config():
    result = runner.invoke(app, ["check", str(CONFIGS / "sycophancy.json")])
    assert result.exit_code == 0, result.output
    assert "Sycophancy" in result.stdout


def test_check_bad_config_exits_2_names_field_and_writes_nothing(tmp_path):
    data = json.loads((CONFIGS / "sycophancy.json").read_text())
    data["judge_model"]["temprature"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    before = sorted(os.listdir(tmp_path))
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert "judge_model.temprature" in result.stderr and "did you mean 'temperature'" in result.stderr
    assert str(bad) in result.stderr
    assert sorted(os.listdir(tmp_path)) == before


def test_models_lists_backends_without_leaking_keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value-123")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    assert "yes" in lines["Anthropic"] and "ANTHROPIC_API_KEY is set" in lines["Anthropic"]
    assert "no" in lines["OpenAI"] and "set OPENAI_API_KEY" in lines["OpenAI"]
    assert "sk-ant-secret-value-123" not in result.stdout


def test_status_shows_stages_and_costs(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.stage("generate", inputs={"a": 1}):
        run.ledger.record(
            LedgerEntry(key="k1", stage="generate", model="m", input_tokens=10, output_tokens=5, cost_usd=0.25)
        )
        run.ledger.record(
            LedgerEntry(key="k2", stage="generate", model="m", input_tokens=10, output_tokens=5, cost_usd=None)
        )
    run.ledger.record(
        LedgerEntry(key="k3", stage="defend-dspy", model="m", input_tokens=10, output_tokens=5, cost_usd=0.5)
    )
    try:
        with run.stage("judge", inputs={"a": 1}):
            raise RuntimeError("provider down")
    except RuntimeError:
        pass
    result = runner.invoke(app, ["status", str(run.path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "generate" in result.stdout and "done" in result.stdout
    assert "failed" in result.stdout and "provider down" in result.stdout
    assert "$0.2500 + 1 unpriced calls" in result.stdout
    other = next(line for line in result.stdout.splitlines() if "defend-dspy" in line)
    assert "other work" in other and "$0.5000" in other


def test_status_of_missing_run_exits_2(tmp_path):
    result = runner.invoke(app, ["status", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no such run directory" in result.stderr


def test_progress_is_off_without_a_tty_or_with_flag(monkeypatch):
    class Tty:
        def isatty(self):
            return True

        def write(self, text):
            return len(text)

        def flush(self):
            pass

    from rich.console import Console

    set_enabled(True)
    assert make_progress(Console(file=Tty(), force_terminal=True)).disable is False
    assert make_progress(Console(file=open(os.devnull, "w"))).disable is True
    result = runner.invoke(app, ["--no-progress", "models"])
    assert result.exit_code == 0
    assert make_progress(Console(file=Tty(), force_terminal=True)).disable is True
    set_enabled(True)


def test_ctrl_c_says_the_work_is_saved_and_exits_130():
    import typer

    from a3.cli.errors import reports_errors

    @reports_errors
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit) as stopped:
        interrupted()
    assert stopped.value.exit_code == 130
