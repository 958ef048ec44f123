"""The benchmark report in Markdown: per-config table, the weight sharing × auxiliary loss tables, the paired effects
with their family-wise adjusted p-values and simultaneous intervals, the interactions, tuned against fixed, the
replication block, conclusions worded from the family-adjusted results, where the spread comes from, and a figure.
The statistics are pairs/effects.py's; this module only words and lays them out."""

import math
import statistics
from collections.abc import Sequence

from matplotlib.figure import Figure

from common.stats import mean_std
from common.stats import points as percentage_points
from pairs.effects import (
    ALPHA,
    AUX,
    SHARING,
    TUNING,
    Effect,
    Family,
    Interaction,
    Paired,
    Stopping,
    by_config,
    effects,
    families,
    family_of,
    interactions,
    split,
    squares,
)
from pairs.record import Record
from pairs.spread import SPREAD, spread_tables

# the test metrics of the per-config table, after params and seeds: (record key, column heading)
COLUMNS = (
    ("acc", "test accuracy %"),
    ("digit_acc", "digit accuracy %"),
    ("digit_acc_first", "digit 1 %"),
    ("digit_acc_second", "digit 2 %"),
    ("acc_from_digits", "target from P(d1 ≤ d2) %"),
    ("acc_from_argmax", "target from argmax digits %"),
)
NO_REPLICATION = (
    "No replication block yet: `benchmark.py --replicate N` runs the same configs on the next N test seeds that the "
    "main block did not use, as a block of its own, after the main estimate; each effect is then checked against "
    "the main estimate's 95% prediction interval."
)


def config_table(grouped: dict[str, list[Record]]) -> list[str]:
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


def points(difference: float) -> str:
    """A contrast in signed percentage points, to two decimals: an interval's end near 0 shows on which side it is."""
    return percentage_points(difference, 2)


def ci(low: float, high: float) -> str:
    return f"[{points(low)}, {points(high)}]"


def pvalue(p: float) -> str:
    """A p-value in two significant digits; '< 0.0001' below that, '–' where undefined."""
    if math.isnan(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:#.2g}"


def seed_range(seeds: Sequence[int]) -> str:
    """'0–49', or '0–9, 20–29' for seeds with gaps."""
    seeds = sorted(set(seeds))
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def family_note(family: Family) -> str:
    """The line above a family's tables: what it holds and how it is adjusted."""
    m = family.size
    return (
        f"Family: {family.title()} ({family.what}). Beside each one's own 95% interval: its p-value (paired t-test), "
        f"that p-value Holm-adjusted over the {m}, and its simultaneous 95% interval (Bonferroni: each at confidence "
        f"1 − 0.05/{m}; the {m} hold together with probability at least 95%)."
    )


def family_columns(family: Family | None) -> str:
    m = f" over the {family.size}" if family else ""
    return f"95% CI | seeds | p | Holm p{m} | simultaneous 95% CI, Bonferroni{m} |"


def contrast_cells(member: Paired, family: Family | None, missing: list[str]) -> str:
    """A contrast's cells under family_columns, from its mean on; 'missing: …' where it has no seeds."""
    if not member.diffs:
        return f"missing: {', '.join(missing or ['seeds in common'])} | | 0 | | | |"
    mean, low, high, n = member.interval()
    if family is None:  # fewer than two seeds: no test, no family
        return f"{points(mean)} | {ci(low, high)} | {n} | – | – | – |"
    return f"{points(mean)} | {ci(low, high)} | {n} | {adjusted_cells(member, family)} |"


def adjusted_cells(member: Paired, family: Family) -> str:
    """'p | Holm p | simultaneous CI' of a member of `family`."""
    return f"{pvalue(member.p())} | {pvalue(family.holm(member))} | {ci(*family.simultaneous(member))}"


def missing_configs(effect: Effect, grouped: dict[str, list[Record]]) -> list[str]:
    return [name for name in (effect.a, effect.b) if name not in grouped]


def factorial_tables(grouped: dict[str, list[Record]], measured: list[Effect], found: dict[str, Family]) -> list[str]:
    """For each protocol and trunk, the 2x2 table of weight sharing x auxiliary loss, and the paired effects of
    each factor with their family's adjustments."""
    lines = []
    family = found.get("factor effects")
    if family:
        lines += [family_note(family), ""]
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
            "| effect (paired over seeds) | with the other factor at | mean difference, points | "
            + family_columns(family),
            "|---|---|" + "---:|" * 6,
        ]
        lines += [
            f"| {e.label} | {e.given} | {contrast_cells(e, family_of(e, found), missing_configs(e, grouped))}"
            for e in measured
            if e.group == group
        ]
        lines.append("")
    return lines


