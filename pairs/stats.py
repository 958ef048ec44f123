"""Statistics over seeds: mean ± std, and the paired effect of one config against another with its interval."""

import math
import statistics

from scipy import stats


def mean_std(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std' of values (in percent by default); std is the sample std (n - 1), so one value has none."""
    if not values:
        return "–"
    std = f"{scale * statistics.stdev(values):.{digits}f}" if len(values) > 1 else "–"
    return f"{scale * statistics.mean(values):.{digits}f} ± {std}"


def paired_effect(
    a: dict[int, float], b: dict[int, float], confidence: float = 0.95
) -> tuple[float, float, float, int]:
    """Mean of a[s] - b[s] over the seeds both have, with a Student-t confidence interval: (mean, low, high, n)."""
    seeds = sorted(a.keys() & b.keys())
    diffs = [a[s] - b[s] for s in seeds]
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = statistics.mean(diffs)
    if n == 1:
        return mean, math.nan, math.nan, 1
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * statistics.stdev(diffs) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def points(difference: float) -> str:
    """A difference of accuracies in signed percentage points; '–' where it is undefined."""
    return "–" if math.isnan(difference) else f"{100 * difference:+.1f}"
