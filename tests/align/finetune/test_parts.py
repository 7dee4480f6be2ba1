"""The pieces of stage 4 that need no model: mixture, decisions, selection, general data, benchmarks, stage order."""

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from a3.align.expected import ExpectedReply
from a3.align.finetune.decisions import Decision, HypothesisWeight, TrainingPlan, clamp, decision_schema
from a3.align.finetune.general_data import GeneralDataOptions, generate_general_data, load_general_data
from a3.align.finetune.mixture import fixed_training_set, training_budget, weighted_training_set
from a3.align.measure.capability import evaluate_capability, load_questions
from a3.align.measure.selection import Candidate, choose, pareto_front
from a3.align.metrics import Metrics, Rate
from a3.align.pipeline import RunOptions, selected_stages
from a3.config.schema import Capability, Finetune
from a3.errors import UserInputError
from a3.llm import CallConfig, Message
from a3.testing import ScriptedClient
from tests.paths import FIXTURES


def rows(hypotheses=("H1", "H2", "H3"), per_kind=4):
    out = []
    for h in hypotheses:
        for kind in ("harmful", "benign"):
            for i in range(per_kind):
                out.append(
                    ExpectedReply(
                        id=f"{h}-{kind[0]}{i}",
                        hypothesis_id=h,
                        kind=kind,
                        messages=[Message(role="user", content=f"{h} {kind} {i}")],
                        response=f"answer {h} {kind}",
                        source="generated",
                        errors=[],
                    )
                )
    return out


def plan(weights, general=0.0):
    return TrainingPlan(
        lora_r=8, lora_alpha=16, learning_rate=1e-5, num_epochs=1, general_data_percentage=general, weights=weights
    )


GENERAL = [[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}] for i in range(50)]


def test_budget_is_twice_the_smaller_kind_unless_set():
    data = rows() + [r.model_copy(update={"id": r.id + "x"}) for r in rows() if r.kind == "harmful"]
    assert training_budget(data) == 2 * 12
    assert training_budget(data, 7) == 7


def test_weights_steer_the_draw_and_the_draw_is_reproducible():
    weights = {"H1": (9.0, 0.0), "H2": (1.0, 0.0), "H3": (0.0, 0.0)}
    one = weighted_training_set(rows(), plan(weights, general=20), GENERAL, 200, seed=3)
    again = weighted_training_set(rows(), plan(weights, general=20), GENERAL, 200, seed=3)
    assert [e.messages for e in one.examples] == [e.messages for e in again.examples]
    assert one.counts.general == 40 and one.counts.total == 200  # floor(200 x 20%)
    per = one.counts.per_hypothesis
    assert "H3" not in per and per["H1"]["benign"] == 0
    assert per["H1"]["harmful"] > 4 * per["H2"]["harmful"]
    # Every example ends with the response it is trained on; general ones without replacement.
    assert all(e.messages[-1]["role"] == "assistant" for e in one.examples)
    general = [json.dumps(e.messages) for e in one.examples if e.source == "general"]
    assert len(set(general)) == len(general)


def test_general_share_is_capped_by_what_exists():
    result = weighted_training_set(rows(), plan({}, general=90), GENERAL[:5], 20, seed=0)
    assert result.counts.general == 5 and result.counts.general_requested == 18 and result.counts.total == 20


def test_fixed_mix_share_and_uniform_hypotheses():
    result = fixed_training_set(rows(), 0.7, 15, GENERAL, 100, seed=42)
    assert result.counts.general == 15
    assert result.counts.harmful == round(85 * 0.7) and result.counts.benign == 85 - round(85 * 0.7)
    seen = Counter(e.hypothesis_id for e in result.examples if e.hypothesis_id)
    assert set(seen) == {"H1", "H2", "H3"}


LEARNING_RATES = (1e-6, 1e-3)  # clamp's default range


def decision(**kw):
    base = dict(
        based_on_iteration=None,
        overall_reasoning="r",
        lora_r=16,
        lora_alpha=32,
        learning_rate=2e-5,
        num_epochs=3,
        general_data_percentage=20,
        weights=[HypothesisWeight(hypothesis_id="H1", harmful_weight=2, benign_weight=1)],
    )
    return Decision(**(base | kw))


