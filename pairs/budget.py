"""The study's answer as a function of the tuning budget (Dodge et al. 2019, "Show your work"): the tuner's trials,
read from its JSON-lines export and checked; each cell's best validation accuracy after k trials, observed and
expected; and the study's paired effects at budget k, computed exactly as the benchmark computes them.

Two curves per cell, k = 1..N:

- the observed best so far: the best complete trial among trials 0..k-1 in the order the sampler proposed them,
  with a 95% t-interval over the search seeds of that trial's scores at its last epoch. This is what this search
  actually found after k trials, and the primary curve: TPE proposes each trial from the ones before it, so its
  trials are not independent draws.
- Dodge et al.'s expected maximum validation performance (EVP): the N trials' values taken as exchangeable draws,
  the expected best of k drawn with replacement, ± its standard deviation. It is the i.i.d. reading beside the
  observed curve. Where the sampler improves as it learns (later trials better than early ones), the EVP is biased
  upwards at small k, since k draws may reach the good trials the search found only later, and the observed curve
  lies below it; at k = N it lies below the observed best, since N draws with replacement miss the best trial with
  probability (1 - 1/N)^N, about 1/e. A pruned trial enters with its value at the last epoch it reached, which pulls
  the EVP down against the observed curve, where a pruned trial never counts as best."""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import InputError
from common.stats import interval
from pairs.effects import Effect, Interaction, by_config, effects, interactions

STATES = ("complete", "pruned")
FIELDS: dict[str, type | tuple[type, ...]] = {  # record.TrialRow's keys, each with the JSON types it may hold
    "cell": str,
    "trial": int,
    "state": str,
    "params": dict,
    "epochs": int,
    "scores": dict,
    "value": (int, float),
    "parameters": int,
    "fit_seconds": (int, float),
}
FIX = "fix or delete that line"


@dataclass(frozen=True)
class Trial:
    """One trial of one cell: its number in the sampler's order, whether it completed, its hyper-parameters, the
    epochs it was set to run, its validation accuracy per evaluated epoch per search seed (`scores`), its value
    (the mean over the seeds at its last epoch), its model's parameter count and its fit time."""

    cell: str
    number: int
    complete: bool
    params: dict[str, object]
    epochs: int
    scores: dict[int, dict[int, float]]
    value: float
    parameters: int
    fit_seconds: float

    @property
    def last(self) -> dict[int, float]:
        """Validation accuracy per search seed at the last epoch the trial reached."""
        return self.scores[max(self.scores)]


def number(value: object) -> bool:
    """Whether `value` is a finite JSON number (a bool is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def key_numbers(mapping: dict, where: str, what: str) -> dict[int, Any]:
    """`mapping` with its keys, non-negative integers written as strings, read as integers; an InputError naming
    `where` and `what` the keys are otherwise."""
    read = {}
    for key, value in mapping.items():
        if not (isinstance(key, str) and key.isdigit() and key.isascii()):
            raise InputError(f"{where}: field 'scores' has {what} key {key!r}, not a whole number; {FIX}")
        read[int(key)] = value
    return read


def read_scores(raw: dict, where: str) -> dict[int, dict[int, float]]:
    """A line's `scores`, epoch -> seed -> accuracy, with every seed at every epoch; an InputError naming `where`."""
    scores: dict[int, dict[int, float]] = {}
    for epoch, by_seed in sorted(key_numbers(raw, where, "an epoch").items()):
        if not isinstance(by_seed, dict) or not by_seed:
            raise InputError(f"{where}: field 'scores' at epoch {epoch} is {by_seed!r}, not seeds to accuracies; {FIX}")
        seeds = key_numbers(by_seed, where, "a seed")
        bad = next((s for s, acc in seeds.items() if not (number(acc) and 0 <= acc <= 1)), None)
        if bad is not None:
            raise InputError(
                f"{where}: field 'scores' at epoch {epoch}, seed {bad} is {seeds[bad]!r}, not an accuracy in [0, 1]; "
                f"{FIX}"
            )
        scores[epoch] = {s: float(acc) for s, acc in sorted(seeds.items())}
        if scores[epoch].keys() != next(iter(scores.values())).keys():
            raise InputError(
                f"{where}: field 'scores' has seeds {sorted(scores[epoch])} at epoch {epoch} but "
                f"{sorted(next(iter(scores.values())))} at epoch {min(scores)}; every seed is scored at every epoch; "
                f"{FIX}"
            )
    if not scores:
        raise InputError(f"{where}: field 'scores' is empty; a trial has scores at one epoch at least; {FIX}")
    return scores


