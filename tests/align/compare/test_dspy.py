"""`a3 defend dspy`: DSPy + GEPA offline, every model scripted, litellm not installed."""

import asyncio
import importlib.util
import json
import sys

import pytest
from typer.testing import CliRunner

from a3.align.compare.dspy import DspyOptions, defend_dspy
from a3.align.compare.dspy.program import training_sample
from a3.cli.main import app
from a3.errors import UserInputError
from a3.llm import BudgetExceededError, PriceTable
from a3.report import collect
from a3.report.render import markdown
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.scripted_world import GENERATOR, JUDGE, TARGET
from tests.helpers.align_runs import make_config, run_all
from tests.helpers.dspy_world import BUDGET, RULE, DspyWorld


@pytest.fixture
async def prepared(tmp_path):
    config = make_config()
    run = RunDir(tmp_path / "run")
    world = DspyWorld()
    await run_all(config, run, ScriptedClient(world, run_dir=run))
    return config, run, world


def uncached_calls(run):
    return sum(1 for line in (run.path / "ledger.jsonl").read_text().splitlines() if not json.loads(line)["cached"])


async def test_gepa_learns_the_judges_lesson_and_the_saved_prompt_is_measured_everywhere(prepared):
    config, run, world = prepared
    client = ScriptedClient(world, run_dir=run)
    earlier = len(run.ledger.entries())
    results = await defend_dspy(config, run, client, DspyOptions(max_metric_calls=BUDGET, max_train_samples=6))

    assert importlib.util.find_spec("litellm") is None and "litellm" not in sys.modules
    baseline = json.loads((run.path / "splits" / "baseline.json").read_text())
    assert baseline["validation"]["sfr"] > 0
    assert results.instructions == RULE and results.train_queries == 6
    assert results.validation.sfr == 0 and results.validation.fpr == 0
    assert results.ood.harmful.judged > 0 and results.test.harmful.judged > 0
    assert results.ood.sfr == 0 and results.test.sfr == 0 and results.unparsed_responses == 0
    assert 0 < results.metric_calls <= BUDGET + 10  # GEPA may finish the iteration it is in

    folder = run.path / "defences" / "dspy" / "calls40-train6"
    prompt = json.loads((folder / "optimized_prompt.json").read_text())
    assert prompt["candidates"][0]["validation_score"] < prompt["candidates"][prompt["best_candidate"]]["validation_score"] == 1.0
    assert RULE in prompt["system_message"] and (folder / "gepa" / "gepa_state.bin").exists()
    # The reflection model saw the judge's verdicts and the expected replies of stage 3 as feedback.
    shown = world.reflection_prompts[0][-1].content
    assert "Unsafe: the reply gave in" in shown and "EXPECTED: a firm, safe reply" in shown
    # The final evaluation sent the optimised instructions; the judge saw the bare response, never DSPy's fields.
    assert RULE in world.target_systems[-1]
    assert world.judge_texts and not any("[[ ##" in text for text in world.judge_texts)
    ledger = run.ledger.entries()[earlier:]  # GEPA's calls from DSPy's threads and the final evaluation alike
    assert {e["stage"] for e in ledger} == {"defend-dspy"} and {e["model"] for e in ledger} == {TARGET, JUDGE, GENERATOR}
    data = collect(run.path)
    row = next(r for r in data.comparison if r.method == "DSPy")
    assert row.validation.sfr == 0 and row.test.sfr == 0
    assert [d.result.instructions for d in data.dspy] == [RULE]
    assert "## Prompt defences" in markdown(data) and RULE in markdown(data)

    before = uncached_calls(run)
    again = await defend_dspy(config, run, ScriptedClient(world, run_dir=run), DspyOptions(max_metric_calls=BUDGET, max_train_samples=6))
    assert uncached_calls(run) == before and again.validation == results.validation
    with pytest.raises(UserInputError, match="other settings"):
        await defend_dspy(config, run, client, DspyOptions(max_metric_calls=BUDGET + 1, max_train_samples=6, name="calls40-train6"))


