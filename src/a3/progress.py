"""Progress reporting from the Python API, drawn by whoever calls it (the CLI uses rich)."""

from __future__ import annotations

from typing import Protocol


class ProgressTask(Protocol):
    def advance(self, amount: int = 1) -> None: ...

    def add_total(self, amount: int) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int) -> ProgressTask: ...


class _SilentTask:
    def advance(self, amount: int = 1) -> None:
        pass

    def add_total(self, amount: int) -> None:
        pass


class SilentProgress:
    """The default: report nothing."""

    def task(self, description: str, total: int) -> ProgressTask:
        return _SilentTask()
