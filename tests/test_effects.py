"""The study's statistics on hand-made numbers whose answers are known: Holm's adjustment, the paired t-test and the
prediction interval."""

import math

import pytest
from scipy import stats

from common.stats import holm, prediction_interval, t_test


def test_holm_against_a_hand_computation():
    # sorted: 0.005 × 4 = 0.02; 0.01 × 3 = 0.03; 0.03 × 2 = 0.06; 0.04 × 1 = 0.04, kept at the 0.06 before it
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6, 0.001]) == pytest.approx([1.0, 1.0, 0.003])  # capped at 1, and never decreasing
    assert holm([0.2]) == [0.2] and holm([]) == []


def test_the_paired_t_test_is_scipys():
    values = [0.012, -0.004, 0.020, 0.007, 0.015]
    assert t_test(values) == pytest.approx(stats.ttest_1samp(values, 0).pvalue)
    assert t_test([0.01, 0.01, 0.01]) == 0.0 and t_test([0.0, 0.0]) == 1.0  # no spread: certain either way
    assert math.isnan(t_test([0.01]))


def test_the_prediction_interval_against_a_hand_computation():
    # mean 3, sd sqrt(2.5); sqrt(2.5) × sqrt(1/5 + 1/5) = 1, so the half-width is t(0.975, 4) = 2.7764
    low, high = prediction_interval([1, 2, 3, 4, 5], 5)
    assert (low, high) == pytest.approx((3 - 2.776445, 3 + 2.776445), abs=1e-6)
    assert all(math.isnan(v) for v in prediction_interval([1], 5))
