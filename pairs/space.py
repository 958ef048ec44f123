"""The tuner's declared search space (configs/search/space.yaml): the keys every tuned config sets, each searched
key's distribution and the cells it applies to, the learning-rate schedules a trial may pick, and the
successive-halving pruner that stops weak trials early, with epochs as its resource."""

import json
from dataclasses import dataclass
from pathlib import Path

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from common import options
from common.errors import InputError
from pairs.cli import COSINE

KINDS = ("pairnet", "aux")  # `only:` values: cells with a comparison head, cells with the auxiliary loss
AUX_KEYS = ("model.aux_weight", "model.label_smoothing")  # the keys only the auxiliary loss reads
EPOCHS, WIDTH, SCHEDULE = "trainer.max_epochs", "model.width", "lr_scheduler"
SCHEDULES = ("constant", "cosine")  # `lr_scheduler` choices: no schedule, or cosine annealing over the trial's epochs


class TuneError(InputError):
    """A bad search space, config or storage."""


@dataclass(frozen=True)
class Pruning:
    """Successive halving (Optuna's SuccessiveHalvingPruner) with epochs as the resource: a trial is scored at
    min_resource, min_resource * reduction_factor, ... epochs, and stopped at a rung where it is not in the best
    1 / reduction_factor of the trials scored there."""

    min_resource: int
    reduction_factor: int

    def rungs(self, epochs: int) -> list[int]:
        """The epochs a trial of `epochs` is scored at: the rungs below its end, then its end."""
        rungs, rung = [], self.min_resource
        while rung < epochs:
            rungs.append(rung)
            rung *= self.reduction_factor
        return [*rungs, epochs]


@dataclass(frozen=True)
class Space:
    """The declared search space: keys set in every tuned config, per key its distribution and the cell kind it is
    limited to (None: every cell), and the pruner (None: every trial runs to its end)."""

    fixed: dict[str, object]
    params: dict[str, tuple[BaseDistribution, str | None]]
    pruning: Pruning | None = None

    def for_cell(self, kinds: set[str]) -> dict[str, BaseDistribution]:
        """The distributions of a cell of these kinds."""
        return {key: dist for key, (dist, only) in self.params.items() if only is None or only in kinds}


def distribution(key: str, spec: object) -> tuple[BaseDistribution, str | None]:
    """One space entry: {low, high[, log, step]} or {choices: [...]}, with an optional `only:`."""
    if not isinstance(spec, dict):
        raise TuneError(f"space key {key!r}: expected a mapping like {{low: 0.0, high: 0.5}} or {{choices: [...]}}")
    spec = dict(spec)
    only = spec.pop("only", None)
    if only is not None and only not in KINDS:
        raise TuneError(f"space key {key!r}: only must be one of {', '.join(KINDS)}, got {only!r}")
    if only == "aux" and key not in AUX_KEYS:
        raise TuneError(
            f"space key {key!r}: only: aux would search it for the cells with the auxiliary loss alone, a wider search "
            f"than their partners get; only the loss's own keys ({', '.join(AUX_KEYS)}) may be limited to aux"
        )
    try:
        if set(spec) == {"choices"} and isinstance(spec["choices"], list) and spec["choices"]:
            return CategoricalDistribution(spec["choices"]), only
        if {"low", "high"} <= set(spec) <= {"low", "high", "log", "step"}:
            numbers = [spec["low"], spec["high"], spec.get("step") or 1]
            if all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
                return IntDistribution(**spec), only
            return FloatDistribution(**spec), only
    except (TypeError, ValueError) as e:
        raise TuneError(f"space key {key!r}: {e}") from e
    raise TuneError(
        f"space key {key!r}: expected {{low, high[, log, step]}} or {{choices: [non-empty list]}}, got {sorted(spec)}"
    )


def values(dist: BaseDistribution) -> tuple[object, object]:
    """The least and the greatest value a distribution can draw (choices compared as given)."""
    if isinstance(dist, CategoricalDistribution):
        return min(dist.choices), max(dist.choices)  # type: ignore[type-var]  # numbers, checked by the caller
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    return dist.low, dist.high


