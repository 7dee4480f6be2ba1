"""The content-addressed call cache: one row per model reply, keyed by the hash of the request.

It lives in the run directory (SQLite in WAL mode, one committed transaction per reply), so a
resumed or repeated run replays earlier replies instead of paying for them again.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

from a3.errors import RunEnvironmentError
from a3.llm.backends import BackendReply
from a3.store.ledger import LedgerEntry


class CallCache:
    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: dict[str, BackendReply] = {}
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._open()
            except sqlite3.Error as exc:
                raise RunEnvironmentError(
                    f"{self.path}: cannot open the call cache ({exc}); check that the folder is writable "
                    "and the disk has space"
                ) from None

    def _open(self) -> None:
        assert self.path is not None
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a process kill in WAL mode
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
        # The ledger entry of every paid reply, committed with it: the ledger can be rebuilt from here
        # if its own write was lost (a kill between the two writes, a full disk).
        self._db.execute("CREATE TABLE IF NOT EXISTS paid (key TEXT PRIMARY KEY, entry TEXT NOT NULL)")

    def get(self, key: str) -> BackendReply | None:
        """The reply stored under ``key``, or None."""
        if self._db is None:
            return self._memory.get(key)
        row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return BackendReply(**json.loads(row[0])) if row else None

    def put(self, key: str, reply: BackendReply, paid: LedgerEntry | None = None) -> None:
        """Store a reply, and with a paid one its ledger entry, in one transaction."""
        if self._db is None:
            self._memory[key] = reply
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)",
                (key, json.dumps(dataclasses.asdict(reply))),
            )
            if paid is not None:
                self._db.execute("INSERT OR REPLACE INTO paid (key, entry) VALUES (?, ?)", (key, paid.line()))

    def paid_entries(self) -> dict[str, LedgerEntry]:
        """The ledger entries of the paid replies, by cache key."""
        if self._db is None:
            return {}
        return {
            key: LedgerEntry.model_validate_json(entry)
            for key, entry in self._db.execute("SELECT key, entry FROM paid")
        }

    def __len__(self) -> int:
        if self._db is None:
            return len(self._memory)
        count: int = self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
        return count

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
