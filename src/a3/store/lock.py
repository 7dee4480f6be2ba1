"""One writer per run directory: an operating-system file lock.

The first time a process is about to write into a run or work directory (a stage starts, a log
opens, a model client is made for it), it takes an exclusive ``flock`` on ``.a3.lock`` there and
keeps it until it exits. The operating system releases the lock when the holder dies, however it
dies, so a killed run never leaves a stale lock. A second process gets a one-line error naming
the holder (exit 2) instead of paying for every call twice and writing every record twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from a3.errors import UserInputError

LOCK_FILE = ".a3.lock"
_HELD: dict[Path, int] = {}  # directories this process holds, resolved -> the lock file's descriptor


class LockHolder(BaseModel):
    pid: int
    command: str
    since: str


class RunInUseError(UserInputError):
    """Another process is writing into the directory."""


def claim(folder: Path) -> None:
    """Hold ``folder`` for this process (a no-op if it already does); raise RunInUseError if another does."""
    key = folder.resolve()
    if key in _HELD:
        return
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(descriptor)
        os.close(descriptor)
        who = f"process {holder.pid} (`{holder.command}`, since {holder.since})" if holder else "another process"
        raise RunInUseError(
            f"{folder} is in use by {who}; wait for it to finish or stop it, then run this again"
        ) from None
    record = LockHolder(
        pid=os.getpid(),
        command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300],
        since=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, record.model_dump_json().encode("utf-8"), 0)
    _HELD[key] = descriptor


def holder(folder: Path) -> LockHolder | None:
    """The process writing into ``folder`` now, if any (for ``a3 status``)."""
    path = folder / LOCK_FILE
    if not path.exists():
        return None
    key = folder.resolve()
    if key in _HELD:
        return _read(_HELD[key])
    descriptor = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(descriptor)
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)


def release(folder: Path) -> None:
    """Give the directory back before the process ends (tests; a notebook done with a run)."""
    descriptor = _HELD.pop(folder.resolve(), None)
    if descriptor is not None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def release_all() -> None:
    for folder in list(_HELD):
        release(folder)


def _read(descriptor: int) -> LockHolder | None:
    try:
        return LockHolder.model_validate(json.loads(os.pread(descriptor, 4096, 0).decode("utf-8")))
    except (OSError, ValueError):
        return None
