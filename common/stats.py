"""Statistics over seeds: mean ± std, the paired effect of one config against another with its interval, and the
interval of a variance."""

import math
import statistics
from collections.abc import Iterable

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


def points(difference: float) -> str:
    """A difference of accuracies in signed percentage points; '–' where it is undefined."""
    return "–" if math.isnan(difference) else f"{100 * difference:+.1f}"
