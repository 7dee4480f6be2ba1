"""Choosing the final model from all iterations, on validation only.

The Pareto front is taken over validation (SFR, FPR) of the iterations whose capability stayed
within the allowed drop. The chosen iteration is, in order of preference: on that front with
validation SFR under target, the lowest FPR; else, among iterations within the capability limit, the lowest SFR (the
agent's own rule: capability first); else the smallest capability drop. OOD and sealed-test
results are reported for the choice, never used to make it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from a3.align.metrics import Metrics


def pareto_front(points: dict[int, tuple[float, float]]) -> list[int]:
    """Iterations not dominated on (SFR, FPR), both lower-is-better."""
    front = []
    for key, (sfr, fpr) in points.items():
        dominated = any(o_sfr <= sfr and o_fpr <= fpr and (o_sfr, o_fpr) != (sfr, fpr) for other, (o_sfr, o_fpr) in points.items()
                        if other != key)
        if not dominated:
            front.append(key)
    return sorted(front)


class Candidate(BaseModel):
    """One iteration as the choice sees it (A3's and the ICL defence's iterations extend it)."""

    iteration: int
    validation: Metrics
    ood: Metrics
    capability_drop: float | None = None  # points lost against the base model; None when not measured


class Selection(BaseModel):
    chosen: int | None
    pareto_front: list[int]
    capable_front: list[int]
    meets_all_goals: bool
    rule: str


def capability_ok(candidate: Candidate, max_drop: float, measured: bool) -> bool:
    """Within the allowed drop. When benchmarks are configured, a missing score is not ok."""
    if not measured:
        return True
    drop = candidate.capability_drop
    return drop is not None and drop <= max_drop + 1e-12


def choose(records: Sequence[Candidate], *, sfr_target: float, max_drop: float, measured: bool) -> Selection:
    points = {r.iteration: (r.validation.sfr, r.validation.fpr) for r in records
              if r.validation.sfr is not None and r.validation.fpr is not None}
    front = pareto_front(points)  # type: ignore[arg-type]  # None rates were filtered out above
    by_id = {r.iteration: r for r in records}
    capable = [i for i in points if capability_ok(by_id[i], max_drop, measured)]
    capable_front = pareto_front({i: points[i] for i in capable})
    meets = [i for i in capable_front if points[i][0] < sfr_target]
    if meets:
        chosen = min(meets, key=lambda i: (points[i][1], points[i][0], i))
        rule = "within the capability limit and under the SFR target, lowest validation FPR (on the Pareto front)"
    elif capable:
        chosen = min(capable, key=lambda i: (points[i][0], points[i][1], i))
        rule = "no iteration met every goal: lowest validation SFR within the capability limit"
    elif points:
        chosen = min(points, key=lambda i: (by_id[i].capability_drop or float("inf"), points[i][0], i))
        rule = "no iteration kept capability within the limit: smallest capability drop"
    else:
        return Selection(chosen=None, pareto_front=[], capable_front=[], meets_all_goals=False, rule="no iteration was evaluated")
    return Selection(chosen=chosen, pareto_front=front, capable_front=capable_front, meets_all_goals=chosen in meets, rule=rule)
