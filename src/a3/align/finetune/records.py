"""Stage 4's records: one per finished iteration, and the stage's summary."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from a3.align.finetune.decisions import Hyperparameters, TrainingPlan
from a3.align.finetune.mixture import TrainingCounts
from a3.align.finetune.trainer import TrainResult
from a3.align.measure.capability import BenchmarkScore
from a3.align.measure.noise import NoiseFloor
from a3.align.measure.selection import Candidate, CandidateTests, Selection
from a3.align.metrics import Metrics


def iteration_label(iteration: int) -> str:
    """How the comparison, the report's links and the transcript logs name an A3 iteration."""
    return f"iteration {iteration}"


class SavedDecision(BaseModel):
    """``finetune/iter-NN/decision.json``: the plan an iteration trains, saved before training."""

    based_on: int | None
    decision: dict[str, object] | None  # the agent's decision as given; None when A3 made the plan
    plan: TrainingPlan
    clamps: list[str] = Field(default_factory=list)
    reasoning: dict[str, str]
    fallback: str | None = None
    planner: Literal["agent", "search", "fallback"] = "agent"  # who made the plan


class IterationRecord(Candidate):
    """A line of ``finetune/iterations.jsonl``: appended only once the iteration is fully measured."""

    based_on: int | None
    plan: TrainingPlan
    reasoning: dict[str, str]  # the agent's reasoning, per part of its decision
    clamps: list[str]  # what of the agent's plan was out of bounds, and what it became
    fallback: str | None = None  # why A3 made the plan itself, when the agent gave no valid decision
    planner: Literal["agent", "search", "fallback"] = "agent"  # who made the plan
    job: str | None = None  # the training job's identity (see finetune.jobs); None in runs made before it
    seconds: dict[str, float] = Field(default_factory=dict)  # decision, train, evaluation, capability
    counts: TrainingCounts
    train: TrainResult
    adapter: str  # relative to the run directory
    model: str  # the model string the adapter was served as
    capability: dict[str, BenchmarkScore] | None


class IterationRow(BaseModel):
    """An iteration in ``finetune/summary.json``: the plan without its weights, the headline rates."""

    iteration: int
    plan: Hyperparameters
    validation: dict[str, float | None]
    ood: dict[str, float | None]
    capability: dict[str, float | None]
    capability_drop: float | None
    train_loss: float | None
    train_tokens_per_s: float
    adapter: str
    planner: str = "agent"
    seconds: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def of(cls, record: IterationRecord) -> IterationRow:
        rates = {
            split: {"sfr": m.sfr, "fpr": m.fpr} for split, m in (("validation", record.validation), ("ood", record.ood))
        }
        return cls(
            iteration=record.iteration,
            plan=record.plan.hyperparameters(),
            **rates,
            capability={n: s.accuracy for n, s in (record.capability or {}).items()},
            capability_drop=record.capability_drop,
            train_loss=record.train.train_loss,
            train_tokens_per_s=record.train.tokens_per_s,
            adapter=record.adapter,
            planner=record.planner,
            seconds=record.seconds,
        )


class ChosenTest(BaseModel):
    """``finetune/sealed/test_results.json``: the chosen iteration on the sealed test split, the
    base model measured on it a second time (the instrument's noise floor), and the choice's
    tests repeated there, capability on the sealed benchmarks."""

    iteration: int
    test: Metrics
    noise_floor: NoiseFloor | None = None  # None in runs made before it was measured
    # The tests the choice was made by, on the sealed test queries; capability on the sealed
    # benchmarks (capability.sealed_benchmarks), absent without them. None in runs made before.
    tests: CandidateTests | None = None
    capability_base: dict[str, BenchmarkScore] | None = None  # the base model on the sealed benchmarks
    capability: dict[str, BenchmarkScore] | None = None  # the chosen adapter on them


class FinetuneSummary(BaseModel):
    """``finetune/summary.json``."""

    iterations: list[IterationRow]
    selection: Selection
    capability_baseline: dict[str, BenchmarkScore] | None
    baseline: dict[str, Metrics]  # the untouched target per split (train, validation, ood)
    test_baseline: Metrics
    chosen_test: Metrics | None
    general_data: dict[str, int]  # general examples available, and records skipped when reading them
    fallbacks: dict[str, str] = Field(default_factory=dict)  # iteration -> why A3 made its plan
