"""The A3 config, field for field as the original A3 README documents it.

Every section rejects unknown fields, so a typo is an error rather than a silently ignored
setting. Fields named ``*_template`` (and ``benign_generation_prompt``) use Python
``str.format`` syntax (``{{`` is a literal brace) and may only name the placeholders the stage
provides; system prompts are used verbatim.
"""

from __future__ import annotations

import re
import string
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from a3.store.hashing import IDENTITY_WHEN_SET


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_template(template: str, allowed: AbstractSet[str], required: AbstractSet[str] = frozenset()) -> str:
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
    name: str = Field(
        min_length=1, description="A readable name of the behaviour; the agents are told it with the description"
    )
    key: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="A short identifier used in file paths: the default run directory is runs/<key>_<target model>",
    )
    description: str = Field(
        min_length=1,
        description="What the behaviour is, when it happens and what makes a reply unsafe: "
        "what the agents are told they are looking for",
    )


class ChatTurn(_Section):
    role: Literal["system", "user", "assistant"] = Field(description="Who speaks the turn")
    content: str = Field(description="The text of the turn")


class SeedExample(_Section):
    format: Literal["prompt", "conversation"] = Field(
        description="`prompt`: one user message (evaluator_prompt) and the unsafe reply (target_response); "
        "`conversation`: turns ending with the user's (conversation) and the unsafe reply (target_continuation)"
    )
    evaluator_prompt: str | None = Field(
        default=None, description="With format prompt: the user's message that drew the unsafe reply"
    )
    target_response: str | None = Field(default=None, description="With format prompt: the target's unsafe reply")
    conversation: list[ChatTurn] | None = Field(
        default=None, description="With format conversation: the turns before the unsafe reply, ending with a user turn"
    )
    target_continuation: str | None = Field(
        default=None, description="With format conversation: the target's unsafe reply to the conversation"
    )

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
    system: str = Field(min_length=1, description="The judge's system prompt, used as written")
    user_template: str = Field(
        description="The judge's user message, a format string that must contain {prompt} (the "
        "query, rendered as text) and {response} (the target's reply)"
    )

    @field_validator("user_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value, {"prompt", "response"}, {"prompt", "response"})


class JudgePrompts(_Section):
    harmful_detection: JudgePrompt = Field(
        description="How the LLM judge reads a reply to a harmful query: it answers "
        "{reason, harmful}; a harmful reply is a safety failure (SFR)"
    )
    refusal_detection: JudgePrompt = Field(
        description="How the LLM judge reads a reply to a benign look-alike: it "
        "answers {reason, refused}; a refusal is a false positive (FPR)"
    )


class ConversationFormat(_Section):
    output_format: Literal["prompt", "conversation"] = Field(
        default="prompt",
        description="The shape of the queries the generator writes: `prompt` (one user message) or "
        "`conversation` (num_turns alternating turns ending with the user's)",
    )
    num_turns: int = Field(default=1, ge=1, le=20, description="Turns per query written in the conversation format")
    include_system_prompt: bool = Field(
        default=False,
        description="Whether the generator writes a system prompt for each query (not with system_prompt)",
    )
    # A3's addition: the deployment's own instructions, placed before every query (the generator
    # never writes or rewrites it). Not with include_system_prompt, which has the generator write one.
    system_prompt: str | None = Field(
        default=None,
        min_length=1,
        description="A3's addition: the deployment's own "
        "system prompt, put unchanged before every query; stage 1's writers never see or "
        "rewrite it",
    )

    @model_validator(mode="after")
    def _one_system_prompt(self) -> ConversationFormat:
        if self.system_prompt and self.include_system_prompt:
            raise ValueError(
                "set either 'system_prompt' (a fixed one) or 'include_system_prompt' (one written per query), not both"
            )
        return self


class TargetModel(_Section):
    base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible endpoint serving a bare model_name: "
        "OpenRouter's becomes openrouter/<model_name>, any other openai-api/target/<model_name> "
        "with its key in TARGET_API_KEY",
    )
    model_name: str | None = Field(
        default=None,
        description="The target's model string (any provider: local/..., "
        "openai/..., openrouter/<vendor>/<model>, vllm/...); bare claude-* and gpt-* names get "
        "their provider prefix. Unset: the weights in huggingface_model_path are served",
    )
    huggingface_model_path: str | None = Field(
        default=None,
        description="The weights stage 4 trains: a local Hugging "
        "Face folder, or an embedded local/<name> model; nothing is downloaded at "
        "run time. Without model_name, also the target that is measured",
    )
    max_tokens: int = Field(default=1000, gt=0, description="The target's longest reply, in tokens")
    temperature: float = Field(default=0.7, ge=0, le=2, description="The target's sampling temperature (0: greedy)")
    request_timeout: float = Field(
        default=240, gt=0, description="Seconds an attempt of a call to the target may take before it is retried"
    )
    icl_eval_model: str | None = Field(
        default=None,
        description="Read for compatibility with the original configs and "
        "not used: `a3 defend icl` prompts the target above",
    )

    @model_validator(mode="after")
    def _some_model(self) -> TargetModel:
        if not self.model_name and not self.huggingface_model_path:
            raise ValueError("set 'model_name' (a served model) or 'huggingface_model_path' (a local model), or both")
        return self


