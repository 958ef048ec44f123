"""Equal-budget tuning of the study's cells on validation pairs: one Optuna study per cell over the declared space
(pairs.space), the fits of its trials, and the tuned config each study writes.

A trial trains its cell with the trial's hyper-parameters once per search seed and is scored by the mean validation
accuracy over those seeds (validation pairs carved from the training pairs; the test pairs are never evaluated).
With a pruner, a trial's fits stop at each rung (pairs.space.Pruning), are scored there and continue from their
checkpoints, or the trial is stopped when it trails the trials scored at that rung. When every trial has finished,
the best few are re-scored on fresh seeds and the winner is the finalist with the best mean over all its seeds.
"""

import hashlib
import itertools
import json
import shutil
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

import optuna
import yaml
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from tqdm import tqdm

from common import options
from common.errors import InputError
from common.files import write_atomically
from pairs import executors, runs
from pairs.cli import ParsedConfig
from pairs.record import TrialRow, Validation
from pairs.space import EPOCHS, Space, TuneError, overrides, resolved
from pairs.study import FIXED

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
RETRY = "retry_of"  # the user attribute naming the interrupted trial a trial retries


class Finalist(TypedDict):
    """A finalist's scores: validation accuracy on the search seeds, on the fresh seeds, and over both."""

    trial: int
    params: dict[str, Any]
    parameters: int
    search: float
    fresh: float
    all: float


class Outcome(TypedDict):
    """A cell's tuning: the winner among its finalists, its trials (pruned ones among them) and their fit time."""

    cell: str
    winner: Finalist
    finalists: list[Finalist]
    trials: int
    pruned: int
    fit_seconds: float


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


def cell_kinds(config: Path, space: Space, scoring: Scoring | None = None) -> tuple[set[str], int]:
    """The kinds of the cell in `config` (`pairnet`, `aux`) and its epochs; the cell must build as its fits run it
    (with the scoring's validation pairs and epochs) and every key of the space must be one of its keys. tune.py
    checks every cell so before any study is written."""
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
    kinds = {
        kind
        for kind, on in (
            ("pairnet", model.arch == "pairnet"),
            ("aux", model.arch == "pairnet" and model.aux_weight > 0),
        )
        if on
    }
    return kinds, cli.config.trainer.max_epochs


