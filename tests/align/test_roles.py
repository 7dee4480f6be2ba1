import pytest

from a3.align.roles import generator_call_config, judge_model_names, target_call_config
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


def test_judge_and_generator_settings():
    from tests.helpers.align_runs import make_config

    config = make_config()
    assert judge_model_names(config) == ["scripted/judge"]
    assert generator_call_config(config, "anthropic/claude-opus-4-1").model == "anthropic/claude-opus-4-1"
