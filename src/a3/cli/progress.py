"""Progress bars: rich on a terminal, silent when output is piped, in CI, or with --no-progress."""

from __future__ import annotations

import logging
import sys

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_enabled = True


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


def show_a3_messages() -> None:
    """A3's own notices (a model prepared once, a call retried) on stderr, one line each; other
    libraries' logs stay at their warnings."""
    logger = logging.getLogger("a3")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False, show_level=False,
                              markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def progress_enabled(stream: object = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return _enabled and bool(isatty and isatty())


def make_progress(console: Console | None = None) -> Progress:
    """A Progress that draws only when progress is enabled and stderr is a terminal."""
    console = console or Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress_enabled(console.file),
        transient=False,
    )


class RichProgress:
    """The API's Progress protocol drawn with rich (see ``a3.progress``)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def task(self, description: str, total: int) -> _RichTask:
        return _RichTask(self._progress, self._progress.add_task(description, total=total))


class _RichTask:
    def __init__(self, progress: Progress, task_id: int) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._id, amount)

    def add_total(self, amount: int) -> None:
        task = self._progress.tasks[self._progress.task_ids.index(self._id)]
        self._progress.update(self._id, total=(task.total or 0) + amount)
