"""`a3 evaluate`: any model on the run's validation and OOD sets, comparable with the base target."""

import json

import pytest
from typer.testing import CliRunner

from a3.align.compare.any_model import EvaluateOptions, evaluate_any, sample_ood
from a3.align.split import load_split
from a3.cli.main import app
from a3.errors import UserInputError
from a3.report import collect
from a3.store import RunDir, read_json
from a3.testing import ScriptedClient
from a3.testing.scripted_world import TARGET, World
from tests.helpers.align_runs import make_config, run_all

FRONTIER = "scripted/frontier"


def script(world):
    def respond(messages, config):  # the "frontier" model behaves exactly like the target
        if config.model == FRONTIER:
            return world(messages, config.model_copy(update={"model": TARGET}))
        return world(messages, config)

    return respond


@pytest.fixture
async def prepared(tmp_path):
    config = make_config()
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(script(World(conversation=False)), run_dir=run)
    await run_all(config, run, client)
    return config, run, client


async def test_a_model_that_answers_like_the_target_gets_the_targets_rates(prepared):
    config, run, client = prepared
    result = await evaluate_any(config, run, client, EvaluateOptions(model=FRONTIER, ood_sample=None))
    baseline = read_json(run.path / "splits" / "baseline.json")
    for split in ("validation", "ood"):  # same queries, same judge: the same figures
        metrics = getattr(result, split)
        assert metrics.sfr == baseline[split]["sfr"] and metrics.fpr == baseline[split]["fpr"]
        assert metrics.harmful.judged > 0
    responses = [
        json.loads(line)
        for line in (run.path / "evaluations" / "scripted-frontier" / "responses.jsonl").read_text().splitlines()
    ]
    assert {r["model"] for r in responses} == {FRONTIER}

    calls = len((run.path / "ledger.jsonl").read_text().splitlines())
    again = await evaluate_any(config, run, client, EvaluateOptions(model=FRONTIER, ood_sample=None))
    assert again.validation == result.validation
    assert len((run.path / "ledger.jsonl").read_text().splitlines()) == calls  # resumed: nothing asked twice

    rows = [row for row in collect(run.path).comparison if row.method == "evaluated"]
    assert [row.name for row in rows] == [FRONTIER]


async def test_ood_is_subsampled_per_kind_with_a_seed_and_other_settings_are_refused(prepared):
    config, run, client = prepared
    ood = load_split(run, "ood")
    picked = sample_ood(ood, 1, seed=3)
    assert sorted(q.kind for q in picked) == ["benign", "harmful"]
    assert [q.id for q in picked] == [q.id for q in sample_ood(ood, 1, seed=3)]  # reproducible
    assert {q.id for s in range(10) for q in sample_ood(ood, 1, seed=s)} > {q.id for q in picked}  # the seed matters

    result = await evaluate_any(config, run, client, EvaluateOptions(model=FRONTIER, ood_sample=1, seed=3))
    assert result.queries["ood"] == [q.id for q in picked]
    assert len(result.queries["validation"]) == len(load_split(run, "validation"))  # validation is never subsampled
    with pytest.raises(UserInputError, match="other settings"):
        await evaluate_any(config, run, client, EvaluateOptions(model=FRONTIER, ood_sample=1, seed=4))
    other = await evaluate_any(
        config, run, client, EvaluateOptions(model=FRONTIER, ood_sample=1, seed=4, name="frontier seed 4")
    )
    assert other.name == "frontier seed 4"


def test_the_command_needs_a_split_run_and_a_model(tmp_path):
    runner = CliRunner()
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(make_config().model_dump(mode="json")))
    result = runner.invoke(
        app, ["--no-progress", "evaluate", str(config), "--run-dir", str(tmp_path / "run"), "--model", FRONTIER]
    )
    assert result.exit_code == 2 and "run `a3 split` first" in result.output
    result = runner.invoke(app, ["--no-progress", "evaluate", str(config), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--model or --adapter" in result.output