def test_clamps_are_applied_and_logged():
    plan_, notes = clamp(
        decision(
            lora_r=512,
            lora_alpha=1,
            learning_rate=1.0,
            num_epochs=40,
            general_data_percentage=120,
            weights=[HypothesisWeight(hypothesis_id="H1", harmful_weight=50, benign_weight=-1)],
        ),
        ["H1", "H2"],
        max_epochs=10,
    )
    assert (plan_.lora_r, plan_.num_epochs, plan_.general_data_percentage, plan_.learning_rate) == (128, 10, 100, 1e-3)
    assert plan_.lora_alpha == 64  # alpha/r at least 0.5
    assert plan_.weights == {"H1": (10.0, 0.0), "H2": (1.0, 1.0)}
    assert len(notes) == 8 and any("H2" in n for n in notes)
    unchanged, none = clamp(decision(), ["H1"], max_epochs=10)
    assert none == [] and unchanged.lora_r == 16


def test_the_configured_learning_rate_range_bounds_the_agent():
    raised, notes = clamp(decision(learning_rate=1e-5), ["H1"], max_epochs=10, learning_rates=(1e-4, 1e-3))
    assert raised.learning_rate == 1e-4 and notes == ["learning_rate 1e-05 clamped to 0.0001 (allowed 0.0001-0.001)"]
    with pytest.raises(ValueError, match="0 < lowest <= highest"):
        Finetune(learning_rate_range=(1e-3, 1e-4))


def test_decision_rules_are_validated():
    never = lambda plan: None  # noqa: E731 - no earlier job matches: only the plan comparison refuses
    schema = decision_schema(2, ["H1"], {1: clamp(decision(), ["H1"], 10)[0]}, 10, LEARNING_RATES, never)
    ok = decision(based_on_iteration=1, learning_rate=5e-5).model_dump()
    assert schema.model_validate(ok).learning_rate == 5e-5
    with pytest.raises(ValueError, match="not both"):
        schema.model_validate(
            decision(
                based_on_iteration=1,
                learning_rate=5e-5,
                weights=[HypothesisWeight(hypothesis_id="H1", harmful_weight=5, benign_weight=1)],
            ).model_dump()
        )
    assert (
        decision_schema(1, ["H1"], {}, 10, LEARNING_RATES)
        .model_validate(decision(based_on_iteration=3).model_dump())
        .based_on_iteration
        is None
    )
    with pytest.raises(ValueError, match="earlier iteration"):
        schema.model_validate(decision(based_on_iteration=7).model_dump())
    with pytest.raises(ValueError, match="the one iteration 1 trained"):
        schema.model_validate(decision(based_on_iteration=1).model_dump())
    clamped_alike = decision_schema(
        2, ["H1"], {1: clamp(decision(learning_rate=1e-3), ["H1"], 10)[0]}, 10, (1e-3, 2e-3), never
    )
    with pytest.raises(ValueError, match="the one iteration 1 trained"):  # 2e-5 is raised to 1e-3 again
        clamped_alike.model_validate(decision(based_on_iteration=1, learning_rate=2e-5).model_dump())
    with pytest.raises(ValueError, match="at most 1200 characters"):  # bounded, so a constrained decoder closes it
        decision_schema(1, ["H1"], {}, 10, LEARNING_RATES).model_validate(
            decision().model_dump() | {"overall_reasoning": "x" * 1201}
        )
    with pytest.raises(ValueError, match="not training hypotheses"):
        decision_schema(1, ["H1"], {}, 10, LEARNING_RATES).model_validate(
            decision(weights=[HypothesisWeight(hypothesis_id="H9", harmful_weight=1, benign_weight=1)]).model_dump()
        )


def record(i, sfr, fpr, drop):
    """A candidate whose validation rates are exactly sfr and fpr (per 100 queries of each kind)."""
    rates = Metrics(
        harmful=Rate(flagged=round(100 * sfr), judged=100), benign=Rate(flagged=round(100 * fpr), judged=100)
    )
    return Candidate(iteration=i, validation=rates, ood=Metrics(), capability_drop=drop)


