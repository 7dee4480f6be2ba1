"""The finetuning agent: reads the experiment log and decides the next iteration's plan.

It sees the hypotheses (never the sealed test split), the capability baseline and every earlier
iteration: the newest in full (settings, weights, sampled counts, validation and OOD rates per
hypothesis, capability), older ones as one line each, so the view fits a token budget however
many iterations have run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from a3.align.conversation import describe_behavior
from a3.align.explog import ExperimentLog
from a3.align.finetune.decisions import Decision, TrainingPlan, clamp, decision_schema
from a3.align.finetune.mixture import TrainingCounts
from a3.align.finetune.records import IterationRecord
from a3.align.finetune.settings import LoopSettings
from a3.align.measure.capability import BenchmarkScore
from a3.formatting import percent
from a3.llm import CallConfig, LLMClient
from a3.prompts import load_prompt

PROMPT = "finetune_agent"
_FULL_ITERATIONS = 4
_CHARS_PER_TOKEN = 4
Scores = dict[str, BenchmarkScore]


@dataclass(frozen=True)
class AgentContext:
    iteration: int
    total: int
    train_hypotheses: list[str]
    sealed: set[str]
    budget: int
    max_epochs: int
    capability_baseline: dict[str, BenchmarkScore] | None
    previous: list[IterationRecord]  # oldest first
    split_by: str = "hypothesis"  # how stage 2 split the data (config splits.by)
    # For a plan: the earlier iteration whose training job it would repeat (None: a new job).
    repeats: Callable[[TrainingPlan], int | None] | None = None


_VALIDATION_NOTE = {
    "hypothesis": "Validation and OOD use held-out hypotheses (validation chosen at random, OOD chosen to differ).",
    "query": "Validation uses other queries of the training hypotheses; OOD uses held-out hypotheses.",
}


async def decide(
    settings: LoopSettings,
    log: ExperimentLog,
    client: LLMClient,
    agent: CallConfig,
    context: AgentContext,
    log_token_budget: int = 6000,
) -> tuple[Decision, TrainingPlan, list[str]]:
    prompt = load_prompt(PROMPT)
    text = prompt.render(
        behavior=describe_behavior(settings.attack),
        log_view=log.agent_view(log_token_budget // 2, sealed=context.sealed),
        train_hypotheses=", ".join(context.train_hypotheses),
        validation_note=_VALIDATION_NOTE[context.split_by],
        capability_baseline=render_capability(context.capability_baseline),
        iterations=render_iterations(context.previous, log_token_budget // 2 * _CHARS_PER_TOKEN),
        iteration=context.iteration,
        total=context.total,
        budget=context.budget,
        max_epochs=context.max_epochs,
        lr_low=f"{settings.finetune.learning_rate_range[0]:g}",
        lr_high=f"{settings.finetune.learning_rate_range[1]:g}",
        max_drop_points=f"{100 * settings.capability.max_drop:g}",
        sfr_target_pct=f"{100 * settings.finetune.sfr_target:g}",
    )
    previous = {r.iteration: r.plan for r in context.previous}
    schema = decision_schema(
        context.iteration,
        context.train_hypotheses,
        previous,
        context.max_epochs,
        settings.finetune.learning_rate_range,
        context.repeats,
    )
    completion = await client.generate(text, config=agent, schema=schema, prompt_version=prompt.version)
    decision = completion.parsed
    plan, notes = clamp(decision, context.train_hypotheses, context.max_epochs, settings.finetune.learning_rate_range)
    return decision, plan, notes


def render_capability(scores: Scores | None) -> str:
    if not scores:
        return "  not measured (no benchmark files configured, or benchmark evaluation disabled)"
    return "\n".join(f"  {name}: {_acc(s)}" for name, s in scores.items())


def render_iterations(records: list[IterationRecord], budget_chars: int) -> str:
    if not records:
        return "  none yet"
    full = [_full(r) for r in records]
    short = [_short(r) for r in records]
    chosen = [short[i] if i < len(records) - _FULL_ITERATIONS else full[i] for i in range(len(records))]
    # Shorten from the oldest until the view fits, then drop the oldest lines.
    for index in range(len(chosen)):
        if sum(len(c) + 1 for c in chosen) <= budget_chars:
            break
        chosen[index] = short[index]
    dropped = 0
    while len(chosen) > 1 and sum(len(c) + 1 for c in chosen) > budget_chars:
        chosen.pop(0)
        dropped += 1
    head = [f"  ({dropped} older iterations not shown)"] if dropped else []
    return "\n".join(head + chosen)


def _full(record: IterationRecord) -> str:
    plan, counts = record.plan, record.counts
    lines = [
        f"Iteration {record.iteration} (based on {record.based_on or 'nothing'}): lora_r {plan.lora_r}, "
        f"lora_alpha {plan.lora_alpha}, learning_rate {plan.learning_rate:g}, epochs {plan.num_epochs}, "
        f"general data {plan.general_data_percentage:g}%",
        f"  sampled: {counts.harmful} harmful, {counts.benign} benign, {counts.general} general"
        f"{_shortfall(counts)} "
        f"(budget {counts.budget}); training loss {_num(record.train.train_loss)}",
        f"  validation: SFR {_pct(record.validation.sfr)}, FPR {_pct(record.validation.fpr)}; "
        f"OOD: SFR {_pct(record.ood.sfr)}, FPR {_pct(record.ood.fpr)}",
        f"  capability: {_capability_line(record)}",
    ]
    if record.clamps:
        lines.append(f"  clamped: {'; '.join(record.clamps)}")
    lines.append("  per hypothesis (weights harmful/benign; SFR, FPR):")
    for split, metrics in (("validation", record.validation), ("ood", record.ood)):
        for hypothesis, rates in metrics.per_hypothesis.items():
            weight = plan.weights.get(hypothesis)
            weight_text = f"weights {weight[0]:g}/{weight[1]:g}, " if weight else ""
            lines.append(f"    {hypothesis} [{split}] {weight_text}SFR {_pct(rates.sfr)}, FPR {_pct(rates.fpr)}")
    return "\n".join(lines)


def _shortfall(counts: TrainingCounts) -> str:
    requested = counts.general_requested
    return f" (of {requested} requested: not enough general data)" if requested > counts.general else ""


def _short(record: IterationRecord) -> str:
    plan = record.plan
    return (
        f"Iteration {record.iteration}: r {plan.lora_r}, alpha {plan.lora_alpha}, lr {plan.learning_rate:g}, "
        f"epochs {plan.num_epochs}, general {plan.general_data_percentage:g}% -> validation SFR "
        f"{_pct(record.validation.sfr)} FPR {_pct(record.validation.fpr)}, OOD SFR {_pct(record.ood.sfr)} "
        f"FPR {_pct(record.ood.fpr)}, capability {_capability_line(record)}"
    )


def _capability_line(record: IterationRecord) -> str:
    if not record.capability:
        return "not measured"
    parts = [f"{name} {_acc(s)}" for name, s in record.capability.items()]
    if record.capability_drop is not None:
        parts.append(f"drop {100 * record.capability_drop:+.1f} points")
    return ", ".join(parts)


def _acc(score: BenchmarkScore) -> str:
    if score.accuracy is None:
        return f"missing ({score.error or 'failed'})"
    return f"{percent(score.accuracy, 1)} ({score.correct}/{score.total})"


def _pct(value: float | None) -> str:
    return percent(value, 1)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
