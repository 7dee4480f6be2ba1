"""Drawing one iteration's training set.

Budget B = 2 x min(#harmful, #benign) training queries unless set. D = floor(B x general%) general
examples are drawn without replacement; the other B - D are drawn with replacement from the
training queries, each with the weight of its hypothesis and kind (the agent's decision), or in a
fixed harmful share (the fixed-mixing baseline). Every example is a conversation ending with the
expected response, which is the only part trained on. Draws are seeded: the same plan gives the
same set.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from a3.align.finetune.decisions import TrainingPlan

if TYPE_CHECKING:  # the trainer imports this module where stage 3's dependencies are not installed
    from a3.align.expected import ExpectedReply


@dataclass(frozen=True)
class TrainingExample:
    messages: list[dict[str, str]]  # ends with the assistant's target response
    source: str  # "harmful", "benign" or "general"
    hypothesis_id: str | None = None


class TrainingCounts(BaseModel):
    """What a drawn training set holds, by source, and per hypothesis by kind."""

    budget: int
    total: int
    harmful: int
    benign: int
    general: int
    general_requested: int  # above ``general``: not enough general data, the rest went to safety examples
    per_hypothesis: dict[str, dict[str, int]]


@dataclass
class TrainingSet:
    examples: list[TrainingExample]
    budget: int
    counts: TrainingCounts


def training_budget(expected: list[ExpectedReply], override: int | None = None) -> int:
    if override:
        return override
    kinds = Counter(reply.kind for reply in expected)
    return 2 * min(kinds["harmful"], kinds["benign"]) or len(expected)


def weighted_training_set(
    expected: list[ExpectedReply], plan: TrainingPlan, general: list[list[dict[str, str]]], budget: int, seed: int
) -> TrainingSet:
    """The agent's mixture: each query carries its hypothesis's harmful or benign weight."""

    def weight(reply: ExpectedReply) -> float:
        harmful, benign = plan.weights.get(reply.hypothesis_id, (1.0, 1.0))
        return harmful if reply.kind == "harmful" else benign

    rng = random.Random(seed)
    requested, n_general = _general_counts(budget, plan.general_data_percentage, len(general))
    safety = _draw(expected, [weight(r) for r in expected], budget - n_general, rng)
    return _assemble(safety, general, n_general, budget, rng, requested)


def fixed_training_set(
    expected: list[ExpectedReply],
    harmful_share: float,
    general_percentage: float,
    general: list[list[dict[str, str]]],
    budget: int,
    seed: int,
) -> TrainingSet:
    """The fixed-mixing baseline: a set share of harmful queries, uniform across hypotheses."""
    rng = random.Random(seed)
    requested, n_general = _general_counts(budget, general_percentage, len(general))
    n_safety = budget - n_general
    n_harmful = round(n_safety * harmful_share)
    harmful = [r for r in expected if r.kind == "harmful"]
    benign = [r for r in expected if r.kind == "benign"]
    safety = _draw(harmful, [1.0] * len(harmful), n_harmful, rng) + _draw(
        benign, [1.0] * len(benign), n_safety - n_harmful, rng
    )
    return _assemble(safety, general, n_general, budget, rng, requested)


def _general_counts(budget: int, percentage: float, available: int) -> tuple[int, int]:
    """General examples asked for (floor of the share of the budget) and those there are to draw."""
    requested = int(budget * percentage / 100)
    return requested, min(requested, available)


def _draw(rows: list[ExpectedReply], weights: list[float], k: int, rng: random.Random) -> list[ExpectedReply]:
    if k <= 0 or not rows or sum(weights) <= 0:
        return []
    return rng.choices(rows, weights=weights, k=k)


def _assemble(
    safety: list[ExpectedReply],
    general: list[list[dict[str, str]]],
    n_general: int,
    budget: int,
    rng: random.Random,
    general_requested: int,
) -> TrainingSet:
    """``general_requested`` above ``n_general`` means there was not enough general data; the
    shortfall went to safety examples and the counts say so."""
    examples = [
        TrainingExample(
            [*(m.model_dump() for m in reply.messages), {"role": "assistant", "content": reply.response}],
            reply.kind,
            reply.hypothesis_id,
        )
        for reply in safety
    ]
    examples += [TrainingExample(conversation, "general") for conversation in rng.sample(general, n_general)]
    rng.shuffle(examples)
    per_hypothesis: dict[str, dict[str, int]] = {}
    for example in examples:
        if example.hypothesis_id is not None:
            slot = per_hypothesis.setdefault(example.hypothesis_id, {"harmful": 0, "benign": 0})
            slot[example.source] += 1
    kinds = Counter(e.source for e in examples)
    counts = TrainingCounts(
        budget=budget,
        total=len(examples),
        harmful=kinds["harmful"],
        benign=kinds["benign"],
        general=kinds["general"],
        general_requested=general_requested,
        per_hypothesis=dict(sorted(per_hypothesis.items(), key=lambda kv: int(kv[0][1:]))),
    )
    return TrainingSet(examples, budget, counts)