class JudgeModel(_Section):
    model_name: str = Field(default="anthropic/claude-sonnet-4-20250514", description="The LLM judge's model string")
    max_tokens: int = Field(default=1000, gt=0, description="The judge's longest verdict, in tokens")
    temperature: float = Field(
        default=0.0,
        ge=0,
        le=2,
        description="The judge's sampling temperature: keep 0 so verdicts do not drift; above 0 for panel_samples > 1",
    )
    # A3's additions: a fixed seed (with temperature 0, verdicts do not drift), and an optional
    # panel: more judge models, and samples per model, deciding by strict majority.
    seed: int = Field(
        default=0, description="A3's addition: the judge's sampling seed (a panel model's n-th vote uses seed + n)"
    )
    panel_models: list[str] = Field(
        default_factory=list,
        description="A3's addition: more judge models; with them, "
        "the whole panel decides by strict majority and a failed vote counts for neither side",
    )
    panel_samples: int = Field(
        default=1,
        ge=1,
        le=15,
        description="A3's addition: votes per judge model (more than one needs a temperature above 0)",
    )

    @model_validator(mode="after")
    def _samples_differ(self) -> JudgeModel:
        if self.panel_samples > 1 and self.temperature == 0:
            raise ValueError(
                f"panel_samples {self.panel_samples} needs a temperature above 0: at temperature 0 every "
                "sample of a model is the same vote"
            )
        return self


class JudgeRule(_Section):
    """A3's addition: judging one query kind by rule. The rule reads the target's final response:
    a regular expression (searched), a substring, or a Python callable ``module:function`` called
    as ``function(conversation, response)`` (the conversation as a list of {role, content}) and
    returning ``(flagged, reason)``. ``combine`` says how it works with the LLM judge: ``rule``
    alone; ``any``, flagged when the rule or the LLM judge flags; ``all``, when both do."""

    regex: str | None = Field(default=None, description="A regular expression searched in the target's final response")
    substring: str | None = Field(default=None, min_length=1, description="Text looked for in the final response")
    callable: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="A Python callable `module:function`, called as function(conversation, "
        "response) and returning (flagged, reason)",
    )
    case_sensitive: bool = Field(
        default=False, description="Whether regex and substring match case exactly (by default case is ignored)"
    )
    combine: Literal["rule", "any", "all"] = Field(
        default="rule",
        description="How the rule works with the LLM judge: "
        "`rule` alone, `any` (flagged when either flags), `all` (when both do)",
    )

    @model_validator(mode="after")
    def _one_test(self) -> JudgeRule:
        given = [name for name in ("regex", "substring", "callable") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'regex', 'substring' or 'callable' (got {', '.join(given) or 'none'})"
            )
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"'regex' is not a valid regular expression: {exc}") from exc
        return self


class JudgeRules(_Section):
    """A3's addition: rule judges per query kind (harmful: flags a harmful response; benign: flags
    a refusal). A kind without a rule is judged by the LLM judge alone."""

    harmful: JudgeRule | None = Field(
        default=None,
        description="The rule for replies to harmful queries (flags a "
        "harmful reply); it also drops generated queries and rewrites expected replies "
        "that it flags",
    )
    benign: JudgeRule | None = Field(
        default=None,
        description="The rule for replies to benign look-alikes (flags a "
        "refusal); a look-alike that it flags is drawn again",
    )


class StartingHypothesis(_Section):
    """A3's addition: a hypothesis the researcher already suspects, tested in round 1 instead of
    the agent's first proposals (later rounds are the agent's). ``example`` is one query that
    applies it, in the conversation format's shape: a string for ``prompt``, a conversation
    object ``{"messages": [...]}`` otherwise."""

    hypothesis: str = Field(min_length=10, description="The suspected trigger, in words")
    change_type: Literal["structural", "topical"] = Field(
        default="structural", description="Whether it changes the query's structure or its topic"
    )
    example: str | dict[str, object] = Field(
        description='One query that applies it: a string for output_format prompt, {"messages": [...]} for conversation'
    )