async def test_the_cost_cap_ends_the_search_instead_of_scoring_failures_and_a_rerun_resumes(prepared):
    config, run, world = prepared
    prices = PriceTable({model: (1.0, 1.0) for model in (TARGET, JUDGE, GENERATOR)})
    spent = run.ledger.totals().cost_usd
    capped = ScriptedClient(world, run_dir=run, prices=prices, max_cost=spent + 0.012)
    with pytest.raises(BudgetExceededError):
        await defend_dspy(config, run, capped, DspyOptions(max_metric_calls=BUDGET, max_train_samples=6))
    folder = run.path / "defences" / "dspy" / "calls40-train6"
    assert (folder / "gepa" / "gepa_state.bin").exists() and not (folder / "program.json").exists()

    resumed = await defend_dspy(config, run, ScriptedClient(world, run_dir=run, prices=prices),
                                DspyOptions(max_metric_calls=BUDGET, max_train_samples=6))
    assert resumed.instructions == RULE and resumed.validation.sfr == 0
    assert any(json.loads(line)["cached"] for line in (run.path / "ledger.jsonl").read_text().splitlines()
               if json.loads(line)["stage"] == "defend-dspy")  # calls made before the stop were replayed


def test_a_small_training_sample_keeps_both_kinds_and_follows_the_seed():
    from a3.align.records import Query

    queries = [Query(id=f"H1-{k[0]}{i}", hypothesis_id="H1", kind=k, source="train", messages=[{"role": "user", "content": "x"}])
               for k in ("harmful", "benign") for i in range(10)]
    sample = training_sample(queries, 4, seed=0)
    assert [q.kind for q in sample] == ["harmful", "benign", "harmful", "benign"]
    assert sample == training_sample(queries, 4, seed=0) and sample != training_sample(queries, 4, seed=1)
    assert training_sample(queries, None, seed=0) == queries


def test_cli_runs_the_defence_and_refuses_a_clashing_name(prepared, tmp_path, monkeypatch):
    config, run, world = prepared
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.setattr("a3.align.runs.client_for", lambda cfg, run, **kw: ScriptedClient(world, run_dir=run))
    args = ["--no-progress", "defend", "dspy", str(path), "--run-dir", str(run.path), "--max-train-samples", "4"]
    result = CliRunner().invoke(app, [*args, "--max-metric-calls", "20"])
    assert result.exit_code == 0, result.output
    assert "DSPy defence" in result.output and "Hold firm" in result.output
    clash = CliRunner().invoke(app, [*args, "--max-metric-calls", "30", "--name", "calls20-train4"])
    assert clash.exit_code == 2 and "other settings" in clash.output


def test_auto_budgets_are_gepas_own_and_an_exact_budget_overrides_them():
    from a3.align.compare.dspy.optimise import Budget, budget_for

    # GEPA's formula for one predictor, 6 candidates (light) and 6 validation queries: 6 + 30 + 10 x 35 + 3 x 6.
    assert budget_for("light", None, 6) == Budget("light", 404)
    assert budget_for("heavy", None, 6).metric_calls > budget_for("medium", None, 6).metric_calls > 404
    assert budget_for("heavy", 25, 6) == Budget(None, 25)


async def test_bad_auto_and_missing_dspy_are_clear_errors(prepared, tmp_path, monkeypatch):
    config, run, world = prepared
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    result = CliRunner().invoke(app, ["--no-progress", "defend", "dspy", str(path), "--run-dir", str(run.path), "--auto", "huge"])
    assert result.exit_code == 2 and "light, medium, heavy" in result.output
    monkeypatch.setitem(sys.modules, "dspy", None)  # as if DSPy were not installed
    with pytest.raises(UserInputError, match="setup.sh --full"):
        await defend_dspy(config, run, ScriptedClient(world, run_dir=run), DspyOptions(max_metric_calls=5))
    assert not (run.path / "defences" / "dspy").exists()  # refused before anything was written


async def test_a_cancelled_search_stops_calling_models_and_a_rerun_finishes_it(prepared):
    config, run, world = prepared
    slow = ScriptedClient(world, run_dir=run, latency=0.1)
    options = DspyOptions(max_metric_calls=BUDGET, max_train_samples=6)
    search = asyncio.ensure_future(defend_dspy(config, run, slow, options))
    while sum(e["stage"] == "defend-dspy" for e in run.ledger.entries()) < 10:
        await asyncio.sleep(0.02)
    search.cancel()  # what Ctrl-C does to the CLI's task
    with pytest.raises(asyncio.CancelledError):
        await search
    await asyncio.sleep(0.3)  # calls already handed to the loop finish
    settled = len(slow.calls)
    await asyncio.sleep(1.0)  # DSPy's threads would go on calling models through this live loop if not stopped
    assert len(slow.calls) == settled
    resumed = await defend_dspy(config, run, ScriptedClient(world, run_dir=run), options)
    assert resumed.instructions == RULE and resumed.validation.sfr == 0
