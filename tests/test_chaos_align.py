"""Stages 1-3 (generate, split, expected) SIGKILLed at random moments, several times, then resumed:
every artifact equals an uninterrupted run's (timestamps aside), nothing is lost or duplicated,
and the calls paid again are at most the calls in flight at each kill."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.chaos import clean_then_chaos
from tests.helpers.chaos_align_worker import CONCURRENCY

ROOT = Path(__file__).resolve().parent.parent
WORKER = [sys.executable, "-m", "tests.helpers.chaos_align_worker"]
ARTIFACTS = ("generation/hypotheses.jsonl", "generation/scenarios.jsonl", "generation/queries.jsonl", "generation/responses.jsonl",
             "generation/verdicts.jsonl", "generation/summary.json", "splits/split_assignment.json", "splits/training_split.json",
             "splits/validation_split.json", "splits/ood_split.json", "splits/baseline.json", "splits/sealed/test_split.json",
             "expected/expected_behaviors.json")
VOLATILE = {"generated_at", "started_at", "finished_at", "duration_s", "ts", "timestamp", "created_at", "elapsed_s", "backend_s", "wall_s"}


def _start(run: Path) -> subprocess.Popen:
    return subprocess.Popen([*WORKER, str(run)], cwd=ROOT, stderr=subprocess.DEVNULL)


def _stable(value):
    """The value without timestamps and durations, lists of records in a fixed order."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        items = [_stable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True)) if all(isinstance(v, dict) for v in items) else items
    return value


def _artifacts(run: Path) -> dict:
    found = {}
    for relative in ARTIFACTS:
        path = run / relative
        if relative.endswith(".jsonl"):
            records = [json.loads(line) for line in path.read_text().splitlines()]
            keys = Counter(r.get("id", json.dumps(r, sort_keys=True)) for r in records)
            assert max(keys.values()) == 1, f"{relative}: a record written twice"
            found[relative] = _stable(records)
        else:
            found[relative] = _stable(json.loads(path.read_text()))
    return found


@pytest.mark.slow
def test_stages_1_to_3_killed_at_random_moments_end_as_an_uninterrupted_run(tmp_path):
    clean = tmp_path / "clean"
    chaos = tmp_path / "chaos"
    clean_then_chaos(lambda run: _start(run), clean, chaos, seed=5, window=(1.5, 3.0),
                     concurrency=CONCURRENCY)  # imports take about 1.5 s; the whole run about 25 s

    clean_artifacts, chaos_artifacts = _artifacts(clean), _artifacts(chaos)
    for relative in ARTIFACTS:
        assert chaos_artifacts[relative] == clean_artifacts[relative], relative
