"""How far a rate, a difference or an agreement measured on a few items can be trusted.

Rates carry Wilson score intervals and the base-versus-adapter comparison an exact McNemar test,
both from scipy. Two pieces scipy does not have are written here: Newcombe's interval for a difference of paired
proportions (1998, method 10, from its published formula) and an interval for Cohen's kappa (the
Wilson interval of the observed agreement, carried through kappa's formula).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

Z_95 = 1.959964  # two-sided 95%


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n``; unlike the normal approximation it stays
    inside [0, 1] and is not zero-width at 0% or 100%, which small splits hit often."""
    if n <= 0:
        return None
    from scipy.stats import binomtest

    interval = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return max(0.0, float(interval.low)), min(1.0, float(interval.high))


class PairedComparison(BaseModel):
    """Two models judged on the same items: ``before`` and ``after`` flag rates, their difference
    (after − before) with a 95% interval, and the exact McNemar p-value."""

    n: int
    before_flagged: int
    after_flagged: int
    only_before: int  # flagged before, not after
    only_after: int  # flagged after, not before
    difference: float
    low: float
    high: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05

    @property
    def relative_change(self) -> float | None:
        """(after − before) / before, e.g. −0.6 for a 60% relative reduction."""
        before = self.before_flagged / self.n if self.n else 0.0
        return None if before == 0 else self.difference / before


def paired_comparison(before: Sequence[bool], after: Sequence[bool]) -> PairedComparison:
    """Compare two sets of flags on the same items (``before[i]`` and ``after[i]`` are the
    verdicts on item i). The test uses only the discordant items, as McNemar's does."""
    a, b, c, d = _cross_table(before, after, "paired samples")
    n = a + b + c + d
    if n == 0:
        return PairedComparison(
            n=0,
            before_flagged=0,
            after_flagged=0,
            only_before=0,
            only_after=0,
            difference=0.0,
            low=-1.0,
            high=1.0,
            p_value=1.0,
        )
    low, high = _newcombe_paired(a, b, c, d)
    return PairedComparison(
        n=n,
        before_flagged=a + b,
        after_flagged=a + c,
        only_before=b,
        only_after=c,
        difference=(c - b) / n,
        low=low,
        high=high,
        p_value=mcnemar_exact(b, c),
    )


def _cross_table(first: Sequence[bool], second: Sequence[bool], what: str) -> tuple[int, int, int, int]:
    """The 2×2 table of two flag sequences on the same items: (both, first only, second only, neither)."""
    if len(first) != len(second):
        raise ValueError(f"{what} differ in number: {len(first)} and {len(second)}")
    pairs = list(zip(first, second, strict=False))
    both = sum(1 for x, y in pairs if x and y)
    first_only = sum(1 for x, y in pairs if x and not y)
    second_only = sum(1 for x, y in pairs if not x and y)
    return both, first_only, second_only, len(pairs) - both - first_only - second_only


def mcnemar_exact(only_before: int, only_after: int) -> float:
    """Two-sided exact McNemar p-value: under no difference each discordant item is equally likely
    to go either way."""
    discordant = only_before + only_after
    if discordant == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_after, discordant, 0.5).pvalue)