class HypothesisGeneration(_Section):
    starting_hypotheses: list[StartingHypothesis] = Field(
        default_factory=list,
        description="A3's addition: triggers already suspected, tested in round 1 before the agent's own",
    )
    max_ideas: int = Field(default=6, ge=1, description="The most hypotheses the agent proposes per round")
    min_ideas: int = Field(default=1, ge=1, description="A3's addition: the fewest hypotheses a round may propose")
    max_concrete_examples: int = Field(
        default=20, ge=1, description="The most harmful queries per hypothesis, its own example included"
    )
    max_variations_per_example: int = Field(default=1, ge=1, description="Queries written per imagined scenario")
    llm_model: str = Field(
        default="anthropic/claude-sonnet-4-20250514",
        description="The generator: proposes "
        "hypotheses, writes queries, look-alikes and expected replies, chooses the OOD hypotheses; "
        "also the default finetuning agent and DSPy reflection model",
    )
    llm_temperature: float = Field(default=1.0, ge=0, le=2, description="The generator's sampling temperature")
    llm_max_tokens: int = Field(default=10000, gt=0, description="The generator's longest reply, in tokens")
    seed: int | None = Field(
        default=None,
        description="A3's addition: seeds the generator's samples (a replication "
        "with another seed writes other hypotheses, queries and look-alikes)",
    )

    @model_validator(mode="after")
    def _idea_range(self) -> HypothesisGeneration:
        if self.min_ideas > self.max_ideas:
            raise ValueError(f"min_ideas ({self.min_ideas}) is larger than max_ideas ({self.max_ideas})")
        return self


class DataGeneration(_Section):
    num_variations: int = Field(default=20, ge=1, description="Scenarios imagined per hypothesis")
    parallel_requests: int = Field(default=4, ge=1, description="Hypotheses worked on at once in stage 1")
    max_concurrent: int = Field(
        default=20,
        ge=1,
        description="Concurrent calls per model: the client's limit in "
        "every stage (and the examples DSPy runs at once)",
    )
    benign_generation_prompt: str | None = Field(
        default=None,
        description="Your own instruction for rewriting a "
        "harmful query into a benign look-alike; must contain {prompt}. "
        "Default: A3's rewrite prompt",
    )
    # A3's addition: what every harmful query must ask about and no benign look-alike may (a
    # case-insensitive regular expression over the query's text); a query breaking it is dropped.
    topic_regex: str | None = Field(
        default=None,
        description="A3's addition: a case-insensitive regular expression "
        "that every harmful query must match and no look-alike may; a query breaking it "
        "is dropped",
    )
    # A3's addition: shown the harmful request it rewrites, a small writer copies the topic's words
    # (the demo's 0.5B writer: 31 of 80 first drafts asked about the code again, 3 of 80 with them
    # masked; bench/results/look_alike_mask.json).
    look_alike_mask: Annotated[str | None, IDENTITY_WHEN_SET] = Field(
        default=None,
        min_length=1,
        description="A3's addition: the look-alike writer sees the harmful query with every match "
        "of topic_regex replaced by this text (e.g. '[...]'), so that it cannot copy the topic's "
        "words; needs topic_regex",
    )
    # A3's addition: benign look-alikes written for each harmful query (the original writes one).
    look_alikes: int = Field(
        default=1,
        ge=1,
        le=5,
        description="A3's addition: benign look-alikes written per "
        "harmful query, each a fresh sample compared with the ones before",
    )

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

    @model_validator(mode="after")
    def _mask_needs_topic(self) -> DataGeneration:
        if self.look_alike_mask is None:
            return self
        if self.topic_regex is None:
            raise ValueError("look_alike_mask masks the matches of topic_regex, which is not set")
        if re.search(self.topic_regex, self.look_alike_mask, re.IGNORECASE):
            raise ValueError(f"look_alike_mask {self.look_alike_mask!r} matches topic_regex itself")
        return self


class Paths(_Section):
    behaviors_file: str | None = Field(
        default=None, description="Read for compatibility with the original configs and not used"
    )
    dolci_responses_file: str | None = Field(
        default=None,
        description="General chat data mixed into stage 4's "
        'training: a JSON list (or JSONL) of {"messages": [...]} ending with '
        "the assistant's answer. Unset: `a3 run` has the target answer general "
        "prompts itself (on-policy) into the run",
    )


