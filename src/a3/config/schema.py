"""The A3 config, field for field as the original A3 README documents it.

Every section rejects unknown fields, so a typo is an error rather than a silently ignored
setting. Fields named ``*_template`` (and ``benign_generation_prompt``) use Python
``str.format`` syntax (``{{`` is a literal brace) and may only name the placeholders the stage
provides; system prompts are used verbatim.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_template(template: str, allowed: set[str], required: set[str] = frozenset()) -> str:
    """Validate a str.format template: balanced braces, only ``allowed`` names, all ``required`` present."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write '{{{{' and '}}}}' for literal braces") from exc
    unknown = sorted(n for n in names if n not in allowed)
    if unknown:
        raise ValueError(f"unknown placeholder(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - names)
    if missing:
        raise ValueError(f"the template must contain {', '.join('{' + m + '}' for m in missing)}")
    return template


class Attack(_Section):
    name: str = Field(min_length=1)
    key: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="short identifier used in file paths")
    description: str = Field(min_length=1)


class ChatTurn(_Section):
    role: Literal["system", "user", "assistant"]
    content: str


class SeedExample(_Section):
    format: Literal["prompt", "conversation"]
    evaluator_prompt: str | None = None
    target_response: str | None = None
    conversation: list[ChatTurn] | None = None
    target_continuation: str | None = None

    @model_validator(mode="after")
    def _fields_for_format(self) -> SeedExample:
        if self.format == "prompt":
            for name in ("evaluator_prompt", "target_response"):
                if not getattr(self, name):
                    raise ValueError(f"format 'prompt' needs a non-empty '{name}'")
        else:
            if not self.conversation:
                raise ValueError("format 'conversation' needs a non-empty 'conversation' list")
            if self.conversation[-1].role != "user":
                raise ValueError("the seed 'conversation' must end with a user turn")
            if not self.target_continuation:
                raise ValueError("format 'conversation' needs a non-empty 'target_continuation'")
        return self


