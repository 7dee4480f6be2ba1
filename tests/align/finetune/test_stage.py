"""Stage 4 on a tiny model built in code: real LoRA training and real generations, scripted agent and judge."""

import json

import pytest

from a3.align import layout
from a3.align.finetune.stage import FinetuneOptions, run_finetune
from a3.config import A3Config
from a3.store import RunDir, read_json
from a3.testing import ScriptedClient
from a3.testing.scripted_world import World
from tests.helpers.align_runs import run_all
from tests.helpers.finetune_runs import Agent, finetune_config, make_script, prepared_run
from tests.paths import CONFIGS, FIXTURES


async def test_two_iterations_train_evaluate_and_keep_every_adapter(tmp_path, tiny):
    config, run, client, agent = await prepared_run(tmp_path, tiny)
    summary = await run_finetune(config, run, client, FinetuneOptions(use_vllm=False))

    records = [json.loads(line) for line in (run.path / "finetune" / "iterations.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [1, 2]
    assignment = read_json(run.path / "splits" / "split_assignment.json")
    for record in records:
        adapter = run.path / record["adapter"]
        assert (adapter / "adapter_model.safetensors").exists() and (adapter / "adapter_config.json").exists()
        assert record["counts"]["total"] == 12 and record["counts"]["general"] == 3  # floor(12 x 25%)
        assert record["train"]["steps"] >= 1 and record["train"]["train_tokens"] > 0
        for split in ("validation", "ood"):
            metrics = record[split]
            assert set(metrics["per_hypothesis"]) == set(assignment[split])
            assert metrics["harmful"]["judged"] + metrics["harmful"]["judge_errors"] == 4 * len(assignment[split])
        assert set(record["capability"]) == {"mmlu_pro", "gpqa"}
        assert all(s["status"] == "ok" and s["total"] > 0 for s in record["capability"].values())
        assert record["capability_drop"] is not None

    # Metrics come from the finetuned model's own generations, served locally with its adapter.
    responses = [
        json.loads(line)
        for line in (run.path / "finetune" / "iter-01" / "eval" / "responses.jsonl").read_text().splitlines()
    ]
    assert responses and all(r["model"] == "local/iter-01" and r["status"] == "ok" for r in responses)
    assert not any(r["text"].startswith(("Sure, here is", "UNSAFE", "I cannot help")) for r in responses)

    # Iteration 1 was clamped and logged; the missing weights were filled in.
    first = records[0]
    assert first["plan"]["lora_r"] == 8 and first["plan"]["learning_rate"] == 1e-3
    assert any("lora_r 4 clamped to 8" in c for c in first["clamps"])
    assert any("no weights for" in c for c in first["clamps"])
    assert set(first["plan"]["weights"]) == set(assignment["train"])
    # Iteration 2 broke the one-change rule, was re-asked, and changed the weights only.
    second = records[1]
    assert second["based_on"] == 1 and second["plan"]["num_epochs"] == 1
    assert {k: v for k, v in second["plan"].items() if k != "weights"} == {
        k: v for k, v in first["plan"].items() if k != "weights"
    }
    assert "not both" in agent.prompts[-1][-1].content
    # The agent saw iteration 1's results and never a sealed test hypothesis.
    second_prompt = agent.prompts[-1][0].content
    assert "Iteration 1 (based on nothing)" in second_prompt and "validation: SFR" in second_prompt
    for hypothesis in assignment["test"]:
        assert f"{hypothesis} " not in second_prompt and f"{hypothesis}]" not in second_prompt

    # Selection is on validation; the chosen adapter alone was measured on the sealed test split.
    assert summary.selection.chosen in (1, 2)
    assert summary.chosen_test.harmful.judged > 0
    test_ids = {
        json.loads(line)["id"]
        for line in (run.path / "finetune" / "sealed" / "test_eval" / "verdicts.jsonl").read_text().splitlines()
    }
    assert {i.split("-")[0] for i in test_ids} == set(assignment["test"])
    assert "## Iteration" in (run.path / "experiment_log.md").read_text()


def with_sealed(config, files):
    return config.model_copy(update={"capability": config.capability.model_copy(update={"sealed_benchmarks": files})})


SEALED = FIXTURES / "capability" / "sealed_style.jsonl"


async def test_sealed_benchmarks_test_the_chosen_adapter_on_questions_no_choice_saw(tmp_path, tiny):
    from a3.align.finetune.records import ChosenTest
    from a3.report import collect, write_report

    config, run, client, _ = await prepared_run(tmp_path, tiny, iterations=1)
    config = with_sealed(config, {"held_out": str(SEALED)})
    await run_finetune(config, run, client, FinetuneOptions(use_vllm=False))

    chosen = ChosenTest.model_validate(read_json(run.path / "finetune" / "sealed" / "test_results.json"))
    questions = len(SEALED.read_text().splitlines())
    assert set(chosen.capability) == set(chosen.capability_base) == {"held_out"}
    assert chosen.capability["held_out"].total == chosen.capability_base["held_out"].total == questions
    assert chosen.tests.capability.comparison.n == questions  # paired question by question
    # The iterations answered the validation benchmarks only: the sealed questions were asked at the end.
    iteration = read_json(run.path / "finetune" / "iter-01" / "capability" / "scores.json")
    assert set(iteration) == {"mmlu_pro", "gpqa"}
    for folder in ("base", "chosen"):
        assert (run.path / "finetune" / "sealed" / "capability" / folder / "scores.json").exists()
    # The limits the choice was held to, tested again on the sealed queries.
    assert chosen.tests.sfr.n > 0 and chosen.tests.fpr.comparison.n > 0

    report = write_report(collect(run.path))["markdown"].read_text()
    assert f"Capability on {questions} sealed benchmark questions" in report and "FPR limit:" in report


async def test_a_resumed_loop_that_chooses_another_iteration_measures_the_new_choice(tmp_path, tiny, monkeypatch):
    """Results on the sealed test made for one choice are never reported for another."""
    import a3.align.finetune.stage as stage
    from a3.align.finetune.records import ChosenTest

    config, run, client, _ = await prepared_run(tmp_path, tiny, iterations=1)
    config = with_sealed(config, {"held_out": str(SEALED)})
    await run_finetune(config, run, client, FinetuneOptions(use_vllm=False))
    sealed = run.path / "finetune" / "sealed"
    assert ChosenTest.model_validate(read_json(sealed / "test_results.json")).iteration == 1
    first_answers = (sealed / "capability" / "chosen" / "scores.json").stat().st_mtime_ns

    real_choose = stage.choose
    monkeypatch.setattr(stage, "choose", lambda records, **kw: real_choose(records[-1:], **kw))  # the newest
    await run_finetune(config, run, client, FinetuneOptions(num_iterations=2, use_vllm=False))
    assert ChosenTest.model_validate(read_json(sealed / "test_results.json")).iteration == 2
    replies = [json.loads(line) for line in (sealed / "test_eval" / "responses.jsonl").read_text().splitlines()]
    assert replies and {r["model"] for r in replies} == {"local/iter-02"}
    # the sealed questions were asked of the new choice, not read back from the old one's answers
    assert (sealed / "capability" / "chosen" / "scores.json").stat().st_mtime_ns != first_answers
    assert read_json(sealed / "chosen.json")["iteration"] == 2


async def test_a_missing_sealed_benchmark_is_named_before_any_training(tmp_path, tiny):
    from a3.errors import UserInputError

    config, run, client, _ = await prepared_run(tmp_path, tiny, iterations=1)
    config = with_sealed(config, {"held_out": "nowhere.jsonl"})
    with pytest.raises(UserInputError, match=r"capability\.sealed_benchmarks\.held_out: .*nowhere\.jsonl"):
        await run_finetune(config, run, client, FinetuneOptions(use_vllm=False))
    assert not (run.path / "finetune" / "iter-01").exists()


async def test_more_iterations_resume_without_redoing_finished_ones(tmp_path, tiny):
    config, run, client, agent = await prepared_run(tmp_path, tiny, iterations=1)
    await run_finetune(config, run, client, FinetuneOptions(use_vllm=False))
    adapter = run.path / "finetune" / "iter-01" / "adapter" / "adapter_model.safetensors"
    stamp = adapter.stat().st_mtime_ns
    agent_calls = len(agent.prompts)

    await run_finetune(config, run, client, FinetuneOptions(use_vllm=False))  # finished: skipped
    assert len(agent.prompts) == agent_calls

    summary = await run_finetune(config, run, client, FinetuneOptions(num_iterations=2, use_vllm=False))
    assert [row.iteration for row in summary.iterations] == [1, 2]
    assert adapter.stat().st_mtime_ns == stamp  # iteration 1 was not retrained
    assert len(agent.prompts) == agent_calls + 2  # only iteration 2 asked (once, then re-asked)


async def test_changed_settings_are_refused_rather_than_mixed(tmp_path, tiny):
    from a3.errors import UserInputError

    config, run, client, _ = await prepared_run(tmp_path, tiny, iterations=1)
    await run_finetune(config, run, client, FinetuneOptions(use_vllm=False, disable_benchmark_eval=True))
    changed = config.model_copy(update={"finetune": config.finetune.model_copy(update={"eval_temperature": 0.1})})
    with pytest.raises(UserInputError, match="other settings"):
        await run_finetune(changed, run, client, FinetuneOptions(use_vllm=False, disable_benchmark_eval=True))


async def test_fixed_mix_baseline_trains_each_ratio_and_evaluates_it(tmp_path, tiny):
    from a3.align.compare.fixed_mix import FixedMixOptions, run_fixed_mix

    config, run, client, _ = await prepared_run(tmp_path, tiny, iterations=1)
    options = FixedMixOptions(
        epochs=1,
        batch_size=4,
        gradient_accumulation_steps=1,
        lora_r=8,
        lora_alpha=32,
        learning_rate=1e-3,
        harmful_shares=(10, 90),
        disable_benchmark_eval=True,
        use_vllm=False,
    )
    summary = await run_fixed_mix(config, run, client, options)
    names = [r.name for r in summary]
    assert names == ["dolci15_harmful10_benign90", "dolci15_harmful90_benign10"]
    low, high = summary
    assert low.counts.harmful < low.counts.benign and high.counts.harmful > high.counts.benign
    assert low.counts.general == 1  # floor(12 x 15%)
    # settings added since results were first saved (the look-alike mask) are not in them: old results resume
    saved = (run.path / layout.FIXED_MIX_RESULTS).read_text().splitlines()
    assert all("look_alike_mask" not in json.loads(line)["settings"]["config"]["data_generation"] for line in saved)
    for row in summary:
        assert (run.path / "baselines" / "fixed-mix" / row.name / "model" / "adapter_model.safetensors").exists()
        assert row.validation.harmful.judged > 0 and row.model.startswith("local/")
        assert row.test.harmful.judged > 0  # on the sealed test too, for the report's comparison
    # a later call with fewer shares reuses what was trained (no training: the tiny model is not needed)
    calls = len(client.calls)
    again = await run_fixed_mix(config, run, client, options.model_copy(update={"harmful_shares": (90,)}))
    assert again == [high] and len(client.calls) == calls
    full = await run_fixed_mix(
        config, run, client, options.model_copy(update={"no_lora": True, "harmful_shares": (50,)})
    )
    assert (
        run.path / "baselines" / "fixed-mix" / "dolci15_harmful50_benign50" / "model" / "model.safetensors"
    ).exists()
    assert full[0].ood.harmful.judged > 0
    with pytest.raises(Exception, match="other settings"):
        await run_fixed_mix(config, run, client, options.model_copy(update={"epochs": 2}))


def test_cli_refuses_bad_stage_names_and_out_of_order_stages(tmp_path):
    from typer.testing import CliRunner

    from a3.cli.main import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["run", str(CONFIGS / "sycophancy.json"), "--from", "train", "--run-dir", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "unknown stage" in result.output and not (tmp_path / "r").exists()
    keys = {
        "ANTHROPIC_API_KEY": "sk-ant-placeholder-0000",
        "OPENROUTER_API_KEY": "sk-or-placeholder-0000",
    }  # past the model check
    result = runner.invoke(
        app, ["finetune", str(CONFIGS / "sycophancy.json"), "--run-dir", str(tmp_path / "r2")], env=keys
    )
    assert result.exit_code == 2 and "a3 expected" in result.output


async def test_run_pipeline_makes_on_policy_general_data_and_resumes_without_calls(tmp_path, tiny):
    from a3.align.finetune.stage import FinetuneOptions
    from a3.align.generate.stage import GenerateOptions
    from a3.align.pipeline import RunOptions, run_pipeline

    data = finetune_config(tmp_path, tiny, iterations=1).model_dump(mode="json")
    data["paths"]["dolci_responses_file"] = None
    config = A3Config.model_validate(data)
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(make_script(World(conversation=False), Agent()), run_dir=run, real=("local/",))
    options = RunOptions(
        generate=GenerateOptions(num_rounds=3),
        general_samples=10,
        finetune=FinetuneOptions(use_vllm=False, disable_benchmark_eval=True),
    )
    results = await run_pipeline(config, run, client, options)
    assert all(
        getattr(results, stage) is not None for stage in ("generate", "split", "expected", "general", "finetune")
    )
    general = json.loads((run.path / "general" / "general_responses.json").read_text())
    assert len(general) == 10 and all(item["model"] == "scripted/target" for item in general)  # the target answered
    record = json.loads((run.path / "finetune" / "iterations.jsonl").read_text().splitlines()[0])
    assert record["counts"]["general"] == 3  # floor(12 x 25%) drawn from the run's own general data
    calls = len(client.calls)
    await run_pipeline(config, run, client, options)
    assert len(client.calls) == calls  # every stage was done: nothing asked again


class StubbornAgent(Agent):
    """Breaks the one-change rule at iteration 2 however often it is told."""

    def __call__(self, messages, config):
        reply = json.loads(super().__call__(messages[:1], config))
        if reply["based_on_iteration"] == 1:
            reply["num_epochs"] = 2  # the settings changed as well as the weights
        return json.dumps(reply)


async def test_an_agent_that_cannot_give_a_valid_plan_gets_a_rule_following_fallback(tmp_path, tiny):
    config = finetune_config(tmp_path, tiny, iterations=2)
    run = RunDir(tmp_path / "run")
    agent = StubbornAgent()
    client = ScriptedClient(make_script(World(conversation=False), agent), run_dir=run, real=("local/",))
    await run_all(config, run, client)
    summary = await run_finetune(config, run, client, FinetuneOptions(use_vllm=False, disable_benchmark_eval=True))
    assert [row.iteration for row in summary.iterations] == [1, 2]
    assert list(summary.fallbacks) == ["2"] and "the agent gave no valid decision" in summary.fallbacks["2"]
    first, second = (read_json(run.path / "finetune" / f"iter-0{i}" / "decision.json") for i in (1, 2))
    assert second["based_on"] == 1 and second["decision"] is None
    # one change from iteration 1, as the rules ask: the same settings, harmful weights doubled (SFR above target)
    assert {k: v for k, v in second["plan"].items() if k != "weights"} == {
        k: v for k, v in first["plan"].items() if k != "weights"
    }
    assert all(second["plan"]["weights"][h] == [2 * w[0], w[1]] for h, w in first["plan"]["weights"].items())
    assert summary.selection.chosen in (1, 2) and summary.chosen_test is not None
    assert len(agent.prompts) == 1 + 3  # iteration 1, then iteration 2 asked once and re-asked twice


class RamblingAgent(Agent):
    """Repeats one sentence of reasoning until its reply is cut off, as the 0.5B agent did."""

    def __call__(self, messages, config):
        return '{"based_on_iteration": null, "overall_reasoning": "' + "The rate has been below 5%. " * 200


async def test_a_first_decision_the_agent_never_gives_starts_from_the_default_plan(tmp_path, tiny):
    config = finetune_config(tmp_path, tiny, iterations=1)
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(make_script(World(conversation=False), RamblingAgent()), run_dir=run, real=("local/",))
    await run_all(config, run, client)
    summary = await run_finetune(config, run, client, FinetuneOptions(use_vllm=False, disable_benchmark_eval=True))
    assert [row.iteration for row in summary.iterations] == [1]
    assert "default first plan" in summary.fallbacks["1"]
    plan = read_json(run.path / "finetune" / "iter-01" / "decision.json")["plan"]
    low, high = config.finetune.learning_rate_range
    assert (plan["lora_r"], plan["lora_alpha"], plan["num_epochs"]) == (16, 32, config.finetune.max_epochs)
    assert low <= plan["learning_rate"] <= high
    assert set(plan["weights"]) == set(read_json(run.path / "splits" / "split_assignment.json")["train"])
