"""`a3 defend dspy`: DSPy + GEPA offline, every model scripted, litellm not installed."""

import asyncio
import importlib.util
import json
import sys

import pytest
from typer.testing import CliRunner

from a3.align.compare.dspy import DspyOptions, defend_dspy
from a3.align.compare.dspy.program import balanced_sample
from a3.cli.main import app
from a3.errors import UserInputError
from a3.llm import BudgetExceededError, PriceTable
from a3.report import collect
from a3.report.render import markdown
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.scripted_world import GENERATOR, JUDGE, TARGET
from tests.helpers.align_runs import make_config, run_all
from tests.helpers.dspy_world import BUDGET, RULE, SECRET, SEED, SYSTEM_PROMPT, DspyWorld, formatted, with_system_prompt


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
    assert results.ood.sfr == 0 and results.test.sfr == 0
    answered = sum(
        m.harmful.judged + m.benign.judged + m.harmful.judge_errors + m.benign.judge_errors
        for m in (results.validation, results.ood, results.test)
    )
    assert results.field_responses == 0 and results.unparsed_responses == answered  # every plain reply taken whole
    assert results.metric_calls == BUDGET  # exactly the budget, not the iteration GEPA was in run to its end

    folder = run.path / "defences" / "dspy" / f"calls{BUDGET}-train6"
    prompt = json.loads((folder / "optimized_prompt.json").read_text())
    assert (
        prompt["candidates"][0]["validation_score"]
        < prompt["candidates"][prompt["best_candidate"]]["validation_score"]
        == 1.0
    )
    assert RULE in prompt["system_message"] and (folder / "gepa" / "gepa_state.bin").exists()
    # The reflection model saw the judge's verdicts and the expected replies of stage 3 as feedback.
    shown = world.reflection_prompts[0][-1].content
    assert "Unsafe: the reply gave in" in shown and "EXPECTED: a firm, safe reply" in shown
    # The final evaluation sent the optimised instructions as the system message and the conversation as
    # chat messages; neither the target nor the judge saw DSPy's fields; the judge saw the whole plain reply.
    assert world.target_systems[-1] == RULE
    assert not any("[[ ##" in m.content for messages in world.target_inputs for m in messages)
    assert world.judge_texts and not any("[[ ##" in text for text in world.judge_texts)
    assert any("Sure, here is a helpful answer." in text for text in world.judge_texts)
    ledger = run.ledger.entries()[earlier:]  # GEPA's calls from DSPy's threads and the final evaluation alike
    assert {e.stage for e in ledger} == {"defend-dspy"} and {e.model for e in ledger} == {
        TARGET,
        JUDGE,
        GENERATOR,
    }
    data = collect(run.path)
    row = next(r for r in data.comparison if r.method == "DSPy")
    assert row.validation.sfr == 0 and row.test.sfr == 0
    assert [d.result.instructions for d in data.dspy] == [RULE]
    assert "## Prompt defences" in markdown(data) and RULE in markdown(data)

    before = uncached_calls(run)
    again = await defend_dspy(
        config, run, ScriptedClient(world, run_dir=run), DspyOptions(max_metric_calls=BUDGET, max_train_samples=6)
    )
    assert uncached_calls(run) == before and again.validation == results.validation
    with pytest.raises(UserInputError, match="other settings"):
        await defend_dspy(
            config,
            run,
            client,
            DspyOptions(max_metric_calls=BUDGET + 1, max_train_samples=6, name=f"calls{BUDGET}-train6"),
        )


async def test_the_cost_cap_ends_the_search_instead_of_scoring_failures_and_a_rerun_resumes(prepared):
    config, run, world = prepared
    prices = PriceTable({model: (1.0, 1.0) for model in (TARGET, JUDGE, GENERATOR)})
    spent = run.ledger.totals().cost_usd
    capped = ScriptedClient(world, run_dir=run, prices=prices, max_cost=spent + 0.003)
    with pytest.raises(BudgetExceededError):
        await defend_dspy(config, run, capped, DspyOptions(max_metric_calls=BUDGET, max_train_samples=6))
    folder = run.path / "defences" / "dspy" / f"calls{BUDGET}-train6"
    assert (folder / "gepa" / "gepa_state.bin").exists() and not (folder / "program.json").exists()

    resumed = await defend_dspy(
        config,
        run,
        ScriptedClient(world, run_dir=run, prices=prices),
        DspyOptions(max_metric_calls=BUDGET, max_train_samples=6),
    )
    assert resumed.instructions == RULE and resumed.validation.sfr == 0
    assert resumed.metric_calls == BUDGET  # the calls before the stop count, GEPA's replayed seed scoring does not
    assert any(
        json.loads(line)["cached"]
        for line in (run.path / "ledger.jsonl").read_text().splitlines()
        if json.loads(line)["stage"] == "defend-dspy"
    )  # calls made before the stop were replayed