def test_pareto_front_and_choice_under_constraints():
    assert pareto_front({1: (0.1, 0.1), 2: (0.2, 0.05), 3: (0.2, 0.2), 4: (0.1, 0.1)}) == [1, 2, 4]
    records = [
        record(1, 0.02, 0.30, 0.0),
        record(2, 0.01, 0.10, 0.05),
        record(3, 0.04, 0.12, 0.005),
        record(4, 0.30, 0.0, 0.0),
    ]
    chosen = choose(records, sfr_target=0.05, max_drop=0.01, measured=True)
    assert chosen.chosen == 3 and chosen.meets_all_goals  # 2 has lower FPR but lost 5 points
    nothing_safe = [record(1, 0.5, 0.1, 0.0), record(2, 0.2, 0.3, 0.0), record(3, 0.01, 0.0, None)]
    fallback = choose(nothing_safe, sfr_target=0.05, max_drop=0.01, measured=True)
    assert fallback.chosen == 2 and not fallback.meets_all_goals  # 3's capability is missing, not 0
    assert choose(nothing_safe, sfr_target=0.05, max_drop=0.01, measured=False).chosen == 3


def candidate_with_tests(i, sfr_flags, fpr_flags, base_sfr, base_fpr, margin=0.05):
    """A candidate with paired tests against a base model on the same validation queries."""
    from a3.align.measure.selection import CandidateTests
    from a3.stats import non_inferiority, paired_comparison

    rates = Metrics(
        harmful=Rate(flagged=sum(sfr_flags), judged=len(sfr_flags)),
        benign=Rate(flagged=sum(fpr_flags), judged=len(fpr_flags)),
    )
    tests = CandidateTests(sfr=paired_comparison(base_sfr, sfr_flags), fpr=non_inferiority(base_fpr, fpr_flags, margin))
    return Candidate(iteration=i, validation=rates, ood=Metrics(), tests=tests)


def test_with_paired_tests_the_choice_is_the_lowest_sfr_among_non_inferior_iterations():
    base_sfr, base_fpr = [True] * 20 + [False] * 20, [False] * 80
    refuses_more = candidate_with_tests(
        1, [False] * 40, [True] * 12 + [False] * 68, base_sfr, base_fpr
    )  # no leaks, 12 refusals
    balanced = candidate_with_tests(2, [True] * 4 + [False] * 36, [False] * 80, base_sfr, base_fpr)
    noop = candidate_with_tests(3, base_sfr, base_fpr, base_sfr, base_fpr)
    chosen = choose([refuses_more, balanced, noop], sfr_target=0.05, max_drop=0.01, measured=False)
    assert chosen.chosen == 2 and chosen.meets_all_goals and "fell significantly" in chosen.rule
    only_noop = choose([refuses_more, noop], sfr_target=0.05, max_drop=0.01, measured=False)
    assert only_noop.chosen == 3 and not only_noop.meets_all_goals  # eligible, but its SFR did not fall
    nothing = choose([refuses_more], sfr_target=0.05, max_drop=0.01, measured=False)
    assert nothing.chosen == 1 and "no iteration passed" in nothing.rule


def test_when_the_split_is_too_small_to_show_the_margin_the_choice_says_so_and_reads_the_estimates():
    base_sfr, base_fpr = [True] * 10 + [False] * 20, [False] * 26  # 26 benign queries cannot show 5 points
    fixes_more = candidate_with_tests(1, [True] * 2 + [False] * 28, [False] * 26, base_sfr, base_fpr)
    fixes_less = candidate_with_tests(2, [True] * 6 + [False] * 24, [False] * 26, base_sfr, base_fpr)
    over_refuses = candidate_with_tests(3, [False] * 30, [True] * 5 + [False] * 21, base_sfr, base_fpr)
    chosen = choose([fixes_more, fixes_less, over_refuses], sfr_target=0.05, max_drop=0.01, measured=False)
    assert chosen.chosen == 1 and not chosen.meets_all_goals
    assert "cannot be shown at this size" in chosen.rule and "point estimates" in chosen.rule


