"""Running GEPA on the program: budget, progress, quiet output, resumption.

GEPA keeps its state in ``gepa_dir`` and saves it at the start of every iteration, so a run that
stops (a crash, Ctrl-C, the cost cap) resumes from the last iteration begun; the calls it had
made replay from the client's cache.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3.progress import ProgressTask, no_library_bars


@dataclass(frozen=True)
class Budget:
    auto: str | None  # light, medium, heavy; None when an exact number of calls was asked for
    metric_calls: int


def budget_for(auto: str, max_metric_calls: int | None, valset_size: int) -> Budget:
    """GEPA's own budget for ``auto`` (one predictor to optimise), or the exact number given."""
    import dspy
    from dspy.teleprompt.gepa.gepa import AUTO_RUN_SETTINGS

    if max_metric_calls is not None:
        return Budget(None, max_metric_calls)
    sizing = dspy.GEPA(metric=lambda gold, pred, trace, pred_name, pred_trace: 0.0, auto=auto, reflection_lm=object())
    calls = sizing.auto_budget(num_preds=1, num_candidates=AUTO_RUN_SETTINGS[auto]["n"], valset_size=valset_size)
    return Budget(auto, calls)


class BudgetProgress:
    """A GEPA callback that moves a progress bar as metric calls are spent."""

    def __init__(self, task: ProgressTask) -> None:
        self.task = task
        self.shown = 0

    def on_budget_updated(self, event: dict[str, Any]) -> None:
        used = event["metric_calls_used"]
        if used > self.shown:
            self.task.advance(used - self.shown)
            self.shown = used


def run_gepa(program: Any, metric: Any, task_lm: Any, reflection_lm: Any, trainset: list[Any], valset: list[Any],
             budget: Budget, gepa_dir: Path, seed: int, threads: int, task: ProgressTask) -> Any:
    """The optimised program (with ``detailed_results``). Blocks: run it in a worker thread."""
    import dspy

    gepa_dir.mkdir(parents=True, exist_ok=True)
    (gepa_dir / "gepa.stop").unlink(missing_ok=True)  # GEPA's stop file would end a resumed run at once
    optimiser = dspy.GEPA(
        metric=metric, max_metric_calls=budget.metric_calls, reflection_lm=reflection_lm, num_threads=threads,
        log_dir=str(gepa_dir), track_stats=True, add_format_failure_as_feedback=True, seed=seed,
        gepa_kwargs={"callbacks": [BudgetProgress(task)]},
    )
    with dspy.context(lm=task_lm), _quiet(gepa_dir / "gepa.log"):
        return optimiser.compile(program, trainset=trainset, valset=valset)


@contextmanager
def _quiet(log_file: Path) -> Iterator[None]:
    """DSPy's and GEPA's log lines go to ``log_file`` and their tqdm bars are not drawn, so they
    do not break through the CLI's progress display. Process-wide while it lasts: nothing else
    runs in the process meanwhile."""
    from dspy.utils.logging_utils import DSPY_LOGGING_STREAM

    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in ("dspy", "gepa")]
    for logger in loggers:
        logger.addHandler(handler)
    stream_was_enabled = DSPY_LOGGING_STREAM.enabled
    DSPY_LOGGING_STREAM.enabled = False
    try:
        with no_library_bars():
            yield
    finally:
        DSPY_LOGGING_STREAM.enabled = stream_was_enabled
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()
