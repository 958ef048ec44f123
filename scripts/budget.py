"""The study's answer as a function of the tuning budget (Dodge et al. 2019, "Show your work").

From the tuner's export of every trial of every cell: each cell's best validation accuracy after k trials, observed
in the sampler's order and expected from the trials as i.i.d. draws (EVP), and every paired effect of the study at
budget k, each cell's best of its first k trials standing in for its tuned config, paired over the search seeds.
It writes a Markdown report and a figure; it fits nothing and reads no test pairs.

    python -m scripts.budget
    python -m scripts.budget --trials records/tuning.jsonl --report records/budget.md --figure docs/figures/budget.png
"""

import argparse
import math
import os
from pathlib import Path

from matplotlib.figure import Figure

from common import options
from common.errors import run_main
from common.files import atomic, write_atomically
from pairs import budget
from pairs.budget import Trial
from pairs.effects import Effect, Paired
from pairs.report import ci, name_of, points
from pairs.study import STUDY

BUDGETS = (5, 10, 20, 40)  # the report's budgets below N; N itself always
STABLE_FROM = 10  # the sign column: is an effect's sign at every budget from here to N the sign at N
CURVES = """\
Two curves per cell. The solid one is what this search actually found: the best complete trial among the first k \
in the order the sampler proposed them (a pruned trial never counts as best), with the 95% t-interval over the \
search seeds of that trial's validation accuracies at its last epoch. The dashed one is Dodge et al.'s expected \
maximum validation performance: the N trials' values (a pruned trial's at the last epoch it reached) taken as \
exchangeable draws, the expected best of k drawn with replacement, ± one standard deviation. TPE proposes each trial \
from the ones before it, so its trials are not independent draws and the solid curve is the primary one; the dashed \
one is the i.i.d. reading beside it. Where the sampler improves as it learns, the expected maximum is biased upwards \
at small k (k draws may reach trials the search found only later) and, at k = N, lies below the observed best (N \
draws with replacement miss the best trial with probability about 1/e). The effects at budget k use each cell's \
best of its first k trials only, so they show how the study's answer would read had the tuning stopped there."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = options.parser(__doc__)
    parser.add_argument(
        "--trials", type=Path, default=Path("records/tuning.jsonl"), help="the tuner's export, one trial a line"
    )
    parser.add_argument("--report", type=options.output_file, default="records/budget.md", help="the Markdown report")
    parser.add_argument("--figure", type=options.output_file, default="docs/figures/budget.png", help="the figure")
    args = parser.parse_args(argv)
    options.check_paths(
        parser,
        inputs={"--trials": args.trials},
        outputs={"--report": (args.report, (".md",)), "--figure": (args.figure, options.FIGURE)},
    )
    if args.figure.suffix.lower() not in options.FIGURE:
        parser.error(f"--figure {args.figure}: give a figure's suffix, one of {', '.join(options.FIGURE)}")
    return args


def budgets(n: int) -> list[int]:
    """The report's budgets for N trials: those of BUDGETS below N, then N."""
    return [k for k in BUDGETS if k < n] + [n]


def accuracy(trial: Trial | None) -> str:
    """A best trial's value in % with its number; '–' where there is none."""
    return "–" if trial is None else f"{100 * trial.value:.2f} (#{trial.number})"


def series(cells: dict[str, list[Trial]], n: int) -> dict[str, list[Paired | None]]:
    """Every effect and interaction of the study at budgets 1..n, by its report name, in the report's order at n;
    None at a budget where it is not yet measured."""
    at = []
    for k in range(1, n + 1):
        measured, crossed = budget.effects_at(cells, k)
        at.append({name_of(member): member for member in [*measured, *crossed]})
    return {name: [members.get(name) for members in at] for name in at[-1]}


def estimate(member: Paired | None) -> tuple[float, float, float]:
    """An effect's mean and 95% interval, (mean, low, high); NaN where it has no seeds."""
    if member is None or not member.diffs:
        return math.nan, math.nan, math.nan
    mean, low, high, _ = member.interval()
    return mean, low, high


def sign(x: float) -> int:
    return (x > 0) - (x < 0)


