"""A stage SIGKILLed at random moments, then resumed, loses and duplicates nothing."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from a3.store import RunDir
from tests.paths import ROOT

N_ITEMS = 400
CONCURRENCY = 8
WORKER = [sys.executable, "-m", "tests.helpers.kill_worker"]


def _start(run_path):
    return subprocess.Popen([*WORKER, str(run_path), str(N_ITEMS)], cwd=ROOT)


def test_sigkill_at_random_points_then_resume_loses_and_duplicates_nothing(tmp_path):
    run_path = tmp_path / "run"
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        process = _start(run_path)
        time.sleep(rng.uniform(0.3, 0.9))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= 4, "the worker finished before it could be killed; the test proves nothing"

    final = _start(run_path)
    assert final.wait(timeout=120) == 0

    lines = (run_path / "items.jsonl").read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert sorted(ids) == list(range(N_ITEMS)), "every item exactly once"
    for line in lines:
        record = json.loads(line)
        assert record["text"] == f"answer to item {record['id']}"

    manifest = RunDir(run_path).manifest("work")
    assert manifest.status == "done"
    assert manifest.attempts >= 2
    assert json.loads((run_path / "summary.json").read_text()) == {"items": N_ITEMS}

    # A call is paid twice only if the process died between the provider's reply and the cache
    # write: at most the calls in flight at each kill.
    paid = Counter((run_path / "paid_calls.log").read_text().splitlines())
    assert set(paid) == {f"item {i}" for i in range(N_ITEMS)}
    repeated = sum(count - 1 for count in paid.values())
    assert repeated <= kills * CONCURRENCY
    # The ledger records every reply the process received; only replies in flight at a kill
    # (billed by the provider, never received) are missing from it.
    total_paid = sum(paid.values())
    assert total_paid - kills * CONCURRENCY <= manifest.usage.calls <= total_paid


def test_resume_of_finished_stage_makes_no_calls(tmp_path):
    run_path = tmp_path / "run"
    assert _start(run_path).wait(timeout=120) == 0
    before = (run_path / "paid_calls.log").read_text()
    assert _start(run_path).wait(timeout=120) == 0
    assert (run_path / "paid_calls.log").read_text() == before
    assert os.path.getsize(run_path / "items.jsonl") > 0
