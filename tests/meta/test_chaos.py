"""Every meta-analysis step SIGKILLed at random moments, several times, then resumed: the final
artifacts equal those of an uninterrupted run, nothing is lost or duplicated, and the calls paid
again are at most the calls in flight at each kill."""

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from a3.meta.synthetic.sample_data import write_sample_data
from tests.helpers.chaos import clean_then_chaos
from tests.helpers.chaos_meta_worker import CONCURRENCY
from tests.paths import ROOT

WORKER = [sys.executable, "-m", "tests.helpers.chaos_meta_worker"]


def _start(work: Path, tree: Path, method: str) -> subprocess.Popen:
    return subprocess.Popen([*WORKER, str(work), str(tree), method], cwd=ROOT, stderr=subprocess.DEVNULL)


def _artifacts(work: Path) -> dict:
    """What the analysis produced, without timestamps, file names that carry them, or call counts."""
    records = [json.loads(line) for line in (work / "summaries.jsonl").read_text().splitlines()]
    per_run = Counter(r["run_id"] for r in records)
    assert max(per_run.values()) == 1, "a run summarised twice"
    result = json.loads((work / "categorization" / "result.json").read_text())
    categorization = json.loads((work / result["path"]).read_text())
    clusters = json.loads(Path(json.loads((work / "clusters_result.json").read_text())["path"]).read_text())
    report = next(
        iter(sorted(work.rglob("cluster_report_*.md"), key=lambda p: p.stat().st_mtime, reverse=True))
    ).read_text()
    return {
        "summaries": {r["run_id"]: r["summary"] for r in records},
        "categories": [
            (c["category_name"], c["definition"], sorted((e["run_id"], e["trigger_phrase"]) for e in c["examples"]))
            for c in categorization["categorization"]["categories"]
        ],
        "unassigned": sorted((u["run_id"], u["reason"]) for u in categorization["categorization"]["unassigned"]),
        "clusters": [
            (c["cluster_name"], sorted(m["category_id"] for m in c["member_categories"])) for c in clusters["clusters"]
        ],
        "report": re.sub(r"Generated [^`]*`[^`]*` and `[^`]*`", "", report),
    }


@pytest.mark.slow
@pytest.mark.parametrize("method", ["llm", "embed"])
def test_meta_run_killed_at_random_moments_ends_as_an_uninterrupted_run(tmp_path, method):
    sample = write_sample_data(tmp_path / "data", n_runs=120, seed=9)
    clean = tmp_path / "clean"
    chaos = tmp_path / "chaos"
    clean_then_chaos(
        lambda run: _start(run, sample.runs_dir, method),
        clean,
        chaos,
        seed=11,
        window=(1.2, 2.5),
        concurrency=CONCURRENCY,
    )  # imports take about a second; a whole run about 8 s

    assert _artifacts(chaos) == _artifacts(clean)
