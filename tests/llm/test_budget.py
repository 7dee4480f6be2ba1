"""Cost caps and prices are validated; the ledger keeps whole lines; a lost ledger entry is rebuilt from the cache."""

import json
import os

import pytest
from typer.testing import CliRunner

from a3.cli.main import app
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMClient, PriceTable
from a3.llm.pricing import load_price_file
from a3.store import RunDir
from a3.store.ledger import Ledger, LedgerEntry, read_ledger
from a3.testing import ScriptedClient


@pytest.mark.parametrize("cap", [float("nan"), float("inf"), -1.0])
def test_a_cost_cap_that_is_not_a_real_limit_is_refused(cap, tmp_path):
    with pytest.raises(UserInputError, match="cost cap"):
        LLMClient(tmp_path / "run", max_cost=cap)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_cli_refuses_max_cost_nan_with_exit_2_and_writes_nothing(tmp_path):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"task_list": []}))
    result = CliRunner().invoke(
        app,
        [
            "meta",
            "summarize",
            "--task_list_file",
            str(tasks),
            "--refinement_model_filter",
            "m",
            "--agent",
            "a",
            "--work-dir",
            str(tmp_path / "work"),
            "--max-cost",
            "nan",
        ],
    )
    assert result.exit_code == 2 and "--max-cost" in result.stderr and "USD >= 0" in result.stderr
    assert not (tmp_path / "work").exists()


def test_negative_prices_are_refused(tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("my-model: [-1.0, 2.0]\n")
    with pytest.raises(UserInputError, match="my-model"):
        load_price_file(prices)
    with pytest.raises(UserInputError):
        PriceTable({"my-model": [1.0, float("nan")]})


def test_the_ledger_writes_whole_lines_even_when_the_os_writes_less(tmp_path, monkeypatch):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[: max(1, len(data) // 3)])))
    for i in range(5):
        ledger.record(LedgerEntry(key=f"k{i}", model="m", cost_usd=0.01))
    assert [e.key for e in read_ledger(ledger.path)] == [f"k{i}" for i in range(5)]


def test_a_torn_ledger_line_does_not_swallow_the_next_entry(tmp_path):
    path = tmp_path / "ledger.jsonl"
    # the second line: a write cut short by a full disk
    path.write_text('{"key": "k0", "model": "m", "cost_usd": 0.5}\n{"key": "k1", "co')
    Ledger(path).record(LedgerEntry(key="k2", model="m", cost_usd=0.25))
    assert [e.key for e in read_ledger(path)] == ["k0", "k2"]


async def test_paid_calls_missing_from_the_ledger_are_reconciled_from_the_cache_on_resume(tmp_path):
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(
        lambda messages, config: "an answer", run_dir=run, prices=PriceTable({"openai/gpt-test": [1000.0, 1000.0]})
    )
    for i in range(4):
        await client.generate(f"question {i}", config=CallConfig(model="openai/gpt-test"))
    spent = client.ledger.totals().cost_usd
    assert spent > 0
    lines = run.ledger.path.read_text().splitlines()
    run.ledger.path.write_text("\n".join(lines[:2]) + "\n")  # two paid calls' entries lost
    resumed = ScriptedClient(
        lambda messages, config: "an answer", run_dir=run, prices=PriceTable({"openai/gpt-test": [1000.0, 1000.0]})
    )
    entries = resumed.ledger.entries()
    assert len(entries) == 4 and sum(1 for e in entries if e.reconciled) == 2
    assert resumed.ledger.totals().cost_usd == pytest.approx(spent)
    again = ScriptedClient(lambda messages, config: "an answer", run_dir=run)
    assert len(again.ledger.entries()) == 4  # reconciled once