def cell_table(cells: dict[str, list[Trial]], n: int) -> list[str]:
    """Per cell: its trials, how many were pruned, its best at each budget, and the head and size of its best."""
    ks = budgets(n)[:-1]
    lines = [
        "| cell | trials | pruned | " + " | ".join(f"best % at k = {k}" for k in ks) + " | best % at N | head | "
        "parameters |",
        "|---|" + "---:|" * (len(ks) + 3) + "---|---:|",
    ]
    for cell, trials in cells.items():
        best = budget.best_at(trials, len(trials))
        at = [accuracy(budget.best_at(trials, k)) if k <= len(trials) else "–" for k in ks]
        head = "–" if best is None else str(best.params.get("model.prediction", "–"))
        size = "–" if best is None else f"{best.parameters:,}"
        pruned = sum(not t.complete for t in trials)
        lines.append(f"| {cell} | {len(trials)} | {pruned} | {' | '.join([*at, accuracy(best)])} | {head} | {size} |")
    return lines


def effect_table(measured: dict[str, list[Paired | None]], n: int) -> list[str]:
    """Every effect at the report's budgets, in points with its 95% interval, and whether its sign holds from
    STABLE_FROM to N."""
    ks = budgets(n)
    lines = [
        "| effect | " + " | ".join(f"k = {k}" for k in ks) + f" | same sign at every k ≥ {STABLE_FROM} as at N |",
        "|---|" + "---:|" * len(ks) + "---|",
    ]
    for name, over in measured.items():
        shown = [estimate(member) for member in over]
        cells = ["–" if math.isnan(mean) else f"{points(mean)} {ci(low, high)}" for mean, low, high in shown]
        means = [mean for mean, _, _ in shown[STABLE_FROM - 1 :]]
        if n < STABLE_FROM or math.isnan(means[-1]):
            stable = "–"
        else:
            stable = "yes" if all(sign(mean) == sign(means[-1]) and not math.isnan(mean) for mean in means) else "no"
        lines.append(f"| {name} | {' | '.join(cells[k - 1] for k in ks)} | {stable} |")
    return lines


HEAD = "model.prediction"  # the parameter choosing how the target is read: a learnt head or the digits


def head_table(cells: dict[str, list[Trial]]) -> list[str]:
    """Every effect at the full budget within each head the trials chose (`HEAD`): each cell's best trial with that
    head stands in for it."""
    heads = sorted({str(t.params[HEAD]) for trials in cells.values() for t in trials if HEAD in t.params})
    if not heads:
        return ["No trial chose a head (`model.prediction` is not in the space)."]
    within = {head: budget.effects_within(cells, HEAD, head) for head in heads}
    names = list(dict.fromkeys(name_of(m) for measured, crossed in within.values() for m in [*measured, *crossed]))
    lines = ["| effect | " + " | ".join(f"within `{head}`" for head in heads) + " |", "|---|" + "---:|" * len(heads)]
    for name in names:
        shown = []
        for measured, crossed in within.values():
            member = next((m for m in [*measured, *crossed] if name_of(m) == name), None)
            mean, low, high = estimate(member)
            shown.append("–" if math.isnan(mean) else f"{points(mean)} {ci(low, high)}")
        lines.append(f"| {name} | {' | '.join(shown)} |")
    return lines


def render(
    cells: dict[str, list[Trial]], measured: dict[str, list[Paired | None]], source: Path, report: Path, figure: Path
) -> str:
    """The report of `cells` and their effects over budgets (`series`): the cells' budgets, the effects at each
    budget, and how to read the curves; `source` the trials file, `report` and `figure` where they go."""
    n = max(len(trials) for trials in cells.values())
    counts = sorted({len(trials) for trials in cells.values()})
    seeds = sorted(next(iter(cells.values()))[0].last)
    trials = (
        f"N = {n} trials each"
        if len(counts) == 1
        else f"N = {n} trials for the most (a cell with fewer keeps its best)"
    )
    link = Path(os.path.relpath(figure.resolve(), report.resolve().parent)).as_posix()
    return "\n".join(
        [
            "# The study's answer as a function of the tuning budget",
            "",
            f"From `{source}`: {len(cells)} cells, {trials}, scored on the validation pairs of search seeds "
            f"{', '.join(map(str, seeds))} (Dodge et al. 2019, *Show your work*). Written by `python -m "
            f"scripts.budget`; the curves and the effects against k: [figure]({link}).",
            "",
            "## Each cell's best after k trials",
            "",
            "Validation accuracy % of the best complete trial among the first k (its trial number); at N, the head "
            "(`model.prediction`) and the parameter count of that trial.",
            "",
            *cell_table(cells, n),
            "",
            "## The effects at budget k",
            "",
            "Each cell's best of its first k trials stands in for its tuned config: its validation accuracies at "
            "its last epoch are paired seed by seed with the other cells', and the effects are the benchmark's "
            "(`pairs.effects`), in points with their 95% t-interval over the search seeds, not adjusted for the "
            "family. Validation pairs, not test pairs.",
            "",
            *effect_table(measured, n),
            "",
            "## The effects within each head",
            "",
            "How much of each effect depends on how the target is read: the same effects at k = N, each cell's best "
            "trial among those that chose a learnt comparison head (`head`), or among those that read P(d1 ≤ d2) off "
            "the two digit outputs (`digits`). Validation pairs, 95% t-intervals over the search seeds.",
            "",
            *head_table(cells),
            "",
            "## Reading the curves",
            "",
            CURVES,
        ]
    )