def read_trial(line: object, where: str) -> Trial:
    """One line of the export, checked field by field; an InputError naming `where` (file:line) and the field."""
    if not isinstance(line, dict):
        raise InputError(f"{where}: not a JSON object; {FIX}")
    missing = [key for key in FIELDS if key not in line]
    if missing:
        raise InputError(f"{where}: field {missing[0]!r} is missing; {FIX}")
    for key, kind in FIELDS.items():
        value, numeric = line[key], kind not in (str, dict)
        if not isinstance(value, kind) or isinstance(value, bool) or numeric and not number(value):
            raise InputError(f"{where}: field {key!r} is {value!r}, not {getattr(kind, '__name__', 'a number')}; {FIX}")
    lows = {"trial": 0, "epochs": 1, "parameters": 1, "fit_seconds": 0}
    low = next((key for key, least in lows.items() if line[key] < least), None)
    if low is not None:
        raise InputError(f"{where}: field {low!r} is {line[low]!r}, below {lows[low]}; {FIX}")
    if line["state"] not in STATES:
        raise InputError(f"{where}: field 'state' is {line['state']!r}, not one of {', '.join(STATES)}; {FIX}")
    scores = read_scores(line["scores"], where)
    complete = line["state"] == "complete"
    if max(scores) > line["epochs"] or complete and max(scores) != line["epochs"]:
        raise InputError(
            f"{where}: field 'scores' of a {line['state']} trial ends at epoch {max(scores)}, "
            f"{'beyond' if max(scores) > line['epochs'] else 'not at'} its 'epochs' ({line['epochs']}); {FIX}"
        )
    last = scores[max(scores)]
    if not math.isclose(line["value"], sum(last.values()) / len(last), rel_tol=1e-9, abs_tol=1e-9):
        raise InputError(
            f"{where}: field 'value' is {line['value']!r}, not the mean over the seeds at epoch {max(scores)} "
            f"({sum(last.values()) / len(last)!r}); {FIX}"
        )
    return Trial(
        line["cell"],
        line["trial"],
        complete,
        line["params"],
        line["epochs"],
        scores,
        float(line["value"]),
        line["parameters"],
        float(line["fit_seconds"]),
    )


def load(path: Path) -> dict[str, list[Trial]]:
    """Every cell's trials in `path`, in the sampler's order, cells in the order they first appear. A malformed line,
    a (cell, trial) given twice, a cell whose trials are not numbered 0..N-1, or search seeds that differ between
    trials is an InputError naming the file, the line and the field."""
    if not path.is_file():
        raise InputError(f"trials file {path} does not exist{' (it is a folder)' if path.is_dir() else ''}")
    cells: dict[str, dict[int, tuple[int, Trial]]] = {}
    seeds: tuple[int, list[int]] | None = None  # the first trial's line and search seeds
    for count, text in enumerate(path.read_text().splitlines(), 1):
        if not text.strip():
            continue
        where = f"{path}:{count}"
        try:
            trial = read_trial(json.loads(text), where)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: not JSON ({e.msg}); {FIX}") from None
        seen = cells.setdefault(trial.cell, {})
        if trial.number in seen:
            raise InputError(
                f"{where}: field 'trial': {trial.cell} trial {trial.number} is on line {seen[trial.number][0]} too; "
                "each trial is given once: delete one"
            )
        seen[trial.number] = count, trial
        if seeds is None:
            seeds = count, sorted(trial.last)
        elif sorted(trial.last) != seeds[1]:
            raise InputError(
                f"{where}: field 'scores' has search seeds {sorted(trial.last)} where line {seeds[0]} has {seeds[1]}; "
                "every trial of every cell is scored on the same search seeds"
            )
    if not cells:
        raise InputError(f"{path} holds no trials")
    for cell, seen in cells.items():
        gap = next((n for n in range(len(seen)) if n not in seen), None)
        if gap is not None:
            line, highest = max(seen.values(), key=lambda item: item[1].number)
            raise InputError(
                f"{path}:{line}: field 'trial': {cell} has trial {highest.number} but no trial {gap}; a cell's trials "
                "are numbered 0..N-1 in the sampler's order"
            )
    return {cell: [seen[n][1] for n in range(len(seen))] for cell, seen in cells.items()}


