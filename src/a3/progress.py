"""Progress reporting from the Python API, drawn by whoever calls it (the CLI uses rich)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


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


def hide_checkpointing_deprecation() -> None:
    """Hide the FutureWarning transformers raises when trl or peft read its deprecated
    ``is_gradient_checkpointing``: nothing a user can act on, and printed through the CLI's
    display (once per iteration before). Process-wide."""
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


@contextmanager
def no_library_bars() -> Iterator[None]:
    """tqdm bars of the libraries A3 calls (transformers' GGUF conversion, DSPy, GEPA) are not
    drawn while this lasts: they would break through the CLI's own display. Process-wide."""
    import tqdm

    draw = tqdm.tqdm.__init__

    def undrawn(self: Any, *args: Any, **kwargs: Any) -> None:
        draw(self, *args, **{**kwargs, "disable": True})

    tqdm.tqdm.__init__ = undrawn
    try:
        yield
    finally:
        tqdm.tqdm.__init__ = draw
