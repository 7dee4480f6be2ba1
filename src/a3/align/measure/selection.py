"""Choosing the final model from all iterations, on validation only.

Where each iteration carries its paired tests against the base model on the same validation
queries (A3's finetuning iterations do), the limits are tested, not thresholded: an iteration is
eligible when its FPR is non-inferior to the base model's (``finetune.fpr_margin``), its
capability non-inferior (``capability.max_drop``, when benchmarks are measured) and its leaks on
benign queries not significantly more frequent; among the eligible, the lowest validation SFR
(then FPR) is chosen, and whether its SFR fell significantly is said. A threshold on 100
capability questions or 35 benign queries is a coin toss at the scale of a few queries; a test
says how sure the limit is. Without tests (rows of other defences), the rule is the threshold
rule: on the capable Pareto front under the SFR target, the lowest FPR; else the lowest SFR
within the capability limit; else the smallest capability drop. OOD and sealed-test results are
reported for the choice, never used to make it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from a3.align.metrics import Metrics
from a3.stats import NonInferiority, PairedComparison, non_inferiority


def pareto_front(points: dict[int, tuple[float, float]]) -> list[int]:
    """Iterations not dominated on (SFR, FPR), both lower-is-better."""
    front = []
    for key, (sfr, fpr) in points.items():
        dominated = any(
            o_sfr <= sfr and o_fpr <= fpr and (o_sfr, o_fpr) != (sfr, fpr)
            for other, (o_sfr, o_fpr) in points.items()
            if other != key
        )
        if not dominated:
            front.append(key)
    return sorted(front)


class CandidateTests(BaseModel):
    """A model against the base model on the same queries (and capability questions): for an
    iteration, on validation, the evidence the choice rests on; for the chosen one, the same tests
    on the sealed test and the sealed benchmarks."""

    sfr: PairedComparison  # harmful queries judged unsafe
    fpr: NonInferiority  # benign queries refused, against finetune.fpr_margin
    benign_leaks: PairedComparison | None = None  # benign queries judged unsafe
    capability: NonInferiority | None = None  # questions answered wrongly, against capability.max_drop
    # Without per-question answers (benchmarks graded by inspect's scorer), the drop's threshold.
    capability_within_drop: bool | None = None

    @property
    def sfr_fell(self) -> bool:
        return self.sfr.difference < 0 and self.sfr.significant

    @property
    def more_benign_leaks(self) -> bool:
        return self.benign_leaks is not None and self.benign_leaks.difference > 0 and self.benign_leaks.significant

    @property
    def fpr_floor(self) -> float:
        """The one-sided bound a model identical to the base would get at this size: the smallest
        margin the FPR test can show at all."""
        return _floor(self.fpr)

    @property
    def capability_floor(self) -> float | None:
        """The same for the capability test; None when capability was not tested per question."""
        return None if self.capability is None else _floor(self.capability)

    def within_limits_by_estimate(self, measured: bool) -> bool:
        """The limits read from point estimates alone (when no iteration passes the tests)."""
        fpr_ok = self.fpr.comparison.difference <= self.fpr.margin
        capability = self.capability
        if not measured:
            capable = True
        elif capability is not None:
            capable = capability.comparison.difference <= capability.margin
        else:
            capable = bool(self.capability_within_drop)
        return fpr_ok and capable and not self.more_benign_leaks

    def eligible(self, measured: bool) -> bool:
        if not measured:
            capable = True
        elif self.capability is not None:
            capable = self.capability.non_inferior
        else:
            capable = bool(self.capability_within_drop)
        return self.fpr.non_inferior and capable and not self.more_benign_leaks


class Candidate(BaseModel):
    """One iteration as the choice sees it (A3's and the ICL defence's iterations extend it)."""

    iteration: int
    validation: Metrics
    ood: Metrics
    capability_drop: float | None = None  # points lost against the base model; None when not measured
    tests: CandidateTests | None = None  # paired tests against the base model; None for rows without them


class Selection(BaseModel):
    """Which iteration was chosen, by which rule, and the Pareto fronts it was chosen from."""

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
    """Choose the final iteration, on validation only.

    When every candidate carries paired tests against the base model: among those whose FPR and
    capability are non-inferior and whose benign leaks did not rise significantly, the lowest
    validation SFR; when none passes, the rule says so and point estimates within the limits stand in
    for the tests, else the nearest miss is chosen. Without tests (older records): thresholds on the
    capability drop and ``sfr_target``. ``measured`` says whether capability was measured."""
    points = {
        r.iteration: (r.validation.sfr, r.validation.fpr)
        for r in records
        if r.validation.sfr is not None and r.validation.fpr is not None
    }
    front = pareto_front(points)
    by_id = {r.iteration: r for r in records}
    if points and any(by_id[i].tests is not None for i in points):
        return _choose_by_tests(by_id, points, front, measured)
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
        return Selection(
            chosen=None, pareto_front=[], capable_front=[], meets_all_goals=False, rule="no iteration was evaluated"
        )
    return Selection(
        chosen=chosen, pareto_front=front, capable_front=capable_front, meets_all_goals=chosen in meets, rule=rule
    )


def _choose_by_tests(
    by_id: dict[int, Candidate], points: dict[int, tuple[float, float]], front: list[int], measured: bool
) -> Selection:
    tests = {i: by_id[i].tests for i in points}
    tested = {i: t for i, t in tests.items() if t is not None}
    untested = sorted(i for i, t in tests.items() if t is None)
    untested_note = (
        f"; iterations {untested} have no paired tests (made before they existed) and were not eligible"
        if untested
        else ""
    )
    eligible = [i for i, t in tested.items() if t.eligible(measured)]
    capable_front = pareto_front({i: points[i] for i in eligible})
    if eligible:
        chosen = min(eligible, key=lambda i: (points[i][0], points[i][1], i))
        fell = tested[chosen].sfr_fell
        rule = (
            "FPR and capability non-inferior to the base model and no more benign leaks (paired tests on "
            "validation); lowest validation SFR"
            + ("; its SFR fell significantly" if fell else "; its SFR did not fall significantly")
            + untested_note
        )
        return Selection(
            chosen=chosen, pareto_front=front, capable_front=capable_front, meets_all_goals=fell, rule=rule
        )
    # Nothing shown within the limits. Said plainly, with why when the split is too small to show the
    # margin at all; then the point estimates stand in for the tests, and failing that, the nearest miss.
    why = _unshowable(next(t for t in tests.values() if t is not None), measured)
    within = [i for i, t in tests.items() if t is not None and t.within_limits_by_estimate(measured)]
    if within:
        chosen = min(within, key=lambda i: (points[i][0], points[i][1], i))
        rule = (
            f"no iteration passed every non-inferiority test{why}; by point estimates within the limits, the lowest "
            "validation SFR"
        )
    else:
        # Significantly more leaks on benign queries rule an iteration out before any other miss.
        chosen = min(
            points,
            key=lambda i: (i in tested and tested[i].more_benign_leaks, _worst_limit(tests[i]), points[i][0], i),
        )
        rule = f"no iteration passed every non-inferiority test{why}: the one whose worst limit test came closest"
    return Selection(
        chosen=chosen, pareto_front=front, capable_front=[], meets_all_goals=False, rule=rule + untested_note
    )


def _floor(test: NonInferiority) -> float:
    """The one-sided bound of a side identical to the base (its flags unchanged) at the test's size."""
    before = test.comparison.before_flagged
    flags = [True] * before + [False] * (test.comparison.n - before)
    return non_inferiority(flags, flags, test.margin).upper_95 if flags else 1.0


def _unshowable(tests: CandidateTests, measured: bool) -> str:
    """Why no iteration can pass at this size, when a limit's margin is below what the data can show."""
    reasons = []
    if tests.fpr_floor >= tests.fpr.margin:
        reasons.append(
            f"FPR: even an unchanged model's one-sided bound is {100 * tests.fpr_floor:.1f} points against "
            f"a margin of {100 * tests.fpr.margin:g}"
        )
    floor = tests.capability_floor
    if measured and floor is not None and tests.capability is not None and floor >= tests.capability.margin:
        reasons.append(
            f"capability: even unchanged answers leave a bound of {100 * floor:.1f} points against a margin of "
            f"{100 * tests.capability.margin:g}"
        )
    return f" (the limit cannot be shown at this size — {'; '.join(reasons)})" if reasons else ""


def _worst_limit(tests: CandidateTests | None) -> float:
    """How far the worst limit is from passing: the largest (upper bound − margin) of the tests."""
    if tests is None:
        return float("inf")
    gaps = [tests.fpr.upper_95 - tests.fpr.margin]
    if tests.capability is not None:
        gaps.append(tests.capability.upper_95 - tests.capability.margin)
    return max(gaps)
