"""The cost ledger's typed records: lines read and written as A3 always has, and one meaning of the totals
(paid calls; cache hits counted apart), in the ledger and in stage manifests alike."""

import json

import pytest

from a3.store import LedgerEntry, RunDir, UsageTotals
from a3.store.ledger import Ledger, ModelTotals, read_ledger

# Lines as A3 has written them since the first version (client.py's entry), one with a key this version
# does not know, then the torn line a killed writer leaves.
OLD_LEDGER = (
    '{"ts": 1764000000.5, "key": "k1", "stage": "generate", "model": "openai/gpt-x", "prompt_version": "abc", '
    '"input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.0125, "cached": false, "attempts": 2, '
    '"backend_s": 1.2345}\n'
    '{"ts": 1764000001.0, "key": "k1", "stage": "generate", "model": "openai/gpt-x", "prompt_version": "abc", '
    '"input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.0, "cached": true, "attempts": 0, '
    '"backend_s": 0.0}\n'
    '{"ts": 1764000002.0, "key": "k2", "stage": "judge", "model": "other/unpriced", "prompt_version": null, '
    '"input_tokens": 40, "output_tokens": 4, "cost_usd": null, "cached": false, "attempts": 1, '
    '"backend_s": 0.5, "a_key_from_elsewhere": [1, 2]}\n'
    '{"ts": 1764000003.0, "key": "k3", "stage": "judge", "model": "openai/gpt-x", "prompt_version": null, '
    '"input_tokens": 10, "output_tokens": 1, "cost_usd": 0.0002, "cached": false, "attempts": 1, '
    '"backend_s": 0.1, "reconciled": true}\n'
    '{"ts": 1764000004.0, "key": "k4", "sta'
)


def test_an_old_ledger_reads_as_typed_entries_skipping_the_torn_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(OLD_LEDGER)
    entries = Ledger(path).entries()
    assert [e.key for e in entries] == ["k1", "k1", "k2", "k3"]
    first = entries[0]
    assert isinstance(first, LedgerEntry)
    assert (first.stage, first.model, first.prompt_version, first.attempts, first.backend_s) == (
        "generate",
        "openai/gpt-x",
        "abc",
        2,
        1.2345,
    )
    assert [e.cached for e in entries] == [False, True, False, False]
    assert entries[2].cost_usd is None  # unpriced: never $0
    assert [e.reconciled for e in entries] == [False, False, False, True]
    assert "a_key_from_elsewhere" not in entries[2].model_dump()  # an unknown key is ignored
    assert read_ledger(tmp_path / "missing.jsonl") == []


