"""Stage 4's loop run again by another planner, in its own folder, and set beside stage 4 in the report."""

import json

import pytest

from a3.align.compare.planners import compare_planner
from a3.align.finetune.stage import FinetuneOptions, run_finetune
from a3.errors import UserInputError
from a3.report.collect import collect
from a3.report.render import markdown
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.scripted_world import World
from tests.helpers.align_runs import run_all
from tests.helpers.finetune_runs import Agent, finetune_config, make_script

NO_BENCHMARKS = FinetuneOptions(use_vllm=False, disable_benchmark_eval=True)


async def test_a_planner_comparison_runs_the_same_loop_apart_and_the_report_sets_them_side_by_side(tmp_path, tiny):
    config = finetune_config(tmp_path, tiny, iterations=2)
    run = RunDir(tmp_path / "run")
    agent = Agent()
    client = ScriptedClient(make_script(World(conversation=False), agent), run_dir=run, real=("local/",))
    await run_all(config, run, client)
    (run.path / "config.json").write_text(config.model_dump_json())  # as `a3 run` records it
    await run_finetune(config, run, client, NO_BENCHMARKS)
    asked = len(agent.prompts)
    log_before = (run.path / "experiment_log.jsonl").read_text()

    with pytest.raises(UserInputError, match="already uses"):
        await compare_planner(config, run, client, "agent", NO_BENCHMARKS)
    longer = config.model_copy(update={"finetune": config.finetune.model_copy(update={"num_iterations": 5})})
    summary = await compare_planner(longer, run, client, "search", NO_BENCHMARKS)  # stage 4's budget, not the config's

    folder = run.path / "baselines" / "planners" / "search"
    records = [json.loads(line) for line in (folder / "iterations.jsonl").read_text().splitlines()]
    assert [r["planner"] for r in records] == ["search", "search"] and len(agent.prompts) == asked
    assert all(r["adapter"].startswith("baselines/planners/search/iter-0") for r in records)
    assert summary.chosen_test is not None and (folder / "sealed" / "test_eval" / "verdicts.jsonl").exists()
    assert (run.path / "experiment_log.jsonl").read_text() == log_before  # stage 4's log is stage 4's alone

    data = collect(run.path)
    assert [p.planner for p in data.planners] == ["agent", "search"]
    assert data.planners[1].paired_test["harmful"].n == data.planners[0].paired_test["harmful"].n
    text = markdown(data)
    assert "## Planners on the same budget" in text and "| agent (stage 4) | 2 |" in text and "| search | 2 |" in text
    assert "A3 (search planner)" in text  # its chosen adapter is a row of the comparison