def _newcombe_paired(a: int, b: int, c: int, d: int, z: float = Z_95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_after − p_before with paired data (a: both flagged,
    b: before only, c: after only, d: neither)."""
    n = a + b + c + d
    p_before, p_after = (a + b) / n, (a + c) / n
    l1, u1 = _wilson(a + c, n, z)  # after
    l2, u2 = _wilson(a + b, n, z)  # before
    difference = p_after - p_before
    # phi: the correlation between the two margins, with Newcombe's continuity adjustment
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    if denominator == 0:
        phi = 0.0
    else:
        numerator = max(a * d - b * c - n / 2, 0.0) if a * d > b * c else a * d - b * c
        phi = numerator / math.sqrt(denominator)
    delta = math.sqrt(max(0.0, (p_after - l1) ** 2 - 2 * phi * (p_after - l1) * (u2 - p_before) + (u2 - p_before) ** 2))
    epsilon = math.sqrt(
        max(0.0, (u1 - p_after) ** 2 - 2 * phi * (u1 - p_after) * (p_before - l2) + (p_before - l2) ** 2)
    )
    return max(-1.0, difference - delta), min(1.0, difference + epsilon)


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


class Agreement(BaseModel):
    """A judge against gold labels: accuracy (Wilson interval), Cohen's kappa (the same interval
    carried through kappa's formula) and the confusion matrix, "flagged" being the positive class."""

    n: int
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int
    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None


def agreement(gold: Sequence[bool], predicted: Sequence[bool]) -> Agreement:
    tp, fn, fp, tn = _cross_table(gold, predicted, "gold and predicted labels")
    n = tp + fn + fp + tn
    if n == 0:
        return Agreement(
            n=0,
            true_positive=0,
            false_positive=0,
            false_negative=0,
            true_negative=0,
            accuracy=None,
            accuracy_low=None,
            accuracy_high=None,
            kappa=None,
            kappa_low=None,
            kappa_high=None,
        )
    accuracy = (tp + tn) / n
    interval = wilson_interval(tp + tn, n)
    assert interval is not None  # n > 0 here
    low, high = interval
    expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
    if expected >= 1.0:
        kappa = kappa_low = kappa_high = None  # both raters used one label only: kappa is undefined
    else:
        kappa = (accuracy - expected) / (1 - expected)
        # The Wilson interval of the observed agreement, carried through kappa's formula with the
        # chance agreement held fixed: unlike the large-sample standard error, it does not shrink
        # to nothing when every label agrees.
        kappa_low, kappa_high = (max(-1.0, (bound - expected) / (1 - expected)) for bound in (low, high))
    return Agreement(
        n=n,
        true_positive=tp,
        false_positive=fp,
        false_negative=fn,
        true_negative=tn,
        accuracy=accuracy,
        accuracy_low=low,
        accuracy_high=high,
        kappa=kappa,
        kappa_low=kappa_low,
        kappa_high=kappa_high,
    )


class NonInferiority(BaseModel):
    """A paired non-inferiority test of a flag rate (lower is better): is ``after`` worse than
    ``before`` by less than ``margin``? Non-inferior when the one-sided 95% upper bound of the
    difference (Newcombe's paired interval at 90% two-sided) lies below the margin; ``p_value``
    is the one-sided p-value of the same family of intervals (the level at which the bound
    touches the margin), so ``p_value < 0.05`` and ``non_inferior`` always agree."""

    comparison: PairedComparison
    margin: float
    upper_95: float  # one-sided 95% upper bound of after − before
    p_value: float

    @property
    def non_inferior(self) -> bool:
        return self.upper_95 < self.margin


def non_inferiority(before: Sequence[bool], after: Sequence[bool], margin: float) -> NonInferiority:
    """Test that the flag rate of ``after`` exceeds that of ``before`` by less than ``margin``
    (a fraction: 0.05 = 5 points), on the same items."""
    comparison = paired_comparison(before, after)
    if comparison.n == 0:
        return NonInferiority(comparison=comparison, margin=margin, upper_95=1.0, p_value=1.0)
    table = _cross_table(before, after, "paired samples")
    upper = _newcombe_paired(*table, z=_z_one_sided(0.05))[1]
    return NonInferiority(comparison=comparison, margin=margin, upper_95=upper, p_value=_inverted_p(table, margin))


def _z_one_sided(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.isf(alpha))


def _inverted_p(table: tuple[int, int, int, int], margin: float) -> float:
    """The one-sided p-value of H0 (difference ≥ margin): the alpha at which the one-sided upper
    bound equals the margin. The bound grows with z, so the root is found by bisection on z."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    def gap(z: float) -> float:
        return _newcombe_paired(*table, z=z)[1] - margin

    low, high = 1e-6, 8.0
    if gap(low) >= 0:
        return 1.0  # even a zero-width interval reaches the margin
    if gap(high) < 0:
        return float(norm.sf(high))
    return float(norm.sf(brentq(gap, low, high, xtol=1e-6)))