def interaction_table(crossed: list[Interaction], found: dict[str, Family]) -> list[str]:
    """Each 2×2's interaction: sharing's effect without the aux loss minus with it, paired over seeds."""
    family = found.get("interactions")
    if not family:
        return []
    return [
        family_note(family),
        "",
        "| 2×2 | sharing's effect without the aux loss − with it (= the aux loss's without sharing − with it), "
        "points | " + family_columns(family),
        "|---|" + "---:|" * 6,
        *[f"| {x.group} | {contrast_cells(x, family_of(x, found), [])}" for x in crossed],
        "",
    ]


def tuned_vs_fixed(grouped: dict[str, list[Record]], measured: list[Effect], found: dict[str, Family]) -> list[str]:
    """Per config run under both protocols: the paired difference tuned − fixed recipe."""
    family = found.get("tuned − fixed effects")
    rows = [
        f"| {e.a} | {mean_std([r['metrics']['acc'] for r in grouped[e.b]])} | "
        f"{mean_std([r['metrics']['acc'] for r in grouped[e.a]])} | "
        f"{contrast_cells(e, family_of(e, found), missing_configs(e, grouped))}"
        for e in measured
        if e.group == TUNING
    ]
    if not rows:
        return []
    header = f"| config | fixed recipe % | tuned % | tuned − fixed, points | {family_columns(family)}"
    return [*([family_note(family), ""] if family else []), header, "|---|" + "---:|" * 8, *rows, ""]


def name_of(member: Paired) -> str:
    if isinstance(member, Effect):
        return member.label if member.group == TUNING else f"{member.group}: {member.label}, {member.given}"
    assert isinstance(member, Interaction)
    return f"{member.group}: interaction"


def replication_verdict(member: Paired) -> str:
    """'consistent' or why not, for the replication column and the conclusions."""
    replication = member.replication()
    if replication is None:
        return "–"
    mean = member.interval()[0]
    if replication.consistent(mean):
        return "consistent"
    if not replication.inside:
        return "outside the prediction interval"
    return "opposite sign"


def replication_section(main: list[Record], fresh: list[Record], found: dict[str, Family]) -> list[str]:
    """The replication block against the main estimate, effect by effect, and both pooled; or that there is none."""
    if not fresh:
        return [NO_REPLICATION, ""]
    members = [m for family in found.values() for m in family.members]
    rows = []
    for member in members:
        replication = member.replication()
        mean, _, _, n = member.interval()
        if replication is None:
            rows.append(f"| {name_of(member)} | {points(mean)} ({n}) | – | – | – | – |")
            continue
        fresh_mean, low, high, n_fresh = replication.fresh
        pooled_mean, pooled_low, pooled_high, n_pooled = replication.pooled
        rows.append(
            f"| {name_of(member)} | {points(mean)} ({n}) | {ci(*replication.predicted)} | "
            f"{points(fresh_mean)} {ci(low, high)} ({n_fresh}) | {replication_verdict(member)} | "
            f"{points(pooled_mean)} {ci(pooled_low, pooled_high)} ({n_pooled}) |"
        )
    main_seeds, fresh_seeds = {r["seed"] for r in main}, {r["seed"] for r in fresh}
    return [
        f"The replication block (seeds {seed_range(sorted(fresh_seeds))}, run after the main block's "
        f"{seed_range(sorted(main_seeds))} by `benchmark.py --replicate`) against the main estimate: a contrast is "
        "*consistent* when the replication's mean lies inside the main estimate's 95% prediction interval for a mean "
        "of that many fresh seeds (Patil, Peng & Leek 2016: mean ± t(n1 − 1) · s · sqrt(1/n1 + 1/n2), s the main "
        "block's per-seed std) and has the same sign. The last column pools both blocks.",
        "",
        "| contrast | main: mean (seeds) | 95% prediction interval | replication: mean [95% CI] (seeds) | "
        "replication | pooled: mean [95% CI] (seeds) |",
        "|---|---:|---:|---:|---|---:|",
        *rows,
        "",
    ]


