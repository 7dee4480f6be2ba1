"""Running GEPA on the program: budget, progress, quiet output, resumption.

GEPA keeps its state in ``gepa_dir`` and saves it at the start of every iteration, so a run that
stops (a crash, Ctrl-C, the cost cap) resumes from the last iteration begun; the calls it had
made replay from the client's cache.

The budget is exact: GEPA makes exactly ``max_metric_calls`` metric calls. GEPA itself checks
its budget only before each iteration and lets the iteration run past it; our metric counts its
calls and refuses the first beyond the budget (``MetricBudgetSpent``), which ends GEPA's run
mid-iteration, and the result is that of the state GEPA saved when that iteration began (the
unfinished iteration's candidate, not scored on all of validation, is not among them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a3.align.compare.dspy.program import JudgeMetric, MetricBudgetSpent
from a3.progress import ProgressTask, no_library_bars

if TYPE_CHECKING:  # GEPA is installed with the DSPy extra
    from gepa.core.callbacks import BudgetUpdatedEvent, ValsetEvaluatedEvent


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

    def on_budget_updated(self, event: BudgetUpdatedEvent) -> None:
        used = event["metric_calls_used"]
        if used > self.shown:
            self.task.advance(used - self.shown)
            self.shown = used


class ResumedCount:
    """A GEPA callback: on a resumed run, once GEPA has scored its seed again (it does so before
    loading its saved state; the calls replay from the cache, and GEPA does not count them), the
    metric counts on from the calls the saved state had made."""

    def __init__(self, metric: JudgeMetric, saved_calls: int | None) -> None:
        self.metric, self.saved_calls = metric, saved_calls

    def on_valset_evaluated(self, event: ValsetEvaluatedEvent) -> None:
        if event["iteration"] == 0 and self.saved_calls is not None:
            self.metric.restart(self.saved_calls)


@dataclass(frozen=True)
class GepaOutcome:
    """GEPA's candidates (instructions), their validation scores, the best, and the metric calls made."""

    candidates: list[str]
    scores: list[float]
    metric_calls: int
    stopped_at_budget: bool  # the metric refused a call beyond the budget, mid-iteration
    best: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "best", max(range(len(self.scores)), key=lambda i: self.scores[i]))  # DSPy's best_idx


def run_gepa(
    program: Any,
    metric: JudgeMetric,
    task_lm: Any,
    reflection_lm: Any,
    trainset: list[Any],
    valset: list[Any],
    budget: Budget,
    gepa_dir: Path,
    seed: int,
    threads: int,
    task: ProgressTask,
) -> GepaOutcome:
    """GEPA's candidates, read from its saved state when it ends: at its own budget check or when
    the metric refuses a call beyond the budget. Blocks: run it in a worker thread."""
    import dspy
    from gepa.core.state import GEPAState

    gepa_dir.mkdir(parents=True, exist_ok=True)
    (gepa_dir / "gepa.stop").unlink(missing_ok=True)  # GEPA's stop file would end a resumed run at once
    saved = (gepa_dir / "gepa_state.bin").exists()
    saved_calls = GEPAState.load(str(gepa_dir)).total_num_evals if saved else None
    optimiser = dspy.GEPA(
        metric=metric,
        max_metric_calls=budget.metric_calls,
        reflection_lm=reflection_lm,
        num_threads=threads,
        log_dir=str(gepa_dir),
        track_stats=True,
        add_format_failure_as_feedback=True,
        seed=seed,
        gepa_kwargs={"callbacks": [BudgetProgress(task), ResumedCount(metric, saved_calls)]},
    )
    stopped = False
    with dspy.context(lm=task_lm), _quiet(gepa_dir / "gepa.log"):  # the program sets its own adapter per call
        try:
            optimiser.compile(program, trainset=trainset, valset=valset)
        except MetricBudgetSpent:
            metric.wait_idle()  # the calls made before the budget was spent finish
            stopped = True
    # DSPy's rollouts (its untyped Prediction objects) over data lists, which GEPA indexes by position.
    state: GEPAState[Any, int] = GEPAState.load(str(gepa_dir))
    candidates = [next(iter(candidate.values())) for candidate in state.program_candidates]
    return GepaOutcome(candidates, list(state.program_full_scores_val_set), metric.made, stopped)


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