def test_general_data_file_formats_and_errors(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
                {"messages": [{"role": "user", "content": "hi"}], "response": "hey"},
                {"messages": [{"role": "user", "content": "tool"}, {"role": "assistant", "content": None}]},
            ]
        )
    )
    data = load_general_data(path)
    assert len(data.examples) == 2 and data.skipped == 1 and data.examples[1][-1]["content"] == "hey"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"messages": [{"role": "user", "content": "no answer"}]}]))
    with pytest.raises(UserInputError, match="item 1.*end with the assistant"):
        load_general_data(bad)


async def test_general_data_is_on_policy_resumable_and_never_overwritten(tmp_path):
    source = tmp_path / "dolci.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"question {i}"},
                        {"role": "assistant", "content": "old answer"},
                    ]
                }
            )
            for i in range(10)
        )
    )
    fail = {"on": True}

    def script(messages, config):
        if fail["on"] and messages[-1].content == "question 3":
            raise RuntimeError("provider down")  # not retryable: the row fails this time
        return f"new answer to {messages[-1].content}"

    client = ScriptedClient(script, run_dir=tmp_path / "cache")
    options = GeneralDataOptions(source=source, output=tmp_path / "out.json", num_samples=6, max_workers=3)
    first = await generate_general_data(client, CallConfig(model="scripted/target"), options)
    assert first.written + first.failed == 6
    with pytest.raises(UserInputError, match="--resume"):
        await generate_general_data(client, CallConfig(model="scripted/target"), options)
    fail["on"] = False
    calls = len(client.calls)
    second = await generate_general_data(
        client, CallConfig(model="scripted/target"), options.model_copy(update={"resume": True})
    )
    assert second.written == 6 and second.failed == 0
    assert len(client.calls) - calls == first.failed  # only the missing rows were asked again
    items = json.loads((tmp_path / "out.json").read_text())
    assert all(i["messages"][-1]["content"].startswith("new answer to question") for i in items)
    assert all("old answer" not in json.dumps(i) for i in items)


def test_benchmark_files_map_to_questions_and_bad_rows_are_named(tmp_path):
    mmlu = load_questions(FIXTURES / "capability" / "mmlu_pro_style.jsonl")
    assert mmlu[3].answer == "D" and len(mmlu[0].choices) == 4
    gpqa = load_questions(FIXTURES / "capability" / "gpqa_style.csv")
    assert all(q.choices[ord(q.answer) - 65] in ("Na", "6", "Mercury", "2x") for q in gpqa)
    assert gpqa == load_questions(FIXTURES / "capability" / "gpqa_style.csv")  # same shuffle every time
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "options": ["a", "b"], "answer": "E"}) + "\n")
    with pytest.raises(UserInputError, match="bad.jsonl, question 1: field 'answer'"):
        load_questions(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"question": "q",')
    with pytest.raises(UserInputError, match="broken.json: not JSON"):
        load_questions(broken)


async def test_capability_scores_count_correct_answers_and_failures_are_missing(tmp_path):
    questions = {q.question: q.answer for q in load_questions(FIXTURES / "capability" / "mmlu_pro_style.jsonl")}

    def script(messages, config):
        text = messages[-1].content
        answer = next(a for q, a in questions.items() if q in text)
        return f"ANSWER: {answer if 'boiling' not in text else 'A'}"  # one wrong

    capability = Capability(benchmarks={"mmlu_pro": str(FIXTURES / "capability" / "mmlu_pro_style.jsonl")})
    scores = await evaluate_capability(
        ScriptedClient(script, run_dir=tmp_path), CallConfig(model="scripted/m"), capability, tmp_path / "logs"
    )
    score = scores.benchmarks["mmlu_pro"]
    assert (score.correct, score.total) == (5, 6) and score.log.endswith(".json")

    def broken(messages, config):
        raise RuntimeError("model crashed")

    failed = await evaluate_capability(
        ScriptedClient(broken, run_dir=tmp_path / "b"), CallConfig(model="scripted/m"), capability, tmp_path / "logs2"
    )
    assert failed.benchmarks["mmlu_pro"].status == "error" and failed.benchmarks["mmlu_pro"].accuracy is None
    assert failed.overall is None


needs_torch = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="needs the train extra")


