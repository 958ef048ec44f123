"""The benchmark report: per-config table, weight sharing x auxiliary loss tables, the paired effects with their
replication on disjoint halves of the seeds, conclusions that follow the intervals, where the spread comes from,
and a figure."""

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from matplotlib.figure import Figure

from common.stats import interval, mean_std, points, variance_interval
from pairs.study import PROTOCOLS, SOURCES, VARIED

TRUNKS = ("cnn", "mlp")
# each factor's levels: config-name part -> (the level as the tables name it, as the conclusions say it)
AUX = {
    "aux": ("auxiliary loss", "with the auxiliary loss"),
    "noaux": ("no auxiliary loss", "without the auxiliary loss"),
}
SHARING = {
    "shared": ("weight sharing", "with weight sharing"),
    "separate": ("no weight sharing", "without weight sharing"),
}
HALVES = {"even": 0, "odd": 1}  # the two disjoint halves of the seeds, by seed % 2
TUNING = "tuned − fixed"  # the group of the tuned − fixed recipe effects
DEFAULT_TEST_PAIRS = 1000  # for records that do not say how many test pairs they were tested on
SOURCE_LABELS = {
    "data": "data: the pair draw (training and test pairs)",
    "init": "init: initial weights (and dropout, augmentations)",
    "order": "order: the training batch order",
}


def by_config(runs: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r["config"], r["seed"])):
        grouped[run["config"]].append(run)
    return grouped


def accuracy_by_seed(runs: list[dict], metric: str = "acc") -> dict[int, float]:
    return {run["seed"]: run["metrics"][metric] for run in runs}


@dataclass(frozen=True)
class Effect:
    """A paired effect, config `a` − config `b` seed by seed on the seeds both have (`diffs`); where the tables show
    it (`group`, row `label`, the other factor's level `given`) and how the conclusions name it (`cause`, `subject`)."""

    group: str
    label: str
    given: str
    cause: str
    subject: str
    a: str
    b: str
    diffs: dict[int, float]

    def interval(self, parity: int | None = None) -> tuple[float, float, float, int]:
        """Mean and 95% CI of the differences over every seed, or over the even (0) or odd (1) seeds only."""
        return interval(d for s, d in sorted(self.diffs.items()) if parity is None or s % 2 == parity)

    def half_width(self) -> float:
        """Half the width of the 95% CI over every seed, in points; infinite while it is undefined."""
        _, low, high, _ = self.interval()
        return math.inf if math.isnan(low) else 50 * (high - low)

    def clear_of_zero(self, parity: int | None = None) -> bool:
        """Whether the 95% CI (over every seed, or one half) excludes 0."""
        _, low, high, _ = self.interval(parity)
        return low > 0 or high < 0

    def mark(self, precision: float | None = None) -> str:
        """'unresolved' (the CI holds 0, or is wider than ±precision points), 'replicated' (each half's CI excludes
        0 on the side of the whole), or 'conflicting' (resolved, but a half does not confirm it)."""
        if not self.clear_of_zero() or (precision is not None and self.half_width() > precision):
            return "unresolved"
        side = math.copysign(1, self.interval()[0])
        confirmed = (self.clear_of_zero(p) and self.interval(p)[0] * side > 0 for p in HALVES.values())
        return "replicated" if all(confirmed) else "conflicting"

    def describe(self) -> str:
        """'the effect of <cause> on <subject>', as the conclusions and the progress lines name it."""
        return f"the effect of {self.cause} on {self.subject}"


def squares(names: Iterable[str]) -> Iterator[tuple[str, str, dict[tuple[str, str], str]]]:
    """Each trunk × protocol 2×2 with a cell among `names`: its heading, how the conclusions name its model, and the
    config name of each (aux, sharing) cell."""
    present = set(names)
    for (protocol, how), trunk in itertools.product(PROTOCOLS.items(), TRUNKS):
        cells = {(aux, sharing): f"{protocol}{trunk}_{aux}_{sharing}" for aux in AUX for sharing in SHARING}
        if present & set(cells.values()):
            yield f"{trunk.upper()} trunk, {how}", f"the {trunk.upper()} ({how})", cells