def width(effect: Effect) -> str:
    return f"{effect.describe()}: ±{effect.half_width():.2f} points"


def precision_summary(measured: list[Effect], stopping: Stopping) -> list[str]:
    """Whether every effect's 95% CI is within ±precision points, and with how many seeds; else which are not."""
    seeds = max(e.interval()[3] for e in measured)
    wide = stopping.wide(measured)
    if not wide:
        return [
            f"Every paired effect's 95% interval is within ±{stopping.precision:g} points with {seeds} seeds (the "
            f"widest, {width(stopping.widest(measured))})."
        ]
    reached = (
        f"The maximum of {stopping.max_seeds} seeds was reached" if seeds >= stopping.max_seeds else f"{seeds} seeds"
    )
    return [
        f"{reached}; still wider than ±{stopping.precision:g} points:",
        "",
        *[f"- {width(e)}" for e in wide],
    ]


def adjusted(member: Paired, family: Family) -> str:
    """'simultaneous 95% interval [..], its own [..]; Holm-adjusted p = ..; N seeds'."""
    _, low, high, n = member.interval()
    p = pvalue(family.holm(member))
    return (
        f"simultaneous 95% interval {ci(*family.simultaneous(member))}, its own {ci(low, high)}; Holm-adjusted "
        f"p {p if p.startswith('<') else f'= {p}'}; {n} seed{'s' * (n != 1)}"
    )


def replication_clause(member: Paired) -> str:
    replication = member.replication()
    if replication is None:
        return ""
    fresh_mean, _, _, n = replication.fresh
    where = "inside" if replication.inside else "outside"
    sign = "agrees in sign" if replication.same_sign(member.interval()[0]) else "has the opposite sign"
    verdict = "consistent" if replication.consistent(member.interval()[0]) else "not consistent"
    return (
        f" The replication block's {points(fresh_mean)} over {n} seeds lies {where} the 95% prediction interval "
        f"{ci(*replication.predicted)} and {sign}: {verdict}."
    )


def effect_conclusion(effect: Effect, family: Family) -> str:
    """One sentence on the effect, worded from its family's adjustments: a direction only where Holm sets it apart
    from 0."""
    mean = effect.interval()[0]
    if not family.resolved(effect):
        return (
            f"**unresolved**: {effect.describe()}, {points(mean)} points, cannot be told from 0 among "
            f"{family.title()} ({adjusted(effect, family)})."
        )
    low, high = family.simultaneous(effect)
    caveat = "" if low > 0 or high < 0 else ", though its simultaneous interval still reaches 0"
    claim = f"{effect.cause} {'helps' if mean > 0 else 'hurts'} {effect.subject} by {points(mean)} points"
    return f"**resolved**: {claim} ({adjusted(effect, family)}{caveat})."


def interaction_conclusion(crossed: Interaction, family: Family, measured: list[Effect]) -> str:
    """One sentence on a 2×2's interaction; 'worth most when the other is absent' only where Holm sets it apart
    from 0 on that side."""
    mean = crossed.interval()[0]
    sharing = {e.given: e.interval()[0] for e in measured if e.group == crossed.group and e.cause == "weight sharing"}
    effects_said = (
        f"weight sharing adds {points(sharing.get(AUX['noaux'][0], math.nan))} points without the auxiliary loss "
        f"and {points(sharing.get(AUX['aux'][0], math.nan))} with it"
    )
    if not family.resolved(crossed):
        return (
            f"**no interaction resolved** in {crossed.model}: {effects_said}, a difference of {points(mean)} points "
            f"that cannot be told from 0 among {family.title()} ({adjusted(crossed, family)}): the two factors' "
            "effects may simply add."
        )
    how = "worth most when the other is absent" if mean > 0 else "worth more when the other is present"
    return (
        f"**each factor is {how}** in {crossed.model}: {effects_said}, a difference of {points(mean)} points "
        f"({adjusted(crossed, family)})."
    )