def test_an_entry_is_written_as_the_line_a3_always_wrote(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    written = json.loads(OLD_LEDGER.splitlines()[0])
    ledger.record(LedgerEntry.model_validate(written))
    ledger.record(LedgerEntry.model_validate(written).model_copy(update={"reconciled": True}))
    first, second = path.read_text().splitlines()
    # the same keys in the same order, and "reconciled" only when true
    assert first == json.dumps(written, ensure_ascii=False)
    assert second == json.dumps({**written, "reconciled": True}, ensure_ascii=False)
    assert ledger.entries()[1].reconciled and not ledger.entries()[0].reconciled


def test_a_ledger_without_a_run_directory_keeps_typed_entries_in_memory():
    ledger = Ledger(None)
    ledger.record(LedgerEntry(key="k", model="m", cost_usd=0.5))
    assert ledger.entries() == [LedgerEntry(key="k", model="m", cost_usd=0.5)]
    assert ledger.totals().cost_usd == 0.5


def test_totals_count_paid_calls_and_cache_hits_apart(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(OLD_LEDGER)
    totals = Ledger(path).totals()
    assert isinstance(totals, UsageTotals)
    assert (totals.calls, totals.cache_hits, totals.unpriced_calls) == (3, 1, 1)  # a cache hit is no call
    assert (totals.input_tokens, totals.output_tokens) == (1050, 105)  # the paid calls' tokens only
    assert totals.cost_usd == pytest.approx(0.0127)
    per_model = totals.by_model["openai/gpt-x"]
    assert isinstance(per_model, ModelTotals) and per_model.cost_usd == pytest.approx(0.0127)
    assert (per_model.calls, per_model.cache_hits, per_model.input_tokens, per_model.output_tokens) == (2, 1, 1010, 101)
    assert totals.by_model["other/unpriced"].cost_usd == 0.0
    assert totals.money() == "$0.0127 + 1 unpriced calls"
    assert totals.summary() == "$0.0127 + 1 unpriced calls (3 calls, 1 cache hits)"
    judge = Ledger(path).totals(stage="judge")
    assert (judge.calls, judge.cache_hits, judge.unpriced_calls) == (2, 0, 1)


def test_totals_as_a_manifest_holds_them_and_back(tmp_path):
    totals = UsageTotals()
    totals.add(LedgerEntry(key="a", model="m", input_tokens=3, output_tokens=2, cost_usd=0.1234567891))
    totals.add(LedgerEntry(key="a", model="m", cached=True, cost_usd=0.0, attempts=0))
    data = totals.model_dump(mode="json")
    assert data == {
        "calls": 1,
        "cache_hits": 1,
        "input_tokens": 3,
        "output_tokens": 2,
        "cost_usd": 0.123457,  # rounded to 6 places, as manifests have always held it
        "unpriced_calls": 0,
        "by_model": {
            "m": {"calls": 1, "cache_hits": 1, "input_tokens": 3, "output_tokens": 2, "cost_usd": 0.1234567891}
        },
    }
    assert list(data) == [
        "calls",
        "cache_hits",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "unpriced_calls",
        "by_model",
    ]
    assert UsageTotals.model_validate(data).model_dump(mode="json") == data


def test_a_stage_manifest_s_usage_is_typed_and_written_in_the_old_shape(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.stage("generate", inputs={}):
        run.ledger.record(LedgerEntry(key="a", stage="generate", model="m", input_tokens=5, cost_usd=0.25))
        run.ledger.record(LedgerEntry(key="a", stage="generate", model="m", cached=True, cost_usd=0.0))
        run.ledger.record(LedgerEntry(key="b", stage="other", model="m", cost_usd=1.0))
    usage = run.manifest("generate").usage
    assert isinstance(usage, UsageTotals)
    assert (usage.calls, usage.cache_hits, usage.cost_usd, usage.input_tokens) == (1, 1, 0.25, 5)
    on_disk = json.loads((run.stages_dir / "generate.json").read_text())["usage"]
    assert on_disk == run.ledger.totals(stage="generate").model_dump(mode="json")


def test_manifests_written_before_the_usage_was_typed_still_read(tmp_path):
    run = RunDir(tmp_path / "run")
    run.stages_dir.mkdir(parents=True)
    common = {"input_hash": "h", "started_at": "2026-11-23T09:00:00+00:00", "inputs": {}, "attempts": 1}
    done_usage = {
        "calls": 4,
        "cache_hits": 2,
        "input_tokens": 4000,
        "output_tokens": 400,
        "cost_usd": 0.05,
        "unpriced_calls": 1,
        "by_model": {
            "openai/gpt-x": {"calls": 3, "cache_hits": 2, "input_tokens": 3000, "output_tokens": 300, "cost_usd": 0.05},
            "other/unpriced": {"calls": 1, "cache_hits": 0, "input_tokens": 1000, "output_tokens": 100, "cost_usd": 0},
        },
    }
    (run.stages_dir / "generate.json").write_text(
        json.dumps({"stage": "generate", "status": "done", "usage": done_usage, **common})
    )
    (run.stages_dir / "split.json").write_text(
        json.dumps({"stage": "split", "status": "running", "usage": {}, **common})
    )
    done, running = run.manifest("generate"), run.manifest("split")
    assert (done.usage.calls, done.usage.cache_hits, done.usage.unpriced_calls) == (4, 2, 1)
    assert done.usage.by_model["openai/gpt-x"].cache_hits == 2
    assert done.usage.model_dump(mode="json") == done_usage
    assert done.usage.money() == "$0.0500 + 1 unpriced calls"
    assert running.usage == UsageTotals()  # a stage still running wrote no totals yet
