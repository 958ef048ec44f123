"""Where the spread across seeds comes from (`benchmark.py --vary`): for each config whose runs vary one source of
randomness alone, the variance of test accuracy per source, their sum, the total when all three vary, the binomial
floor of the test pairs, and whether the sum lies within the total's interval."""

import math
import statistics
from collections import defaultdict
from typing import NamedTuple

from common.stats import variance_interval
from pairs.record import Record
from pairs.study import SOURCES, VARIED

DEFAULT_TEST_PAIRS = 1000  # for records that do not say how many test pairs they were tested on
SOURCE_LABELS = {
    "data": "data: the pair draw (training and test pairs)",
    "init": "init: initial weights (and dropout, augmentations)",
    "order": "order: the training batch order",
}
SPREAD = (
    "Each config's test accuracy across seeds with one source of randomness varied by the seed and the other two held "
    "at seed 0 (`benchmark.py --vary`). The data seed also draws the test pairs, so the data row holds the binomial "
    "noise of sampling the test pairs; init is everything the global RNG draws: initial weights, and dropout and "
    "augmentations where a config has them."
)


class Spread(NamedTuple):
    """One config's variances of test accuracy, in points²."""

    parts: dict[str, float]  # source -> variance with that source alone varied
    seeds: dict[str, int]  # source -> its runs
    total: tuple[float, float, float]  # all three varied (the config's own runs on the same seeds): variance, 95% CI
    total_seeds: int
    accuracy: float  # mean test accuracy over every run counted, a fraction
    test_pairs: int
    floor: float  # the binomial floor p(1 − p)/n_test

    @property
    def sum(self) -> float:
        return sum(self.parts.values())


def varied(grouped: dict[str, list[Record]]) -> dict[str, dict[str, list[Record]]]:
    """config -> source -> its runs that vary that source alone, for each config with such runs."""
    found: dict[str, dict[str, list[Record]]] = defaultdict(dict)
    for name, runs in grouped.items():
        if match := VARIED.match(name):
            found[match["config"]][match["source"]] = runs
    return dict(sorted(found.items()))


def spread(sources: dict[str, list[Record]], plain: list[Record]) -> Spread:
    """The variances of `sources` (runs varying one source alone) and of the config's own runs (`plain`) on the same
    seeds."""
    seeds = {r["seed"] for runs in sources.values() for r in runs}
    total_runs = [r for r in plain if r["seed"] in seeds]
    variance = lambda runs: variance_interval([100 * r["metrics"]["acc"] for r in runs])
    parts = {source: variance(sources[source])[0] for source in SOURCES if source in sources}
    runs = [r for group in (*sources.values(), total_runs) for r in group]
    p = statistics.mean(r["metrics"]["acc"] for r in runs)
    n_test = runs[0].get("test_pairs", DEFAULT_TEST_PAIRS)
    counts = {source: len(sources[source]) for source in parts}
    return Spread(parts, counts, variance(total_runs), len(total_runs), p, n_test, 1e4 * p * (1 - p) / n_test)


def number(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.2f}"


def spread_table(config: str, sources: dict[str, list[Record]], plain: list[Record]) -> list[str]:
    """The variance of test accuracy across seeds when each source varies alone, their sum, the total when all
    three vary (the config's own runs on the same seeds), the binomial floor of the test pairs, and the check that
    the sum lies within the total's 95% chi-square interval."""
    found = spread(sources, plain)
    row = lambda label, n, v, shown: f"| {label} | {n} | {shown} | {number(math.sqrt(v))} |"
    whole, low, high = found.total
    return [
        f"### {config}",
        "",
        "| varied (the other two held at seed 0) | seeds | variance, points² | std, points |",
        "|---|---:|---:|---:|",
        *[row(SOURCE_LABELS[s], found.seeds[s], v, number(v)) for s, v in found.parts.items()],
        row(f"sum of the {len(found.parts)} above", "", found.sum, number(found.sum)),
        row(
            "total: all three vary (the config's own runs)",
            found.total_seeds,
            whole,
            f"{number(whole)} [{number(low)}, {number(high)}]",
        ),
        row(
            f"binomial floor p(1 − p)/n_test, p = {100 * found.accuracy:.1f} %, n_test = {found.test_pairs:,}",
            "",
            found.floor,
            number(found.floor),
        ),
        "",
        spread_check(config, found.parts, found.sum, (low, high), found.total_seeds),
        "",
    ]


def spread_check(config: str, parts: dict[str, float], total: float, bounds: tuple[float, float], n: int) -> str:
    """The line under a spread table: whether the sum of the sources lies within the total's 95% interval."""
    missing = [source for source in SOURCES if source not in parts]
    if missing:
        return f"Check: it needs all three sources varied; missing: {', '.join(missing)}."
    if math.isnan(bounds[0]) or any(math.isnan(v) for v in parts.values()):
        return f"Check: it needs at least two seeds of each varied run and of {config}'s own runs."
    low, high = bounds
    inside = low <= total <= high
    consequence = (
        "the three sources account for the spread as independent, additive parts would"
        if inside
        else "they do not add up to the total spread (they interact, or the seeds are too few)"
    )
    return (
        f"Check: the sum of the three, {total:.2f} points², lies {'within' if inside else 'outside'} the 95% "
        f"chi-square interval of the total variance, [{low:.2f}, {high:.2f}] ({n - 1} degrees of freedom): "
        f"{consequence}."
    )


def spread_tables(grouped: dict[str, list[Record]]) -> list[str]:
    """A spread table per config with runs that vary one source of randomness alone (`benchmark.py --vary`)."""
    return [
        line
        for config, sources in varied(grouped).items()
        for line in spread_table(config, sources, grouped.get(config, []))
    ]
