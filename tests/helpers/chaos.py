"""The kill tests' common step: start a worker, SIGKILL it after a random pause, again and again."""

import random
import signal
import subprocess
from collections.abc import Callable


def kill_repeatedly(start: Callable[[], subprocess.Popen], seed: int, window: tuple[float, float], attempts: int = 20) -> int:
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
