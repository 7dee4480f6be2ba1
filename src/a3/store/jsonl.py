"""Append-only JSONL logs of typed records keyed by one field, safe against a kill at any instant.

A log holds the records of one pydantic model: each line is the record's JSON-mode dump
(``model_dump(mode="json")``, written with ``json.dumps(..., ensure_ascii=False)``), and a record
whose line has another shape says so through the model's own serializers. Lines are validated
once, when the log is opened; a complete line the model cannot read is named (file, line, field)
in a ``LogRecordError``.

Each record is written as one ``write()`` of a complete line followed by ``fsync``. A process
killed mid-write can leave at most one torn final line; opening the log drops it (truncating the
file back to the last complete line), so the log only ever holds whole records. Records carry a
key, and appending a key that is already present is refused, so a resumed run cannot duplicate
work it had finished. ``replace`` is the one way to change logged records: it rewrites the file
atomically (for records a later version completes, such as a verdict checked again), keeping the
lines of the records it does not replace byte for byte.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from a3.errors import A3Error, UserInputError
from a3.store.atomic import atomic_write_bytes

M = TypeVar("M", bound=BaseModel)


class DuplicateKeyError(A3Error, ValueError):
    """A record whose key the log already holds: a stage tried to write the same work twice."""


class LogRecordError(UserInputError):
    """A whole line of a log that its record model cannot read (written by another A3 version, or
    changed outside A3): the file, the line and the field are named."""


class JsonlLog(Generic[M]):
    """An append-only JSONL log of ``model`` records keyed by their field ``key``, safe to resume after a kill.

    Opening it drops a torn last line and validates every record once; each record is written whole
    and fsynced; a key already logged is refused (DuplicateKeyError), so no record is written twice."""

    def __init__(self, path: str | os.PathLike[str], model: type[M], key: str = "id") -> None:
        self.path = Path(path)
        self.model = model
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, M] = {}
        self._lines: dict[str, bytes] = {}  # each record's line as the file holds it
        self.dropped_torn_line = self._load()

    def _load(self) -> bool:
        if not self.path.exists():
            return False
        loaded, good_end, torn = _complete_records(self.path, self.path.read_bytes(), self.model, self.key)
        self._records = {key: record for key, (record, _) in loaded.items()}
        self._lines = {key: line for key, (_, line) in loaded.items()}
        if torn:
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())
        return torn

    def __contains__(self, key: object) -> bool:
        return str(key) in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[M]:
        return iter(list(self._records.values()))

    def __getitem__(self, key: object) -> M:
        """The record logged under ``key``; KeyError naming the log when there is none."""
        found = self._records.get(str(key))
        if found is None:
            raise KeyError(f"{self.path}: no record with {self.key}={str(key)!r}")
        return found

    def get(self, key: object) -> M | None:
        return self._records.get(str(key))

    def keys(self) -> list[str]:
        return list(self._records)

    def append(self, record: M) -> None:
        key, line = self._line(record)
        if key in self._records:
            raise DuplicateKeyError(f"{self.path}: a record with {self.key}={key!r} is already logged")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:  # os.write may write less than asked for
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        self._records[key] = record.model_copy(deep=True)  # as written, whatever the caller changes later
        self._lines[key] = line

    def replace(self, records: Iterable[M]) -> None:
        """Put ``records`` in place of the logged records with the same keys, in their places, by
        rewriting the whole file atomically: a reader or a kill sees the old log or the new one.
        The other records' lines are written back as they were."""
        new_records: dict[str, M] = {}
        new_lines: dict[str, bytes] = {}
        for record in records:
            key, line = self._line(record)
            new_records[key], new_lines[key] = record.model_copy(deep=True), line
        unknown = sorted(set(new_records) - set(self._records))
        if unknown:
            raise KeyError(f"{self.path}: no record with {self.key}={unknown[0]!r} to replace")
        if not new_records:
            return
        lines = {key: new_lines.get(key, line) for key, line in self._lines.items()}
        atomic_write_bytes(self.path, b"".join(lines.values()))
        self._records = {key: new_records.get(key, record) for key, record in self._records.items()}
        self._lines = lines

    def _line(self, record: M) -> tuple[str, bytes]:
        """The record's key and its line."""
        if not isinstance(record, self.model):
            raise TypeError(f"{self.path}: a log of {self.model.__name__} records, given {type(record).__name__}")
        data = record.model_dump(mode="json")
        return str(data[self.key]), (json.dumps(data, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def read_records(path: str | os.PathLike[str], model: type[M], key: str = "id") -> list[M]:
    """The whole records of a log, read only, as ``model`` records.

    A torn last line is skipped and the file left as it is
    (for readers such as the run report, which may look at a run that is still being written)."""
    path = Path(path)
    if not path.exists():
        return []
    return [record for record, _ in _complete_records(path, path.read_bytes(), model, key)[0].values()]


def _complete_records(path: Path, raw: bytes, model: type[M], key: str) -> tuple[dict[str, tuple[M, bytes]], int, bool]:
    """(records and their lines by key, the byte offset where the complete lines end, whether a torn line follows).

    The first record of a key is kept; a later line with the same key (never written by ``append``) is ignored."""
    records: dict[str, tuple[M, bytes]] = {}
    good_end = start = number = 0
    while start < len(raw):
        newline = raw.find(b"\n", start)
        if newline == -1:  # last line never got its newline: the writer died mid-line
            return records, good_end, True
        line = raw[start : newline + 1]
        number += 1
        if line.strip():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                return records, good_end, True
            if not isinstance(data, dict) or key not in data:
                raise LogRecordError(f"{path}, line {number}: not a record with a {key!r} field")
            found = str(data[key])
            if found not in records:
                records[found] = (_validated(path, number, model, data), line)
        good_end = start = newline + 1
    return records, good_end, False


def _validated(path: Path, number: int, model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(the record)"
        raise LogRecordError(
            f"{path}, line {number}: a record this A3 version cannot read as {model.__name__} "
            f"({where}: {first['msg']}); it was probably written by an older version: rerun the stage "
            "that wrote it, or report it with the version that wrote it"
        ) from None
