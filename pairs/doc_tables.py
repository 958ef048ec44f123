"""The study tables of README.md and docs/results.md, generated from a results file: each lives between
`<!-- study:NAME -->` and `<!-- /study:NAME -->`, and `benchmark.py --report-only --results records/study.jsonl
--docs` rewrites what is between the two from the records, so no number in them is typed by hand (a test fails when
the committed text differs from what the records give). A block that names its own journal, `<!-- study:NAME
records/narrow/study.jsonl -->` (a path from the repository root), is generated from that one instead."""

import re
import statistics
from collections.abc import Callable
from pathlib import Path

from common.errors import InputError
from common.files import write_atomically
from common.stats import mean_std, paired_effect
from pairs.effects import (
    AUX,
    SHARING,
    TUNING,
    Effect,
    Family,
    Paired,
    by_config,
    effects,
    families,
    family_of,
    interactions,
    split,
)
from pairs.record import Record
from pairs.report import NO_REPLICATION, adjusted_cells, ci, points, pvalue, replication_section
from pairs.results import latest, load
from pairs.spread import SOURCE_LABELS, estimate, number, spread, varied
from pairs.study import PROTOCOLS, SEED_BLOCK, SOURCES

DOCUMENTS = ("README.md", "docs/results.md")
BLOCK = re.compile(
    r"^<!-- study:(?P<name>[\w-]+)(?: (?P<journal>[\w./-]+\.jsonl))? -->\n(?P<body>.*?)^<!-- /study:(?P=name) -->$",
    re.M | re.S,
)
OPENING = re.compile(r"^<!-- (/?)study:([\w-]+)(?: ([\w./-]+\.jsonl))? -->$", re.M)

# the effects grid: its columns (protocol prefix, trunk, heading) and rows (label, the other factor's level, heading)
GRID_COLUMNS = (
    ("", "cnn", "CNN, tuned"),
    ("", "mlp", "MLP, tuned"),
    ("fixed/", "cnn", "CNN, fixed"),
    ("fixed/", "mlp", "MLP, fixed"),
)
SHARING_LABEL, AUX_LABEL = "weight sharing (shared − separate)", "auxiliary loss (aux − no aux)"
GRID_ROWS = (
    (AUX_LABEL, SHARING["shared"][0], "aux loss | sharing"),
    (AUX_LABEL, SHARING["separate"][0], "aux loss | separate trunks"),
    (SHARING_LABEL, AUX["aux"][0], "weight sharing | aux loss"),
    (SHARING_LABEL, AUX["noaux"][0], "weight sharing | no aux loss"),
)
CELL_ORDER = (("aux", "shared"), ("aux", "separate"), ("noaux", "shared"), ("noaux", "separate"))


class Study:
    """The main block of a results file with its contrasts and their families (and the replication block)."""

    def __init__(self, runs: list[Record]):
        self.main, self.fresh = split(runs)
        self.grouped, fresh = by_config(self.main), by_config(self.fresh)
        self.effects = list(effects(self.grouped, fresh))
        self.interactions = [x for x in interactions(self.grouped, fresh) if x.diffs]
        self.families = families(self.effects, self.interactions)

    def family(self, member: Paired) -> Family:
        found = family_of(member, self.families)
        if found is None:
            raise InputError(f"{member.describe()} has fewer than two seeds: the study tables need the whole study")
        return found

    def effect(self, group: str, label: str, given: str) -> Effect:
        return next(e for e in self.effects if (e.group, e.label, e.given) == (group, label, given))

    def interaction(self, group: str) -> Paired:
        return next(x for x in self.interactions if x.group == group)

    def accuracies(self, name: str, metric: str = "acc") -> list[float]:
        return [r["metrics"][metric] for r in self.grouped.get(name, []) if metric in r["metrics"]]


def group_of(protocol: str, trunk: str) -> str:
    return f"{trunk.upper()} trunk, {PROTOCOLS[protocol]}"


def mean_ci(member: Paired) -> str:
    mean, low, high, _ = member.interval()
    return f"{points(mean)} {ci(low, high)}"