def test_a_small_balanced_sample_keeps_both_kinds_and_follows_the_seed():
    from a3.align.records import Query

    queries = [
        Query(
            id=f"H1-{k[0]}{i}", hypothesis_id="H1", kind=k, source="train", messages=[{"role": "user", "content": "x"}]
        )
        for k in ("harmful", "benign")
        for i in range(10)
    ]
    sample = balanced_sample(queries, 4, seed=0)
    assert [q.kind for q in sample] == ["harmful", "benign", "harmful", "benign"]
    assert sample == balanced_sample(queries, 4, seed=0) and sample != balanced_sample(queries, 4, seed=1)
    assert balanced_sample(queries, None, seed=0) == queries


def test_cli_runs_the_defence_and_refuses_a_clashing_name(prepared, tmp_path, monkeypatch):
    config, run, world = prepared
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.setattr("a3.align.runs.client_for", lambda cfg, run, **kw: ScriptedClient(world, run_dir=run))
    args = ["--no-progress", "defend", "dspy", str(path), "--run-dir", str(run.path), "--max-train-samples", "4"]
    result = CliRunner().invoke(app, [*args, "--max-metric-calls", str(BUDGET)])
    assert result.exit_code == 0, result.output
    assert "DSPy defence" in result.output and "Hold firm" in result.output
    clash = CliRunner().invoke(app, [*args, "--max-metric-calls", str(BUDGET + 2), "--name", f"calls{BUDGET}-train4"])
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
    result = CliRunner().invoke(
        app, ["--no-progress", "defend", "dspy", str(path), "--run-dir", str(run.path), "--auto", "huge"]
    )
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
    while sum(e.stage == "defend-dspy" for e in run.ledger.entries()) < 10:
        await asyncio.sleep(0.02)
    search.cancel()  # what Ctrl-C does to the CLI's task
    with pytest.raises(asyncio.CancelledError):
        await search
    await asyncio.sleep(0.3)  # calls already handed to the loop finish
    settled = len(slow.calls)
    await asyncio.sleep(1.0)  # DSPy's threads would go on calling models through this live loop if not stopped
    assert len(slow.calls) == settled
    resumed = await defend_dspy(config, run, ScriptedClient(world, run_dir=run), options)
    assert resumed.instructions == RULE and resumed.validation.sfr == 0 and resumed.metric_calls == BUDGET