def numbers(key: str, dist: BaseDistribution, integer: bool) -> tuple[float, float]:
    """The range of a key that must draw numbers (integers if `integer`); any other choice is an error naming it."""
    choices = dist.choices if isinstance(dist, CategoricalDistribution) else []
    kind = int if integer else (int, float)
    if any(isinstance(c, bool) or not isinstance(c, kind) for c in choices) or (
        integer and isinstance(dist, FloatDistribution)
    ):
        raise TuneError(f"space key {key!r}: every value must be {'an integer' if integer else 'a number'}")
    low, high = values(dist)
    return float(low), float(high)  # type: ignore[arg-type]  # numbers, checked above


def check_keys(params: dict[str, tuple[BaseDistribution, str | None]]) -> None:
    """Refuse values no trial can run: fewer than 1 epoch, a width multiplier <= 0, an unknown schedule."""
    if EPOCHS in params and numbers(EPOCHS, params[EPOCHS][0], integer=True)[0] < 1:
        raise TuneError(f"space key {EPOCHS!r}: a trial needs 1 or more epochs")
    if WIDTH in params and numbers(WIDTH, params[WIDTH][0], integer=False)[0] <= 0:
        raise TuneError(f"space key {WIDTH!r}: the width multiplier must be > 0")
    if SCHEDULE in params:
        dist = params[SCHEDULE][0]
        unknown = [c for c in getattr(dist, "choices", [None]) if c not in SCHEDULES]
        if unknown:
            raise TuneError(f"space key {SCHEDULE!r}: choices must be among {', '.join(SCHEDULES)}, got {unknown[0]!r}")


def pruning(spec: object, params: dict[str, tuple[BaseDistribution, str | None]]) -> Pruning | None:
    """The `pruner:` entry, {min_resource, reduction_factor}; its first rung must come before the longest trial."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) != {"min_resource", "reduction_factor"}:
        raise TuneError("pruner: expected {min_resource: EPOCHS, reduction_factor: N}")
    low = {"min_resource": 1, "reduction_factor": 2}
    for key, least in low.items():
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise TuneError(f"pruner.{key}: expected an integer >= {least}, got {value!r}")
    if EPOCHS in params:
        longest = numbers(EPOCHS, params[EPOCHS][0], integer=True)[1]
        if spec["min_resource"] >= longest:
            raise TuneError(
                f"pruner.min_resource: {spec['min_resource']} epochs is not below the longest trial's "
                f"{longest:.0f} ({EPOCHS}), so no trial could be stopped early; lower it"
            )
    return Pruning(spec["min_resource"], spec["reduction_factor"])


def load_space(path: Path) -> Space:
    """The search space declared in the YAML file at `path`; any malformed part is an error naming it."""
    try:
        text = options.load_mapping(path, "search space")
    except InputError as e:
        raise TuneError(f"{e}; pass --space with a search space such as configs/search/space.yaml") from e
    if not isinstance(text.get("space"), dict) or not text["space"]:
        raise TuneError(f"search space {path} declares no parameters: it needs a non-empty `space:` mapping")
    if set(text) - {"fixed", "space", "pruner"} or not isinstance(text.get("fixed", {}), dict):
        raise TuneError(
            f"search space {path}: expected the keys `fixed:` (a mapping), `space:` and `pruner:`, got {sorted(text)}"
        )
    params = {key: distribution(key, spec) for key, spec in text["space"].items()}
    try:
        check_keys(params)
        return Space(text.get("fixed", {}), params, pruning(text.get("pruner"), params))
    except TuneError as e:
        raise TuneError(f"search space {path}: {e}") from e


def schedule(name: object, epochs: int) -> dict | None:
    """The `lr_scheduler` a schedule choice sets: none for `constant`, cosine annealing over `epochs` for `cosine`."""
    return {"class_path": COSINE, "init_args": {"T_max": epochs}} if name == "cosine" else None


def resolved(values: dict[str, object], epochs: int) -> dict[str, object]:
    """The config keys a trial's values set: a schedule choice becomes its `lr_scheduler`."""
    return {key: schedule(value, epochs) if key == SCHEDULE else value for key, value in values.items()}


def overrides(values: dict[str, object]) -> list[str]:
    """LightningCLI arguments that set dotted keys to values."""
    return [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in values.items()]