@needs_torch
async def test_a_model_whose_weights_are_here_is_scored_by_likelihood(tmp_path):
    from a3.align.measure.loglik import weights_of
    from a3.testing.tiny_model import build_tiny_model

    folder = build_tiny_model(tmp_path / "tiny")
    capability = Capability(benchmarks={"mmlu_pro": str(FIXTURES / "capability" / "mmlu_pro_style.jsonl")})
    local = CallConfig(model="local/tiny", model_args={"model_path": str(folder)})
    client = ScriptedClient(
        lambda m, c: pytest.fail("no model call: the choices are ranked by likelihood"), run_dir=tmp_path
    )
    score = (await evaluate_capability(client, local, capability, tmp_path / "logs")).benchmarks["mmlu_pro"]
    assert score.status == "ok" and score.total == 6 and 0 <= score.correct <= 6
    answers = json.loads(Path(score.log).read_text())
    choices = {q.id: len(q.choices) for q in load_questions(FIXTURES / "capability" / "mmlu_pro_style.jsonl")}
    assert answers["method"] == "loglik" and [len(q["scores"]) for q in answers["questions"]] == list(choices.values())
    assert score.correct == sum(q["chosen"] == q["answer"] for q in answers["questions"])
    assert weights_of(CallConfig(model="anthropic/claude-sonnet-4-5")) is None
    adapted = CallConfig(
        model="local/iter-01", model_args={"model_path": str(folder), "adapter_path": "runs/x/adapter"}
    )
    assert weights_of(adapted) == (folder, Path("runs/x/adapter"))
    generate = Capability(benchmarks=capability.benchmarks, method="generate")
    writer = ScriptedClient(lambda m, c: "ANSWER: A", run_dir=tmp_path / "w")
    written = (await evaluate_capability(writer, local, generate, tmp_path / "logs2")).benchmarks["mmlu_pro"]
    assert written.status == "ok" and len(writer.calls) == 6  # "generate": the model writes its letter
    with pytest.raises(UserInputError, match="'loglik' needs the model's weights here"):
        await evaluate_capability(
            client,
            CallConfig(model="scripted/api"),
            Capability(benchmarks=capability.benchmarks, method="loglik"),
            tmp_path / "logs3",
        )


@needs_torch
async def test_an_adapter_is_scored_without_library_warnings(tmp_path):
    import warnings

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from a3.testing.tiny_model import build_tiny_model

    folder = build_tiny_model(tmp_path / "tiny")
    adapted = get_peft_model(AutoModelForCausalLM.from_pretrained(folder), LoraConfig(r=2, target_modules="all-linear"))
    adapted.save_pretrained(tmp_path / "adapter")
    capability = Capability(benchmarks={"mmlu_pro": str(FIXTURES / "capability" / "mmlu_pro_style.jsonl")})
    model = CallConfig(
        model="local/iter-01", model_args={"model_path": str(folder), "adapter_path": str(tmp_path / "adapter")}
    )
    client = ScriptedClient(lambda m, c: pytest.fail("no model call"), run_dir=tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = (await evaluate_capability(client, model, capability, tmp_path / "logs")).benchmarks["mmlu_pro"]
    assert score.status == "ok" and score.total == 6
    # peft's deprecated-attribute warning printed once per iteration into the demo's progress lines
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]


def test_stage_selection_flags():
    assert selected_stages(RunOptions()) == ["generate", "split", "expected", "general", "finetune"]
    assert selected_stages(RunOptions(start="split", stop="general", skip=frozenset({"expected"}))) == [
        "split",
        "general",
    ]
    with pytest.raises(UserInputError, match="unknown stage"):
        selected_stages(RunOptions(start="train"))
    with pytest.raises(UserInputError, match="comes after"):
        selected_stages(RunOptions(start="finetune", stop="split"))


