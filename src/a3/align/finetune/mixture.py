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
from dataclasses import dataclass, field
from typing import Any

from a3.align.finetune.decisions import TrainingPlan


@dataclass(frozen=True)
class TrainingExample:
    messages: list[dict[str, str]]  # ends with the assistant's target response
    source: str  # "harmful", "benign" or "general"
    hypothesis_id: str | None = None


@dataclass
class TrainingSet:
    examples: list[TrainingExample]
    budget: int
    counts: dict[str, Any] = field(default_factory=dict)


def training_budget(expected_rows: list[dict[str, Any]], override: int | None = None) -> int:
    if override:
        return override
    kinds = Counter(row["kind"] for row in expected_rows)
    return 2 * min(kinds["harmful"], kinds["benign"]) or len(expected_rows)


def weighted_training_set(expected_rows: list[dict[str, Any]], plan: TrainingPlan, general: list[list[dict[str, str]]],
                          budget: int, seed: int) -> TrainingSet:
    """The agent's mixture: each query carries its hypothesis's harmful or benign weight."""
    def weight(row: dict[str, Any]) -> float:
        harmful, benign = plan.weights.get(row["hypothesis_id"], (1.0, 1.0))
        return harmful if row["kind"] == "harmful" else benign

    rng = random.Random(seed)
    requested, n_general = _general_counts(budget, plan.general_data_percentage, len(general))
    safety = _draw(expected_rows, [weight(r) for r in expected_rows], budget - n_general, rng)
    return _assemble(safety, general, n_general, budget, rng, requested)


def fixed_training_set(expected_rows: list[dict[str, Any]], harmful_share: float, general_percentage: float,
                       general: list[list[dict[str, str]]], budget: int, seed: int) -> TrainingSet:
    """The fixed-mixing baseline: a set share of harmful queries, uniform across hypotheses."""
    rng = random.Random(seed)
    requested, n_general = _general_counts(budget, general_percentage, len(general))
    n_safety = budget - n_general
    n_harmful = round(n_safety * harmful_share)
    harmful = [r for r in expected_rows if r["kind"] == "harmful"]
    benign = [r for r in expected_rows if r["kind"] == "benign"]
    safety = _draw(harmful, [1.0] * len(harmful), n_harmful, rng) + _draw(benign, [1.0] * len(benign), n_safety - n_harmful, rng)
    return _assemble(safety, general, n_general, budget, rng, requested)


def _general_counts(budget: int, percentage: float, available: int) -> tuple[int, int]:
    """General examples asked for (floor of the share of the budget) and those there are to draw."""
    requested = int(budget * percentage / 100)
    return requested, min(requested, available)


def _draw(rows: list[dict[str, Any]], weights: list[float], k: int, rng: random.Random) -> list[dict[str, Any]]:
    if k <= 0 or not rows or sum(weights) <= 0:
        return []
    return rng.choices(rows, weights=weights, k=k)


def _assemble(safety: list[dict[str, Any]], general: list[list[dict[str, str]]], n_general: int, budget: int,
              rng: random.Random, general_requested: int) -> TrainingSet:
    """``general_requested`` above ``n_general`` means there was not enough general data; the
    shortfall went to safety examples and the counts say so."""
    examples = [TrainingExample([*row["messages"], {"role": "assistant", "content": row["response"]}], row["kind"], row["hypothesis_id"])
                for row in safety]
    examples += [TrainingExample(conversation, "general") for conversation in rng.sample(general, n_general)]
    rng.shuffle(examples)
    per_hypothesis: dict[str, dict[str, int]] = {}
    for example in examples:
        if example.hypothesis_id is not None:
            slot = per_hypothesis.setdefault(example.hypothesis_id, {"harmful": 0, "benign": 0})
            slot[example.source] += 1
    kinds = Counter(e.source for e in examples)
    counts = {"budget": budget, "total": len(examples), "harmful": kinds["harmful"], "benign": kinds["benign"],
              "general": kinds["general"], "general_requested": general_requested, "per_hypothesis": dict(sorted(per_hypothesis.items(), key=lambda kv: int(kv[0][1:])))}
    return TrainingSet(examples, budget, counts)