def trunk(cell: str) -> str:
    """The panel a cell's curves go to: its trunk's for a study cell, 'other' otherwise."""
    match = STUDY.match(cell)
    return match["trunk"] if match else "other"


def plot(cells: dict[str, list[Trial]], measured: dict[str, list[Paired | None]], path: Path) -> None:
    """Left, one panel per trunk: each cell's observed best so far (solid, seed interval) and EVP (dashed, ± 1 sd)
    against k. Right, one panel per 2×2: each effect of `measured` (`series`) against k with its 95% interval.
    Written whole to `path`."""
    n = max(len(trials) for trials in cells.values())
    panels = {name: [c for c in cells if trunk(c) == name] for name in dict.fromkeys(map(trunk, cells))}
    groups: dict[str, list[str]] = {}
    for name, over in measured.items():
        member = next(m for m in over if m is not None)
        groups.setdefault(member.group, []).append(name)
    rows = max(len(panels), len(groups))
    fig = Figure(figsize=(13, 4 * rows))
    axes = fig.subplots(rows, 2, squeeze=False)
    for ax, (name, members) in zip(axes[:, 0], panels.items()):
        for color, cell in enumerate(members):
            ks = range(1, len(cells[cell]) + 1)
            best = budget.best_so_far(cells[cell])
            expected = budget.expected_curve(cells[cell])
            line = f"C{color % 10}"
            ax.plot(ks, [100 * v for v, _, _ in best], color=line, drawstyle="steps-post", label=cell)
            ax.fill_between(
                ks, [100 * lo for _, lo, _ in best], [100 * hi for _, _, hi in best], color=line, alpha=0.2, step="post"
            )
            ax.plot(ks, [100 * m for m, _ in expected], "--", color=line)
            ax.fill_between(
                ks, [100 * (m - s) for m, s in expected], [100 * (m + s) for m, s in expected], color=line, alpha=0.08
            )
        title = "other cells" if name == "other" else f"{name.upper()} trunk"
        ax.set_title(f"{title}: best so far (solid, 95% over seeds), EVP (dashed, ± 1 sd)", fontsize=9)
        ax.set_xlabel("trials k")
        ax.set_ylabel("validation accuracy %")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    ks = range(1, n + 1)
    for ax, (group, names) in zip(axes[:, 1], groups.items()):
        for color, name in enumerate(names):
            shown = [estimate(member) for member in measured[name]]
            member = next(m for m in measured[name] if m is not None)
            label = f"{member.label.split(' (')[0]}, {member.given}" if isinstance(member, Effect) else "interaction"
            line = f"C{color % 10}"
            ax.plot(ks, [100 * m for m, _, _ in shown], color=line, label=label)
            ax.fill_between(
                ks, [100 * lo for _, lo, _ in shown], [100 * hi for _, _, hi in shown], color=line, alpha=0.12
            )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"{group}: effects at budget k (95% over seeds)", fontsize=9)
        ax.set_xlabel("trials k")
        ax.set_ylabel("points")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in [*axes[len(panels) :, 0], *axes[len(groups) :, 1]]:
        ax.set_visible(False)
    fig.tight_layout()
    with atomic(path) as out:
        fig.savefig(out, format=path.suffix[1:].lower(), dpi=110)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cells = budget.load(args.trials)
    measured = series(cells, max(len(trials) for trials in cells.values()))
    text = render(cells, measured, args.trials, args.report, args.figure)
    write_atomically(args.report, text + "\n")
    plot(cells, measured, args.figure)
    print(f"report: {args.report}  figure: {args.figure}")


if __name__ == "__main__":
    run_main(main)