def effects(grouped: dict[str, list[dict]]) -> Iterator[Effect]:
    """Every paired effect of the runs, in the report's order: in each 2×2 present, weight sharing at each level of
    the auxiliary loss and the auxiliary loss at each level of weight sharing (no seeds where a cell is missing);
    then tuned − fixed for each config run under both protocols."""

    def paired(a: str, b: str, text: tuple[str, str, str, str, str]) -> Effect:
        acc_a, acc_b = accuracy_by_seed(grouped.get(a, [])), accuracy_by_seed(grouped.get(b, []))
        return Effect(*text, a, b, {s: acc_a[s] - acc_b[s] for s in sorted(acc_a.keys() & acc_b.keys())})

    for group, model, cells in squares(grouped):
        for aux, (level, phrase) in AUX.items():
            text = (group, "weight sharing (shared − separate)", level, "weight sharing", f"{model} {phrase}")
            yield paired(cells[aux, "shared"], cells[aux, "separate"], text)
        for sharing, (level, phrase) in SHARING.items():
            text = (group, "auxiliary loss (aux − no aux)", level, "the auxiliary loss", f"{model} {phrase}")
            yield paired(cells["aux", sharing], cells["noaux", sharing], text)
    for name in grouped:
        if f"fixed/{name}" in grouped:
            yield paired(name, f"fixed/{name}", (TUNING, name, "", "tuning", name))


# the test metrics of the per-config table, after params and seeds: (record key, column heading)
COLUMNS = (
    ("acc", "test accuracy %"),
    ("digit_acc", "digit accuracy %"),
    ("digit_acc_first", "digit 1 %"),
    ("digit_acc_second", "digit 2 %"),
    ("acc_from_digits", "target from P(d1 ≤ d2) %"),
    ("acc_from_argmax", "target from argmax digits %"),
)


def config_table(grouped: dict[str, list[dict]]) -> list[str]:
    """Per config: parameters, seeds, mean ± std of each test metric in COLUMNS ('–' where a config has none, as
    the baselines have no digits), and fit seconds."""
    lines = [
        "| config | params | seeds | " + " | ".join(heading for _, heading in COLUMNS) + " | fit s/run |",
        "|---|" + "---:|" * (len(COLUMNS) + 3),
    ]
    for name, runs in grouped.items():
        cells = [mean_std([r["metrics"][key] for r in runs if key in r["metrics"]]) for key, _ in COLUMNS]
        seconds = statistics.mean(r["fit_seconds"] for r in runs)
        lines.append(f"| {name} | {runs[0].get('params', 0):,} | {len(runs)} | {' | '.join(cells)} | {seconds:.1f} |")
    return lines


def ci(low: float, high: float) -> str:
    return f"[{points(low)}, {points(high)}]"


def mean_ci(effect: Effect, parity: int) -> str:
    """'mean [low, high]' of the effect over one half of the seeds."""
    mean, low, high, _ = effect.interval(parity)
    return f"{points(mean)} {ci(low, high)}"


# the columns every effects table ends with, after its own
EFFECT_COLUMNS = "95% CI | seeds | even seeds: mean [95% CI] | odd seeds: mean [95% CI] | replication |"


def effect_cells(effect: Effect, grouped: dict[str, list[dict]], precision: float | None) -> str:
    """An effect's cells under EFFECT_COLUMNS, after its mean; 'missing: …' where it has no seeds."""
    if not effect.diffs:
        missing = [name for name in (effect.a, effect.b) if name not in grouped] or ["seeds in common"]
        return f"missing: {', '.join(missing)} | | 0 | | | |"
    mean, low, high, n = effect.interval()
    halves = " | ".join(mean_ci(effect, parity) for parity in HALVES.values())
    return f"{points(mean)} | {ci(low, high)} | {n} | {halves} | {effect.mark(precision)} |"


def factorial_tables(grouped: dict[str, list[dict]], measured: list[Effect], precision: float | None) -> list[str]:
    """For each protocol and trunk, the 2x2 table of weight sharing x auxiliary loss, and the paired effects of
    each factor."""
    lines = []
    for group, _, cells in squares(grouped):
        lines += [
            f"### {group}: test accuracy % (mean ± std over seeds)",
            "",
            "| | " + " | ".join(level for level, _ in AUX.values()) + " |",
            "|---|---:|---:|",
        ]
        for sharing, (level, _) in SHARING.items():
            accuracies = [[r["metrics"]["acc"] for r in grouped.get(cells[aux, sharing], [])] for aux in AUX]
            lines.append(f"| {level} | " + " | ".join(mean_std(values) for values in accuracies) + " |")
        lines += [
            "",
            f"| effect (paired over seeds) | with the other factor at | mean difference, points | {EFFECT_COLUMNS}",
            "|---|---|" + "---:|" * 6,
        ]
        lines += [
            f"| {e.label} | {e.given} | {effect_cells(e, grouped, precision)}" for e in measured if e.group == group
        ]
        lines.append("")
    return lines


