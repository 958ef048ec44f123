"""Equal-budget tuning of the study's cells on validation pairs: the declared search space, one Optuna study per
cell, and the tuned config each study writes.

A trial trains its cell with the trial's hyper-parameters over the search seeds, one seed after another, and
scores the validation accuracy at the last epoch (validation pairs carved from the training pairs; the test
pairs are never evaluated). Its running mean is reported after every seed, so a trial that trails the median
is pruned. When every trial has finished, the best few are re-scored on fresh seeds and the winner is the
finalist with the best mean over all its seeds.
"""

import hashlib
import json
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import optuna
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from tqdm import tqdm

from common import options
from common.errors import InputError
from common.files import write_atomically
from pairs import executors, runs
from pairs.cli import ParsedConfig
from pairs.study import FIXED

KINDS = ("pairnet", "aux")  # `only:` values: cells with a comparison head, cells with the auxiliary loss
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class TuneError(InputError):
    """A bad search space, config or storage."""


@dataclass(frozen=True)
class Space:
    """The declared search space: keys set in every tuned config, and per key its distribution and the cell kind
    it is limited to (None: every cell)."""

    fixed: dict[str, object]
    params: dict[str, tuple[BaseDistribution, str | None]]

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


def load_space(path: Path) -> Space:
    """The search space declared in the YAML file at `path`; any malformed part is an error naming it."""
    try:
        text = options.load_mapping(path, "search space")
    except InputError as e:
        raise TuneError(f"{e}; pass --space with a search space such as configs/search/space.yaml") from e
    if not isinstance(text.get("space"), dict) or not text["space"]:
        raise TuneError(f"search space {path} declares no parameters: it needs a non-empty `space:` mapping")
    if set(text) - {"fixed", "space"} or not isinstance(text.get("fixed", {}), dict):
        raise TuneError(f"search space {path}: expected the keys `fixed:` (a mapping) and `space:`, got {sorted(text)}")
    return Space(text.get("fixed", {}), {key: distribution(key, spec) for key, spec in text["space"].items()})


def overrides(values: dict[str, object]) -> list[str]:
    """LightningCLI arguments that set dotted keys to values."""
    return [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in values.items()]


@dataclass(frozen=True)
class Scoring:
    """What a trial's score means: the seeds, the validation pairs and the epochs. Stored with each study."""

    seeds: tuple[int, ...]
    rescore_seeds: tuple[int, ...]
    finalists: int
    val_pairs: int
    epochs: int | None


def base_args(config: Path, space: Space, scoring: Scoring | None = None) -> list[str]:
    """The LightningCLI arguments every fit of the cell starts from: the config, the space's fixed keys, the
    scoring's validation pairs and epochs (none without a scoring)."""
    if scoring is None:
        return [*runs.cli_args(str(config), None, None), *overrides(space.fixed)]
    return [
        *runs.cli_args(str(config), scoring.epochs, None),
        *overrides(space.fixed),
        *runs.validation_args(scoring.val_pairs),
    ]


def cell_kinds(config: Path, space: Space, scoring: Scoring | None = None) -> set[str]:
    """The kinds of the cell in `config` (`pairnet`, `aux`); the cell must build as its fits run it (with the
    scoring's validation pairs and epochs) and every key of the space must be one of its keys. tune.py checks
    every cell so before any study is written."""
    try:
        with runs.quiet():
            cli = ParsedConfig(base_args(config, space, scoring))
    except InputError as e:
        if scoring is None:
            raise
        epochs = f" --epochs {scoring.epochs}" if scoring.epochs else ""
        raise TuneError(f"{config}, as every trial runs it (--val-pairs {scoring.val_pairs}{epochs}): {e}") from e
    missing = [key for key in [*space.fixed, *space.params] if key not in cli.config]
    if missing:
        raise TuneError(f"{config} has no key {', '.join(missing)} of the search space; fix the space's keys")
    model = cli.config.model
    return {
        kind
        for kind, on in (
            ("pairnet", model.arch == "pairnet"),
            ("aux", model.arch == "pairnet" and model.aux_weight > 0),
        )
        if on
    }


def identity(config: Path, distributions: dict[str, BaseDistribution], space: Space, scoring: Scoring) -> dict:
    """Everything a study's scores depend on; a stored study must match it to be resumed."""
    return {
        "base_config_sha256": hashlib.sha256(config.read_bytes()).hexdigest()[:16],
        "fixed": space.fixed,
        "space": {k: json.loads(distribution_to_json(d)) for k, d in distributions.items()},
        "seeds": list(scoring.seeds),
        "rescore_seeds": list(scoring.rescore_seeds),
        "finalists": scoring.finalists,
        "val_pairs": scoring.val_pairs,
        "epochs": scoring.epochs,
    }


