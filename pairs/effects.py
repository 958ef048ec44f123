"""The study's effect statistics: the paired effects of each factor in each 2×2 and of tuning, the families they are
adjusted within (Holm's p-values, Bonferroni's simultaneous intervals), the interaction of each 2×2, the replication
block checked against the main estimate's prediction interval, and the benchmark's stopping rule."""

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from common.stats import holm, interval, prediction_interval, t_test
from pairs.record import Record
from pairs.results import REPLICATION, block
from pairs.study import PROTOCOLS

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
TUNING = "tuned − fixed"  # the group of the tuned − fixed recipe effects
CONFIDENCE = 0.95  # of every interval; a family's simultaneous intervals hold together with this probability
ALPHA = 1 - CONFIDENCE  # the family-wise error rate of the Holm-adjusted tests
# A run as the effects read it: its "config", "seed" and "metrics", those of a benchmark record (record.Record) or of
# the per-seed validation scores pairs.budget gathers in the same shape; Grouped: config -> its runs.
Run = TypeVar("Run", bound=Mapping[str, Any])
Grouped = Mapping[str, Sequence[Mapping[str, Any]]]


def by_config(runs: Iterable[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r["config"], r["seed"])):
        grouped[run["config"]].append(run)
    return grouped


def split(runs: Iterable[Record]) -> tuple[list[Record], list[Record]]:
    """The runs of the main block and those of the replication block (`benchmark.py --replicate`)."""
    runs = list(runs)
    return [r for r in runs if block(r) != REPLICATION], [r for r in runs if block(r) == REPLICATION]


def accuracy_by_seed(runs: Sequence[Mapping[str, Any]], metric: str = "acc") -> dict[int, float]:
    return {run["seed"]: run["metrics"][metric] for run in runs}


@dataclass(frozen=True)
class Replication:
    """A replication block's estimate against the main one: is its mean inside the main estimate's 95% prediction
    interval for a mean of that many fresh seeds, and of the same sign; and both blocks pooled."""

    predicted: tuple[float, float]  # the main estimate's 95% prediction interval for the replication's mean
    fresh: tuple[float, float, float, int]  # the replication's mean, 95% CI, seeds
    pooled: tuple[float, float, float, int]  # both blocks' seeds together: mean, 95% CI, seeds

    @property
    def inside(self) -> bool:
        low, high = self.predicted
        return low <= self.fresh[0] <= high

    def same_sign(self, main_mean: float) -> bool:
        return math.copysign(1, self.fresh[0]) == math.copysign(1, main_mean)

    def consistent(self, main_mean: float) -> bool:
        return self.inside and self.same_sign(main_mean)


class Paired:
    """A contrast measured seed by seed: `diffs` on the main block's seeds, `fresh` on the replication block's."""

    group: str  # the table it shows in
    diffs: dict[int, float]
    fresh: dict[int, float]

    def describe(self) -> str:
        """How the conclusions and the progress lines name it."""
        raise NotImplementedError

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float, float, int]:
        """Mean and CI of the main block's differences: (mean, low, high, seeds); NaN where undefined."""
        return interval((d for _, d in sorted(self.diffs.items())), confidence)

    def p(self) -> float:
        """The paired t-test's two-sided p-value on the main block (unadjusted)."""
        return t_test(d for _, d in sorted(self.diffs.items()))

    def half_width(self) -> float:
        """Half the width of the 95% CI on the main block, in points; infinite while it is undefined."""
        _, low, high, _ = self.interval()
        return math.inf if math.isnan(low) else 50 * (high - low)

    def replication(self) -> Replication | None:
        """The replication block against the main one; None while either has fewer than two seeds."""
        main = [d for _, d in sorted(self.diffs.items())]
        fresh = [d for _, d in sorted(self.fresh.items())]
        if len(main) < 2 or len(fresh) < 2:
            return None
        both = main + fresh
        return Replication(prediction_interval(main, len(fresh), CONFIDENCE), interval(fresh), interval(both))


@dataclass(frozen=True)
class Effect(Paired):
    """A paired effect, config `a` − config `b` seed by seed on the seeds both have (`diffs`: the main block,
    `fresh`: the replication block); where the tables show it (`group`, row `label`, the other factor's level
    `given`) and how the conclusions name it (`cause`, `subject`)."""

    group: str
    label: str
    given: str
    cause: str
    subject: str
    a: str
    b: str
    diffs: dict[int, float]
    fresh: dict[int, float] = field(default_factory=dict)

    def describe(self) -> str:
        """'the effect of <cause> on <subject>', as the conclusions and the progress lines name it."""
        return f"the effect of {self.cause} on {self.subject}"


@dataclass(frozen=True)
class Interaction(Paired):
    """The interaction of one 2×2 (`group`, its model named `model`), seed by seed: weight sharing's effect without
    the auxiliary loss minus its effect with it, which is the same number as the auxiliary loss's effect without
    weight sharing minus with it. Positive: each factor is worth more when the other is absent."""

    group: str
    model: str
    cells: tuple[str, ...]
    diffs: dict[int, float]
    fresh: dict[int, float] = field(default_factory=dict)

    def describe(self) -> str:
        return f"the interaction in {self.model}"


