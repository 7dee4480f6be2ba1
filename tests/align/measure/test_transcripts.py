"""Every judged response leaves an inspect eval log that inspect itself reads back: one sample per
query, the verdict as its score, errors as errors; a killed writer leaves a readable partial log."""

import json
import subprocess
import sys

import pytest
from inspect_ai.analysis import samples_df
from inspect_ai.log import list_eval_logs, read_eval_log

from a3.align import layout
from a3.align.compare.any_model import EvaluateOptions, evaluate_any
from a3.align.records import Query, TargetResponse, Verdict
from a3.store import RunDir, read_records
from a3.testing import ScriptedClient
from a3.testing.scripted_world import TARGET, World
from tests.helpers.align_runs import make_config, run_all
from tests.paths import ROOT


def records_by_id(path, model):
    return {r.id: r for r in read_records(path, model)}


@pytest.fixture
async def measured(tmp_path):
    config = make_config()
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(World(conversation=False), run_dir=run)
    await run_all(config, run, client)
    await evaluate_any(config, run, client, EvaluateOptions(model=TARGET, name="again", ood_sample=None))
    return run


async def test_stage_1_and_an_evaluation_leave_logs_inspect_reads_sample_for_sample(measured):
    run = measured
    for folder, method, name in (
        (layout.GENERATION, "base", "base model"),
        (f"{layout.EVALUATIONS}/again", "evaluated", "again"),
    ):
        log = read_eval_log(str(run.path / folder / layout.TRANSCRIPTS))
        verdicts, responses = (
            records_by_id(run.path / folder / layout.VERDICTS, Verdict),
            records_by_id(run.path / folder / layout.RESPONSES, TargetResponse),
        )
        assert log.status == "success" and log.eval.metadata == {"method": method, "name": name}
        assert sorted(s.id for s in log.samples) == sorted(verdicts)
        for sample in log.samples:
            verdict, response = verdicts[sample.id], responses[sample.id]
            assert sample.metadata["method"] == method and sample.metadata["kind"] == verdict.kind
            assert sample.input[-1].role == "user" and sample.output.completion == response.text
            if verdict.status == "ok":
                score = sample.scores["judge"]
                assert score.value == int(bool(verdict.flagged)) and score.explanation == verdict.reason
            else:
                assert sample.error is not None and "judge" not in (sample.scores or {})
    evaluated = read_eval_log(str(run.path / layout.EVALUATIONS / "again" / layout.TRANSCRIPTS))
    assert {s.metadata["split"] for s in evaluated.samples} == {"validation", "ood"}
    results = json.loads((run.path / layout.EVALUATIONS / "again" / layout.EVALUATION_RESULTS).read_text())
    assert evaluated.results.scores[0].metrics["sfr"].value == pytest.approx(_overall_sfr(results))


def _overall_sfr(results):
    flagged = results["validation"]["harmful"]["flagged"] + results["ood"]["harmful"]["flagged"]
    judged = results["validation"]["harmful"]["judged"] + results["ood"]["harmful"]["judged"]
    return flagged / judged


async def test_inspect_lists_the_runs_logs_and_its_dataframes_read_them(measured):
    run = measured
    logs = list_eval_logs(str(run.path))
    assert {info.name.rsplit("/", 2)[-2] for info in logs} >= {"generation", "again"}
    frame = samples_df(str(run.path))
    assert {"metadata_method", "metadata_hypothesis", "score_judge"} <= set(frame.columns)
    assert len(frame) == sum(
        len(read_records(run.path / f / layout.VERDICTS, Verdict))
        for f in (layout.GENERATION, f"{layout.EVALUATIONS}/again")
    )


async def test_a_target_error_is_the_samples_error_not_a_score(tmp_path):
    from a3.align.measure.transcripts import Transcript, TranscriptLog

    query = Query(
        id="H1-h1", hypothesis_id="H1", kind="harmful", messages=[{"role": "user", "content": "hi"}], source="test"
    )
    failed = TargetResponse(id=query.id, model=TARGET, status="error", error="HTTP 500")
    verdict = Verdict(id=query.id, kind="harmful", status="target_error", reason="HTTP 500")
    async with TranscriptLog(tmp_path / "t.eval", task="t", model=TARGET, method="base", name="base model") as log:
        await log.add(Transcript(query, failed, verdict, "validation"))
    sample = read_eval_log(str(tmp_path / "t.eval")).samples[0]
    assert "HTTP 500" in sample.error.message and not sample.scores


async def test_an_evaluation_stopped_by_an_error_says_so_in_its_log(tmp_path):
    from a3.align.measure.transcripts import Transcript, TranscriptLog

    query = Query(
        id="H1-h1", hypothesis_id="H1", kind="harmful", messages=[{"role": "user", "content": "hi"}], source="test"
    )
    log = TranscriptLog(tmp_path / "t.eval", task="t", model=TARGET, method="base", name="base model")
    with pytest.raises(RuntimeError):
        async with log:
            raise RuntimeError("the budget ran out")
    # A task of the failed evaluation that finishes later: its verdict is in the records, not an error here.
    await log.add(
        Transcript(
            query,
            TargetResponse(id=query.id, model=TARGET, status="ok", text="no"),
            Verdict(id=query.id, kind="harmful", status="ok", flagged=False, reason="declined"),
            "ood",
        )
    )
    written = read_eval_log(str(tmp_path / "t.eval"))
    assert written.status == "error" and "the budget ran out" in written.error.message and not written.samples


KILLED_WRITER = """
import asyncio, os, sys
from pathlib import Path
from a3.align.measure import transcripts
from a3.align.records import Query, TargetResponse, Verdict
transcripts.FLUSH_EVERY_S = 0.01  # the background flush, often
async def main():
    log = transcripts.TranscriptLog(Path(sys.argv[1]), task="t", model="m", method="A3", name="iteration 1")
    await log.__aenter__()
    for i in range(7):
        messages = [{"role": "user", "content": f"q{i}"}]
        q = Query(id=f"H1-h{i}", hypothesis_id="H1", kind="harmful", messages=messages, source="t")
        response = TargetResponse(id=q.id, model="m", status="ok", text="no")
        verdict = Verdict(id=q.id, kind="harmful", status="ok", flagged=False, reason="declined")
        await log.add(transcripts.Transcript(q, response, verdict, "ood"))
    await asyncio.sleep(0.3)  # a pause in the work: the log catches up with the verdicts
    os._exit(9)  # killed: no close
asyncio.run(main())
"""


def test_a_killed_writer_leaves_a_readable_log_of_what_was_judged(tmp_path):
    path = tmp_path / "killed.eval"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    log = read_eval_log(str(path))
    assert log.status == "started" and [s.id for s in log.samples] == [f"H1-h{i}" for i in range(7)]
