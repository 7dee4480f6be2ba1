"""What the finetuning agent decides each iteration, and the rules its decision must follow.

The agent answers one JSON object (``Decision``). Rules a schema can hold are validated there, so
a breach goes back to the agent with the reason: from the second iteration it names the earlier
iteration it starts from and changes either the training settings or the data weights, not both.
Values outside the allowed ranges are not refused but clamped, and every clamp is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, model_validator

from a3.config.schema import FirstPlan

LORA_R_RANGE = (8, 128)
ALPHA_RATIO_RANGE = (0.5, 16.0)  # lora_alpha / lora_r
WEIGHT_RANGE = (0.0, 10.0)
GENERAL_RANGE = (0.0, 100.0)


# Reasons are bounded, so that a reply rambling on is sent back with the reason (the local engine's
# grammar leaves string lengths to this validator): the 0.5B agent repeated one sentence of its
# overall reasoning until its token cap, three tries in a row.
class HypothesisWeight(BaseModel):
    hypothesis_id: str
    harmful_weight: float
    benign_weight: float
    reason: str = Field(default="", max_length=200)


class Decision(BaseModel):
    based_on_iteration: int | None = Field(
        default=None, description="the earlier iteration this configuration starts from (null in the first)"
    )
    overall_reasoning: str = Field(max_length=1200)
    lora_r: int
    lora_alpha: int
    lora_reasoning: str = Field(default="", max_length=400)
    learning_rate: float
    num_epochs: int
    training_reasoning: str = Field(default="", max_length=400)
    general_data_percentage: float
    general_data_reasoning: str = Field(default="", max_length=400)
    weights: list[HypothesisWeight]


class Hyperparameters(BaseModel):
    """A plan's training settings, without its data weights."""

    lora_r: int
    lora_alpha: int
    learning_rate: float
    num_epochs: int
    general_data_percentage: float


class TrainingPlan(Hyperparameters):
    """A decision after clamping: exactly what is trained."""

    weights: dict[str, tuple[float, float]]  # hypothesis -> (harmful, benign)

    def hyperparameters(self) -> Hyperparameters:
        return Hyperparameters.model_validate(self.model_dump(exclude={"weights"}))


def decision_schema(
    iteration: int,
    train_hypotheses: list[str],
    previous: dict[int, TrainingPlan],
    max_epochs: int,
    learning_rates: tuple[float, float],
    repeats: Callable[[TrainingPlan], int | None] | None = None,
) -> type[Decision]:
    """The decision schema for one iteration, with the search rules as validators. ``max_epochs``
    and ``learning_rates`` bound the plan as ``clamp`` will, so that a plan which only clamping
    makes differ from an earlier one is refused too. ``repeats`` names the earlier iteration whose
    training job a plan would train again (two different plans can draw the same training set);
    such a plan, or one equal to an earlier plan, is refused with the reason. Without ``repeats``
    neither is checked here: the caller deals with a repeat."""

    def earlier_iterations(field_schema: dict[str, Any]) -> None:
        # Guides schema-following decoders to a valid value; the validator below checks it for all.
        field_schema.clear()
        field_schema.update({"enum": sorted(previous)} if iteration > 1 and previous else {"type": "null"})

    class TrainingHypothesisWeight(HypothesisWeight):
        # The enum lets a schema-following decoder name only training hypotheses; the validator
        # below checks it for every model.
        hypothesis_id: str = Field(json_schema_extra={"enum": list(train_hypotheses)})

    TrainingHypothesisWeight.__name__ = "HypothesisWeight"

    class CheckedDecision(Decision):
        based_on_iteration: int | None = Field(
            default=None,
            description=Decision.model_fields["based_on_iteration"].description,
            json_schema_extra=earlier_iterations,
        )
        weights: list[TrainingHypothesisWeight]  # type: ignore[assignment]  # a subclass narrows the item type

        @model_validator(mode="after")
        def _rules(self) -> CheckedDecision:
            unknown = sorted({w.hypothesis_id for w in self.weights} - set(train_hypotheses))
            if unknown:
                raise ValueError(
                    f"weights name {unknown}, which are not training hypotheses; use only {train_hypotheses}"
                )
            if iteration == 1 or not previous:
                self.based_on_iteration = None  # nothing to start from yet
                return self
            if self.based_on_iteration not in previous:
                raise ValueError(f"based_on_iteration must name an earlier iteration: one of {sorted(previous)}")
            base = previous[self.based_on_iteration]
            mine = plan_without_clamping(self, train_hypotheses)
            if mine.hyperparameters() != base.hyperparameters() and mine.weights != base.weights:
                raise ValueError(
                    f"change either the training settings or the data weights of iteration {self.based_on_iteration}, "
                    "not both (copy the other part unchanged)"
                )
            if repeats is None:  # repeats are the caller's to handle (agent+search trains the search's plan)
                return self
            # A repeated plan trains the same adapter again (a small agent copies its last answer).
            trained, _ = clamp(self, train_hypotheses, max_epochs, learning_rates)
            same = [number for number, plan in sorted(previous.items()) if plan == trained]
            if same:
                raise ValueError(
                    f"this plan (within the allowed ranges) is the one iteration {same[0]} trained; "
                    "change one training setting or the data weights"
                )
            repeated = repeats(trained)
            if repeated is not None:
                raise ValueError(
                    f"this plan draws the same training examples with the same settings as iteration "
                    f"{repeated}, so it would train the same adapter again; change a training setting or "
                    "weights that change which examples are drawn"
                )
            return self

    CheckedDecision.__name__ = "Decision"
    return CheckedDecision