def adjusted_columns(family: Family) -> str:
    """The headings of adjusted_cells' columns."""
    return f"p | Holm p over the {family.size} | simultaneous 95% CI (Bonferroni over the {family.size}) |"


def grid_cell(member: Paired, family: Family) -> str:
    """'mean [95% CI] [simultaneous 95% CI], p Holm-adjusted'."""
    return f"{mean_ci(member)} {ci(*family.simultaneous(member))}, p {pvalue(family.holm(member))}"


def first_block(runs: list[Record]) -> list[Record]:
    """The runs of the main block's first SEED_BLOCK seeds: what the study said before --precision added seeds."""
    main, _ = split(runs)
    first = set(sorted({r["seed"] for r in main})[:SEED_BLOCK])
    return [r for r in main if r["seed"] in first]


def cells(study: Study) -> list[str]:
    """The 2×2 of each trunk and protocol on one row each: test accuracy %, mean ± std over the main block's seeds."""
    lines = [
        "| trunk, protocol | sharing + aux | separate + aux | sharing, no aux | neither |",
        "|---|---:|---:|---:|---:|",
    ]
    for trunk in ("cnn", "mlp"):
        for protocol, how in PROTOCOLS.items():
            names = [f"{protocol}{trunk}_{aux}_{sharing}" for aux, sharing in CELL_ORDER]
            row = " | ".join(mean_std(study.accuracies(name)) for name in names)
            lines.append(f"| {trunk.upper()}, {how} | {row} |")
    for trunk in ("cnn", "mlp"):  # separate trunks double the parameters at equal width: the tuned cells' counts
        names = [f"{trunk}_{aux}_{sharing}" for aux, sharing in CELL_ORDER]
        lines.append(f"| {trunk.upper()}, tuned: parameters | {' | '.join(parameters(study, n) for n in names)} |")
    return lines


def parameters(study: Study, name: str) -> str:
    """A config's parameter count, from its first record."""
    runs = study.grouped.get(name, [])
    return f"{runs[0]['params']:,}" if runs and "params" in runs[0] else "–"


def grid(study: Study) -> list[str]:
    """The 16 factor effects, a row per effect and a column per trunk and protocol, and each 2×2's interaction."""
    header = " | ".join(heading for _, _, heading in GRID_COLUMNS)
    lines = [f"| effect | with | {header} |", "|---|---|" + "---:|" * len(GRID_COLUMNS)]
    for label, given, heading in GRID_ROWS:
        members = [study.effect(group_of(p, t), label, given) for p, t, _ in GRID_COLUMNS]
        lines.append(f"| {heading} | " + " | ".join(grid_cell(m, study.family(m)) for m in members) + " |")
    crossed = [study.interaction(group_of(p, t)) for p, t, _ in GRID_COLUMNS]
    lines.append(
        "| interaction | sharing's effect without aux − with aux | "
        + " | ".join(grid_cell(x, study.family(x)) for x in crossed)
        + " |"
    )
    return lines


