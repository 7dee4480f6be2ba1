"""Which model string and settings each role of the pipeline uses, from the config."""

from __future__ import annotations

from typing import Any

from a3.config.schema import A3Config, TargetModel
from a3.llm.naming import resolve_model
from a3.llm.types import CallConfig


def target_call_config(target: TargetModel) -> CallConfig:
    """The served target (model_name) when there is one, else the local weights (huggingface_model_path)."""
    if target.model_name:
        model, args = resolve_model(target.model_name, target.base_url, "target_model.model_name")
    else:
        path = target.huggingface_model_path or ""
        if path.split("/", 1)[0] in ("local", "hf"):
            model, args = path, {}
        else:
            model, args = "hf/target", {"model_path": path, "device": "cpu", "do_sample": True}
    return CallConfig(
        model=model,
        model_args=args,
        temperature=target.temperature,
        max_tokens=target.max_tokens,
        timeout=target.request_timeout,
    )


def judge_model_names(config: A3Config) -> list[str]:
    """The model strings of the LLM judge (and its panel). How they are called: a3.align.measure.judge."""
    judge = config.judge_model
    names = [judge.model_name, *judge.panel_models]
    fields = ["judge_model.model_name", *(f"judge_model.panel_models[{i}]" for i in range(len(judge.panel_models)))]
    return [resolve_model(name, field=field)[0] for name, field in zip(names, fields, strict=False)]


def generator_call_config(config: A3Config, model_override: str | None = None) -> CallConfig:
    gen = config.hypothesis_generation
    name = model_override or gen.llm_model
    model, args = resolve_model(name, field="--model" if model_override else "hypothesis_generation.llm_model")
    return CallConfig(
        model=model, model_args=args, temperature=gen.llm_temperature, max_tokens=gen.llm_max_tokens, seed=gen.seed
    )


def config_models(config: A3Config) -> list[tuple[str, dict[str, Any]]]:
    """Every model the config names, as (model string, provider arguments): for the preflight check."""
    found = [(generator_call_config(config).model, generator_call_config(config).model_args)]
    target = target_call_config(config.target_model)
    found.append((target.model, target.model_args))
    found += [(name, {}) for name in judge_model_names(config)]
    for field, name in (
        ("finetune.agent_model", config.finetune.agent_model),
        ("dspy.reflection_model", config.dspy.reflection_model),
    ):
        if name:
            found.append(resolve_model(name, field=field))
    return found
