"""JsonlLog and read_records: typed records, written as the same JSON lines as ever, safe against a kill."""

import json
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer, model_validator

from a3.store import JsonlLog, RunDir, read_records
from a3.store.jsonl import DuplicateKeyError, LogRecordError


class Item(BaseModel):
    id: int
    v: str = ""


class Note(BaseModel):
    """Counts its validations, to show a log validates each line once, when it is opened."""

    id: str
    text: str
    tags: list[str] = []
    score: float | None = None

    validations: ClassVar[int] = 0

    @model_validator(mode="after")
    def _count(self) -> "Note":
        Note.validations += 1
        return self


class Keyed(BaseModel):
    """A record written in another key order than its fields, as some of A3's logs are."""

    name: str
    n: int
    key: str

    @model_serializer(mode="wrap")
    def _key_first(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        return {"key": data.pop("key"), **data}


def test_records_are_models_in_and_out_and_survive_reopening(tmp_path):
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path, Item)
    log.append(Item(id=1, v="a"))
    log.append(Item(id=2, v="b"))
    reopened = JsonlLog(path, Item)
    assert list(reopened) == [Item(id=1, v="a"), Item(id=2, v="b")]
    assert all(type(r) is Item for r in reopened)
    assert reopened.get(2) == reopened[2] == Item(id=2, v="b") and reopened.get("2") == Item(id=2, v="b")
    assert reopened.get(3) is None and 1 in reopened and 3 not in reopened and len(reopened) == 2
    with pytest.raises(KeyError, match="no record with id='3'"):
        reopened[3]
    assert read_records(path, Item) == [Item(id=1, v="a"), Item(id=2, v="b")]


def test_each_line_is_the_models_json_dump_as_json_dumps_writes_it(tmp_path):
    """The bytes on disk: ``json.dumps(record.model_dump(mode="json"), ensure_ascii=False)`` and a newline,
    as the logs held when they were written from dicts."""
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path, Note)
    log.append(Note(id="é", text="naïve “quotes” ✓", tags=["a", "b"], score=0.125))
    log.append(Note(id="x", text="line\nbreak"))
    assert (
        path.read_bytes()
        == (
            '{"id": "é", "text": "naïve “quotes” ✓", "tags": ["a", "b"], "score": 0.125}\n'
            '{"id": "x", "text": "line\\nbreak", "tags": [], "score": null}\n'
        ).encode()
    )
    keyed = JsonlLog(tmp_path / "keyed.jsonl", Keyed, key="key")
    keyed.append(Keyed(name="n", n=1, key="k1"))
    assert (tmp_path / "keyed.jsonl").read_text() == '{"key": "k1", "name": "n", "n": 1}\n'
    assert JsonlLog(tmp_path / "keyed.jsonl", Keyed, key="key")["k1"] == Keyed(name="n", n=1, key="k1")


def test_a_log_validates_its_lines_once_when_it_is_opened(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "text": "t"}) + "\n" for i in range(3)))
    Note.validations = 0
    log = JsonlLog(path, Note)
    assert Note.validations == 3
    assert [n.id for n in log] == ["0", "1", "2"] and log["1"].text == "t" and log.get("2") is not None
    log.append(Note(id="3", text="u"))
    assert Note.validations == 4  # the one it was built with: appending, iterating and getting validate nothing