def best_at(trials: Sequence[Trial], k: int) -> Trial | None:
    """The best complete trial among trials 0..k-1 (the highest value; of equal values, the lower number); None
    while none has completed."""
    done = [t for t in trials if t.number < k and t.complete]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def best_so_far(trials: Sequence[Trial]) -> list[tuple[float, float, float]]:
    """The observed curve, k = 1..N: the value of `best_at(trials, k)` and the 95% t-interval over the search seeds
    of its scores at its last epoch, (value, low, high); NaN while no trial has completed."""
    curve = []
    for k in range(1, len(trials) + 1):
        best = best_at(trials, k)
        if best is None:
            curve.append((math.nan, math.nan, math.nan))
        else:
            _, low, high, _ = interval(best.last.values())
            curve.append((best.value, low, high))
    return curve


def expected_max(values: Sequence[float], k: int) -> tuple[float, float]:
    """Dodge et al.'s expected maximum of k draws with replacement from `values` (N of them), and its standard
    deviation: with v(1) <= ... <= v(N), the maximum is v(i) with probability (i/N)^k - ((i-1)/N)^k."""
    ordered, n = sorted(values), len(values)
    if n == 0 or k < 1:
        raise ValueError(f"the expected maximum needs values and k >= 1, got {n} values and k = {k}")
    weights = [(i / n) ** k - ((i - 1) / n) ** k for i in range(1, n + 1)]
    mean = sum(w * v for w, v in zip(weights, ordered))
    square = sum(w * v * v for w, v in zip(weights, ordered))
    return mean, math.sqrt(max(square - mean * mean, 0.0))


def expected_curve(trials: Sequence[Trial]) -> list[tuple[float, float]]:
    """The EVP curve, k = 1..N, over every trial's value (a pruned trial's at the last epoch it reached): (expected
    maximum, its standard deviation)."""
    values = [t.value for t in trials]
    return [expected_max(values, k) for k in range(1, len(values) + 1)]


def records_at(cells: dict[str, list[Trial]], k: int) -> list[dict]:
    """The benchmark's records of budget k: for each cell, the per-seed scores at its last epoch of
    `best_at(trials, k)`, as {"config": cell, "seed": seed, "metrics": {"acc": score}}; none for a cell with no
    complete trial among its first k."""
    made = []
    for cell, trials in cells.items():
        best = best_at(trials, k)
        if best is not None:
            made += [{"config": cell, "seed": seed, "metrics": {"acc": acc}} for seed, acc in best.last.items()]
    return made


def effects_at(cells: dict[str, list[Trial]], k: int) -> tuple[list[Effect], list[Interaction]]:
    """The study's paired effects and interactions at budget k, paired over the search seeds: `pairs.effects` on
    `records_at(cells, k)`, so they depend on trials 0..k-1 of each cell only."""
    grouped = by_config(records_at(cells, k))
    return list(effects(grouped)), list(interactions(grouped))


def effects_within(cells: dict[str, list[Trial]], key: str, value: object) -> tuple[list[Effect], list[Interaction]]:
    """The study's effects and interactions at the full budget among the trials whose parameter `key` is `value`
    (e.g. one head, `model.prediction`): each cell's best such trial stands in for it."""
    chosen = {cell: [t for t in trials if t.params.get(key) == value] for cell, trials in cells.items()}
    return effects_at(chosen, max(len(trials) for trials in cells.values()))
