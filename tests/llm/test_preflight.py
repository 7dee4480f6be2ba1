"""Before any work, every model a command will use is checked; one line says what to set; exit 2; nothing written."""

import pytest
from typer.testing import CliRunner

from a3.cli.main import app
from a3.llm.preflight import ModelUnusableError, preflight, problem
from a3.llm.types import CallConfig

KEYS = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "AZUREAI_OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_BEARER_TOKEN_BEDROCK",
    "STUB_BASE_URL",
    "STUB_API_KEY",
)


@pytest.fixture
def no_keys(monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize(
    "model, wanted",
    [
        ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        ("openai/gpt-5", "OPENAI_API_KEY"),
        ("openrouter/qwen/qwen-2.5-7b-instruct", "OPENROUTER_API_KEY"),
        ("openai/azure/my-deployment", "AZURE_OPENAI_API_KEY"),
        ("anthropic/bedrock/us.anthropic.claude-haiku-4-5-v1:0", "AWS_ACCESS_KEY_ID"),
        ("openai-api/stub/tiny", "STUB_BASE_URL and STUB_API_KEY"),
        ("local/no-such-model", "unknown local model"),
    ],
)
def test_each_provider_says_what_to_set(no_keys, model, wanted):
    assert wanted in problem(model)


def test_a_usable_model_passes(no_keys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-000000000000")
    assert problem("anthropic/claude-sonnet-4-5") is None
    assert problem("openai-api/stub/tiny", {"base_url": "http://127.0.0.1:1/v1", "api_key": "x"}) is None
    assert problem("mockllm/model") is None


def test_every_problem_is_named_at_once(no_keys):
    with pytest.raises(ModelUnusableError) as caught:
        preflight(
            [
                CallConfig(model=m)
                for m in ("anthropic/claude-sonnet-4-5", "openai/gpt-5", "anthropic/claude-sonnet-4-5")
            ]
        )
    message = str(caught.value)
    assert "ANTHROPIC_API_KEY" in message and "OPENAI_API_KEY" in message and message.count("ANTHROPIC_API_KEY") == 1


def test_the_cli_stops_before_writing_anything(no_keys, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["generate", "configs/sycophancy.json", "--run-dir", str(run)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "set ANTHROPIC_API_KEY" in lines[0] and "OPENROUTER_API_KEY" in lines[0]
    assert not run.exists()