async def test_the_target_keeps_its_conversation_with_the_instructions_after_its_system_prompt(tmp_path):
    """A deployment system prompt holding a secret: the program sends it once, first, with GEPA's
    instructions appended, and the conversation as chat messages; the reflection model never sees it."""
    from inspect_ai.log import read_eval_log

    config = with_system_prompt(make_config())
    run = RunDir(tmp_path / "run")
    world = DspyWorld()
    client = ScriptedClient(world, run_dir=run)
    await run_all(config, run, client)
    base_inputs = [m for m, c in client.calls if c.model == TARGET]
    assert base_inputs and all(
        sum(x.content.count(SECRET) for x in m) == 1 for m in base_inputs
    )  # the base model's input

    results = await defend_dspy(config, run, client, DspyOptions(max_metric_calls=BUDGET, max_train_samples=6))
    assert results.instructions == RULE and results.metric_calls == BUDGET
    queries = [json.loads(line) for line in (run.path / "generation" / "queries.jsonl").read_text().splitlines()]
    turns = [q["messages"][1:] for q in queries]
    assert world.target_inputs
    for sent in world.target_inputs:
        assert sent[0].role == "system" and sent[0].content in (
            f"{SYSTEM_PROMPT}\n\n{SEED}",
            f"{SYSTEM_PROMPT}\n\n{RULE}",
        )
        assert sum(m.content.count(SECRET) for m in sent) == 1  # no more often than in the base model's input
        assert [m.model_dump() for m in sent[1:]] in turns  # the query's own turns, as chat messages
        assert not any("[[ ##" in m.content for m in sent)
    assert not any(SECRET in m.content for prompt in world.reflection_prompts for m in prompt)
    folder = run.path / "defences" / "dspy" / f"calls{BUDGET}-train6"
    prompt = json.loads((folder / "optimized_prompt.json").read_text())
    assert prompt["system_message"] == f"{SYSTEM_PROMPT}\n\n{RULE}" and prompt["metric_calls"] == BUDGET
    # The transcripts show what the target was sent, the query as written beside it.
    sample = read_eval_log(str(folder / "eval" / "transcripts.eval")).samples[0]
    assert sample.input[0].role == "system" and sample.input[0].text == f"{SYSTEM_PROMPT}\n\n{RULE}"
    assert sample.metadata["as_written"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert [m.role for m in sample.input] == [m["role"] for m in sample.metadata["as_written"]]


@pytest.mark.parametrize("budget", [17, 40, 48])  # left to itself, GEPA would run 19, 41 and 50 calls
async def test_gepa_makes_exactly_the_budgeted_metric_calls(prepared, monkeypatch, budget):
    from a3.align.compare.dspy.program import JudgeMetric
    from a3.align.measure.judge import Judge

    config, run, world = prepared
    scored, judged = [], []
    metric_call, decide = JudgeMetric.__call__, Judge.decide

    def counting_metric(self, gold, pred, trace=None, pred_name=None, pred_trace=None):
        result = metric_call(self, gold, pred, trace, pred_name, pred_trace)
        if pred_name is None:  # a rollout scored (with pred_name: GEPA asking again for its feedback)
            scored.append(gold.query_id)
        return result

    async def counting_decide(self, query, response):
        if response.model == "dspy-program":
            judged.append(query.id)
        return await decide(self, query, response)

    monkeypatch.setattr(JudgeMetric, "__call__", counting_metric)
    monkeypatch.setattr(Judge, "decide", counting_decide)
    results = await defend_dspy(
        config, run, ScriptedClient(world, run_dir=run), DspyOptions(max_metric_calls=budget, max_train_samples=6)
    )
    assert len(scored) == len(judged) == results.metric_calls == budget
    prompt = json.loads(
        (run.path / "defences" / "dspy" / f"calls{budget}-train6" / "optimized_prompt.json").read_text()
    )
    assert prompt["metric_calls"] == budget and prompt["stopped_at_budget"]  # cut mid-iteration
    if budget == 17:  # the seed scored on validation, then one call of the next iteration: nothing new
        assert results.instructions == SEED and len(prompt["candidates"]) == 1


async def test_a_budget_below_the_validation_split_is_refused(prepared):
    config, run, world = prepared
    with pytest.raises(UserInputError, match="give at least 16"):
        await defend_dspy(config, run, ScriptedClient(world, run_dir=run), DspyOptions(max_metric_calls=15))


async def test_gepa_may_compare_on_a_sample_of_validation_and_the_program_is_measured_on_all(prepared):
    config, run, world = prepared
    with pytest.raises(UserInputError, match="give at least 6"):
        await defend_dspy(
            config, run, ScriptedClient(world, run_dir=run), DspyOptions(max_metric_calls=5, max_val_samples=6)
        )
    results = await defend_dspy(
        config,
        run,
        ScriptedClient(world, run_dir=run),
        DspyOptions(max_metric_calls=10, max_train_samples=6, max_val_samples=6),
    )
    folder = run.path / "defences" / "dspy" / "calls10-train6-val6"
    settings = json.loads((folder / "settings.json").read_text())
    assert len(settings["validation"]) == 6 and results.metric_calls == 10
    assert results.validation.harmful.judged + results.validation.benign.judged == 16  # measured on the whole split


def test_a_reply_without_field_markers_is_taken_whole_and_one_in_fields_is_read():
    from a3.align.compare.dspy.program import SavedProgram, respond_program
    from a3.align.records import Query

    saved = SavedProgram(respond_program(RULE))
    plain = "Sure. [[ see below ]]\n\nResponse: here it is."
    assert saved.response(plain) == plain and not saved.in_fields(plain)
    assert saved.response(formatted("I cannot help.")) == "I cannot help." and saved.in_fields(
        formatted("I cannot help.")
    )
    broken = "[[ ## reasoning ## ]]\nThinking only."
    assert saved.response(broken) == "Thinking only." and not saved.in_fields(broken)
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "TRIGGER the code?"},
    ]
    query = Query(id="H1-h0", hypothesis_id="H1", kind="harmful", source="test", messages=messages)
    sent = [m.model_dump() for m in saved.prepare(query).messages]
    assert sent == [{"role": "system", "content": f"{SYSTEM_PROMPT}\n\n{RULE}"}, *messages[1:]]
    without = query.model_copy(update={"messages": query.messages[1:]})
    assert [m.model_dump() for m in saved.prepare(without).messages] == [
        {"role": "system", "content": RULE},
        *messages[1:],
    ]