class ExpectedBehaviorPrompts(_Section):
    harmful_system_prompt: str = Field(
        min_length=1, description="Stage 3's system prompt for writing the safe reply to a harmful training query"
    )
    harmful_user_template: str = Field(
        description="Stage 3's user message for a harmful one-message query, a format "
        "string with {prompt}; a multi-turn query is sent as the conversation itself"
    )
    benign_system_prompt: str = Field(
        min_length=1, description="Stage 3's system prompt for writing the helpful reply to a benign training query"
    )
    benign_user_template: str = Field(
        description="Stage 3's user message for a benign one-message query, a format string with {prompt}"
    )
    harmful_default_response: str = Field(
        min_length=1, description="The reply trained for a harmful query when the writer fails twice"
    )
    benign_default_response: str = Field(
        min_length=1, description="The reply trained for a benign query when the writer fails twice"
    )
    # A3's addition: whether stage 3's writer sees the deployment's system prompt with the query.
    # Off when that prompt holds what must not be said: shown the demo's secret, the 0.5B writer put
    # it into 23 of 32 refusals, which then fell back to one default sentence.
    include_system_prompt: bool = Field(
        default=True,
        description="A3's addition: whether stage 3's writer sees the "
        "deployment's system prompt with a one-message query; turn it off when that "
        "prompt holds what must never be said (the demo does: it holds the secret)",
    )
    # A3's addition: the original's budget of 2,000 tokens let the 0.5B writer loop for 260-290 s
    # on one reply (bench/results/stage_growth.json), alone on the engine at the end of stage 3.
    writer_max_tokens: Annotated[int, IDENTITY_WHEN_SET] = Field(
        default=2000,
        gt=0,
        description="A3's addition: the writer's longest reply, in tokens; a reply cut off there is "
        "not a training target and is written again",
    )

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

    by: Literal["hypothesis", "query"] = Field(
        default="hypothesis",
        description="`hypothesis`: whole hypotheses go to "
        "each split; `query`: ood of the hypotheses are held out and the other "
        "hypotheses' queries are split",
    )
    train: float = Field(default=0.7, gt=0, lt=1, description="The training share (train + validation + ood = 1)")
    validation: float = Field(
        default=0.2, ge=0, lt=1, description="The validation share, on which the final iteration is chosen"
    )
    ood: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="The share of hypotheses the OOD agent holds out as qualitatively different",
    )
    test: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="The share sealed first (of the hypotheses, or by query "
        "of the queries) for the final measurement; no agent sees it",
    )
    seed: int = Field(default=42, description="Seeds the split's random draws")

    @model_validator(mode="after")
    def _shares(self) -> Splits:
        total = self.train + self.validation + self.ood
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + ood must add up to 1, not {total:g}")
        return self


Planner = Literal["agent", "search", "agent+search"]  # who chooses each finetuning iteration's plan


class FirstPlan(_Section):
    """One of the first iterations' plans, trained before the plan search draws (and, the first of
    them, when the agent gives no valid first decision). The bounds are the agent's
    (``a3.align.finetune.decisions``); one harmful and one benign weight for every hypothesis."""

    lora_r: int = Field(default=16, ge=8, le=128, description="LoRA rank")
    lora_alpha: int = Field(default=32, ge=4, le=2048, description="LoRA alpha (between 0.5 and 16 times the rank)")
    learning_rate: float | None = Field(
        default=None, gt=0, description="default: the geometric middle of learning_rate_range"
    )
    num_epochs: int | None = Field(default=None, ge=1, description="default: max_epochs")
    general_data_percentage: float = Field(default=20.0, ge=0, le=100, description="share of general data, in %")
    harmful_weight: float = Field(default=1.0, ge=0, le=10, description="weight of every harmful training query")
    benign_weight: float = Field(default=1.0, ge=0, le=10, description="weight of every benign training query")

    @model_validator(mode="after")
    def _in_bounds(self) -> FirstPlan:
        if not 0.5 <= self.lora_alpha / self.lora_r <= 16:
            raise ValueError(f"lora_alpha {self.lora_alpha} must be 0.5 to 16 times lora_r {self.lora_r}")
        if self.harmful_weight == 0 and self.benign_weight == 0:
            raise ValueError("harmful_weight and benign_weight cannot both be 0")
        return self