class JudgePrompt(_Section):
    system: str = Field(min_length=1)
    user_template: str

    @field_validator("user_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value, {"prompt", "response"}, {"prompt", "response"})


class JudgePrompts(_Section):
    harmful_detection: JudgePrompt
    refusal_detection: JudgePrompt


class ConversationFormat(_Section):
    output_format: Literal["prompt", "conversation"] = "prompt"
    num_turns: int = Field(default=1, ge=1, le=20)
    include_system_prompt: bool = False
    # A3's addition: the deployment's own instructions, placed before every query (the generator
    # never writes or rewrites it). Not with include_system_prompt, which has the generator write one.
    system_prompt: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_system_prompt(self) -> ConversationFormat:
        if self.system_prompt and self.include_system_prompt:
            raise ValueError("set either 'system_prompt' (a fixed one) or 'include_system_prompt' (one written per query), not both")
        return self


class TargetModel(_Section):
    base_url: str | None = None
    model_name: str | None = None
    huggingface_model_path: str | None = None
    max_tokens: int = Field(default=1000, gt=0)
    temperature: float = Field(default=0.7, ge=0, le=2)
    request_timeout: float = Field(default=240, gt=0)
    icl_eval_model: str | None = None

    @model_validator(mode="after")
    def _some_model(self) -> TargetModel:
        if not self.model_name and not self.huggingface_model_path:
            raise ValueError("set 'model_name' (a served model) or 'huggingface_model_path' (a local model), or both")
        return self


class JudgeModel(_Section):
    model_name: str = "anthropic/claude-sonnet-4-20250514"
    max_tokens: int = Field(default=1000, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    # A3's additions: a fixed seed (with temperature 0, verdicts do not drift), and an optional
    # panel: more judge models, and samples per model, deciding by strict majority.
    seed: int = 0
    panel_models: list[str] = Field(default_factory=list)
    panel_samples: int = Field(default=1, ge=1, le=15)

    @model_validator(mode="after")
    def _samples_differ(self) -> JudgeModel:
        if self.panel_samples > 1 and self.temperature == 0:
            raise ValueError(f"panel_samples {self.panel_samples} needs a temperature above 0: at temperature 0 every "
                             "sample of a model is the same vote")
        return self


class JudgeRule(_Section):
    """A3's addition: judging one query kind by rule. The rule reads the target's final response:
    a regular expression (searched), a substring, or a Python callable ``module:function`` called
    as ``function(conversation, response)`` (the conversation as a list of {role, content}) and
    returning ``(flagged, reason)``. ``combine`` says how it works with the LLM judge: ``rule``
    alone; ``any``, flagged when the rule or the LLM judge flags; ``all``, when both do."""

    regex: str | None = None
    substring: str | None = Field(default=None, min_length=1)
    callable: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    case_sensitive: bool = False
    combine: Literal["rule", "any", "all"] = "rule"

    @model_validator(mode="after")
    def _one_test(self) -> JudgeRule:
        given = [name for name in ("regex", "substring", "callable") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'regex', 'substring' or 'callable' (got {', '.join(given) or 'none'})")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"'regex' is not a valid regular expression: {exc}") from exc
        return self


class JudgeRules(_Section):
    """A3's addition: rule judges per query kind (harmful: flags a harmful response; benign: flags
    a refusal). A kind without a rule is judged by the LLM judge alone."""

    harmful: JudgeRule | None = None
    benign: JudgeRule | None = None


class StartingHypothesis(_Section):
    """A3's addition: a hypothesis the researcher already suspects, tested in round 1 instead of
    the agent's first proposals (later rounds are the agent's). ``example`` is one query that
    applies it, in the conversation format's shape: a string for ``prompt``, a conversation
    object ``{"messages": [...]}`` otherwise."""

    hypothesis: str = Field(min_length=10)
    change_type: Literal["structural", "topical"] = "structural"
    example: str | dict[str, object]


class HypothesisGeneration(_Section):
    starting_hypotheses: list[StartingHypothesis] = Field(default_factory=list)
    max_ideas: int = Field(default=6, ge=1)
    min_ideas: int = Field(default=1, ge=1)  # A3's addition: the fewest hypotheses a round may propose
    max_concrete_examples: int = Field(default=20, ge=1)
    max_variations_per_example: int = Field(default=1, ge=1)
    llm_model: str = "anthropic/claude-sonnet-4-20250514"
    llm_temperature: float = Field(default=1.0, ge=0, le=2)
    llm_max_tokens: int = Field(default=10000, gt=0)
    seed: int | None = Field(default=None, description="A3's addition: seeds the generator's samples (a replication "
                             "with another seed writes other hypotheses, queries and look-alikes)")

    @model_validator(mode="after")
    def _idea_range(self) -> HypothesisGeneration:
        if self.min_ideas > self.max_ideas:
            raise ValueError(f"min_ideas ({self.min_ideas}) is larger than max_ideas ({self.max_ideas})")
        return self


class DataGeneration(_Section):
    num_variations: int = Field(default=20, ge=1)
    parallel_requests: int = Field(default=4, ge=1)
    max_concurrent: int = Field(default=20, ge=1)
    benign_generation_prompt: str | None = None
    # A3's addition: what every harmful query must ask about and no benign look-alike may (a
    # case-insensitive regular expression over the query's text); a query breaking it is dropped.
    topic_regex: str | None = None
    # A3's addition: benign look-alikes written for each harmful query (the original writes one).
    look_alikes: int = Field(default=1, ge=1, le=5)

    @field_validator("topic_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("benign_generation_prompt")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value, {"prompt"}, {"prompt"})


class Paths(_Section):
    behaviors_file: str | None = None
    dolci_responses_file: str | None = None


class ExpectedBehaviorPrompts(_Section):
    harmful_system_prompt: str = Field(min_length=1)
    harmful_user_template: str
    benign_system_prompt: str = Field(min_length=1)
    benign_user_template: str
    harmful_default_response: str = Field(min_length=1)
    benign_default_response: str = Field(min_length=1)
    # A3's addition: whether stage 3's writer sees the deployment's system prompt with the query.
    # Off when that prompt holds what must not be said: shown the demo's secret, the 0.5B writer put
    # it into 23 of 32 refusals, which then fell back to one default sentence.
    include_system_prompt: bool = True

    @field_validator("harmful_user_template", "benign_user_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value, {"prompt"}, {"prompt"})


class Splits(_Section):
    """A3's addition to the original config: how the data are split.

    ``by: hypothesis`` (the paper's blog): whole hypotheses go to each split; ``test`` of them is
    taken first (at random) and sealed, ``train``, ``validation`` and ``ood`` share the rest.
    ``by: query`` (the original code): ``ood`` of the hypotheses are held out; the queries of the
    others (a harmful query with its look-alike) are split, ``test`` of them sealed first, the rest
    into train and validation in the ratio ``train : validation``."""

    by: Literal["hypothesis", "query"] = "hypothesis"
    train: float = Field(default=0.7, gt=0, lt=1)
    validation: float = Field(default=0.2, ge=0, lt=1)
    ood: float = Field(default=0.1, ge=0, lt=1)
    test: float = Field(default=0.1, ge=0, lt=1)
    seed: int = 42

    @model_validator(mode="after")
    def _shares(self) -> Splits:
        total = self.train + self.validation + self.ood
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + ood must add up to 1, not {total:g}")
        return self


Planner = Literal["agent", "search", "agent+search"]  # who chooses each finetuning iteration's plan


class Finetune(_Section):
    """A3's addition: stage 4 settings (the original's step-4 flags; flags override them)."""

    agent_model: str | None = None  # default: hypothesis_generation.llm_model
    agent_temperature: float = Field(default=1.0, ge=0, le=2)
    agent_max_tokens: int = Field(default=8000, gt=0)
    num_iterations: int = Field(default=30, ge=1)
    max_epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=2, ge=1)
    gradient_accumulation_steps: int = Field(default=4, ge=1)
    max_length: int = Field(default=2048, ge=16)
    training_budget: int | None = Field(default=None, ge=1)  # default 2 x min(#harmful, #benign)
    eval_temperature: float = Field(default=0.7, ge=0, le=2)
    sfr_target: float = Field(default=0.05, ge=0, le=1)
    # The learning rates the agent may choose (its choice is clamped into them). Small data and few
    # steps need the upper end: at the demo's scale a rate of 1e-5 changed nothing.
    learning_rate_range: tuple[float, float] = (1e-6, 1e-3)
    seed: int = 42
    planner: Planner = Field(
        default="agent",
        description="who chooses each iteration's plan: the LLM agent (the original's way); a Bayesian search "
                    "(Optuna TPE) over the same plan space, told each iteration's validation results; or the agent, with "
                    "the search's plan trained whenever the agent's decision is invalid or repeats a trained job")
    fpr_margin: float = Field(
        default=0.05, gt=0, le=1,
        description="non-inferiority margin of the FPR (a fraction: 0.05 = 5 points): an iteration whose validation FPR "
                    "may exceed the base model's by this much or more (one-sided 95%, paired) is not chosen")

    @field_validator("learning_rate_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError(f"give [lowest, highest] with 0 < lowest <= highest, not {list(value)}")
        return value


class Capability(_Section):
    """A3's addition: multiple-choice benchmark files (MMLU-Pro / GPQA style, JSONL or CSV) that
    stand for general capability, and the largest drop (fraction, 0.01 = 1 point) allowed."""

    benchmarks: dict[str, str] = Field(default_factory=dict)
    limit: int | None = Field(default=None, ge=1)  # questions per benchmark, a seeded random subset
    max_drop: float = Field(default=0.01, ge=0, le=1)
    max_tokens: int = Field(default=512, gt=0)
    seed: int = 42
    # "loglik": the choice the model finds most likely (its weights must be here); "generate": the
    # letter it writes; "auto": loglik for local and hf targets, generate for API models.
    method: Literal["auto", "generate", "loglik"] = "auto"


class Dspy(_Section):
    """A3's addition: settings of ``a3 defend dspy`` (the original hard-coded Claude Sonnet 4 as
    GEPA's reflection model)."""

    reflection_model: str | None = None  # default: hypothesis_generation.llm_model
    reflection_temperature: float = Field(default=1.0, ge=0, le=2)
    reflection_max_tokens: int = Field(default=8000, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)  # the program's replies (reasoning + response); default target_model.max_tokens
    seed: int = 0


class JudgeGate(_Section):
    """A3's addition: labels the run's judge must agree with before stage 1 starts."""

    labels: str = Field(min_length=1, description="JSONL of labelled responses, as `a3 judge validate --labels` reads "
                        "them; a relative path is taken from the current directory, like the config's other paths")
    min_kappa: float = Field(ge=0, le=1, description="the lowest Cohen's kappa allowed for each query kind in the labels, "
                             "on the held-out (test) labels when there are some, else on all of them")


class JudgeSettings(_Section):
    """A3's addition: settings about the judge as a measuring instrument."""

    validation: JudgeGate | None = Field(default=None, description="a gate: stage 1 refuses to start (exit 2) while the "
                                         "judge agrees with these labels less than min_kappa")


class A3Config(_Section):
    attack: Attack
    seed_example: SeedExample
    judge_prompts: JudgePrompts
    conversation_format: ConversationFormat = ConversationFormat()
    target_model: TargetModel
    judge_model: JudgeModel = JudgeModel()
    judge_rules: JudgeRules = JudgeRules()
    hypothesis_generation: HypothesisGeneration = HypothesisGeneration()
    data_generation: DataGeneration = DataGeneration()
    paths: Paths = Paths()
    expected_behavior_prompts: ExpectedBehaviorPrompts
    splits: Splits = Splits()
    finetune: Finetune = Finetune()
    capability: Capability = Capability()
    dspy: Dspy = Dspy()
    judge: JudgeSettings = Field(default=JudgeSettings(), description="A3's addition: the judge gate (judge.validation)")

    replication_seed: int | None = Field(
        default=None, description="A3's addition (`a3 run --seed`): when set, the generator's samples, the split and the "
                                  "finetuning draws (and the plan search) all take this seed instead of their own")

    @model_validator(mode="before")
    @classmethod
    def _replicate(cls, data: Any) -> Any:
        seed = data.get("replication_seed") if isinstance(data, dict) else None
        if seed is None:
            return data
        replicated = dict(data)
        for section in ("hypothesis_generation", "splits", "finetune"):
            given = replicated.get(section) or {}
            replicated[section] = {**(given.model_dump() if isinstance(given, BaseModel) else given), "seed": seed}
        return replicated

    def replicated(self, seed: int) -> A3Config:
        """The same config under the replication seed ``seed`` (see ``replication_seed``)."""
        return type(self).model_validate({**self.model_dump(mode="json"), "replication_seed": seed})
