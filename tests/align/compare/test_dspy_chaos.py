"""The DSPy + GEPA defence SIGKILLed at random moments (with stages 1-3 before it), several times,
then resumed: the optimised prompt, the program, its results and verdicts equal an uninterrupted
run's, and the calls paid again are at most the calls in flight at each kill."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.chaos import clean_then_chaos, stable
from tests.helpers.chaos_dspy_worker import CONCURRENCY
from tests.paths import ROOT

WORKER = [sys.executable, "-m", "tests.helpers.chaos_dspy_worker"]


def _start(run: Path) -> subprocess.Popen:
    return subprocess.Popen([*WORKER, str(run)], cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def _artifacts(run: Path) -> dict:
    folder = next((run / "defences" / "dspy").iterdir())
    found = {}
    for name in ("optimized_prompt.json", "program.json", "results.json"):
        found[name] = stable(json.loads((folder / name).read_text().replace(str(run), "RUN")))
    rows = [json.loads(line) for line in (folder / "eval" / "verdicts.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows), "a verdict written twice"
    found["verdicts"] = stable(rows)
    return found


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("dspy") is None, reason="dspy is installed by scripts/setup.sh --full")
def test_the_dspy_defence_killed_at_random_moments_ends_as_an_uninterrupted_run(tmp_path):
    clean = tmp_path / "clean"
    chaos = tmp_path / "chaos"
    # GEPA's last iteration is cut when the exact budget runs out; the target calls its worker threads
    # already had in flight then are paid or not by timing, in the clean run as in the chaos run.
    clean_then_chaos(
        lambda run: _start(run),
        clean,
        chaos,
        seed=13,
        window=(2.0, 3.5),
        concurrency=CONCURRENCY,
        timing_slack=CONCURRENCY,
    )  # imports take about 2 s; the whole run about 11 s

    assert _artifacts(chaos) == _artifacts(clean)
