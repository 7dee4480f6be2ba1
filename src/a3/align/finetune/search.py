"""The plan search: Optuna's TPE sampler over the plan space the agent chooses from.

Each call rebuilds an in-memory study from the finished iterations (their plans as trials, their
scores as values), so the search needs no state of its own: a resumed stage asks it again and
gets the same suggestion (the sampler is seeded by the iteration and the attempt). The first
iterations train the config's first plans (``finetune.first_plans``, a starting design chosen from
measured runs); later ones are the sampler's.

The score (lower is better) follows the selection rule: the validation failure rates
(SFR + FPR + leaks on benign queries), plus a penalty of 1 + the worst miss for an iteration
whose limits (FPR and capability non-inferiority) failed, so the search looks for the best
eligible plan, as the choice will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from a3.align.finetune.decisions import (
    ALPHA_RATIO_RANGE,
    GENERAL_RANGE,
    LORA_R_RANGE,
    WEIGHT_RANGE,
    TrainingPlan,
    first_plan,
)
from a3.align.measure.selection import Candidate
from a3.config.schema import FirstPlan

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

RANKS = [r for r in (8, 16, 32, 64, 128) if LORA_R_RANGE[0] <= r <= LORA_R_RANGE[1]]


@dataclass(frozen=True)
class PlanSpace:
    """What a plan may be: the agent's bounds (see ``decisions.clamp``). With ``shared_weights``
    one harmful and one benign weight apply to every training hypothesis: the agent's space cut to
    the dimension that decides the trade-off (in a pilot run the per-hypothesis space had 29
    dimensions, and four trials drew weights from 0.06 to 9.7 at random)."""

    train_hypotheses: list[str]
    max_epochs: int
    learning_rates: tuple[float, float]
    shared_weights: bool = True

    def _weight_keys(self) -> list[tuple[str, list[str]]]:
        """Each weight parameter, with the hypotheses it weights."""
        if self.shared_weights:
            return [("", list(self.train_hypotheses))]
        return [(f":{h}", [h]) for h in self.train_hypotheses]

    def distributions(self) -> dict[str, BaseDistribution]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        low, high = self.learning_rates
        space: dict[str, BaseDistribution] = {
            "lora_r": CategoricalDistribution(RANKS),
            "alpha_ratio": FloatDistribution(*ALPHA_RATIO_RANGE, log=True),
            "learning_rate": FloatDistribution(low, high, log=True) if low < high else FloatDistribution(low, high),
            "num_epochs": IntDistribution(1, self.max_epochs),
            "general_data_percentage": FloatDistribution(*GENERAL_RANGE),
        }
        for suffix, _ in self._weight_keys():
            space[f"harmful_weight{suffix}"] = FloatDistribution(*WEIGHT_RANGE)
            space[f"benign_weight{suffix}"] = FloatDistribution(*WEIGHT_RANGE)
        return space

    def params(self, plan: TrainingPlan) -> dict[str, float]:
        """A trained plan as the sampler's parameters (values brought inside the space)."""

        def inside(value: float, low: float, high: float) -> float:
            return min(max(value, low), high)

        nearest_rank = min(RANKS, key=lambda r: abs(r - plan.lora_r))
        params: dict[str, float] = {
            "lora_r": nearest_rank,
            "alpha_ratio": inside(plan.lora_alpha / plan.lora_r, *ALPHA_RATIO_RANGE),
            "learning_rate": inside(plan.learning_rate, *self.learning_rates),
            "num_epochs": int(inside(plan.num_epochs, 1, self.max_epochs)),
            "general_data_percentage": inside(plan.general_data_percentage, *GENERAL_RANGE),
        }
        for suffix, hypotheses in self._weight_keys():  # an agent's per-hypothesis weights, shared as their mean
            weights = [plan.weights.get(h, (1.0, 1.0)) for h in hypotheses]
            params[f"harmful_weight{suffix}"] = inside(sum(w[0] for w in weights) / len(weights), *WEIGHT_RANGE)
            params[f"benign_weight{suffix}"] = inside(sum(w[1] for w in weights) / len(weights), *WEIGHT_RANGE)
        return params

    def plan(self, params: dict[str, float]) -> TrainingPlan:
        r = int(params["lora_r"])  # a rank from RANKS
        ratio = float(params["alpha_ratio"])
        return TrainingPlan(
            lora_r=r,
            lora_alpha=max(1, round(r * ratio)),
            learning_rate=float(f"{float(params['learning_rate']):.3g}"),
            num_epochs=int(params["num_epochs"]),
            general_data_percentage=round(float(params["general_data_percentage"]), 1),
            weights={
                h: (
                    round(float(params[f"harmful_weight{suffix}"]), 2),
                    round(float(params[f"benign_weight{suffix}"]), 2),
                )
                for suffix, hypotheses in self._weight_keys()
                for h in hypotheses
            },
        )


def score(candidate: Candidate, measured: bool) -> float:
    """The search's objective for a finished iteration (lower is better; see the module doc)."""
    validation = candidate.validation
    # A rate that could not be measured counts as the worst, never as the best.
    rates = [1.0 if r is None else r for r in (validation.sfr, validation.fpr, validation.benign_unsafe.value)]
    value = sum(rates)
    tests = candidate.tests
    if tests is not None and not tests.eligible(measured):
        misses = [tests.fpr.upper_95 - tests.fpr.margin]
        if measured and tests.capability is not None:
            misses.append(tests.capability.upper_95 - tests.capability.margin)
        value += 1.0 + max(0.0, *misses)
    return value


def suggest(
    space: PlanSpace,
    finished: list[tuple[TrainingPlan, float]],
    seed: int,
    attempt: int = 0,
    first_plans: Sequence[FirstPlan] = (FirstPlan(),),
) -> TrainingPlan:
    """The next plan to train, given the plans trained so far with their scores: while fewer
    iterations have finished than there are ``first_plans``, the next of them (the search's
    starting design); then, or at a later attempt, a draw of the sampler."""
    if len(finished) < len(first_plans) and attempt == 0:
        start = first_plans[len(finished)]
        return first_plan(space.train_hypotheses, space.max_epochs, space.learning_rates, start)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = space.distributions()
    sampler = optuna.samplers.TPESampler(
        seed=seed + 1009 * len(finished) + attempt, n_startup_trials=1, multivariate=True
    )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for plan, value in finished:
        study.add_trial(
            optuna.trial.create_trial(
                params=space.params(plan),
                distributions=distributions,
                value=value,
            )
        )
    trial = study.ask(distributions)
    return space.plan(trial.params)
