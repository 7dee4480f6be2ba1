"""Progress: rich bars on a terminal; plain lines at a steady pace when output goes to a log file
or a pipe (stage, done/total, rate, elapsed); nothing with --no-progress."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_enabled = True


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


def show_a3_messages() -> None:
    """A3's own notices (a model prepared once, a call retried) on stderr, one line each; other
    libraries' logs stay at their warnings."""
    logger = logging.getLogger("a3")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(
            console=Console(stderr=True),
            show_time=False,
            show_path=False,
            show_level=False,
            markup=False,
            rich_tracebacks=False,
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def progress_enabled(stream: object = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return _enabled and bool(isatty and isatty())


LOG_LINE_EVERY_S = 30.0  # a log shows every unfinished task at least this often, moving or not
PLAIN_WIDTH = 240  # tables printed to a log or pipe are not cut to 80 columns


def make_console(stderr: bool = False, soft_wrap: bool = False) -> Console:
    """A console that keeps the terminal's width on a terminal and prints tables whole elsewhere."""
    stream = sys.stderr if stderr else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return Console(stderr=stderr, soft_wrap=soft_wrap, width=None if isatty and isatty() else PLAIN_WIDTH)


def logs_progress(stream: object = None) -> bool:
    """Progress goes to a log as plain lines: enabled, and stderr is not a terminal."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return _enabled and not (isatty and isatty())


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
    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._id, amount)

    def add_total(self, amount: int) -> None:
        task = self._progress.tasks[self._progress.task_ids.index(self._id)]
        self._progress.update(self._id, total=(task.total or 0) + amount)


class LineProgress:
    """The API's Progress protocol as plain lines for a log: a line when a task starts, one every
    ``every`` seconds for each unfinished task (so a long training step still shows it is alive),
    and one when it finishes. Use as a context manager: the timer runs while it lasts."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        every: float = LOG_LINE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stderr
        self._every = every
        self._clock = clock
        self._started = clock()
        self._tasks: list[_LineTask] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def __enter__(self) -> LineProgress:
        self._timer = threading.Thread(target=self._tick, name="a3-progress-lines", daemon=True)
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()

    def task(self, description: str, total: int) -> _LineTask:
        task = _LineTask(self, description, total, self._clock())
        with self._lock:
            self._tasks.append(task)
        self.write(task.line("started"))
        return task

    def write(self, text: str) -> None:
        elapsed = int(self._clock() - self._started)
        self._stream.write(f"[{elapsed // 3600:d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}] {text}\n")
        self._stream.flush()

    def report(self) -> None:
        """One line for each unfinished task (the timer calls this every ``every`` seconds)."""
        with self._lock:
            running = [t for t in self._tasks if not t.finished]
        for task in running:
            self.write(task.line())

    def _tick(self) -> None:
        while not self._stop.wait(self._every):
            self.report()


class _LineTask:
    def __init__(self, progress: LineProgress, description: str, total: int, started: float) -> None:
        self._progress = progress
        self.description = description
        self.total = total
        self.done = 0
        self._started = started

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done >= self.total

    def advance(self, amount: int = 1) -> None:
        was = self.finished
        self.done += amount
        if self.finished and not was:
            self._progress.write(self.line("done"))

    def add_total(self, amount: int) -> None:
        self.total += amount

    def line(self, state: str = "") -> str:
        elapsed = self._progress._clock() - self._started
        rate = f", {self.done / elapsed:.2f}/s" if self.done and elapsed > 0 else ""
        tail = f" — {state}" if state else ""
        return f"{self.description}: {self.done}/{self.total}{rate}, {int(elapsed)} s{tail}"
