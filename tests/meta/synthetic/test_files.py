"""Every refinement summary the synthetic writers write reads back through ``a3.meta.formats`` and
is written again byte for byte: the writers build the typed records, and nothing is lost on reading."""

import json

import pytest

from a3.meta.formats import RefinementSummary
from a3.meta.synthetic.planted import write_planted_runs
from a3.meta.synthetic.planted_hard import write_hard_planted_runs
from a3.meta.synthetic.sample_data import write_sample_data


@pytest.mark.parametrize(
    "write",
    [
        lambda root: write_sample_data(root, n_runs=60, seed=4).runs_dir,
        lambda root: write_planted_runs(root, runs=16, seed=1).runs_dir,
        lambda root: write_hard_planted_runs(root, runs=22, seed=1).runs_dir,
    ],
    ids=["sample", "planted", "planted_hard"],
)
def test_each_written_refinement_summary_reads_back_and_is_written_again_byte_for_byte(tmp_path, write):
    runs_dir = write(tmp_path)
    checked = 0
    for path in sorted(runs_dir.rglob("refinement_summary.json")):
        text = path.read_text(encoding="utf-8")
        if not text.startswith("{\n"):
            continue  # the sample's deliberately unreadable summary
        summary = RefinementSummary.model_validate(json.loads(text))
        assert json.dumps(summary.document(), indent=2) == text, path
        checked += 1
    assert checked > 10


def test_the_sample_has_judge_errors_and_successes_by_score_alone(tmp_path):
    info = write_sample_data(tmp_path, n_runs=60, seed=4)
    attempts = [
        attempt
        for path in info.runs_dir.rglob("refinement_summary.json")
        if path.read_text(encoding="utf-8").startswith("{\n")
        for attempt in RefinementSummary.model_validate_json(path.read_text(encoding="utf-8")).attempts
    ]
    assert any(a.trajectory_evaluation is not None and a.verdict is None for a in attempts)  # judge errors
    verdicts = [a.verdict for a in attempts if a.verdict is not None]
    assert any(v.recommendation == "REFINE" and v.behavior_elicitation_score >= 50 for v in verdicts)  # by score