def factor_effects(study: Study) -> list[str]:
    """The 16 factor effects, a row each, with their family's adjustments."""
    family = study.families["factor effects"]
    lines = [
        f"| 2×2 | effect | with the other factor at | mean [95% CI], points | {adjusted_columns(family)}",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for e in family.members:
        assert isinstance(e, Effect)
        lines.append(f"| {e.group} | {e.label} | {e.given} | {mean_ci(e)} | {adjusted_cells(e, family)} |")
    return lines


def tuned_fixed(study: Study) -> list[str]:
    """Tuned − fixed recipe per cell, with its family's adjustments."""
    family = study.families["tuned − fixed effects"]
    lines = [
        f"| cell | fixed recipe % | tuned % | tuned − fixed [95% CI], points | {adjusted_columns(family)}",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for e in family.members:
        assert isinstance(e, Effect) and e.group == TUNING
        fixed, tuned = mean_std(study.accuracies(e.b)), mean_std(study.accuracies(e.a))
        lines.append(f"| {e.a} | {fixed} | {tuned} | {mean_ci(e)} | {adjusted_cells(e, family)} |")
    return lines


def interaction_rows(study: Study) -> list[str]:
    """Each 2×2's interaction, with its family's adjustments."""
    family = study.families["interactions"]
    lines = [
        f"| 2×2 | sharing's effect without aux − with aux [95% CI], points | {adjusted_columns(family)}",
        "|---|---:|---:|---:|---:|",
    ]
    return lines + [f"| {x.group} | {mean_ci(x)} | {adjusted_cells(x, family)} |" for x in family.members]


def replication(study: Study) -> list[str]:
    if not study.fresh:
        return [NO_REPLICATION]
    return replication_section(study.main, study.fresh, study.families)[:-1]


def spread_columns(study: Study) -> list[str]:
    """The same, a column per config, each source with its interval."""
    found = {
        config: spread(sources, study.grouped.get(config, [])) for config, sources in varied(study.grouped).items()
    }
    values = lambda pick: " | ".join(pick(s) for s in found.values())
    seeds = lambda s: f"{min(s.seeds.values(), default=0)} / {s.total_seeds}"
    return [
        f"| varied alone (the other two at seed 0) | {' | '.join(found)} |",
        "|---|" + "---:|" * len(found),
        f"| seeds: each source alone / all three | {values(seeds)} |",
        *[
            f"| {SOURCE_LABELS[source]} | {values(lambda s: estimate(s.parts[source]) if source in s.parts else '–')} |"
            for source in SOURCES
        ],
        f"| sum of the three (Welch-Satterthwaite) | {values(lambda s: estimate(s.sum))} |",
        f"| all three vary (the study's runs, every seed) | {values(lambda s: estimate(s.total))} |",
        f"| sum / all three (F) | {values(lambda s: estimate(s.ratio))} |",
        f"| binomial floor p(1 − p)/n_test of the test pairs | {values(lambda s: number(s.floor))} |",
        "| the floor's share of all three | "
        + values(
            lambda s: f"{100 * s.floor_share[0]:.0f}% [{100 * s.floor_share[1]:.0f}%, {100 * s.floor_share[2]:.0f}%]"
        )
        + " |",
    ]


def digits(study: Study) -> list[str]:
    """The aux-loss cells' parameters, digit accuracy at each position and the target read off the argmax digits,
    tuned and fixed; means over the main block's seeds."""
    mean = lambda name, metric: f"{100 * statistics.mean(study.accuracies(name, metric)):.1f}"
    lines = [
        "| cell | params tuned / fixed | digit 1 / digit 2, tuned | fixed | target from argmax digits, tuned / fixed |",
        "|---|---:|---:|---:|---:|",
    ]
    for trunk in ("cnn", "mlp"):
        for sharing in SHARING:
            tuned, fixed = f"{trunk}_aux_{sharing}", f"fixed/{trunk}_aux_{sharing}"
            position = lambda name: f"{mean(name, 'digit_acc_first')} / {mean(name, 'digit_acc_second')}"
            lines.append(
                f"| {trunk.upper()}, {sharing} | {parameters(study, tuned)} / {parameters(study, fixed)} | "
                f"{position(tuned)} | {position(fixed)} | "
                f"{mean(tuned, 'acc_from_argmax')} / {mean(fixed, 'acc_from_argmax')} |"
            )
    return lines


# name -> (the runs it reads: all, or the first block; what it writes)
TABLES: dict[str, tuple[Callable[[list[Record]], list[Record]], Callable[[Study], list[str]]]] = {
    "cells": (list, cells),
    "effects": (list, grid),
    "digits": (list, digits),
    "factor-effects": (list, factor_effects),
    "tuned-fixed": (list, tuned_fixed),
    "interactions": (list, interaction_rows),
    "replication": (list, replication),
    "spread-by-source": (list, spread_columns),
    "first-block-cells": (first_block, tuned_fixed),
    "first-block-effects": (first_block, grid),
}


def against(study: Study, other: Study, journal: str) -> list[str]:
    """Each config of both main blocks: its test accuracy % in `other` (the journal a block names) and in `study`,
    and study − other paired over the seeds both ran, with its 95% interval."""
    lines = [
        f"| config | {journal} % | this study % | this study − {journal} [95% CI], points | seeds |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in sorted(study.grouped.keys() & other.grouped.keys()):
        seeds = lambda s: {r["seed"]: r["metrics"]["acc"] for r in s.grouped[name]}
        mean, low, high, n = paired_effect(seeds(study), seeds(other))
        difference = f"{points(mean)} {ci(low, high)}"
        shown = f"{mean_std(other.accuracies(name))} | {mean_std(study.accuracies(name))}"
        lines.append(f"| {name} | {shown} | {difference} | {n} |")
    return lines


AGAINST = "against"  # a block that compares the journal given with the one it names, config by config


def tables(runs: list[Record], names: list[str] | None = None) -> dict[str, str]:
    """Each study table named (all without), as the text between its markers."""
    studies: dict[Callable, Study] = {}
    found = {}
    for name in names if names is not None else TABLES:
        select, write = TABLES[name]
        if select not in studies:
            studies[select] = Study(select(runs))
        found[name] = "\n".join(write(studies[select])) + "\n"
    return found


Block = tuple[str, str | None]  # a study block: its table's name, and the journal it names (None: the one given)


def blocks(text: str, where: str) -> dict[Block, str]:
    """The study blocks of a document, (name, journal) -> body; an InputError for an unknown name or an unclosed
    block."""
    found = {(m["name"], m["journal"]): m["body"] for m in BLOCK.finditer(text)}
    for match in OPENING.finditer(text):
        name = match.group(2)
        if name not in (*TABLES, AGAINST):
            raise InputError(
                f"{where}: no study table is called {name!r}; the names are {', '.join((*TABLES, AGAINST))}"
            )
        if name == AGAINST and not match.group(1) and match.group(3) is None:
            raise InputError(f"{where}: <!-- study:{AGAINST} --> names no journal to compare with")
        if name not in {shown for shown, _ in found}:
            raise InputError(f"{where}: <!-- study:{name} --> has no matching <!-- /study:{name} --> line")
    return found


def journal_runs(journal: Path) -> list[Record]:
    """What --report-only reads of a journal a block names: the last record of each (config, seed)."""
    if not journal.is_file():
        raise InputError(f"{journal}: a study block names this journal, and it is not there")
    return latest(load(journal))


def rewrite(text: str, runs: list[Record], where: str, root: Path = Path(".")) -> str:
    """`text` with every study block regenerated from `runs`, or from the journal it names under `root`."""
    found = blocks(text, where)
    journals = {journal for _, journal in found if journal is not None}
    sources = {None: runs} | {journal: journal_runs(root / journal) for journal in journals}
    generated = {
        (name, journal): table
        for journal in sources
        for name, table in tables(
            sources[journal], [n for n, named in found if named == journal and n != AGAINST]
        ).items()
    }
    compared = [journal for name, journal in found if name == AGAINST and journal is not None]
    if compared:  # the runs given, as one study however many journals they are compared with
        this = Study(runs)
        for journal in compared:
            generated[AGAINST, journal] = "\n".join(against(this, Study(sources[journal]), journal)) + "\n"

    def body(m: re.Match) -> str:
        opening = m.group(0).split("\n", 1)[0]
        return f"{opening}\n{generated[m['name'], m['journal']]}<!-- /study:{m['name']} -->"

    return BLOCK.sub(body, text)


def update(runs: list[Record], root: Path = Path(".")) -> list[Path]:
    """Rewrite the study blocks of DOCUMENTS under `root` from `runs` (or the journals they name); the documents that
    changed."""
    changed = []
    for name in DOCUMENTS:
        path = root / name
        if not path.is_file():
            raise InputError(f"{path}: not found; run --docs from the repository root")
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, runs, str(path), root)
        if new != text:
            write_atomically(path, new)
            changed.append(path)
    return changed