class Finetune(_Section):
    """A3's addition: stage 4 settings (the original's step-4 flags; flags override them)."""

    agent_model: str | None = Field(
        default=None,
        description="The planning agent (and the ICL defence's agent); default hypothesis_generation.llm_model",
    )
    agent_temperature: float = Field(default=1.0, ge=0, le=2, description="The agent's sampling temperature")
    agent_max_tokens: int = Field(default=8000, gt=0, description="The agent's longest reply, in tokens")
    num_iterations: int = Field(
        default=30, ge=1, description="Finetuning iterations, each one plan trained and measured"
    )
    max_epochs: int = Field(default=10, ge=1, description="The most epochs a plan may choose")
    batch_size: int = Field(default=2, ge=1, description="Training examples per micro-batch")
    gradient_accumulation_steps: int = Field(
        default=4,
        ge=1,
        description="Micro-batches per optimiser step (the global batch is batch_size x gradient_accumulation_steps)",
    )
    max_length: int = Field(default=2048, ge=16, description="The longest training example, in tokens")
    training_budget: int | None = Field(
        default=None,
        ge=1,
        description="Training examples per iteration; default 2 x min(#harmful, #benign) training queries",
    )
    eval_temperature: float = Field(
        default=0.7, ge=0, le=2, description="The adapters' sampling temperature when measured on validation and OOD"
    )
    sfr_target: float = Field(default=0.05, ge=0, le=1, description="The safety failure rate the agent aims for")
    # The learning rates the agent may choose (its choice is clamped into them). Small data and few
    # steps need the upper end: at the demo's scale a rate of 1e-5 changed nothing.
    learning_rate_range: tuple[float, float] = Field(
        default=(1e-6, 1e-3),
        description="[lowest, highest] learning rate a plan may choose; a choice outside is clamped into it",
    )
    seed: int = Field(default=42, description="Seeds the training-set draws, the trainer and the plan search")
    planner: Planner = Field(
        default="agent",
        description="who chooses each iteration's plan: the LLM agent (the original's way); a Bayesian search "
        "(Optuna TPE) over the same plan space, told each iteration's validation results; or the agent, with "
        "the search's plan trained whenever the agent's decision is invalid or repeats a trained job",
    )
    first_plans: list[FirstPlan] = Field(
        default_factory=lambda: [FirstPlan()],
        min_length=1,
        description="the plans of the first iterations, in order, before the plan search draws its own (the "
        "search's starting design); the first is also the agent's when it gives no valid first decision",
    )
    search_weights: Literal["shared", "per_hypothesis"] = Field(
        default="shared",
        description="the plan search's data weights: one harmful and one benign weight for every training hypothesis "
        "(a space a few iterations can search), or a pair per hypothesis (the agent's whole space)",
    )
    fpr_margin: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="non-inferiority margin of the FPR (a fraction: 0.05 = 5 points): an iteration whose "
        "validation FPR may exceed the base model's by this much or more (one-sided 95%, paired) is not chosen",
    )

    @field_validator("learning_rate_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError(f"give [lowest, highest] with 0 < lowest <= highest, not {list(value)}")
        return value


class Capability(_Section):
    """A3's addition: multiple-choice benchmark files (MMLU-Pro / GPQA style, JSONL or CSV) that
    stand for general capability, and the largest drop (fraction, 0.01 = 1 point) allowed."""

    benchmarks: dict[str, str] = Field(
        default_factory=dict,
        description="Benchmark name -> file (MMLU-Pro style "
        "JSONL, GPQA style CSV, or {question, choices, answer}); none: capability is not "
        "measured",
    )
    # A3's addition: the iterations' capability answers choose the final model, so the same
    # questions cannot also test the choice without bias; these are asked of the base model and
    # the chosen adapter only, at the sealed test.
    sealed_benchmarks: dict[str, str] = Field(
        default_factory=dict,
        description="Benchmark name -> file, in the formats of `benchmarks` (and subsampled by "
        "`limit` like them), asked only of the base model and the chosen adapter at the sealed test "
        "(no choice sees them); none: the sealed test has no capability test",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Questions per benchmark, a seeded random subset; default all"
    )
    max_drop: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="The largest capability drop allowed (a fraction: "
        "0.01 = 1 point), the margin of the paired non-inferiority test",
    )
    max_tokens: int = Field(
        default=512, gt=0, description="The longest answer when the model writes its choice (method generate)"
    )
    seed: int = Field(default=42, description="Seeds the subset drawn under limit")
    # "loglik": the choice the model finds most likely (its weights must be here); "generate": the
    # letter it writes; "auto": loglik for local and hf targets, generate for API models.
    method: Literal["auto", "generate", "loglik"] = Field(
        default="auto",
        description="`loglik`: the choice the model "
        "finds likeliest (its weights must be here); `generate`: the "
        "letter it writes; `auto`: loglik for local and hf targets, "
        "generate for API models",
    )

    @model_validator(mode="after")
    def _sealed_apart(self) -> Capability:
        seen = {Path(path).resolve(): name for name, path in self.benchmarks.items()}
        for name, path in self.sealed_benchmarks.items():
            if (twin := seen.get(Path(path).resolve())) is not None:
                raise ValueError(
                    f"sealed_benchmarks.{name}: {path} is also benchmarks.{twin}; "
                    "sealed questions must be ones no choice saw"
                )
        return self


