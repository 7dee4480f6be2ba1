"""Stage 4's planners (agent, search, agent+search) and training jobs keyed by their content, on a
tiny model built in code with a scripted agent and judge."""

import json

import pytest

from a3.align.finetune.decisions import first_plan
from a3.align.finetune.jobs import job_key
from a3.align.finetune.mixture import TrainingExample
from a3.align.finetune.search import PlanSpace, suggest
from a3.align.finetune.stage import FinetuneOptions, run_finetune
from a3.align.finetune.trainer import TrainJob
from a3.config.schema import FirstPlan
from a3.store import RunDir, read_json
from a3.testing import ScriptedClient
from a3.testing.scripted_world import World
from tests.helpers.align_runs import run_all
from tests.helpers.finetune_runs import Agent, finetune_config, make_script

NO_BENCHMARKS = FinetuneOptions(use_vllm=False, disable_benchmark_eval=True)


def records_of(run):
    return [json.loads(line) for line in (run.path / "finetune" / "iterations.jsonl").read_text().splitlines()]


async def finetuned(tmp_path, tiny, agent, planner, iterations):
    config = finetune_config(tmp_path, tiny, iterations)
    config = config.model_copy(update={"finetune": config.finetune.model_copy(update={"planner": planner})})
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(make_script(World(conversation=False), agent), run_dir=run, real=("local/",))
    await run_all(config, run, client)
    summary = await run_finetune(config, run, client, NO_BENCHMARKS)
    return config, run, summary


class GeneralShareAgent(Agent):
    """Iteration 1: 60% general data. Iteration 2: 80% (the pool of six general examples fills
    neither, so the same examples are drawn: the same job), then, told so, 25%."""

    def __call__(self, messages, config):
        self.prompts.append(messages)
        text = messages[0].content
        iteration = int(text.split("This is iteration ")[1].split(" ")[0])
        train = text.split("Training hypotheses (the only ones you may weight): ")[1].splitlines()[0].split(", ")
        weights = [{"hypothesis_id": h, "harmful_weight": 1, "benign_weight": 1} for h in train]
        share = 60 if iteration == 1 else (25 if len(messages) > 1 else 80)
        return json.dumps(
            {
                "overall_reasoning": "try",
                "lora_r": 8,
                "lora_alpha": 16,
                "learning_rate": 0.001,
                "num_epochs": 1,
                "general_data_percentage": share,
                "weights": weights,
                "based_on_iteration": None if iteration == 1 else 1,
            }
        )


async def test_a_plan_that_draws_an_earlier_job_is_refused_and_the_agent_told_why(tmp_path, tiny):
    _, run, _ = await finetuned(tmp_path, tiny, agent := GeneralShareAgent(), "agent", 2)
    first, second = records_of(run)
    assert first["plan"]["general_data_percentage"] == 60 and second["plan"]["general_data_percentage"] == 25
    assert "same training examples with the same settings as iteration 1" in agent.prompts[-1][-1].content
    assert first["job"] != second["job"] and len(first["job"]) == 64
    assert first["planner"] == second["planner"] == "agent"
    assert set(second["seconds"]) == {"decision", "train", "evaluation", "capability"}


async def test_the_search_plans_every_iteration_with_new_jobs_and_the_agent_is_never_asked(tmp_path, tiny):
    config, run, summary = await finetuned(tmp_path, tiny, agent := Agent(), "search", 3)
    records = records_of(run)
    assert agent.prompts == []
    assert [r["planner"] for r in records] == ["search"] * 3
    train = read_json(run.path / "splits" / "split_assignment.json")["train"]
    default = first_plan(train, config.finetune.max_epochs, config.finetune.learning_rate_range)
    assert records[0]["plan"] == json.loads(default.model_dump_json())
    assert len({r["job"] for r in records}) == 3
    for record in records:  # every iteration carries its paired tests against the base model
        tests = record["tests"]
        assert tests["sfr"]["n"] > 0 and tests["fpr"]["margin"] == config.finetune.fpr_margin
    assert summary.selection.chosen in (1, 2, 3) and "non-inferior" in summary.selection.rule


class InvalidAgent(Agent):
    def __call__(self, messages, config):
        self.prompts.append(messages)
        return json.dumps({"overall_reasoning": "no"})  # never a valid decision


async def test_agent_plus_search_trains_the_search_plan_when_the_agent_gives_none(tmp_path, tiny):
    _, run, summary = await finetuned(tmp_path, tiny, agent := InvalidAgent(), "agent+search", 2)
    records = records_of(run)
    assert [r["planner"] for r in records] == ["search", "search"]
    assert all("the agent gave no valid decision" in r["fallback"] for r in records)
    assert len(agent.prompts) == 2 * 3  # each iteration: asked once, re-asked twice
    assert records[0]["job"] != records[1]["job"]


