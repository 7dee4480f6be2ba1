import json
import os

import pytest

from a3.store import JsonlLog, RunDir, atomic_write_json, atomic_write_text, read_json
from a3.store.jsonl import DuplicateKeyError
from a3.store.run import current_stage


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert read_json(target) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_jsonl_drops_torn_last_line_and_keeps_whole_records(tmp_path):
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path)
    log.append({"id": 1, "v": "a"})
    log.append({"id": 2, "v": "b"})
    with open(path, "ab") as handle:
        handle.write(b'{"id": 3, "v": "half')  # a writer killed mid-line
    reopened = JsonlLog(path)
    assert reopened.dropped_torn_line
    assert reopened.keys() == ["1", "2"]
    reopened.append({"id": 3, "v": "c"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]


def test_jsonl_refuses_duplicate_keys(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    log.append({"id": "x"})
    with pytest.raises(DuplicateKeyError):
        log.append({"id": "x"})
    assert len(JsonlLog(tmp_path / "log.jsonl")) == 1


def test_jsonl_replace_rewrites_records_in_place_atomically(tmp_path):
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path)
    for key in "abc":
        log.append({"id": key, "v": 1})
    log.replace([{"id": "b", "v": 2}])
    assert [r["v"] for r in log] == [1, 2, 1] and log.get("b") == {"id": "b", "v": 2}
    assert [r["v"] for r in JsonlLog(path)] == [1, 2, 1] and len(
        path.read_text().splitlines()
    ) == 3  # once, in its place
    with pytest.raises(KeyError, match="no record with id='z'"):
        log.replace([{"id": "z"}])
    log.append({"id": "d"})  # still an append-only log
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"] and len(JsonlLog(path)) == 4


def test_stage_skips_when_done_with_same_inputs_and_reruns_when_inputs_change(tmp_path):
    run = RunDir(tmp_path / "run")
    bodies = []
    for inputs in ({"n": 1}, {"n": 1}, {"n": 2}):
        with run.stage("gen", inputs=inputs, prompt_versions={"p": "abc"}) as stage:
            if not stage.skipped:
                bodies.append(inputs["n"])
                atomic_write_text(run.path / "out.txt", str(inputs["n"]))
                stage.add_output("out.txt")
    assert bodies == [1, 2]
    manifest = run.manifest("gen")
    assert manifest.status == "done"
    assert manifest.prompt_versions == {"p": "abc"}
    assert set(manifest.outputs) == {"out.txt"}


def test_failed_stage_is_recorded_and_retried_with_attempt_count(tmp_path):
    run = RunDir(tmp_path / "run")
    with pytest.raises(RuntimeError):
        with run.stage("judge", inputs={"x": 1}):
            raise RuntimeError("provider down")
    failed = run.manifest("judge")
    assert failed.status == "failed" and "provider down" in failed.error
    with run.stage("judge", inputs={"x": 1}) as stage:
        assert not stage.skipped
    assert run.manifest("judge").status == "done"
    assert run.manifest("judge").attempts == 2


def test_stage_sets_current_stage_for_cost_attribution(tmp_path):
    run = RunDir(tmp_path / "run")
    assert current_stage.get() is None
    with run.stage("summarize", inputs={}):
        assert current_stage.get() == "summarize"
    assert current_stage.get() is None


def test_reading_a_log_skips_a_torn_line_and_leaves_the_file_as_it_is(tmp_path):
    from a3.store import read_records

    path = tmp_path / "log.jsonl"
    raw = b'{"id": "a", "n": 1}\n{"id": "b", "n": 2}\n{"id": "c", "n'
    path.write_bytes(raw)
    assert [r["id"] for r in read_records(path)] == ["a", "b"]
    assert path.read_bytes() == raw  # a reader never truncates (JsonlLog, the writer, does)
    assert read_records(tmp_path / "missing.jsonl") == []
