"""Statistics over seeds: mean ± std, the paired effect of one config against another with its interval and its
t-test, Holm's adjustment of a family of p-values, the prediction interval of a fresh sample's mean, and the interval
of a variance."""

import math
import statistics
from collections.abc import Iterable, Sequence

from scipy import stats


def mean_std(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std' of values (in percent by default); std is the sample std (n - 1), so one value has none."""
    if not values:
        return "–"
    std = f"{scale * statistics.stdev(values):.{digits}f}" if len(values) > 1 else "–"
    return f"{scale * statistics.mean(values):.{digits}f} ± {std}"


def interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of `values` with a Student-t confidence interval: (mean, low, high, n); NaN where undefined."""
    values = list(values)
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = statistics.mean(values)
    if n == 1:
        return mean, math.nan, math.nan, 1
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def t_test(values: Iterable[float]) -> float:
    """The two-sided p-value of Student's one-sample t-test that `values` have mean 0 (for paired differences, the
    paired t-test); NaN with fewer than two values; 0 or 1 when the values do not vary."""
    values = list(values)
    n = len(values)
    if n < 2:
        return math.nan
    mean, sd = statistics.mean(values), statistics.stdev(values)
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values, in their order: the k-th smallest is multiplied by
    (m - k + 1), each adjusted value kept at least the one before it, and capped at 1. An adjusted p below alpha
    rejects with a family-wise error rate of at most alpha, whatever the dependence between the tests."""
    m = len(pvalues)
    adjusted = [math.nan] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def prediction_interval(values: Iterable[float], n_new: int, confidence: float = 0.95) -> tuple[float, float]:
    """Where the mean of `n_new` fresh values should fall, given `values` from the same distribution (Patil, Peng &
    Leek 2016): mean ± t(n - 1) · s · sqrt(1/n + 1/n_new), s the sample std of `values`; NaN where undefined."""
    values = list(values)
    n = len(values)
    if n < 2 or n_new < 1:
        return math.nan, math.nan
    mean = statistics.mean(values)
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * statistics.stdev(values) * math.sqrt(1 / n + 1 / n_new)
    return mean - half, mean + half


def paired_effect(
    a: dict[int, float], b: dict[int, float], confidence: float = 0.95
) -> tuple[float, float, float, int]:
    """Mean of a[s] - b[s] over the seeds both have, with a Student-t confidence interval: (mean, low, high, n)."""
    return interval((a[s] - b[s] for s in sorted(a.keys() & b.keys())), confidence)


def variance_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The sample variance (n - 1) of `values` with its chi-square confidence interval for normal data:
    (variance, low, high); NaN where undefined (fewer than two values)."""
    n = len(values)
    if n < 2:
        return math.nan, math.nan, math.nan
    variance = statistics.variance(values)
    tail = (1 - confidence) / 2
    return (
        variance,
        (n - 1) * variance / stats.chi2.ppf(1 - tail, n - 1),
        (n - 1) * variance / stats.chi2.ppf(tail, n - 1),
    )


def sum_interval(
    variances: Sequence[float], dofs: Sequence[int], confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """The sum of independent sample variances with its chi-square interval on Welch-Satterthwaite's degrees of
    freedom: (sum, low, high, degrees of freedom); NaN where undefined."""
    total = sum(variances)
    if not variances or min(dofs) < 1 or not total > 0:
        return total, math.nan, math.nan, math.nan
    dof = total**2 / sum(v**2 / d for v, d in zip(variances, dofs))
    tail = (1 - confidence) / 2
    return total, dof * total / stats.chi2.ppf(1 - tail, dof), dof * total / stats.chi2.ppf(tail, dof), dof


def ratio_interval(
    a: float, dof_a: float, b: float, dof_b: float, confidence: float = 0.95
) -> tuple[float, float, float]:
    """a / b of two independent variance estimates with their degrees of freedom, and its F interval for the ratio of
    the true variances: (ratio, low, high); NaN where undefined."""
    if not (b > 0 and dof_a > 0 and dof_b > 0):
        return math.nan, math.nan, math.nan
    ratio, tail = a / b, (1 - confidence) / 2
    return ratio, ratio / stats.f.ppf(1 - tail, dof_a, dof_b), ratio / stats.f.ppf(tail, dof_a, dof_b)


def points(difference: float, digits: int = 1) -> str:
    """A difference of accuracies in signed percentage points; '–' where it is undefined."""
    return "–" if math.isnan(difference) else f"{100 * difference:+.{digits}f}"