def tuned_vs_fixed(grouped: dict[str, list[dict]], measured: list[Effect], precision: float | None) -> list[str]:
    """Per config run under both protocols: the paired difference tuned − fixed recipe."""
    rows = [
        f"| {e.a} | {mean_std([r['metrics']['acc'] for r in grouped[e.b]])} | "
        f"{mean_std([r['metrics']['acc'] for r in grouped[e.a]])} | {effect_cells(e, grouped, precision)}"
        for e in measured
        if e.group == TUNING
    ]
    if not rows:
        return []
    header = f"| config | fixed recipe % | tuned % | tuned − fixed, points | {EFFECT_COLUMNS}"
    return [header, "|---|" + "---:|" * 8, *rows, ""]


def width(effect: Effect) -> str:
    return f"{effect.describe()}: ±{effect.half_width():.2f} points"


def bullet(effect: Effect) -> str:
    return f"- {width(effect)}"


def precision_summary(measured: list[Effect], precision: float, max_seeds: int | None) -> list[str]:
    """Whether every effect's 95% CI is within ±precision points, and with how many seeds; else which are not."""
    seeds = max(e.interval()[3] for e in measured)
    wide = [e for e in measured if e.half_width() > precision]
    if not wide:
        widest = max(measured, key=Effect.half_width)
        return [
            f"Every paired effect's 95% interval is within ±{precision:g} points with {seeds} seeds (the widest, "
            f"{width(widest)})."
        ]
    reached = f"The maximum of {max_seeds} seeds was reached" if seeds >= (max_seeds or math.inf) else f"{seeds} seeds"
    return [f"{reached}; still wider than ±{precision:g} points:", "", *map(bullet, wide)]


def conclusion(effect: Effect, precision: float | None) -> str:
    """One sentence on the effect, worded by its mark; an effect whose interval holds 0 is given no direction."""
    mean, low, high, n = effect.interval()
    value = f"{points(mean)} points {ci(low, high)}"
    mark = effect.mark(precision)
    if mark == "unresolved":
        why = "cannot be told from 0" if not effect.clear_of_zero() else f"is not yet within ±{precision:g} points"
        return f"**unresolved**: {effect.describe()}, {value}, {why} with {n} seed{'s' * (n != 1)}."
    halves = ", ".join(f"{name} seeds {mean_ci(effect, parity)}" for name, parity in HALVES.items())
    claim = f"{effect.cause} {'helps' if mean > 0 else 'hurts'} {effect.subject} by {value} over {n} seeds"
    if mark == "replicated":
        return f"**replicated**: {claim}, and both halves confirm it ({halves})."
    return f"**conflicting**: {claim}, but the halves do not both confirm it ({halves})."


def conclusions(seeded: list[Effect], precision: float | None) -> list[str]:
    """What the marks mean, then one sentence per effect."""
    beyond = f" or is wider than ±{precision:g} points" if precision is not None else ""
    return [
        "Each effect is marked by its 95% interval over all seeds and by the even and odd seeds as two disjoint "
        "replications: *replicated* when the interval excludes 0 and so does each half's, on the same side; "
        f"*conflicting* when it excludes 0 but a half does not confirm it; *unresolved* when it holds 0{beyond}.",
        "",
        *[f"- {conclusion(e, precision)}" for e in seeded],
    ]


SPREAD = (
    "Each config's test accuracy across seeds with one source of randomness varied by the seed and the other two held "
    "at seed 0 (`benchmark.py --vary`). The data seed also draws the test pairs, so the data row holds the binomial "
    "noise of sampling the test pairs; init is everything the global RNG draws: initial weights, and dropout and "
    "augmentations where a config has them."
)