def test_the_search_trains_the_configured_first_plans_in_order_then_draws():
    space = PlanSpace(["H1", "H2"], max_epochs=2, learning_rates=(5e-4, 1e-3))
    firsts = [FirstPlan(benign_weight=3.0), FirstPlan(lora_alpha=64, num_epochs=1, general_data_percentage=40)]
    one = suggest(space, [], seed=0, first_plans=firsts)
    assert (one.lora_alpha, one.num_epochs, one.learning_rate) == (32, 2, 7.07e-4)  # defaults: max epochs, middle lr
    assert one.weights == {"H1": (1.0, 3.0), "H2": (1.0, 3.0)}
    two = suggest(space, [(one, 0.5)], seed=0, first_plans=firsts)
    assert (two.lora_alpha, two.num_epochs, two.general_data_percentage) == (64, 1, 40)
    three = suggest(space, [(one, 0.5), (two, 0.4)], seed=0, first_plans=firsts)
    assert three not in (one, two)  # the sampler's own draw once the starting design is done
    assert suggest(space, [], seed=0, attempt=1, first_plans=firsts) != one  # a repeated job: the sampler draws


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"lora_r": 8, "lora_alpha": 256}, "0.5 to 16 times"), ({"harmful_weight": 0, "benign_weight": 0}, "both be 0")],
)
def test_a_first_plan_outside_the_agents_bounds_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        FirstPlan(**fields)


def test_the_search_starts_from_the_default_plan_stays_in_bounds_and_repeats_itself():
    space = PlanSpace(["H1", "H2"], max_epochs=3, learning_rates=(1e-4, 1e-3))
    start = suggest(space, [], seed=0)
    assert start == first_plan(["H1", "H2"], 3, (1e-4, 1e-3))
    finished = [(start, 0.9)]
    nxt = suggest(space, finished, seed=0)
    assert nxt == suggest(space, finished, seed=0)  # seeded: a resumed stage gets the same plan
    assert nxt != suggest(space, finished, seed=0, attempt=1)
    for plan in (nxt, suggest(space, finished + [(nxt, 0.5)], seed=0)):
        assert 1e-4 <= plan.learning_rate <= 1e-3 and 1 <= plan.num_epochs <= 3
        assert 0.5 <= plan.lora_alpha / plan.lora_r <= 16 and set(plan.weights) == {"H1", "H2"}


def test_shared_weights_give_every_hypothesis_one_pair_and_per_hypothesis_weights_one_each():
    shared = PlanSpace(["H1", "H2", "H3"], max_epochs=2, learning_rates=(1e-4, 1e-3))
    assert {k for k in shared.distributions() if "weight" in k} == {"harmful_weight", "benign_weight"}
    start = suggest(shared, [], seed=0)
    plan = suggest(shared, [(start, 1.0)], seed=0)
    assert len(set(plan.weights.values())) == 1  # one pair for all
    agent_plan = start.model_copy(update={"weights": {"H1": (1.0, 3.0), "H2": (3.0, 1.0), "H3": (2.0, 2.0)}})
    assert shared.params(agent_plan)["harmful_weight"] == 2.0  # an agent's weights, told to the search as their mean
    own = PlanSpace(["H1", "H2", "H3"], max_epochs=2, learning_rates=(1e-4, 1e-3), shared_weights=False)
    assert len([k for k in own.distributions() if "weight" in k]) == 6
    assert len(set(suggest(own, [(start, 1.0)], seed=0).weights.values())) == 3


def test_a_job_is_named_by_what_it_trains_not_where_it_is_written():
    examples = [
        TrainingExample(
            messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            source="harmful",
            hypothesis_id="H1",
        )
    ]
    job = TrainJob(base_model="/a", data_file="/a/train.jsonl", output_dir="/a/out", learning_rate=1e-4)
    moved = job.model_copy(update={"base_model": "/b", "data_file": "/b/t.jsonl", "output_dir": "/b/o"})
    assert job_key(examples, job, "w") == job_key(examples, moved, "w")
    assert job_key(examples, job, "w") != job_key(examples, job.model_copy(update={"learning_rate": 2e-4}), "w")
    assert job_key(examples, job, "w") != job_key(examples, job, "other weights")
    assert job_key(examples, job, "w") != job_key(examples * 2, job, "w")


async def test_agent_plus_search_trains_the_search_plan_when_the_agent_repeats_a_job(tmp_path, tiny):
    _, run, _ = await finetuned(tmp_path, tiny, agent := GeneralShareAgent(), "agent+search", 2)
    first, second = records_of(run)
    assert first["planner"] == "agent" and second["planner"] == "search"
    assert "repeats the training job of iteration 1" in second["fallback"]
    assert len(agent.prompts) == 2  # the agent was not sent back: the search stepped in
    assert first["job"] != second["job"]
