"""Intervals, the paired test and agreement statistics."""

import random

import pytest

from a3.stats import agreement, mcnemar_exact, paired_comparison, wilson_interval


def test_wilson_interval_matches_the_textbook_value_and_stays_in_range():
    low, high = wilson_interval(1, 3)
    assert (round(low, 3), round(high, 3)) == (0.061, 0.792)
    assert wilson_interval(0, 30)[0] == 0.0 and wilson_interval(0, 30)[1] > 0.05  # not zero-width at 0%
    assert wilson_interval(0, 0) is None


def test_exact_mcnemar_uses_only_the_discordant_pairs():
    assert mcnemar_exact(9, 2) == pytest.approx(0.0654, abs=1e-4)  # 2 * P(X <= 2), X ~ Bin(11, 0.5)
    assert mcnemar_exact(10, 0) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(0, 0) == 1.0


def flags(a, b, c, d):
    """Paired flags from the four cells: both flagged, before only, after only, neither."""
    before = [True] * (a + b) + [False] * (c + d)
    after = [True] * a + [False] * b + [True] * c + [False] * d
    return before, after


def test_paired_comparison_on_newcombes_worked_example():
    result = paired_comparison(*flags(12, 9, 2, 21))
    assert result.difference == pytest.approx(-7 / 44)
    assert (round(result.low, 4), round(result.high, 4)) == (-0.2954, -0.0112)
    assert not result.significant  # p = 0.065: the interval excludes 0 but the exact test does not reject


def test_the_paired_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = random.Random(0)
    for cells in ((0.1, 0.3, 0.05), (0.0, 0.4, 0.02), (0.3, 0.1, 0.1)):
        truth = cells[2] - cells[1]
        hits = 0
        for _ in range(1500):
            draws = [rng.random() for _ in range(40)]
            a = sum(x < cells[0] for x in draws)
            b = sum(cells[0] <= x < cells[0] + cells[1] for x in draws)
            c = sum(cells[0] + cells[1] <= x < sum(cells) for x in draws)
            result = paired_comparison(*flags(a, b, c, 40 - a - b - c))
            hits += result.low <= truth <= result.high
        assert 0.93 <= hits / 1500 <= 0.985, cells


def test_agreement_counts_the_confusion_matrix_and_kappa():
    gold = [True] * 10 + [False] * 10
    judged = [True] * 8 + [False] * 2 + [False] * 9 + [True]
    result = agreement(gold, judged)
    assert (result.true_positive, result.false_negative, result.true_negative, result.false_positive) == (8, 2, 9, 1)
    assert result.accuracy == pytest.approx(0.85) and result.kappa == pytest.approx(0.7)
    assert result.kappa_low < 0.7 < result.kappa_high
    assert agreement([True] * 5, [True] * 5).kappa is None  # one label only: kappa is undefined


def test_non_inferiority_is_the_one_sided_bound_against_the_margin_and_its_p_value_agrees():
    from a3.stats import non_inferiority

    same = non_inferiority([False] * 70, [False] * 70, 0.05)
    assert same.non_inferior and same.p_value < 0.05  # 70 identical replies rule out a 5-point rise
    assert not non_inferiority([False] * 36, [False] * 36, 0.05).non_inferior  # 36 do not
    worse = non_inferiority([False] * 70, [False] * 60 + [True] * 10, 0.05)
    assert not worse.non_inferior and worse.p_value > 0.5 and worse.upper_95 > 0.14
    for flags in ([False] * 50 + [True] * 3, [True] * 2 + [False] * 51, [False] * 53):
        for margin in (0.02, 0.05, 0.1, 0.2):
            result = non_inferiority([False] * 53, flags, margin)
            assert result.non_inferior == (result.p_value < 0.05)
