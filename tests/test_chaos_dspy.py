"""The DSPy + GEPA defence SIGKILLed at random moments (with stages 1-3 before it), several times,
then resumed: the optimised prompt, the program, its results and verdicts equal an uninterrupted
run's, and the calls paid again are at most the calls in flight at each kill."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.chaos import kill_repeatedly
from tests.helpers.chaos_dspy_worker import CONCURRENCY
from tests.test_chaos_align import _stable

ROOT = Path(__file__).resolve().parent.parent
WORKER = [sys.executable, "-m", "tests.helpers.chaos_dspy_worker"]


def _start(run: Path) -> subprocess.Popen:
    return subprocess.Popen([*WORKER, str(run)], cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def _artifacts(run: Path) -> dict:
    folder = next((run / "defences" / "dspy").iterdir())
    found = {}
    for name in ("optimized_prompt.json", "program.json", "results.json"):
        found[name] = _stable(json.loads((folder / name).read_text().replace(str(run), "RUN")))
    rows = [json.loads(line) for line in (folder / "eval" / "verdicts.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows), "a verdict written twice"
    found["verdicts"] = _stable(rows)
    return found


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("dspy") is None, reason="dspy is installed by scripts/setup.sh --full")
def test_the_dspy_defence_killed_at_random_moments_ends_as_an_uninterrupted_run(tmp_path):
    clean = tmp_path / "clean"
    assert _start(clean).wait(timeout=600) == 0
    paid_clean = (clean / "paid_calls.log").read_text().count("\n")

    chaos = tmp_path / "chaos"
    kills = kill_repeatedly(lambda: _start(chaos), seed=13, window=(2.0, 3.5))  # imports take about 2 s; the whole run about 11 s
    assert kills >= 3, "the run finished before it could be killed; the test proves nothing"
    assert _start(chaos).wait(timeout=600) == 0

    assert _artifacts(chaos) == _artifacts(clean)
    repaid = (chaos / "paid_calls.log").read_text().count("\n") - paid_clean
    assert 0 <= repaid <= kills * CONCURRENCY