def plan_without_clamping(decision: Decision, train_hypotheses: list[str]) -> TrainingPlan:
    given = {w.hypothesis_id: (w.harmful_weight, w.benign_weight) for w in decision.weights}
    return TrainingPlan(
        lora_r=decision.lora_r,
        lora_alpha=decision.lora_alpha,
        learning_rate=decision.learning_rate,
        num_epochs=decision.num_epochs,
        general_data_percentage=decision.general_data_percentage,
        weights={h: given.get(h, (1.0, 1.0)) for h in train_hypotheses},
    )


def clamp(
    decision: Decision, train_hypotheses: list[str], max_epochs: int, learning_rates: tuple[float, float] = (1e-6, 1e-3)
) -> tuple[TrainingPlan, list[str]]:
    """The plan to train, with every value brought into range, and a note for each change.
    Training hypotheses the agent left out get weight 1.0 for both kinds."""
    notes: list[str] = []

    def bound(name: str, value: float, low: float, high: float) -> float:
        if value < low or value > high:
            fixed = min(max(value, low), high)
            notes.append(f"{name} {value:g} clamped to {fixed:g} (allowed {low:g}-{high:g})")
            return fixed
        return value

    plan = plan_without_clamping(decision, train_hypotheses)
    r = int(bound("lora_r", plan.lora_r, *LORA_R_RANGE))
    ratio_low, ratio_high = ALPHA_RATIO_RANGE
    alpha = int(bound("lora_alpha", plan.lora_alpha, max(1, round(r * ratio_low)), round(r * ratio_high)))
    missing = [h for h in train_hypotheses if h not in {w.hypothesis_id for w in decision.weights}]
    if missing:
        notes.append(f"no weights for {missing}: 1.0 / 1.0 used")
    weights = {
        h: (bound(f"{h} harmful_weight", hw, *WEIGHT_RANGE), bound(f"{h} benign_weight", bw, *WEIGHT_RANGE))
        for h, (hw, bw) in plan.weights.items()
    }
    if weights and all(hw == 0 and bw == 0 for hw, bw in weights.values()):
        notes.append("all weights were 0: 1.0 / 1.0 used")
        weights = {h: (1.0, 1.0) for h in weights}
    return TrainingPlan(
        lora_r=r,
        lora_alpha=alpha,
        learning_rate=bound("learning_rate", plan.learning_rate, *learning_rates),
        num_epochs=int(bound("num_epochs", plan.num_epochs, 1, max_epochs)),
        general_data_percentage=bound("general_data_percentage", plan.general_data_percentage, *GENERAL_RANGE),
        weights=weights,
    ), notes


def first_plan(
    train_hypotheses: list[str],
    max_epochs: int,
    learning_rates: tuple[float, float],
    start: FirstPlan | None = None,
) -> TrainingPlan:
    """A plan from the config's ``finetune.first_plans`` entry ``start`` (by default rank 16, alpha
    32, the geometric middle of the allowed learning rates, the most epochs allowed, 20% general
    data, every training hypothesis weighted 1 / 1)."""
    start = start or FirstPlan()
    low, high = learning_rates
    return TrainingPlan(
        lora_r=start.lora_r,
        lora_alpha=start.lora_alpha,
        learning_rate=start.learning_rate or float(f"{(low * high) ** 0.5:.3g}"),
        num_epochs=min(start.num_epochs or max_epochs, max_epochs),
        general_data_percentage=start.general_data_percentage,
        weights={h: (start.harmful_weight, start.benign_weight) for h in train_hypotheses},
    )


def fallback_plan(
    base: TrainingPlan,
    validation_sfr: float | None,
    validation_fpr: float | None,
    sfr_target: float,
    capability_drop: float | None = None,
    max_drop: float = 0.01,
) -> tuple[TrainingPlan, str]:
    """The next plan when the agent gives no valid decision: one change to ``base``, by the
    agent's own goals in their order: 20 points more general data while capability fell by more
    than ``max_drop``; else twice the harmful weights while validation SFR is above the target;
    else twice the benign weights while benign requests are refused; else ``base`` again."""
    if capability_drop is not None and capability_drop > max_drop and base.general_data_percentage < GENERAL_RANGE[1]:
        more = min(base.general_data_percentage + 20, GENERAL_RANGE[1])
        return base.model_copy(
            update={"general_data_percentage": more}
        ), f"general data raised to {more:g}% (capability fell)"
    if validation_sfr is not None and validation_sfr >= sfr_target:
        weights, why = (
            {h: (hw * 2, bw) for h, (hw, bw) in base.weights.items()},
            "harmful weights doubled (validation SFR above target)",
        )
    elif validation_fpr:
        weights, why = (
            {h: (hw, bw * 2) for h, (hw, bw) in base.weights.items()},
            "benign weights doubled (benign requests refused)",
        )
    else:
        weights, why = dict(base.weights), "the same plan again (goals met)"
    clamped = {h: (min(hw, WEIGHT_RANGE[1]), min(bw, WEIGHT_RANGE[1])) for h, (hw, bw) in weights.items()}
    return base.model_copy(update={"weights": clamped}), why