def identity(config: Path, distributions: dict[str, BaseDistribution], space: Space, scoring: Scoring) -> dict:
    """Everything a study's scores depend on; a stored study must match it to be resumed."""
    return {
        "base_config_sha256": hashlib.sha256(config.read_bytes()).hexdigest()[:16],
        "fixed": space.fixed,
        "space": {k: json.loads(distribution_to_json(d)) for k, d in distributions.items()},
        "pruner": space.pruning.__dict__ if space.pruning else None,
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


def open_study(name: str, storage: Path, ident: dict, space: Space) -> optuna.Study:
    """The cell's study in its journal file: created, or resumed if it was made with the same space and scoring."""
    storage.parent.mkdir(parents=True, exist_ok=True)
    journal = JournalStorage(JournalFileBackend(str(storage)))
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if space.pruning:
        pruner = optuna.pruners.SuccessiveHalvingPruner(space.pruning.min_resource, space.pruning.reduction_factor)
    study = optuna.create_study(
        storage=journal, study_name=name, direction="maximize", pruner=pruner, load_if_exists=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # seeded with the trials already asked: a resumed study draws new points, not the first ones again
        study.sampler = optuna.samplers.TPESampler(seed=len(study.trials), multivariate=True, constant_liar=True)
    if study.user_attrs.get("identity") is None:
        study.set_user_attr("identity", ident)
    return study


def score_key(epoch: int, seed: int) -> str:
    """The user attribute holding a trial's validation accuracy at `epoch` with `seed`."""
    return f"val_{epoch}_{seed}"


def scores_of(user_attrs: dict[str, Any]) -> dict[int, dict[int, float]]:
    """A trial's scores from its user attributes: epoch -> seed -> validation accuracy."""
    scores: dict[int, dict[int, float]] = {}
    for key, accuracy in user_attrs.items():
        if key.startswith("val_"):
            _, epoch, seed = key.split("_")
            scores.setdefault(int(epoch), {})[int(seed)] = accuracy
    return dict(sorted(scores.items()))


@dataclass
class Running:
    """A trial in progress: its Optuna handle, its overrides, the epochs it is scored at, its scores so far (epoch ->
    seed -> validation accuracy), the seeds with a fit in flight, and the rungs reported to Optuna and decided."""

    trial: optuna.Trial
    args: list[str]
    rungs: list[int]
    scores: dict[int, dict[int, float]] = field(default_factory=dict)
    busy: set[int] = field(default_factory=set)
    reported: set[int] = field(default_factory=set)
    decided: set[int] = field(default_factory=set)

    def rung(self, seeds: tuple[int, ...]) -> int:
        """The index of the first rung some seed has no score at (past the last: every rung is scored)."""
        unscored = (i for i, epoch in enumerate(self.rungs) if len(self.scores.get(epoch, {})) < len(seeds))
        return next(unscored, len(self.rungs))


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
        epochs: int,
        checkpoints: Path,
    ):
        self.name, self.config, self.study, self.distributions = name, config, study, distributions
        self.space, self.scoring, self.trials, self.epochs = space, scoring, trials, epochs
        self.checkpoints = checkpoints
        self.max_active = 1  # trials in progress at once: the executor's slots
        self.base = base_args(config, space, scoring)
        self.running: dict[int, Running] = {}
        for frozen in self.budgeted((TrialState.RUNNING,)):  # in flight when interrupted: retried with its scores
            study.tell(frozen.number, state=TrialState.FAIL)
            study.enqueue_trial(frozen.params, user_attrs={**frozen.user_attrs, RETRY: frozen.number})
        self.rescores: dict[str, dict[str, float]] = dict(study.user_attrs.get("rescores", {}))
        self.rescoring: set[tuple[int, int]] = set()
        self.finalists: list[int] | None = None

    def start(self, trial: optuna.Trial) -> Running:
        """Track a trial: its arguments and the epochs it is scored at. A retried trial takes over the scores and
        the checkpoints of the interrupted one and reports its finished rungs again, the last one undecided."""
        epochs = trial.params.get(EPOCHS, self.epochs)
        rungs = self.space.pruning.rungs(epochs) if self.space.pruning else [epochs]
        run = self.running[trial.number] = Running(trial, self.arguments(trial.params), rungs)
        run.scores = scores_of(trial.user_attrs)
        retried = trial.user_attrs.get(RETRY)
        if retried is not None:
            for epoch, seed in itertools.product(rungs, self.scoring.seeds):
                if self.checkpoint(retried, seed, epoch).exists():
                    self.checkpoint(retried, seed, epoch).replace(self.checkpoint(trial.number, seed, epoch))
            run.decided = set(rungs[: max(run.rung(self.scoring.seeds) - 1, 0)])  # the last finished is undecided
            self.advance(run)
        return run

    def values(self, params: dict[str, Any]) -> dict[str, object]:
        """The config keys a trial's parameters set, its schedule spanning its epochs (the cell's if not searched)."""
        return resolved(params, params.get(EPOCHS, self.epochs))

    def arguments(self, params: dict[str, Any]) -> list[str]:
        """The overrides of a trial's parameters."""
        return overrides(self.values(params))

    def budgeted(self, states: tuple[TrialState, ...]) -> list[optuna.trial.FrozenTrial]:
        """The cell's trials in these states among its first `trials` that did not fail (a study run with a larger
        budget before is judged on the same first trials as every other cell; an interrupted trial failed and was
        retried later)."""
        counted = [t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.FAIL][: self.trials]
        return [t for t in counted if t.state in states]

    def asked(self) -> int:
        """Trials asked for, interrupted ones left out (their retries count once asked)."""
        waiting = (TrialState.FAIL, TrialState.WAITING)
        return sum(t.state not in waiting for t in self.study.get_trials(deepcopy=False))

    def finished_trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.budgeted(FINISHED)

    def checkpoint(self, number: int, seed: int, epoch: int) -> Path:
        return self.checkpoints / f"trial_{number}_seed_{seed}_epoch_{epoch}.ckpt"

    def segment(self, run: Running, seed: int) -> tuple[tuple[str, int, int], runs.Task]:
        """The fit that takes a trial's seed to its next rung: from the last rung's checkpoint, saving its own unless
        it is the last."""
        index, number = run.rung(self.scoring.seeds), run.trial.number
        epoch = run.rungs[index]
        resume = self.checkpoint(number, seed, run.rungs[index - 1]) if index else None
        save = self.checkpoint(number, seed, epoch) if index < len(run.rungs) - 1 else None
        run.busy.add(seed)
        task = runs.Task(
            self.name,
            (*self.base, *run.args, f"--trainer.max_epochs={epoch}"),
            seed,
            resume=str(resume) if resume else None,
            save=str(save) if save else None,
        )
        return ("trial", number, seed), task

    def next_task(self) -> tuple[tuple[str, int, int], runs.Task] | None:
        """The next fit to run, keyed by (phase, trial number, seed); None while it must wait for running fits."""
        while True:
            for run in self.running.values():
                epoch = run.rungs[run.rung(self.scoring.seeds)]
                for seed in self.scoring.seeds:
                    if seed not in run.busy and seed not in run.scores.get(epoch, {}):
                        return self.segment(run, seed)
            if self.asked() >= self.trials or len(self.running) >= self.max_active:
                break
            self.start(self.study.ask(self.distributions))
        if self.searching():
            return None
        for number in self.final():
            for seed in self.scoring.rescore_seeds:
                if (number, seed) not in self.rescoring and str(seed) not in self.rescores.get(str(number), {}):
                    self.rescoring.add((number, seed))
                    task = runs.Task(self.name, (*self.base, *self.arguments(self.study.trials[number].params)), seed)
                    return ("rescore", number, seed), task
        return None

    def finish(self, key: tuple[str, int, int], record: Validation) -> bool:
        """Record one finished fit; True when it finished a trial or a finalist."""
        phase, number, seed = key
        accuracy = record["val_acc"]
        if phase == "rescore":
            self.rescoring.discard((number, seed))
            self.rescores.setdefault(str(number), {})[str(seed)] = accuracy
            self.study.set_user_attr("rescores", self.rescores)
            return self.rescored(number)
        run = self.running[number]
        epoch = run.rungs[run.rung(self.scoring.seeds)]
        run.busy.discard(seed)
        run.scores.setdefault(epoch, {})[seed] = accuracy
        trial = run.trial
        trial.set_user_attr(score_key(epoch, seed), accuracy)
        trial.set_user_attr("fit_seconds", trial.user_attrs.get("fit_seconds", 0) + record["fit_seconds"])
        trial.set_user_attr("parameters", record["parameters"])
        if epoch != run.rungs[0]:
            self.checkpoint(number, seed, run.rungs[run.rungs.index(epoch) - 1]).unlink(missing_ok=True)
        return self.advance(run)

    def advance(self, run: Running) -> bool:
        """Report each rung every seed has finished and decide those not decided yet: the trial is complete after its
        last rung, stopped where the pruner says so, or goes on. True when it finished."""
        seeds = self.scoring.seeds
        for epoch in run.rungs:
            scores = run.scores.get(epoch, {})
            if len(scores) < len(seeds):
                return False
            mean = sum(scores.values()) / len(scores)
            if epoch not in run.reported:
                run.trial.report(mean, epoch)
                run.reported.add(epoch)
            if epoch in run.decided:
                continue
            stop = run.trial.should_prune()  # at the last rung too: it enters the rung's competition
            run.decided.add(epoch)
            if epoch == run.rungs[-1] or stop:
                state = TrialState.COMPLETE if epoch == run.rungs[-1] else TrialState.PRUNED
                self.study.tell(run.trial, mean if state == TrialState.COMPLETE else None, state=state)
                for seed in seeds:
                    self.checkpoint(run.trial.number, seed, epoch).unlink(missing_ok=True)
                del self.running[run.trial.number]
                return True
        return False

    def searching(self) -> bool:
        return self.asked() < self.trials or bool(self.running)

    def final(self) -> list[int]:
        """The finalists, once every trial has finished (none before)."""
        if self.finalists is None and not self.searching():
            self.finalists = self.best(self.scoring.finalists)
            shutil.rmtree(self.checkpoints, ignore_errors=True)
        return self.finalists or []

    def rescored(self, number: int) -> bool:
        return len(self.rescores.get(str(number), {})) == len(self.scoring.rescore_seeds)

    def progress(self) -> int:
        """Trials finished (up to the budget) plus finalists re-scored."""
        return len(self.finished_trials()) + sum(map(self.rescored, self.final()))

    def fits(self) -> int:
        """Fits recorded so far (a trial's fit to each rung counts as one)."""
        live = [t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.FAIL]
        seeds = sum(k.startswith("val_") for t in live for k in t.user_attrs)
        return seeds + sum(len(scores) for scores in self.rescores.values())

    def best(self, k: int) -> list[int]:
        """The numbers of the k complete trials with the best search scores."""
        complete = self.budgeted((TrialState.COMPLETE,))
        if not complete:
            raise TuneError(f"{self.name}: every trial was pruned or failed; nothing to choose from")
        return [t.number for t in sorted(complete, key=lambda t: -cast(float, t.value))[:k]]  # complete: valued

    def outcome(self) -> Outcome:
        """The winner among the finalists (best mean over search and fresh seeds) and its scores."""
        rows: list[Finalist] = []
        for number in self.final():
            trial = self.study.trials[number]
            assert trial.value is not None  # a finalist is a complete trial, which has a value
            fresh = [self.rescores[str(number)][str(s)] for s in self.scoring.rescore_seeds]
            rows.append(
                {
                    "trial": number,
                    "params": trial.params,
                    "parameters": trial.user_attrs["parameters"],
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

    def export(self) -> list[TrialRow]:
        """Every finished trial of the budget as a plain record: its parameters, its validation accuracy at each
        rung it reached per search seed, its value (its mean at the last of them), its size and fit time."""
        rows: list[TrialRow] = []
        for order, trial in enumerate(self.finished_trials()):
            scores = {
                str(epoch): {str(s): a for s, a in by_seed.items()}
                for epoch, by_seed in scores_of(trial.user_attrs).items()
            }
            last = max(scores, key=int)
            rows.append(
                {
                    "cell": self.name,
                    "trial": order,
                    "state": "complete" if trial.state == TrialState.COMPLETE else "pruned",
                    "params": trial.params,
                    "epochs": trial.params.get(EPOCHS, self.epochs),
                    "scores": scores,
                    "value": sum(scores[last].values()) / len(scores[last]),
                    "parameters": trial.user_attrs["parameters"],
                    "fit_seconds": round(trial.user_attrs.get("fit_seconds", 0), 3),
                }
            )
        return rows


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
    """A tuner per cell of configs/fixed/, its study in `storage`/<cell>.journal and its trials' checkpoints in
    `storage`/<cell>.checkpoints. Every cell is checked (it builds as its trials run it; the pruner can stop its
    trials; a stored study was made with the same space and scoring) before the first journal is written."""
    checked = {}
    for cell in cells:
        config = FIXED / f"{cell}.yaml"
        kinds, epochs = cell_kinds(config, space, scoring)
        if space.pruning and EPOCHS not in space.params and space.pruning.min_resource >= epochs:
            raise TuneError(
                f"pruner.min_resource: {space.pruning.min_resource} epochs is not below {cell}'s {epochs}, so none of "
                "its trials could be stopped early; lower it"
            )
        distributions = space.for_cell(kinds)
        ident = identity(config, distributions, space, scoring)
        check_stored(cell, storage / f"{cell}.journal", ident)
        checked[cell] = config, distributions, ident, epochs
    return [
        CellTuner(
            cell,
            config,
            open_study(cell, storage / f"{cell}.journal", ident, space),
            dists,
            space,
            scoring,
            trials,
            epochs,
            storage / f"{cell}.checkpoints",
        )
        for cell, (config, dists, ident, epochs) in checked.items()
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
