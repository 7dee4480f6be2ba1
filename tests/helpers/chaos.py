"""The kill tests' common step: start a worker, SIGKILL it after a random pause, again and again."""

import json
import os
import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path


def kill_repeatedly(
    start: Callable[[], subprocess.Popen], seed: int, window: tuple[float, float], attempts: int = 20
) -> int:
    """Start the worker and kill it after a pause drawn from ``window`` (seconds), until it finishes
    on its own or ``attempts`` run out; the number of kills. Short windows keep each attempt's
    progress small, so the kills land all through the work rather than only at its start."""
    rng = random.Random(seed)
    kills = 0
    for _ in range(attempts):
        process = start()
        try:
            process.wait(timeout=rng.uniform(*window))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        else:
            break
    return kills


def billed(respond, run_path: str):
    """``respond``, with one line appended to RUN/paid_calls.log per call: what a provider would bill."""
    paid_log = os.path.join(run_path, "paid_calls.log")

    def answer(messages, config):
        fd = os.open(paid_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"call\n")
        os.close(fd)
        return respond(messages, config)

    return answer


def paid_calls(run_path) -> int:
    return (Path(run_path) / "paid_calls.log").read_text().count("\n")


def clean_then_chaos(
    start: Callable[[Path], subprocess.Popen],
    clean: Path,
    chaos: Path,
    seed: int,
    window: tuple[float, float],
    concurrency: int,
    timing_slack: int = 0,
) -> None:
    """An uninterrupted run into ``clean``; into ``chaos``, the same run killed again and again, then
    finished. Checks the kills were real and that no more calls were paid again than were in flight
    at the kills; the caller compares the artifacts. ``timing_slack``: how many calls a run's own
    count may vary by from one uninterrupted run to the next (calls already in flight when a budget
    runs out are paid or not depending on thread timing), so the chaos run may also pay fewer."""
    assert start(clean).wait(timeout=600) == 0
    kills = kill_repeatedly(lambda: start(chaos), seed=seed, window=window)
    assert kills >= 3, "the run finished before it could be killed; the test proves nothing"
    assert start(chaos).wait(timeout=600) == 0
    repaid = paid_calls(chaos) - paid_calls(clean)
    assert -timing_slack <= repaid <= kills * concurrency + timing_slack, (
        f"{repaid} calls paid again over {kills} kills"
    )


# Fields that differ between two runs of the same work: times and durations.
_VOLATILE = {
    "generated_at",
    "started_at",
    "finished_at",
    "duration_s",
    "ts",
    "timestamp",
    "created_at",
    "elapsed_s",
    "backend_s",
    "wall_s",
}


def stable(value):
    """The value without timestamps and durations, lists of records in a fixed order."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        items = [stable(v) for v in value]
        return (
            sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
            if all(isinstance(v, dict) for v in items)
            else items
        )
    return value
