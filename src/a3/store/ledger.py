"""The cost ledger: one JSONL line per model call (tokens, USD, cache hit), kept in the run directory.

Lines are appended with a single ``O_APPEND`` write, so concurrent writers never interleave and a
kill leaves at most one torn line, which readers skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer


class LedgerEntry(BaseModel):
    """One line of the cost ledger: one model call, paid or answered from the call cache.

    The fields are the line's keys, in the order they are written; ``reconciled`` is written only
    when true (a paid call whose line was lost, put back from the call cache on resume). Keys this
    version does not know are ignored when a line is read."""

    model_config = ConfigDict(extra="ignore")

    ts: float = 0.0  # when the call ended (seconds since the epoch)
    key: str  # the call cache's key of the request
    stage: str | None = None  # the stage or ledger label the call was made under; None outside every one
    model: str
    prompt_version: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None: the model has no known price (an unpriced call)
    cached: bool = False  # the reply came from the call cache (or a call already in flight): nothing was paid
    attempts: int = 1  # the attempts the call took (0 for a cached reply)
    backend_s: float = 0.0  # seconds spent in the backend, all attempts together
    reconciled: bool = False

    def line(self) -> str:
        """The entry's JSON line (without its newline)."""
        return json.dumps(
            self.model_dump(exclude=None if self.reconciled else {"reconciled"}), ensure_ascii=False, default=str
        )


class ModelTotals(BaseModel):
    """One model's part of ``UsageTotals``: its paid calls, cache hits, tokens and dollars."""

    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class UsageTotals(BaseModel):
    """What ledger entries add up to: paid calls, cache hits, tokens and dollars, overall and per model.

    ``calls`` counts paid calls only (a reply from the cache is a cache hit, not a call), and so do
    the tokens and dollars. ``cost_usd`` adds the priced calls; calls to models without a known
    price are counted in ``unpriced_calls``, never folded into the dollars. A stage manifest's
    ``usage`` is one, written as ``model_dump(mode="json")`` gives it (dollars rounded to 6 places)."""

    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    by_model: dict[str, ModelTotals] = Field(default_factory=dict)

    @field_serializer("cost_usd")
    def _rounded(self, cost_usd: float) -> float:
        return round(cost_usd, 6)

    def add(self, entry: LedgerEntry) -> None:
        """Count one ledger entry."""
        per_model = self.by_model.setdefault(entry.model, ModelTotals())
        if entry.cached:
            self.cache_hits += 1
            per_model.cache_hits += 1
            return
        self.calls += 1
        per_model.calls += 1
        self.input_tokens += entry.input_tokens
        self.output_tokens += entry.output_tokens
        per_model.input_tokens += entry.input_tokens
        per_model.output_tokens += entry.output_tokens
        if entry.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += entry.cost_usd
            per_model.cost_usd += entry.cost_usd

    def money(self) -> str:
        """The cost for people: unpriced calls are named, never folded into the dollars."""
        return money_text(self.cost_usd, self.unpriced_calls)

    def summary(self) -> str:
        """The cost, paid calls and cache hits in one line."""
        return f"{self.money()} ({self.calls} calls, {self.cache_hits} cache hits)"


def money_text(cost_usd: float, unpriced_calls: int) -> str:
    """Dollars to 4 places, and the unpriced calls named when there are any."""
    text = f"${cost_usd:.4f}"
    return text + (f" + {unpriced_calls} unpriced calls" if unpriced_calls else "")


class Ledger:
    """A run's cost ledger (``ledger.jsonl``), or one kept in memory when there is no run directory."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: list[LedgerEntry] = []  # used when there is no run directory

    def record(self, entry: LedgerEntry) -> None:
        """Append one entry (one whole line, whatever the OS writes at a time)."""
        if self.path is None:
            self._memory.append(entry)
            return
        line = (entry.line() + "\n").encode("utf-8")
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

    def entries(self) -> list[LedgerEntry]:
        """Every entry, in the order they were recorded."""
        if self.path is None:
            return list(self._memory)
        return read_ledger(self.path)

    def totals(self, stage: str | None = None) -> UsageTotals:
        """The totals of every entry, or of those recorded under ``stage``."""
        totals = UsageTotals()
        for entry in self.entries():
            if stage is None or entry.stage == stage:
                totals.add(entry)
        return totals


def read_ledger(path: str | os.PathLike[str]) -> list[LedgerEntry]:
    """The entries of a ledger file; a line that is not a whole entry (a torn last line) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(LedgerEntry.model_validate_json(line))
        except ValidationError:
            continue  # a torn last line from a killed writer
    return entries