def spread_table(config: str, sources: dict[str, list[dict]], plain: list[dict]) -> list[str]:
    """The variance of test accuracy across seeds when each source varies alone, their sum, the total when all
    three vary (the config's own runs on the same seeds), the binomial floor of the test pairs, and the check that
    the sum lies within the total's 95% chi-square interval."""
    seeds = {r["seed"] for runs in sources.values() for r in runs}
    total_runs = [r for r in plain if r["seed"] in seeds]
    variance = lambda runs: variance_interval([100 * r["metrics"]["acc"] for r in runs])
    number = lambda v: "–" if math.isnan(v) else f"{v:.2f}"
    row = lambda label, n, v, shown: f"| {label} | {n} | {shown} | {number(math.sqrt(v))} |"
    parts = {source: variance(sources[source])[0] for source in SOURCES if source in sources}
    whole, low, high = variance(total_runs)
    runs = [r for group in (*sources.values(), total_runs) for r in group]
    p = statistics.mean(r["metrics"]["acc"] for r in runs)
    n_test = runs[0].get("test_pairs", DEFAULT_TEST_PAIRS)
    floor = 1e4 * p * (1 - p) / n_test
    return [
        f"### {config}",
        "",
        "| varied (the other two held at seed 0) | seeds | variance, points² | std, points |",
        "|---|---:|---:|---:|",
        *[row(SOURCE_LABELS[s], len(sources[s]), v, number(v)) for s, v in parts.items()],
        row(f"sum of the {len(parts)} above", "", sum(parts.values()), number(sum(parts.values()))),
        row(
            "total: all three vary (the config's own runs)",
            len(total_runs),
            whole,
            f"{number(whole)} [{number(low)}, {number(high)}]",
        ),
        row(f"binomial floor p(1 − p)/n_test, p = {100 * p:.1f} %, n_test = {n_test:,}", "", floor, number(floor)),
        "",
        spread_check(config, parts, sum(parts.values()), (low, high), len(total_runs)),
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


def spread_tables(grouped: dict[str, list[dict]]) -> list[str]:
    """A spread table per config with runs that vary one source of randomness alone (`benchmark.py --vary`)."""
    varied: dict[str, dict[str, list[dict]]] = defaultdict(dict)
    for name, runs in grouped.items():
        if match := VARIED.match(name):
            varied[match["config"]][match["source"]] = runs
    return [
        line
        for config, sources in sorted(varied.items())
        for line in spread_table(config, sources, grouped.get(config, []))
    ]


def render(
    runs: list[dict], title: str = "Benchmark", precision: float | None = None, max_seeds: int | None = None
) -> str:
    """The Markdown report of `runs`; with `precision` (points), an effect wider than ±precision is unresolved and
    the report says whether every effect came within it, with how many seeds (`max_seeds`: the most allowed)."""
    grouped = by_config(runs)
    measured = list(effects(grouped))
    versions = sorted({f"torch {r.get('torch')}, lightning {r.get('lightning')}" for r in runs})
    codes = sorted({str(r.get("code")) for r in runs})
    lines = [
        f"# {title}",
        "",
        f"{len(runs)} runs; each evaluated once on the test pairs at its last epoch "
        f"({'; '.join(versions)}; code {', '.join(codes)}).",
        "",
    ]
    if len(codes) > 1:
        lines += [
            f"**Warning: these runs come from {len(codes)} versions of the code** ({', '.join(codes)}); rerun "
            "`python benchmark.py` with the same configs to bring them all to the current code.",
            "",
        ]
    lines += [*config_table(grouped), ""]
    factorial = factorial_tables(grouped, measured, precision)
    if factorial:
        lines += ["## Weight sharing × auxiliary loss", "", *factorial]
    comparison = tuned_vs_fixed(grouped, measured, precision)
    if comparison:
        lines += ["## Tuned against the fixed recipe", "", *comparison]
    seeded = [e for e in measured if e.diffs]
    if precision is not None and seeded:
        lines += ["## Precision", "", *precision_summary(seeded, precision, max_seeds), ""]
    if seeded:
        lines += ["## Conclusions", "", *conclusions(seeded, precision), ""]
    spread = spread_tables(grouped)
    if spread:
        lines += ["## Where the spread comes from", "", SPREAD, "", *spread]
    return "\n".join(lines)


def figure(runs: list[dict], path) -> None:
    """Per-seed test accuracies as points, with the mean ± std per config, saved as a PNG."""
    grouped = by_config(runs)
    fig = Figure(figsize=(max(6.5, 1.1 * len(grouped) + 2), 4.5))
    ax = fig.subplots()
    for i, config_runs in enumerate(grouped.values()):
        acc = [100 * r["metrics"]["acc"] for r in config_runs]
        jitter = [i + 0.25 * ((k % 5) - 2) / 2 for k in range(len(acc))]
        ax.scatter(jitter, acc, s=12, alpha=0.6, color="tab:blue")
        std = statistics.stdev(acc) if len(acc) > 1 else 0
        ax.errorbar(i, statistics.mean(acc), yerr=std, fmt="o", color="black", capsize=5)
    ax.set_xticks(range(len(grouped)), list(grouped), rotation=35, ha="right")
    ax.set_ylabel("test accuracy %")
    ax.set_title("per-seed test accuracy (dots) and mean ± std (black)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
