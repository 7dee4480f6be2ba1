import pytest

from a3.align.roles import resolve_roles, target_call_config
from a3.config.schema import TargetModel
from a3.errors import UserInputError
from a3.llm.naming import resolve_model


@pytest.mark.parametrize(
    "name, base_url, expected",
    [
        (
            "meta-llama/llama-3.1-8b-instruct",
            "https://openrouter.ai/api/v1",
            ("openrouter/meta-llama/llama-3.1-8b-instruct", {}),
        ),
        (
            "my-model",
            "http://127.0.0.1:8000/v1",
            ("openai-api/target/my-model", {"base_url": "http://127.0.0.1:8000/v1"}),
        ),
        ("claude-sonnet-4-20250514", None, ("anthropic/claude-sonnet-4-20250514", {})),
        ("gpt-5", None, ("openai/gpt-5", {})),
        ("anthropic/claude-sonnet-4-5", None, ("anthropic/claude-sonnet-4-5", {})),
        ("openrouter/openai/gpt-5", "https://openrouter.ai/api/v1", ("openrouter/openai/gpt-5", {})),
        ("vllm/Qwen/Qwen2.5-7B-Instruct", None, ("vllm/Qwen/Qwen2.5-7B-Instruct", {})),
        ("local/smollm2-135m", None, ("local/smollm2-135m", {})),
    ],
)
def test_resolve_model(name, base_url, expected):
    assert resolve_model(name, base_url) == expected


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(UserInputError, match="cannot tell which provider serves 'mystery-7b'"):
        resolve_model("mystery-7b", field="judge_model.model_name")


def test_target_fields_map_onto_the_call():
    target = TargetModel(
        base_url="https://openrouter.ai/api/v1",
        model_name="qwen/qwen-2.5-7b-instruct",
        huggingface_model_path="Qwen/Qwen2.5-7B-Instruct",
        max_tokens=123,
        temperature=0.4,
        request_timeout=30,
    )
    call = target_call_config(target)
    assert call.model == "openrouter/qwen/qwen-2.5-7b-instruct"
    assert (call.max_tokens, call.temperature, call.timeout) == (123, 0.4, 30)


def test_target_with_only_local_weights_uses_the_hf_provider():
    call = target_call_config(TargetModel(huggingface_model_path="/models/tiny"))
    assert call.model == "hf/target" and call.model_args["model_path"] == "/models/tiny"
    assert target_call_config(TargetModel(huggingface_model_path="local/smollm2-135m")).model == "local/smollm2-135m"


def test_roles_are_resolved_once_from_the_config_with_the_command_overrides():
    from tests.helpers.align_runs import make_config

    base = make_config()
    config = base.model_copy(
        update={
            "judge_model": base.judge_model.model_copy(
                update={"panel_models": ["scripted/judge-b"], "panel_samples": 2}
            ),
            "finetune": base.finetune.model_copy(update={"eval_temperature": 0.3}),
        }
    )
    roles = resolve_roles(config, generator_model="anthropic/claude-opus-4-1")
    assert roles.generator.model == "anthropic/claude-opus-4-1"
    assert roles.generator.temperature == config.hypothesis_generation.llm_temperature
    # two models, two seeded samples of each; the second sample draws anew (its own cache entries)
    assert [(v.model, v.seed, v.cache_salt) for v in roles.judge.voters] == [
        ("scripted/judge", config.judge_model.seed, None),
        ("scripted/judge", config.judge_model.seed + 1, "vote 1"),
        ("scripted/judge-b", config.judge_model.seed, None),
        ("scripted/judge-b", config.judge_model.seed + 1, "vote 1"),
    ]
    assert roles.judge.model_names == ["scripted/judge", "scripted/judge-b"]
    # adapters and base weights are sampled at the evaluation temperature, with the target's limits
    assert roles.evaluated_target.temperature == 0.3 != roles.target.temperature == config.target_model.temperature
    assert roles.evaluated_target.max_tokens == roles.target.max_tokens == config.target_model.max_tokens
    # the agent falls back to the generator's model as configured (not the command's override)
    assert roles.agent.model == resolve_model(config.hypothesis_generation.llm_model)[0]
    models = [c.model for c in roles.models()]
    assert len(models) == len(set(models)) and {"scripted/judge", "scripted/judge-b"} <= set(models)


def test_an_unknown_override_names_its_flag():
    from tests.helpers.align_runs import make_config

    with pytest.raises(UserInputError, match="--agent-model: cannot tell which provider serves 'mystery'"):
        resolve_roles(make_config(), agent_model="mystery")


def test_local_models_that_write_are_served_fast_and_those_that_measure_exactly():
    from tests.helpers.align_runs import make_config

    base = make_config()
    config = base.model_copy(
        update={
            "hypothesis_generation": base.hypothesis_generation.model_copy(
                update={"llm_model": "local/qwen2.5-coder-0.5b"}
            ),
            "target_model": base.target_model.model_copy(update={"model_name": "local/smollm2-135m"}),
            "judge_model": base.judge_model.model_copy(update={"model_name": "local/qwen2.5-coder-0.5b"}),
        }
    )
    roles = resolve_roles(config)
    for writer in (roles.generator, roles.agent, roles.reflection):
        assert writer.model == "local/qwen2.5-coder-0.5b" and writer.model_args == {"engine_mode": "fast"}
    # the target, its served adapters and the judge keep the batch-invariant default
    for measuring in (roles.target, roles.evaluated_target, *roles.judge.voters):
        assert "engine_mode" not in measuring.model_args
    # an API model's provider arguments are not touched
    assert resolve_roles(config, generator_model="anthropic/claude-opus-4-1").generator.model_args == {}
