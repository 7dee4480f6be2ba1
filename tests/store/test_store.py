import os
from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from a3.store import (
    IDENTITY_WHEN_SET,
    RunDir,
    atomic_write_json,
    atomic_write_text,
    identity_dump,
    read_json,
    sha256_of,
)
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


class _Inner(BaseModel):
    kept: int = 1
    added: Annotated[int, IDENTITY_WHEN_SET] = 5


class _Outer(BaseModel):
    inner: _Inner = _Inner()
    later: Annotated[str | None, IDENTITY_WHEN_SET] = None
    listed: list[_Inner] = []
    keyed: dict[str, _Inner] = {}
    made: Annotated[list[int], IDENTITY_WHEN_SET] = Field(default_factory=list)


def test_a_setting_added_later_is_part_of_the_identity_only_when_set():
    assert identity_dump(_Outer()) == {
        "inner": {"kept": 1},
        "listed": [],
        "keyed": {},
    }  # what a run made before the two settings pinned
    assert identity_dump(_Outer(later="x", inner=_Inner(added=6))) == {
        "inner": {"kept": 1, "added": 6},
        "later": "x",
        "listed": [],
        "keyed": {},
    }
    assert sha256_of(identity_dump(_Outer())) != sha256_of(identity_dump(_Outer(later="x")))


def test_the_identity_rule_reaches_models_in_lists_and_dicts_and_defaults_made_by_factories():
    outer = _Outer(listed=[_Inner(), _Inner(added=7)], keyed={"a": _Inner()}, made=[])
    assert identity_dump(outer) == {
        "inner": {"kept": 1},
        "listed": [{"kept": 1}, {"kept": 1, "added": 7}],
        "keyed": {"a": {"kept": 1}},
    }
    assert identity_dump(_Outer(made=[1]))["made"] == [1]
