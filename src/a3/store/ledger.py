"""The cost ledger: one JSONL line per model call (tokens, USD, cache hit), kept in the run directory.

Lines are appended with a single ``O_APPEND`` write, so concurrent writers never interleave and a
kill leaves at most one torn line, which readers skip.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class UsageTotals:
    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        model = record.get("model", "?")
        per_model = self.by_model.setdefault(
            model, {"calls": 0, "cache_hits": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
        )
        if record.get("cached"):
            self.cache_hits += 1
            per_model["cache_hits"] += 1
            return
        self.calls += 1
        per_model["calls"] += 1
        for name in ("input_tokens", "output_tokens"):
            value = int(record.get(name) or 0)
            setattr(self, name, getattr(self, name) + value)
            per_model[name] += value
        cost = record.get("cost_usd")
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += cost
            per_model["cost_usd"] += cost

    def money(self) -> str:
        """The cost for people: unpriced calls are named, never folded into the dollars."""
        return money_text(self.cost_usd, self.unpriced_calls)

    def summary(self) -> str:
        return f"{self.money()} ({self.calls} calls, {self.cache_hits} cache hits)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "unpriced_calls": self.unpriced_calls,
            "by_model": self.by_model,
        }


def money_text(cost_usd: float, unpriced_calls: int) -> str:
    text = f"${cost_usd:.4f}"
    return text + (f" + {unpriced_calls} unpriced calls" if unpriced_calls else "")


class Ledger:
    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: list[dict[str, Any]] = []  # used when there is no run directory

    def record(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            self._memory.append(entry)
            return
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # end a line torn by an earlier failed write, so this one stays whole
            view = memoryview(line)
            while view:  # os.write may write less than asked for
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        if self.path is None:
            return list(self._memory)
        return read_ledger(self.path)

    def totals(self, stage: str | None = None) -> UsageTotals:
        totals = UsageTotals()
        for entry in self.entries():
            if stage is None or entry.get("stage") == stage:
                totals.add(entry)
        return totals


def read_ledger(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line from a killed writer
    return entries
