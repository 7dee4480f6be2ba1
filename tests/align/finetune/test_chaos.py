"""On-policy general data, stage 4 (training, evaluation, selection, the sealed test) and the
in-context defence SIGKILLed at random moments, several times, then resumed: the general data, the
iteration records, the adapters and every verdict equal an uninterrupted run's, and the calls paid
again are at most the calls in flight at each kill."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from a3.testing.tiny_model import build_tiny_model
from tests.helpers.chaos import clean_then_chaos, stable
from tests.helpers.chaos_finetune_worker import CONCURRENCY
from tests.paths import ROOT

WORKER = [sys.executable, "-m", "tests.helpers.chaos_finetune_worker"]
VOLATILE = {"train_s", "tokens_per_s", "train_tokens_per_s", "peak_memory_mb", "eval_s", "seconds", "wall_s"}


def _start(run: Path, tiny: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*WORKER, str(run), str(tiny)], cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )


def _drop(value):
    if isinstance(value, dict):
        return {k: _drop(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_drop(v) for v in value]
    return value


def _artifacts(run: Path) -> dict:
    folder = run / "finetune"

    def read(path: Path):  # the run's own path is the one difference two runs may have in their records
        return json.loads(path.read_text().replace(str(run), "RUN"))

    records = [
        json.loads(line) for line in (folder / "iterations.jsonl").read_text().replace(str(run), "RUN").splitlines()
    ]
    assert [r["iteration"] for r in records] == [1, 2], "every iteration exactly once"
    verdicts = {}
    for path in sorted([*folder.rglob("verdicts.jsonl"), *(run / "defences").rglob("verdicts.jsonl")]):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert len({r["id"] for r in rows}) == len(rows), f"{path}: a verdict written twice"
        verdicts[str(path.relative_to(run))] = stable(rows)
    return {
        "iterations": _drop(stable(records)),
        "summary": _drop(stable(read(folder / "summary.json"))),
        "adapters": {
            str(p.relative_to(run)): p.read_bytes() for p in sorted(folder.rglob("adapter_model.safetensors"))
        },
        "general": stable(read(run / "general" / "general_responses.json")),
        "icl": _drop(
            stable(
                [
                    json.loads(line)
                    for line in (run / "defences" / "icl" / "random-trial1" / "iterations.jsonl")
                    .read_text()
                    .replace(str(run), "RUN")
                    .splitlines()
                ]
            )
        ),
        "verdicts": verdicts,
    }


@pytest.mark.slow
def test_finetuning_killed_at_random_moments_ends_as_an_uninterrupted_run(tmp_path):
    tiny = build_tiny_model(tmp_path / "tiny")
    clean = tmp_path / "clean" / "run"
    chaos = tmp_path / "chaos" / "run"
    clean_then_chaos(
        lambda run: _start(run, tiny), clean, chaos, seed=3, window=(2.5, 4.5), concurrency=CONCURRENCY
    )  # imports take about 2.5 s; the whole run about 15 s

    clean_artifacts, chaos_artifacts = _artifacts(clean), _artifacts(chaos)
    assert chaos_artifacts["adapters"].keys() == clean_artifacts["adapters"].keys()
    for name in clean_artifacts["adapters"]:
        assert chaos_artifacts["adapters"][name] == clean_artifacts["adapters"][name], f"{name}: retrained differently"
    assert chaos_artifacts["verdicts"] == clean_artifacts["verdicts"]
    assert chaos_artifacts["iterations"] == clean_artifacts["iterations"]
    assert chaos_artifacts["summary"] == clean_artifacts["summary"]
    assert chaos_artifacts["general"] == clean_artifacts["general"] and chaos_artifacts["icl"] == clean_artifacts["icl"]