def squares(names: Iterable[str]) -> Iterator[tuple[str, str, dict[tuple[str, str], str]]]:
    """Each trunk × protocol 2×2 with a cell among `names`: its heading, how the conclusions name its model, and the
    config name of each (aux, sharing) cell."""
    present = set(names)
    for (protocol, how), trunk in itertools.product(PROTOCOLS.items(), TRUNKS):
        cells = {(aux, sharing): f"{protocol}{trunk}_{aux}_{sharing}" for aux in AUX for sharing in SHARING}
        if present & set(cells.values()):
            yield f"{trunk.upper()} trunk, {how}", f"the {trunk.upper()} ({how})", cells


def contrast(grouped: Grouped, signs: dict[str, int]) -> dict[int, float]:
    """Σ sign · accuracy over the configs of `signs`, seed by seed, on the seeds every one of them has."""
    accuracy = {name: accuracy_by_seed(grouped.get(name, [])) for name in signs}
    seeds = set.intersection(*(set(by_seed) for by_seed in accuracy.values()))
    return {s: sum(sign * accuracy[name][s] for name, sign in signs.items()) for s in sorted(seeds)}


def effects(grouped: Grouped, fresh: Grouped | None = None) -> Iterator[Effect]:
    """Every paired effect of the runs of the main block (`grouped`) and, if given, of the replication block
    (`fresh`), in the report's order: in each 2×2 present, weight sharing at each level of the auxiliary loss and the
    auxiliary loss at each level of weight sharing (no seeds where a cell is missing); then tuned − fixed for each
    config run under both protocols."""
    fresh = fresh or {}

    def paired(a: str, b: str, text: tuple[str, str, str, str, str]) -> Effect:
        return Effect(*text, a, b, contrast(grouped, {a: 1, b: -1}), contrast(fresh, {a: 1, b: -1}))

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


def interactions(grouped: Grouped, fresh: Grouped | None = None) -> Iterator[Interaction]:
    """The interaction of each 2×2 present (no seeds where a cell is missing): (shared − separate without the aux
    loss) − (shared − separate with it), seed by seed."""
    fresh = fresh or {}
    for group, model, cells in squares(grouped):
        signs = {
            cells["noaux", "shared"]: 1,
            cells["noaux", "separate"]: -1,
            cells["aux", "shared"]: -1,
            cells["aux", "separate"]: 1,
        }
        yield Interaction(group, model, tuple(signs), contrast(grouped, signs), contrast(fresh, signs))


class Family:
    """Contrasts whose conclusions are drawn together: each one's p-value Holm-adjusted over the family, and
    Bonferroni's simultaneous intervals (each at confidence 1 − alpha/m), which all hold together with probability
    at least 95%. Members with fewer than two seeds on the main block are left out of the count."""

    def __init__(self, name: str, what: str, members: Sequence[Paired]):
        self.name = name  # "factor effects"
        self.what = what  # what its members are, for the tables' notes
        self.members = [m for m in members if len(m.diffs) >= 2]
        self.adjusted = holm([m.p() for m in self.members])

    @property
    def size(self) -> int:
        return len(self.members)

    def title(self) -> str:
        """'the 16 factor effects', as a table names its family."""
        return f"the {self.size} {self.name}"

    def index(self, member: Paired) -> int:
        return next(i for i, m in enumerate(self.members) if m is member)

    def holm(self, member: Paired) -> float:
        """The member's Holm-adjusted p-value within the family."""
        return self.adjusted[self.index(member)]

    def simultaneous(self, member: Paired) -> tuple[float, float]:
        """The member's simultaneous 95% interval (Bonferroni over the family), on the main block."""
        self.index(member)
        _, low, high, _ = member.interval(1 - ALPHA / self.size)
        return low, high

    def resolved(self, member: Paired) -> bool:
        """Whether the family's Holm procedure sets the member apart from 0 (family-wise error at most 5%)."""
        return self.holm(member) < ALPHA


FACTORS = ("factor effects", "weight sharing and the auxiliary loss, each at both levels of the other, in every 2×2")
TUNED = ("tuned − fixed effects", "each cell tuned against its fixed recipe")
INTERACTIONS = ("interactions", "one per 2×2: weight sharing's effect without the auxiliary loss minus with it")


def families(measured: Sequence[Effect], crossed: Sequence[Interaction]) -> dict[str, Family]:
    """The report's families, by name, those with members: the factor effects of every 2×2, the interactions, and
    the tuned − fixed effects."""
    found = [
        Family(*FACTORS, [e for e in measured if e.group != TUNING]),
        Family(*INTERACTIONS, crossed),
        Family(*TUNED, [e for e in measured if e.group == TUNING]),
    ]
    return {f.name: f for f in found if f.members}


def family_of(member: Paired, found: dict[str, Family]) -> Family | None:
    return next((f for f in found.values() if any(m is member for m in f.members)), None)


@dataclass(frozen=True)
class Stopping:
    """`benchmark.py --precision`: add seeds until every paired effect's 95% interval on the main block is within
    ±precision points, or max_seeds are run. It looks at the width of the intervals only, never at significance:
    stopping once an effect looked significant would bias the intervals and the conclusions."""

    precision: float
    max_seeds: int

    def wide(self, measured: Iterable[Effect]) -> list[Effect]:
        """The effects whose interval is still wider than ±precision points."""
        return [e for e in measured if e.half_width() > self.precision]

    @staticmethod
    def widest(measured: Iterable[Effect]) -> Effect:
        return max(measured, key=Effect.half_width)

    def done(self, measured: Sequence[Effect], seeds: int) -> bool:
        """Whether to stop after `seeds` seeds: every interval narrow enough, or the most seeds run."""
        return not self.wide(measured) or seeds >= self.max_seeds
