"""Append-only JSONL logs keyed by record id, safe against a kill at any instant.

Each record is written as one ``write()`` of a complete line followed by ``fsync``. A process
killed mid-write can leave at most one torn final line; opening the log drops it (truncating the
file back to the last complete line), so the log only ever holds whole records. Records carry a
key, and appending a key that is already present is refused, so a resumed run cannot duplicate
work it had finished. ``replace`` is the one way to change logged records: it rewrites the file
atomically (for records a later version completes, such as a verdict checked again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from a3.errors import A3Error
from a3.store.atomic import atomic_write_bytes


class DuplicateKeyError(A3Error, ValueError):
    """A record whose key the log already holds: a stage tried to write the same work twice."""


class JsonlLog:
    """An append-only JSONL log of records keyed by one field, safe to resume after a kill.

    Opening it drops a torn last line; each record is written whole and fsynced; a key already logged
    is refused (DuplicateKeyError), so no record is written twice."""

    def __init__(self, path: str | os.PathLike[str], key: str = "id") -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, dict[str, Any]] = {}
        self.dropped_torn_line = self._load()

    def _load(self) -> bool:
        if not self.path.exists():
            return False
        self._records, good_end, torn = _complete_records(self.path.read_bytes(), self.key)
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

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._records.values()))

    def get(self, key: object) -> dict[str, Any] | None:
        return self._records.get(str(key))

    def keys(self) -> list[str]:
        return list(self._records)

    def append(self, record: dict[str, Any]) -> None:
        key = str(record[self.key])
        if key in self._records:
            raise DuplicateKeyError(f"{self.path}: a record with {self.key}={key!r} is already logged")
        line = _line(record).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:  # os.write may write less than asked for
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        self._records[key] = record

    def replace(self, records: Iterable[dict[str, Any]]) -> None:
        """Put ``records`` in place of the logged records with the same keys, in their places, by
        rewriting the whole file atomically: a reader or a kill sees the old log or the new one."""
        updates = {str(record[self.key]): record for record in records}
        unknown = sorted(set(updates) - set(self._records))
        if unknown:
            raise KeyError(f"{self.path}: no record with {self.key}={unknown[0]!r} to replace")
        if not updates:
            return
        merged = {key: updates.get(key, record) for key, record in self._records.items()}
        atomic_write_bytes(self.path, "".join(_line(record) for record in merged.values()).encode("utf-8"))
        self._records = merged


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def read_records(path: str | os.PathLike[str], key: str = "id") -> list[dict[str, Any]]:
    """The whole records of a log, read only.

    A torn last line is skipped and the file left as it is
    (for readers such as the run report, which may look at a run that is still being written)."""
    path = Path(path)
    return list(_complete_records(path.read_bytes(), key)[0].values()) if path.exists() else []


def _complete_records(raw: bytes, key: str) -> tuple[dict[str, dict[str, Any]], int, bool]:
    """(records by key, the byte offset where the complete lines end, whether a torn line follows)."""
    records: dict[str, dict[str, Any]] = {}
    good_end = start = 0
    while start < len(raw):
        newline = raw.find(b"\n", start)
        if newline == -1:  # last line never got its newline: the writer died mid-line
            return records, good_end, True
        line = raw[start:newline]
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                return records, good_end, True
            records.setdefault(str(record[key]), record)
        good_end = start = newline + 1
    return records, good_end, False
