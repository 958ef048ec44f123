"""Where the spread across seeds comes from (`benchmark.py --vary`): for each config whose runs vary one source of
randomness alone, the variance of test accuracy per source, their sum, the total when all three vary, the binomial
floor of the test pairs, each with its interval, and the ratio of the sum to the total."""

import math
import statistics
from collections import defaultdict
from typing import NamedTuple

from common.stats import ratio_interval, sum_interval, variance_interval
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
    "at seed 0 (`benchmark.py --vary`; at seed s every source at s is the study's own run s). Variances in points², "
    "each with its 95% chi-square interval (normal errors assumed); the sum's interval uses Welch-Satterthwaite's "
    "degrees of freedom, the ratio sum / total an F interval (the parts and the total share the run at seed 0, "
    "which the F interval ignores). The total is over all the config's main-block seeds. Independent, additive "
    "sources would make the ratio 1; above 1, each source alone moves a run about as much as all three together (the "
    "sources interact: they do not add); below 1, the sources together spread the runs more than their parts. What "
    "the design cannot separate: the data seed draws the test pairs as well as the training pairs, so the data part "
    "holds the test pairs' binomial noise (the floor below); init is everything the global generator draws (initial "
    "weights, dropout, augmentations); and each source is varied around the others' seed 0 only, so how the sources "
    "interact is not estimated, only whether they add."
)

Estimate = tuple[float, float, float]  # a value with its 95% interval: (value, low, high)


class Spread(NamedTuple):
    """One config's variances of test accuracy, in points², each with its 95% interval."""

    parts: dict[str, Estimate]  # source -> variance with that source alone varied
    seeds: dict[str, int]  # source -> its runs
    sum: Estimate
    sum_dof: float  # Welch-Satterthwaite's degrees of freedom of the sum
    total: Estimate  # all three varied: the config's own main-block runs, every seed
    total_seeds: int
    ratio: Estimate  # sum / total
    accuracy: float  # mean test accuracy over every run counted, a fraction
    test_pairs: int
    floor: float  # the binomial floor p(1 − p)/n_test

    @property
    def floor_share(self) -> Estimate:
        """The floor as a share of the total variance, with the interval the total's gives."""
        whole, low, high = self.total
        return self.floor / whole, self.floor / high, self.floor / low if low > 0 else math.inf


def varied(grouped: dict[str, list[Record]]) -> dict[str, dict[str, list[Record]]]:
    """config -> source -> its runs that vary that source alone, for each config with such runs."""
    found: dict[str, dict[str, list[Record]]] = defaultdict(dict)
    for name, runs in grouped.items():
        if match := VARIED.match(name):
            found[match["config"]][match["source"]] = runs
    return dict(sorted(found.items()))


def spread(sources: dict[str, list[Record]], plain: list[Record]) -> Spread:
    """The variances of `sources` (runs varying one source alone) and of the config's own runs (`plain`, every
    seed), with their intervals."""
    variance = lambda runs: variance_interval([100 * r["metrics"]["acc"] for r in runs])
    parts = {source: variance(sources[source]) for source in SOURCES if source in sources}
    counts = {source: len(sources[source]) for source in parts}
    added, low, high, dof = sum_interval([v for v, _, _ in parts.values()], [counts[s] - 1 for s in parts])
    total = variance(plain)
    runs = [r for group in (*sources.values(), plain) for r in group]
    p = statistics.mean(r["metrics"]["acc"] for r in runs)
    n_test = runs[0].get("test_pairs", DEFAULT_TEST_PAIRS)
    ratio = ratio_interval(added, dof, total[0], len(plain) - 1)
    return Spread(
        parts, counts, (added, low, high), dof, total, len(plain), ratio, p, n_test, 1e4 * p * (1 - p) / n_test
    )


def number(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.2f}"


def estimate(e: Estimate) -> str:
    """'value [low, high]'."""
    return f"{number(e[0])} [{number(e[1])}, {number(e[2])}]"


def spread_table(config: str, sources: dict[str, list[Record]], plain: list[Record]) -> list[str]:
    """The variance of test accuracy across seeds when each source varies alone, their sum, the total when all
    three vary (the config's own runs), the binomial floor of the test pairs, each with its interval, and the check
    of the sum against the total."""
    found = spread(sources, plain)
    row = lambda label, n, e: f"| {label} | {n} | {estimate(e)} | {number(math.sqrt(e[0]))} |"
    share = found.floor_share
    return [
        f"### {config}",
        "",
        "| varied (the other two held at seed 0) | seeds | variance [95% CI], points² | std, points |",
        "|---|---:|---:|---:|",
        *[row(SOURCE_LABELS[s], found.seeds[s], e) for s, e in found.parts.items()],
        row(f"sum of the {len(found.parts)} above ({found.sum_dof:.1f} degrees of freedom)", "", found.sum),
        row("total: all three vary (the config's own runs)", found.total_seeds, found.total),
        f"| sum / total | | {estimate(found.ratio)} | |",
        f"| binomial floor p(1 − p)/n_test, p = {100 * found.accuracy:.1f} %, n_test = {found.test_pairs:,}; "
        f"its share of the total {100 * share[0]:.0f}% [{100 * share[1]:.0f}%, {100 * share[2]:.0f}%] | | "
        f"{number(found.floor)} | {number(math.sqrt(found.floor))} |",
        "",
        spread_check(config, found),
        "",
    ]


def spread_check(config: str, found: Spread) -> str:
    """The line under a spread table: whether the ratio of the sum of the sources to the total excludes 1."""
    missing = [source for source in SOURCES if source not in found.parts]
    if missing:
        return f"Check: it needs all three sources varied; missing: {', '.join(missing)}."
    if any(math.isnan(v) for v in found.ratio):
        return f"Check: it needs at least two seeds of each varied run and of {config}'s own runs."
    ratio, low, high = found.ratio
    if low > 1:
        verdict = "above 1: the sources do not add up to the total spread; each alone moves a run about as much as all"
    elif high < 1:
        verdict = "below 1: the sources together spread the runs more than their parts add up to"
    else:
        verdict = "it holds 1: the parts are consistent with independent, additive sources"
    return f"Check: the sum is {ratio:.2f} times the total, 95% interval [{low:.2f}, {high:.2f}], {verdict}."


def spread_tables(grouped: dict[str, list[Record]]) -> list[str]:
    """A spread table per config with runs that vary one source of randomness alone (`benchmark.py --vary`)."""
    return [
        line
        for config, sources in varied(grouped).items()
        for line in spread_table(config, sources, grouped.get(config, []))
    ]
