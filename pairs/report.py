"""The benchmark report: per-config table, weight sharing x auxiliary loss tables, paired effects, figure."""

import statistics
from collections import defaultdict

from matplotlib.figure import Figure

from pairs.stats import mean_std, paired_effect, points
from pairs.study import PROTOCOLS, STUDY


def by_config(runs: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r["config"], r["seed"])):
        grouped[run["config"]].append(run)
    return grouped


def accuracy_by_seed(runs: list[dict], metric: str = "acc") -> dict[int, float]:
    return {run["seed"]: run["metrics"][metric] for run in runs}


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


def factorial_tables(grouped: dict[str, list[dict]]) -> list[str]:
    """For each protocol and trunk, the 2x2 table of weight sharing x auxiliary loss, and the paired effects of
    each factor."""
    cells = {}
    for name, runs in grouped.items():
        match = STUDY.match(name)
        if match:
            cells[match["protocol"] or "", match["trunk"], match["aux"], match["sharing"]] = accuracy_by_seed(runs)
    lines = []
    for (protocol, label), trunk in ((p, t) for p in PROTOCOLS.items() for t in ("cnn", "mlp")):
        if not any(key[:2] == (protocol, trunk) for key in cells):
            continue
        get = lambda aux, sharing: cells.get((protocol, trunk, aux, sharing), {})
        lines += [
            f"### {trunk.upper()} trunk, {label}: test accuracy % (mean ± std over seeds)",
            "",
            "| | auxiliary loss | no auxiliary loss |",
            "|---|---:|---:|",
        ]
        for sharing in ("shared", "separate"):
            label_ = "weight sharing" if sharing == "shared" else "no weight sharing"
            lines.append(
                f"| {label_} | {mean_std(list(get('aux', sharing).values()))} | "
                f"{mean_std(list(get('noaux', sharing).values()))} |"
            )
        lines += [
            "",
            "| effect (paired over seeds) | with the other factor at | mean difference, points | 95% CI | seeds |",
            "|---|---|---:|---:|---:|",
        ]
        config_name = lambda aux, sharing: f"{protocol}{trunk}_{aux}_{sharing}"
        effects = [
            ("weight sharing (shared − separate)", aux_label, (aux, "shared"), (aux, "separate"))
            for aux, aux_label in (("aux", "auxiliary loss"), ("noaux", "no auxiliary loss"))
        ]
        effects += [
            ("auxiliary loss (aux − no aux)", share_label, ("aux", sharing), ("noaux", sharing))
            for sharing, share_label in (("shared", "weight sharing"), ("separate", "no weight sharing"))
        ]
        for effect, fixed, a, b in effects:
            mean, low, high, n = paired_effect(get(*a), get(*b))
            if n == 0:
                missing = [config_name(*cell) for cell in (a, b) if not get(*cell)] or ["seeds in common"]
                lines.append(f"| {effect} | {fixed} | missing: {', '.join(missing)} | | 0 |")
                continue
            lines.append(f"| {effect} | {fixed} | {points(mean)} | [{points(low)}, {points(high)}] | {n} |")
        lines.append("")
    return lines


def tuned_vs_fixed(grouped: dict[str, list[dict]]) -> list[str]:
    """Per config run under both protocols: the paired difference tuned − fixed recipe."""
    pairs = [name for name in grouped if f"fixed/{name}" in grouped]
    if not pairs:
        return []
    lines = [
        "| config | fixed recipe % | tuned % | tuned − fixed, points | 95% CI | seeds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in pairs:
        tuned, fixed = accuracy_by_seed(grouped[name]), accuracy_by_seed(grouped[f"fixed/{name}"])
        mean, low, high, n = paired_effect(tuned, fixed)
        lines.append(
            f"| {name} | {mean_std(list(fixed.values()))} | {mean_std(list(tuned.values()))} | {points(mean)} | "
            f"[{points(low)}, {points(high)}] | {n} |"
        )
    return lines + [""]


def render(runs: list[dict], title: str = "Benchmark") -> str:
    """The Markdown report of `runs`."""
    grouped = by_config(runs)
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
    factorial = factorial_tables(grouped)
    if factorial:
        lines += ["## Weight sharing × auxiliary loss", "", *factorial]
    comparison = tuned_vs_fixed(grouped)
    if comparison:
        lines += ["## Tuned against the fixed recipe", "", *comparison]
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
