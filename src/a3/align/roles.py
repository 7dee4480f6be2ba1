"""Every model the pipeline calls, resolved once from the config: the typed ``Roles`` that stage code
takes instead of the config's model fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from a3.align.records import Kind
from a3.config.schema import A3Config, JudgePrompts, JudgeRule, TargetModel
from a3.llm.naming import resolve_model
from a3.llm.types import CallConfig


class JudgeSpec(BaseModel):
    """The judge as the config sets it: its LLM votes, its prompts and a rule judge per query kind.

    One call config per vote: every judge model, ``panel_samples`` seeded samples of each."""

    model_config = ConfigDict(frozen=True)

    voters: list[CallConfig]
    prompts: JudgePrompts
    rules: dict[Kind, JudgeRule | None]  # None: the LLM judge alone

    @property
    def model_names(self) -> list[str]:
        """One model string per configured judge model, in the config's order, repeats kept (stage
        1's manifest hashes this list)."""
        return [v.model for v in self.voters if v.cache_salt is None]  # each model's first sample


class Roles(BaseModel):
    """The models of one pipeline run, names checked and provider arguments set."""

    model_config = ConfigDict(frozen=True)

    generator: CallConfig  # hypotheses, queries, the split's OOD check, expected responses
    target: CallConfig  # the model under test, as configured
    evaluated_target: CallConfig  # how served base weights and adapters are sampled (serving.served_model)
    judge: JudgeSpec
    agent: CallConfig  # the finetuning agent, and the ICL baseline's selection agent
    reflection: CallConfig  # GEPA's reflection model in the DSPy baseline

    def models(self) -> list[CallConfig]:
        """Every distinct model and model arguments called, for the preflight check (a model served
        in two modes is listed twice)."""
        calls = [self.generator, self.target, *self.judge.voters, self.agent, self.reflection]
        seen: dict[tuple[str, str], CallConfig] = {}
        for call in calls:
            seen.setdefault((call.model, repr(sorted(call.model_args.items()))), call)
        return list(seen.values())


def resolve_roles(config: A3Config, generator_model: str | None = None, agent_model: str | None = None) -> Roles:
    """The roles ``config`` sets, with a command's overrides of the generator and the agent.

    ``generator_model`` and ``agent_model`` are a command's --model and --agent-model. An unknown
    model name is a UserInputError naming its field or flag."""
    target = target_call_config(config.target_model)
    return Roles(
        generator=_generator(config, generator_model),
        target=target,
        evaluated_target=target.model_copy(update={"temperature": config.finetune.eval_temperature}),
        judge=judge_spec(config),
        agent=_agent(config, agent_model),
        reflection=_reflection(config),
    )


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


def judge_spec(config: A3Config) -> JudgeSpec:
    """The judge ``config`` describes (how it decides: a3.align.measure.judge)."""
    settings = config.judge_model
    names = [settings.model_name, *settings.panel_models]
    fields = ["judge_model.model_name", *(f"judge_model.panel_models[{i}]" for i in range(len(settings.panel_models)))]
    voters = []
    for name, field in zip(names, fields, strict=True):
        model, args = resolve_model(name, field=field)
        for sample in range(settings.panel_samples):
            voters.append(
                CallConfig(
                    model=model,
                    model_args=args,
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                    seed=settings.seed + sample,
                    cache_salt=f"vote {sample}" if sample else None,
                )
            )
    rules: dict[Kind, JudgeRule | None] = {"harmful": config.judge_rules.harmful, "benign": config.judge_rules.benign}
    return JudgeSpec(voters=voters, prompts=config.judge_prompts, rules=rules)


def writer_model(name: str, field: str) -> tuple[str, dict[str, Any]]:
    """``resolve_model`` for a model that writes but measures nothing (generator, agent, reflection).

    An embedded local model is then served in the engine's fast mode: its replies need not be the
    same whatever else is generated beside them, as a target's and a judge's must."""
    model, args = resolve_model(name, field=field)
    if model.startswith("local/"):
        args = {**args, "engine_mode": "fast"}
    return model, args


def _generator(config: A3Config, override: str | None) -> CallConfig:
    gen = config.hypothesis_generation
    model, args = writer_model(
        override or gen.llm_model, field="--model" if override else "hypothesis_generation.llm_model"
    )
    return CallConfig(
        model=model, model_args=args, temperature=gen.llm_temperature, max_tokens=gen.llm_max_tokens, seed=gen.seed
    )


def _agent(config: A3Config, override: str | None) -> CallConfig:
    ft = config.finetune
    name = override or ft.agent_model or config.hypothesis_generation.llm_model
    model, args = writer_model(name, field="--agent-model" if override else "finetune.agent_model")
    return CallConfig(model=model, model_args=args, temperature=ft.agent_temperature, max_tokens=ft.agent_max_tokens)


def _reflection(config: A3Config) -> CallConfig:
    dspy = config.dspy
    name = dspy.reflection_model or config.hypothesis_generation.llm_model
    model, args = writer_model(name, field="dspy.reflection_model")
    return CallConfig(
        model=model, model_args=args, temperature=dspy.reflection_temperature, max_tokens=dspy.reflection_max_tokens
    )