def check_stored(name: str, storage: Path, ident: dict) -> None:
    """Refuse a journal that holds a study of the cell made with another space or scoring; reads, writes nothing."""
    if not storage.is_file():
        return
    journal = JournalStorage(JournalFileBackend(str(storage)))
    try:
        stored = journal.get_study_user_attrs(journal.get_study_id_from_name(name)).get("identity")
    except KeyError:  # no study of this cell in it yet
        return
    if stored is not None and stored != ident:
        changed = sorted(k for k in ident.keys() | stored.keys() if ident.get(k) != stored.get(k))
        raise TuneError(
            f"{storage} holds a study of {name} with a different {', '.join(changed)}; "
            f"pass another --storage folder, or delete {storage} to start this cell over"
        )


def open_study(name: str, storage: Path, ident: dict) -> optuna.Study:
    """The cell's study in its journal file: created, or resumed if it was made with the same space and scoring."""
    check_stored(name, storage, ident)
    storage.parent.mkdir(parents=True, exist_ok=True)
    journal = JournalStorage(JournalFileBackend(str(storage)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=10, n_warmup_steps=2)
    study = optuna.create_study(
        storage=journal, study_name=name, direction="maximize", sampler=sampler, pruner=pruner, load_if_exists=True
    )
    if study.user_attrs.get("identity") is None:
        study.set_user_attr("identity", ident)
    return study


@dataclass
class Running:
    """A trial in progress: its Optuna handle, its overrides, and its scores so far, in seed order."""

    trial: optuna.Trial
    args: list[str]
    scores: list[float] = field(default_factory=list)
    busy: bool = False


class CellTuner:
    """The tuning of one cell, as a source of fits (`next_task`) and a sink of their records (`finish`)."""

    def __init__(
        self,
        name: str,
        config: Path,
        study: optuna.Study,
        distributions: dict[str, BaseDistribution],
        space: Space,
        scoring: Scoring,
        trials: int,
    ):
        self.name, self.config, self.study, self.distributions = name, config, study, distributions
        self.space, self.scoring, self.trials = space, scoring, trials
        self.max_active = 1  # trials in progress at once: the executor's slots
        self.base = base_args(config, space, scoring)
        self.running: dict[int, Running] = {}
        for frozen in self.budgeted((TrialState.RUNNING,)):  # in flight when interrupted
            done = [frozen.user_attrs[f"seed_{s}"] for s in scoring.seeds if f"seed_{s}" in frozen.user_attrs]
            if len(done) == len(scoring.seeds):
                study.tell(frozen.number, sum(done) / len(done))
            else:
                self.running[frozen.number] = Running(
                    optuna.Trial(study, frozen._trial_id), overrides(frozen.params), done
                )
        self.rescores: dict[str, dict[str, float]] = dict(study.user_attrs.get("rescores", {}))
        self.rescoring: set[tuple[int, int]] = set()
        self.finalists: list[int] | None = None

    def budgeted(self, states: tuple[TrialState, ...]) -> list[optuna.trial.FrozenTrial]:
        """The cell's trials in these states among its first `trials` (a study run with a larger budget before
        is judged on the same first trials as every other cell)."""
        return [t for t in self.study.get_trials(deepcopy=False, states=states) if t.number < self.trials]

    def finished_trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.budgeted(FINISHED)

    def task(self, args: list[str], seed: int) -> runs.Task:
        return runs.Task(self.name, tuple([*self.base, *args]), seed)

    def next_task(self) -> tuple[tuple[str, int, int], runs.Task] | None:
        """The next fit to run, keyed by (phase, trial number, seed); None while it must wait for running fits."""
        for number, run in self.running.items():
            if not run.busy:
                run.busy = True
                seed = self.scoring.seeds[len(run.scores)]
                return ("trial", number, seed), self.task(run.args, seed)
        if len(self.study.trials) < self.trials and len(self.running) < self.max_active:
            trial = self.study.ask(self.distributions)
            self.running[trial.number] = Running(trial, overrides(trial.params), busy=True)
            return ("trial", trial.number, self.scoring.seeds[0]), self.task(
                self.running[trial.number].args, self.scoring.seeds[0]
            )
        if self.searching():
            return None
        for number in self.final():
            for seed in self.scoring.rescore_seeds:
                if (number, seed) not in self.rescoring and str(seed) not in self.rescores.get(str(number), {}):
                    self.rescoring.add((number, seed))
                    return ("rescore", number, seed), self.task(overrides(self.study.trials[number].params), seed)
        return None

    def finish(self, key: tuple[str, int, int], record: dict) -> bool:
        """Record one finished fit; True when it finished a trial or a finalist."""
        phase, number, seed = key
        accuracy = record["val_acc"]
        if phase == "rescore":
            self.rescoring.discard((number, seed))
            self.rescores.setdefault(str(number), {})[str(seed)] = accuracy
            self.study.set_user_attr("rescores", self.rescores)
            return self.rescored(number)
        run = self.running[number]
        run.busy = False
        run.scores.append(accuracy)
        run.trial.set_user_attr(f"seed_{seed}", accuracy)
        run.trial.set_user_attr("fit_seconds", run.trial.user_attrs.get("fit_seconds", 0) + record["fit_seconds"])
        mean = sum(run.scores) / len(run.scores)
        run.trial.report(mean, len(run.scores))
        if len(run.scores) == len(self.scoring.seeds):
            self.study.tell(run.trial, mean)
        elif run.trial.should_prune():
            self.study.tell(run.trial, state=TrialState.PRUNED)
        else:
            return False
        del self.running[number]
        return True

    def searching(self) -> bool:
        return len(self.study.trials) < self.trials or bool(self.running)

    def final(self) -> list[int]:
        """The finalists, once every trial has finished (none before)."""
        if self.finalists is None and not self.searching():
            self.finalists = self.best(self.scoring.finalists)
        return self.finalists or []

    def rescored(self, number: int) -> bool:
        return len(self.rescores.get(str(number), {})) == len(self.scoring.rescore_seeds)

    def progress(self) -> int:
        """Trials finished (up to the budget) plus finalists re-scored."""
        return len(self.finished_trials()) + sum(map(self.rescored, self.final()))

    def fits(self) -> int:
        """Fits recorded so far."""
        seeds = sum(k.startswith("seed_") for t in self.study.get_trials(deepcopy=False) for k in t.user_attrs)
        return seeds + sum(len(scores) for scores in self.rescores.values())

    def best(self, k: int) -> list[int]:
        """The numbers of the k complete trials with the best search scores."""
        complete = self.budgeted((TrialState.COMPLETE,))
        if not complete:
            raise TuneError(f"{self.name}: every trial was pruned or failed; nothing to choose from")
        return [t.number for t in sorted(complete, key=lambda t: -cast(float, t.value))[:k]]  # complete: valued

    def outcome(self) -> dict:
        """The winner among the finalists (best mean over search and fresh seeds) and its scores."""
        rows: list[dict[str, Any]] = []
        for number in self.final():
            trial = self.study.trials[number]
            assert trial.value is not None  # a finalist is a complete trial, which has a value
            fresh = [self.rescores[str(number)][str(s)] for s in self.scoring.rescore_seeds]
            rows.append(
                {
                    "trial": number,
                    "params": trial.params,
                    "search": trial.value,
                    "fresh": sum(fresh) / len(fresh),
                    "all": (trial.value * len(self.scoring.seeds) + sum(fresh))
                    / (len(self.scoring.seeds) + len(fresh)),
                }
            )
        trials = self.finished_trials()
        return {
            "cell": self.name,
            "winner": max(rows, key=lambda r: r["all"]),
            "finalists": rows,
            "trials": len(trials),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "fit_seconds": sum(t.user_attrs.get("fit_seconds", 0) for t in trials),
        }


def set_key(config: dict, dotted: str, value: object) -> None:
    """config[a][b][c] = value for dotted = 'a.b.c', creating mappings on the way."""
    *path, last = dotted.split(".")
    for part in path:
        config = config.setdefault(part, {})
    config[last] = value


def write_config(base: Path, values: dict[str, object], header: list[str], path: Path) -> None:
    """The base config with `values` set, as a standalone LightningCLI config under a comment header; written to a
    temporary file, then renamed into place."""
    config = options.load_mapping(base)
    for key, value in values.items():
        set_key(config, key, value)
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    write_atomically(path, text)


def cell_tuners(cells: list[str], space: Space, scoring: Scoring, storage: Path, trials: int) -> list[CellTuner]:
    """A tuner per cell of configs/fixed/, its study in `storage`/<cell>.journal. Every cell is checked (it builds as
    its trials run it; a stored study was made with the same space and scoring) before the first journal is
    written."""
    checked = {}
    for cell in cells:
        config = FIXED / f"{cell}.yaml"
        distributions = space.for_cell(cell_kinds(config, space, scoring))
        ident = identity(config, distributions, space, scoring)
        check_stored(cell, storage / f"{cell}.journal", ident)
        checked[cell] = config, distributions, ident
    return [
        CellTuner(cell, config, open_study(cell, storage / f"{cell}.journal", ident), dists, space, scoring, trials)
        for cell, (config, dists, ident) in checked.items()
    ]


def run(tuners: list[CellTuner], workers: int, threads: int, ray: str | None) -> None:
    """Every cell's fits on one executor, as many at a time as it has slots, until every cell is done."""
    total = sum(t.trials + t.scoring.finalists for t in tuners)
    with (
        executors.executor(workers, threads, ray) as pool,
        executors.deferred_interrupts(pool),
        tqdm(total=total, unit="trial") as bar,
    ):
        bar.update(sum(t.progress() for t in tuners))
        inflight: dict[Future, tuple[CellTuner, tuple[str, int, int]]] = {}
        while True:
            for tuner in tuners:
                tuner.max_active = pool.slots
                while len(inflight) < pool.slots and (item := tuner.next_task()):
                    inflight[pool.submit(runs.validate, item[1])] = tuner, item[0]
            if not inflight:
                return
            for future in executors.finished(set(inflight)):
                tuner, key = inflight.pop(future)
                if tuner.finish(key, future.result()):
                    bar.update()
                    bar.set_postfix_str(f"{tuner.name} best {tuner.study.best_value:.4f}")