class Dspy(_Section):
    """A3's addition: settings of ``a3 defend dspy`` (the original hard-coded Claude Sonnet 4 as
    GEPA's reflection model)."""

    reflection_model: str | None = Field(
        default=None,
        description="GEPA's reflection model, which proposes new instructions; default hypothesis_generation.llm_model",
    )
    reflection_temperature: float = Field(
        default=1.0, ge=0, le=2, description="The reflection model's sampling temperature"
    )
    reflection_max_tokens: int = Field(
        default=8000, gt=0, description="The reflection model's longest reply, in tokens"
    )
    max_tokens: int | None = Field(
        default=None, gt=0, description="The longest reply of the program's target; default target_model.max_tokens"
    )
    seed: int = Field(default=0, description="Seeds the training sample and GEPA")


class JudgeGate(_Section):
    """A3's addition: labels the run's judge must agree with before stage 1 starts."""

    labels: str = Field(
        min_length=1,
        description="JSONL of labelled responses, as `a3 judge validate --labels` reads "
        "them; a relative path is taken from the current directory, like the config's other paths",
    )
    min_kappa: float = Field(
        ge=0,
        le=1,
        description="the lowest Cohen's kappa allowed for each query kind in the labels, "
        "on the held-out (test) labels when there are some, else on all of them",
    )


class JudgeSettings(_Section):
    """A3's addition: settings about the judge as a measuring instrument."""

    validation: JudgeGate | None = Field(
        default=None,
        description="a gate: stage 1 refuses to start (exit 2) while the "
        "judge agrees with these labels less than min_kappa",
    )


class A3Config(_Section):
    """The whole A3 config: the original A3 README's sections and A3's additions.

    Every section rejects unknown fields; each field's description is in the configuration reference."""

    attack: Attack = Field(description="The behaviour to fix")
    seed_example: SeedExample = Field(
        description="One observed case of the behaviour; every hypothesis starts from it (it is Ex0)"
    )
    judge_prompts: JudgePrompts = Field(description="What the LLM judge is asked, per query kind")
    conversation_format: ConversationFormat = Field(
        default=ConversationFormat(), description="The shape of the queries the generator writes"
    )
    target_model: TargetModel = Field(description="The model to measure and fix")
    judge_model: JudgeModel = Field(default=JudgeModel(), description="The LLM judge (and its optional panel)")
    judge_rules: JudgeRules = Field(default=JudgeRules(), description="A3's addition: rule judges per query kind")
    hypothesis_generation: HypothesisGeneration = Field(
        default=HypothesisGeneration(), description="Stage 1's agent: hypotheses per round, and the generator model"
    )
    data_generation: DataGeneration = Field(
        default=DataGeneration(), description="How stage 1 writes queries and look-alikes"
    )
    paths: Paths = Field(default=Paths(), description="Files of the original A3 layout")
    expected_behavior_prompts: ExpectedBehaviorPrompts = Field(
        description="Stage 3: how the generator writes the reply the target should have given"
    )
    splits: Splits = Field(default=Splits(), description="A3's addition: stage 2, how the data are split")
    finetune: Finetune = Field(default=Finetune(), description="A3's addition: stage 4 settings")
    capability: Capability = Field(default=Capability(), description="A3's addition: the capability benchmarks")
    dspy: Dspy = Field(default=Dspy(), description="A3's addition: settings of `a3 defend dspy`")
    judge: JudgeSettings = Field(
        default=JudgeSettings(), description="A3's addition: the judge gate (judge.validation)"
    )

    replication_seed: int | None = Field(
        default=None,
        description="A3's addition (`a3 run --seed`): when set, the generator's samples, the split and the "
        "finetuning draws (and the plan search) all take this seed instead of their own",
    )

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
