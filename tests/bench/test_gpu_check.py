"""The prepared GPU check, run as its dry run (the same code on the CPU with tiny shapes), so it is
ready whenever a GPU is lent: every part runs, the two training recipes see the same tokens, the
packed (padding-free) loss equals the padded one, and the trainer's job file trains the same in
process and under accelerate."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.scripts import load_script
from tests.paths import ROOT


def load_check():
    return load_script(ROOT / "bench" / "gpu_check.py")


@pytest.mark.slow
def test_the_dry_run_runs_every_part_and_writes_its_figures(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] and json.loads(done.stdout) == report  # printed as written

    throughput = report["throughput"]
    assert throughput["original"]["tokens"] == throughput["candidate"]["tokens"] > 0  # the same examples, every token
    assert throughput["speedup"] > 0 and throughput["goal_speedup"] == 1.5
    assert throughput["loss_packed_vs_padded"]["relative_difference"] < 1e-4  # float32: packing changes no loss

    job = report["job"]
    assert job["in_process"]["device"] == job["accelerate"]["device"] == "cpu"
    assert job["in_process"]["train_loss"] == pytest.approx(job["accelerate"]["train_loss"], rel=1e-5)
    assert job["in_process"]["reply"] == job["accelerate"]["reply"]  # each adapter reloaded and generating

    for how in ("unmerged", "merged"):
        assert (
            report["eval"][how]["prompts_per_s"] > 0
            and report["eval"][how]["new_tokens"] == report["plan"]["new_tokens"]
        )


def test_packing_keeps_attention_within_each_example():
    """The exactness check can fail: positions that run on across examples let attention cross them."""
    torch = pytest.importorskip("torch")
    check = load_check()
    model = check.lora_model(check.random_model(check.TINY, "cpu"))
    data = check.synthetic_examples(check.DRY, seed=3)[:4]
    assert check.packed_vs_padded_loss(model, data, "cpu")["relative_difference"] < 1e-4

    inputs = check.packed_inputs(data, "cpu")
    inputs["position_ids"] = torch.arange(inputs["input_ids"].shape[1]).unsqueeze(0)  # one long sequence
    with torch.no_grad():
        crossed = model(**inputs).loss.item()
    assert abs(crossed - check.packed_vs_padded_loss(model, data, "cpu")["padded"]) > 1e-3


def test_packed_micro_batches_keep_every_example_once_within_the_budget():
    check = load_check()
    data = check.synthetic_examples(check.DRY, seed=1)
    batches = check.packed_batches(data, check.DRY.token_budget)
    assert [example for batch in batches for example in batch] == data
    assert all(sum(len(ids) for ids, _ in batch) <= check.DRY.token_budget or len(batch) == 1 for batch in batches)