def conclusions(measured: list[Effect], crossed: list[Interaction], found: dict[str, Family]) -> list[str]:
    """What the words mean, then one sentence per contrast, family by family."""
    lines = [
        "Each conclusion is drawn within its family: *resolved*, with a direction (helps, hurts, worth most when the "
        f"other is absent), only where the Holm-adjusted p-value is below {ALPHA:.2g}, so that the chance of any false "
        "direction in a family is at most 5%; *unresolved* otherwise. The interval quoted first is the simultaneous "
        "one, the contrast's own beside it.",
        "",
    ]
    for family in found.values():
        lines += [f"### {family.title().capitalize()}", ""]
        for member in family.members:
            if isinstance(member, Interaction):
                sentence = interaction_conclusion(member, family, measured)
            else:
                assert isinstance(member, Effect)
                sentence = effect_conclusion(member, family)
            lines.append(f"- {sentence}{replication_clause(member)}")
        lines.append("")
    return lines


def header(runs: list[Record], title: str, main: list[Record], fresh: list[Record]) -> list[str]:
    versions = sorted({f"torch {r.get('torch')}, lightning {r.get('lightning')}" for r in runs})
    codes = sorted({str(r.get("code")) for r in runs})
    blocks = f"Main block: {len(main)} runs"
    if main:
        blocks += f", seeds {seed_range([r['seed'] for r in main])}"
    blocks += (
        f"; replication block: {len(fresh)} runs, seeds {seed_range([r['seed'] for r in fresh])}."
        if fresh
        else "; no replication block yet."
    )
    lines = [
        f"# {title}",
        "",
        f"{len(runs)} runs; each evaluated once on the test pairs at its last epoch "
        f"({'; '.join(versions)}; code {', '.join(codes)}). {blocks}",
        "",
    ]
    if len(codes) > 1:
        lines += [
            f"**Warning: these runs come from {len(codes)} versions of the code** ({', '.join(codes)}); rerun "
            "`python benchmark.py` with the same configs to bring them all to the current code.",
            "",
        ]
    return lines


def render(runs: list[Record], title: str = "Benchmark", stopping: Stopping | None = None) -> str:
    """The Markdown report of `runs`; with `stopping` (benchmark.py --precision), whether every effect's interval
    came within it, and with how many seeds. Tables and conclusions are of the main block; the replication block is
    checked against it."""
    main, fresh = split(runs)
    grouped, fresh_grouped = by_config(main), by_config(fresh)
    measured = list(effects(grouped, fresh_grouped))
    crossed = [x for x in interactions(grouped, fresh_grouped) if x.diffs]
    found = families(measured, crossed)
    lines = [*header(runs, title, main, fresh), *config_table(grouped), ""]
    factorial = factorial_tables(grouped, measured, found)
    if factorial:
        lines += ["## Weight sharing × auxiliary loss", "", *factorial]
    crossing = interaction_table(crossed, found)
    if crossing:
        lines += ["## Interactions", "", *crossing]
    comparison = tuned_vs_fixed(grouped, measured, found)
    if comparison:
        lines += ["## Tuned against the fixed recipe", "", *comparison]
    seeded = [e for e in measured if e.diffs]
    if seeded:
        lines += ["## Replication", "", *replication_section(main, fresh, found)]
    if stopping is not None and seeded:
        lines += ["## Precision", "", *precision_summary(seeded, stopping), ""]
    if found:
        lines += ["## Conclusions", "", *conclusions(measured, crossed, found)]
    spread = spread_tables(grouped)
    if spread:
        lines += ["## Where the spread comes from", "", SPREAD, "", *spread]
    return "\n".join(lines)


def figure(runs: list[Record], path) -> None:
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