def test_a_line_the_model_cannot_read_is_named_with_its_file_line_and_field(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": 1, "v": "a"}\n{"id": "two", "v": "b"}\n')
    for read in (lambda: JsonlLog(path, Item), lambda: read_records(path, Item)):
        with pytest.raises(LogRecordError, match=r"log\.jsonl, line 2: .* as Item \(id: .*older version") as caught:
            read()
        assert caught.value.exit_code == 2
    path.write_text('{"v": "a"}\n')
    with pytest.raises(LogRecordError, match="line 1: not a record with a 'id' field"):
        JsonlLog(path, Item)


def test_a_log_takes_records_of_its_model_only(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl", Item)
    with pytest.raises(TypeError, match="a log of Item records, given dict"):
        log.append({"id": 1})  # type: ignore[arg-type]
    assert not (tmp_path / "log.jsonl").exists()


def test_a_record_changed_after_it_was_logged_stays_as_it_was_written(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl", Note)
    note = Note(id="a", text="as written", tags=["x"])
    log.append(note)
    note.text = "changed later"
    note.tags.append("y")
    assert log["a"] == Note(id="a", text="as written", tags=["x"]) == JsonlLog(tmp_path / "log.jsonl", Note)["a"]


def test_jsonl_drops_torn_last_line_and_keeps_whole_records(tmp_path):
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path, Item)
    log.append(Item(id=1, v="a"))
    log.append(Item(id=2, v="b"))
    with open(path, "ab") as handle:
        handle.write(b'{"id": 3, "v": "half')  # a writer killed mid-line
    reopened = JsonlLog(path, Item)
    assert reopened.dropped_torn_line
    assert reopened.keys() == ["1", "2"]
    reopened.append(Item(id=3, v="c"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]


def test_jsonl_refuses_duplicate_keys(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl", Item)
    log.append(Item(id=1))
    with pytest.raises(DuplicateKeyError):
        log.append(Item(id=1, v="again"))
    assert len(JsonlLog(tmp_path / "log.jsonl", Item)) == 1


def test_jsonl_replace_rewrites_records_in_place_atomically(tmp_path):
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path, Item)
    for key in (1, 2, 3):
        log.append(Item(id=key, v="old"))
    log.replace([Item(id=2, v="new")])
    assert [r.v for r in log] == ["old", "new", "old"] and log.get(2) == Item(id=2, v="new")
    assert [r.v for r in JsonlLog(path, Item)] == ["old", "new", "old"] and len(
        path.read_text().splitlines()
    ) == 3  # once, in its place
    with pytest.raises(KeyError, match="no record with id='9'"):
        log.replace([Item(id=9)])
    log.append(Item(id=4))  # still an append-only log
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"] and len(JsonlLog(path, Item)) == 4


def test_replace_writes_the_other_records_back_byte_for_byte(tmp_path):
    """A line an older version wrote (fields missing, another spacing) is kept as it is when another
    record is replaced: only the replaced record's line is written anew."""
    path = tmp_path / "log.jsonl"
    old = b'{"id":"a","text":"old format"}\n{"id": "b", "text": "t", "tags": [], "score": null}\n'
    path.write_bytes(old)
    log = JsonlLog(path, Note)
    assert log["a"] == Note(id="a", text="old format")  # read with the defaults of its missing fields
    log.replace([Note(id="b", text="checked", score=1.5)])
    assert path.read_bytes() == (
        b'{"id":"a","text":"old format"}\n{"id": "b", "text": "checked", "tags": [], "score": 1.5}\n'
    )
    assert list(JsonlLog(path, Note)) == [Note(id="a", text="old format"), Note(id="b", text="checked", score=1.5)]


def test_reading_a_log_skips_a_torn_line_and_leaves_the_file_as_it_is(tmp_path):
    path = tmp_path / "log.jsonl"
    raw = b'{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n{"id": 3, "v'
    path.write_bytes(raw)
    assert read_records(path, Item) == [Item(id=1, v="a"), Item(id=2, v="b")]
    assert path.read_bytes() == raw  # a reader never truncates (JsonlLog, the writer, does)
    assert read_records(tmp_path / "missing.jsonl", Item) == []


def test_a_run_directory_opens_its_logs_typed(tmp_path):
    run = RunDir(tmp_path / "run")
    log = run.log("sub/items.jsonl", Item)
    log.append(Item(id=7, v="x"))
    assert run.log("sub/items.jsonl", Item)[7] == Item(id=7, v="x")
    keyed = run.log("keyed.jsonl", Keyed, key="key")
    keyed.append(Keyed(name="n", n=2, key="k"))
    assert "k" in run.log("keyed.jsonl", Keyed, key="key")