def test_adapters_are_served_by_vllm_with_lora_or_locally_merged(tmp_path):
    from a3.align.measure.serving import served_model
    from a3.align.roles import resolve_roles
    from tests.helpers.finetune_runs import finetune_config

    config = finetune_config(tmp_path, tmp_path / "base")
    base, adapter = tmp_path / "base", tmp_path / "iter-01" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "adapter_model.safetensors").write_bytes(b"first training")
    vllm = served_model(resolve_roles(config).evaluated_target, base, adapter, "iter-01", use_vllm=True)
    assert (
        vllm.model == f"vllm/{base.resolve()}:{adapter.resolve()}"
        and vllm.temperature == config.finetune.eval_temperature
    )
    local = served_model(resolve_roles(config).evaluated_target, base, adapter, "iter-01", use_vllm=False)
    assert local.model == "local/iter-01" and local.model_args == {
        "model_path": str(base.resolve()),
        "adapter_path": str(adapter.resolve()),
    }
    assert served_model(resolve_roles(config).evaluated_target, base, None, "base", use_vllm=False).model_args == {
        "model_path": str(base.resolve())
    }


async def test_an_adapter_retrained_at_the_same_path_does_not_replay_the_old_replies(tmp_path):
    from a3.align.measure.serving import served_model
    from a3.align.roles import resolve_roles
    from tests.helpers.finetune_runs import finetune_config

    config = finetune_config(tmp_path, tmp_path / "base")
    adapter = tmp_path / "iter-01" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    weights = adapter / "adapter_model.safetensors"
    trainings = iter(["first training", "second training"])
    weights.write_bytes(next(trainings).encode())
    client = ScriptedClient(lambda messages, call: weights.read_text(), run_dir=tmp_path / "run")
    first = await client.generate(
        "Tell me the code.",
        config=served_model(
            resolve_roles(config).evaluated_target, tmp_path / "base", adapter, "iter-01", use_vllm=False
        ),
    )
    weights.write_bytes(next(trainings).encode())  # the iteration is trained again in the same folder
    again = await client.generate(
        "Tell me the code.",
        config=served_model(
            resolve_roles(config).evaluated_target, tmp_path / "base", adapter, "iter-01", use_vllm=False
        ),
    )
    assert (first.text, again.text, again.cached) == ("first training", "second training", False)


def test_the_fallback_plan_makes_one_change_by_the_agent_goals():
    from a3.align.finetune.decisions import fallback_plan

    base, _ = clamp(
        decision(weights=[HypothesisWeight(hypothesis_id="H1", harmful_weight=6, benign_weight=1)]), ["H1", "H2"], 10
    )
    leaky, why = fallback_plan(base, validation_sfr=0.2, validation_fpr=0.0, sfr_target=0.05)
    assert leaky.weights == {"H1": (10.0, 1.0), "H2": (2.0, 1.0)} and "harmful weights doubled" in why  # capped at 10
    assert leaky.hyperparameters() == base.hyperparameters()
    refusing, why = fallback_plan(base, validation_sfr=0.0, validation_fpr=0.3, sfr_target=0.05)
    assert refusing.weights == {"H1": (6.0, 2.0), "H2": (1.0, 2.0)} and "benign weights doubled" in why
    same, why = fallback_plan(base, validation_sfr=0.0, validation_fpr=0.0, sfr_target=0.05)
    assert same == base and "same plan" in why
    protect, why = fallback_plan(
        base, validation_sfr=0.2, validation_fpr=0.3, sfr_target=0.05, capability_drop=0.06, max_drop=0.01
    )
    assert protect.general_data_percentage == base.general_data_percentage + 20 and protect.weights == base.weights
    assert "capability fell" in why


def test_the_nearest_miss_never_prefers_an_iteration_with_more_benign_leaks():
    from a3.stats import paired_comparison

    base_sfr, base_fpr = [True] * 10 + [False] * 20, [False] * 26
    leaky = candidate_with_tests(1, [False] * 30, [True] * 3 + [False] * 23, base_sfr, base_fpr)
    leaky.tests.benign_leaks = paired_comparison([False] * 26, [True] * 12 + [False] * 14)  # significantly more
    refusing = candidate_with_tests(2, [True] * 5 + [False] * 25, [True] * 9 + [False] * 17, base_sfr, base_fpr)
    chosen = choose([leaky, refusing], sfr_target=0.05, max_drop=0.01, measured=False)
    assert chosen.chosen == 2 and "came closest" in chosen.rule
