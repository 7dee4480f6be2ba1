"""Stages 1-3 (generate, split, expected) SIGKILLed at random moments, several times, then resumed:
every artifact equals an uninterrupted run's (timestamps aside), nothing is lost or duplicated,
and the calls paid again are at most the calls in flight at each kill."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from tests.helpers.chaos import clean_then_chaos, stable
from tests.helpers.chaos_align_worker import CONCURRENCY
from tests.paths import ROOT

WORKER = [sys.executable, "-m", "tests.helpers.chaos_align_worker"]
ARTIFACTS = (
    "generation/hypotheses.jsonl",
    "generation/scenarios.jsonl",
    "generation/queries.jsonl",
    "generation/responses.jsonl",
    "generation/verdicts.jsonl",
    "generation/summary.json",
    "splits/split_assignment.json",
    "splits/training_split.json",
    "splits/validation_split.json",
    "splits/ood_split.json",
    "splits/baseline.json",
    "splits/sealed/test_split.json",
    "expected/expected_behaviors.json",
)


def _start(run: Path) -> subprocess.Popen:
    return subprocess.Popen([*WORKER, str(run)], cwd=ROOT, stderr=subprocess.DEVNULL)


def _artifacts(run: Path) -> dict:
    found = {}
    for relative in ARTIFACTS:
        path = run / relative
        if relative.endswith(".jsonl"):
            records = [json.loads(line) for line in path.read_text().splitlines()]
            keys = Counter(r.get("id", json.dumps(r, sort_keys=True)) for r in records)
            assert max(keys.values()) == 1, f"{relative}: a record written twice"
            found[relative] = stable(records)
        else:
            found[relative] = stable(json.loads(path.read_text()))
    return found


@pytest.mark.slow
def test_stages_1_to_3_killed_at_random_moments_end_as_an_uninterrupted_run(tmp_path):
    clean = tmp_path / "clean"
    chaos = tmp_path / "chaos"
    clean_then_chaos(
        lambda run: _start(run), clean, chaos, seed=5, window=(1.5, 3.0), concurrency=CONCURRENCY
    )  # imports take about 1.5 s; the whole run about 25 s

    clean_artifacts, chaos_artifacts = _artifacts(clean), _artifacts(chaos)
    for relative in ARTIFACTS:
        assert chaos_artifacts[relative] == clean_artifacts[relative], relative
    # The inspect log, rewritten from the records on each resume, holds every verdict once.
    log = read_eval_log(str(chaos / "generation" / "transcripts.eval"))
    assert log.status == "success" and sorted(s.id for s in log.samples) == sorted(
        r["id"] for r in chaos_artifacts["generation/verdicts.jsonl"]
    )
