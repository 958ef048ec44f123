"""One fit of the study: which configs exist, the arguments of a run, what identifies it (config hash, code
version), and the fit itself, tested once (benchmark.py) or scored on validation pairs (tune.py)."""

import ast
import fnmatch
import hashlib
import logging
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lightning
import torch

import common
import pairs
from common.errors import InputError
from pairs.cli import PairCLI, ParsedConfig
from pairs.record import Record, Validation
from pairs.study import CONFIGS, NOT_STUDY, SOURCES

# The packages whose modules can change what a fit computes, and their folders (found from the packages
# themselves: a Ray task gets each shipped as its own folder).
FOLDERS = {package.__name__: Path(str(package.__file__)).resolve().parent for package in (pairs, common)}
QUIET = [
    "--trainer.enable_checkpointing=false",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.limit_val_batches=0",
    "--trainer.logger=false",
]
# Keys that change how a run is shown or stored, never what it computes: left out of the config hash (the data
# folder too: its files are checksum-verified, so a moved folder holds the same data).
PRESENTATION = (
    "trainer.logger",
    "trainer.enable_checkpointing",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.default_root_dir",
    "data.data_dir",
)


@dataclass(frozen=True)
class Task:
    """One fit: the name it is recorded under, its LightningCLI arguments, the round's seed, and the one source of
    randomness (study.SOURCES) the seed varies, the other two held at 0 (None: the seed varies all three); a tuning
    fit may continue from a checkpoint (`resume`) and save its own at its end (`save`)."""

    name: str
    args: tuple[str, ...]
    seed: int
    config_hash: str = ""
    vary: str | None = None
    resume: str | None = None
    save: str | None = None


def seed_args(seed: int, vary: str | None = None) -> list[str]:
    """The arguments that seed a run: `seed` seeds data draw, initial weights and batch order; with `vary`, only that
    source, the other two seeded with 0."""
    if vary is None:
        return [f"--seed_everything={seed}"]
    return [f"--{key}={seed if source == vary else 0}" for source, key in SOURCES.items()]


def cli_args(
    path: str, epochs: int | None, tensorboard: str | None, seed: int = 0, vary: str | None = None
) -> list[str]:
    """The LightningCLI arguments of one benchmark run of the config at `path`; TensorBoard logs, if asked for,
    go to DIR/<config>/seed_<seed> (seed_<seed>_vary_<source> for a run that varies one source)."""
    args = ["--config", path, *QUIET]
    if epochs is not None:
        args.append(f"--trainer.max_epochs={epochs}")
    if tensorboard:
        args += [
            "--trainer.logger.class_path=lightning.pytorch.loggers.TensorBoardLogger",
            f"--trainer.logger.init_args.save_dir={tensorboard}",
            "--trainer.logger.init_args.default_hp_metric=false",
            f"--trainer.logger.init_args.version=seed_{seed}{f'_vary_{vary}' if vary else ''}",
        ]
    return args


def available_configs(root: Path = CONFIGS) -> list[str]:
    """Names of the study's configs: paths under `root` without .yaml."""
    paths = (p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))
    return sorted(p for p in paths if not p.startswith(NOT_STUDY))


def select(patterns: list[str], root: Path = CONFIGS) -> list[str]:
    """Config names under `root` matching the names or globs, in order; an unknown one is an error listing those
    available."""
    available = available_configs(root)
    chosen: list[str] = []
    for pattern in patterns:
        matches = fnmatch.filter(available, pattern.removesuffix(".yaml").removeprefix(f"{root.as_posix()}/"))
        if not matches:
            raise InputError(f"no config matches {pattern!r}; available: {', '.join(available)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


@contextmanager
def quiet() -> Iterator[None]:
    """Inside the block, Lightning's banners and warnings are silenced: individual runs print nothing."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def config_hash(args: list[str], vary: str | None = None) -> str:
    """A hash of the resolved configuration, with seed_everything, the seed of the source `vary` varies and the
    presentation-only keys left out. The kinds of run of one config (every source varied, or data, init or order
    alone) still hash apart, by the data seeds they hold at 0 or leave out."""
    with quiet():
        cli = ParsedConfig([*args, *seed_args(0, vary)])
    config = cli.config.clone()
    varied = SOURCES[vary] if vary else "seed_everything"
    for key in ("config", "seed_everything", varied, *PRESENTATION):
        config.pop(key, None)
    return hashlib.sha256(cli.parser.dump(config, skip_validation=True).encode()).hexdigest()[:12]


def computing_modules(start: str = "pairs.cli") -> list[Path]:
    """The project's modules a fit runs: `start` (the CLI that builds model, data and trainer) and every module of
    the study or the shared floor it imports, transitively. Found by reading the imports, so a renamed or moved
    module stays covered."""
    found, todo = set(), [start, f"pairs.{Path(__file__).stem}"]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for node in ast.walk(ast.parse(source(name).read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
                continue
            package, _, module = node.module.partition(".")
            if package in FOLDERS and module:
                todo.append(f"{package}.{module.split('.')[0]}")
            elif package in FOLDERS:
                todo += [f"{package}.{alias.name}" for alias in node.names]
    return [source(name) for name in sorted(found)]


def source(module: str) -> Path:
    """The file of a dotted module of the study or the shared floor."""
    package, _, name = module.partition(".")
    return FOLDERS[package] / f"{name}.py"


def code_version() -> str:
    """A hash of the package sources that decide what a run computes: records of other code are not reused."""
    digest = hashlib.sha256()
    for path in computing_modules():
        digest.update(f"{path.parent.name}/{path.name}".encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def validation_args(val_pairs: int) -> list[str]:
    """Arguments that hold `val_pairs` of the training pairs out and validate on them once, after the last epoch."""
    return [f"--data.val_pairs={val_pairs}", "--trainer.limit_val_batches=1.0", "--trainer.num_sanity_val_steps=0"]


def fit_cli(args: list[str]) -> PairCLI:
    """The CLI of a benchmark or tuning fit: model, data and trainer, with no training metrics where no logger
    reads them (they change nothing a fit computes)."""
    cli = PairCLI(args, save_config_callback=None)
    if not cli.trainer.loggers:
        cli.model.measured.discard("train")
    return cli


def fitted(task: Task, validate_once: bool = False) -> tuple[PairCLI, float]:
    """The task's CLI after its fit with the task's seed (data draw, initialisation, batch order; or the one source
    it varies), and the fit's seconds; `validate_once`: the validation loop runs only after the last epoch."""
    cli = fit_cli([*task.args, *seed_args(task.seed, task.vary)])
    if validate_once:
        cli.trainer.check_val_every_n_epoch = cli.trainer.max_epochs
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=task.resume)
    return cli, time.perf_counter() - start


def validate(task: Task) -> Validation:
    """Fit on the training pairs less the validation pairs (from the task's checkpoint, if it has one, saving one
    at the end if asked); the validation accuracy at the last epoch. The test pairs are never evaluated. The task's
    args must include `validation_args`."""
    with quiet():
        cli, fit_seconds = fitted(task, validate_once=True)
        if task.save:
            save = Path(task.save)
            partial = save.with_name(f".{save.name}.tmp")
            save.parent.mkdir(parents=True, exist_ok=True)
            cli.trainer.save_checkpoint(partial)
            partial.replace(save)  # a checkpoint is whole or absent
    return {
        "config": task.name,
        "seed": task.seed,
        "parameters": cli.model.n_params,
        "val_acc": float(cli.trainer.callback_metrics["val/acc"]),
        "fit_seconds": round(fit_seconds, 3),
        "threads": torch.get_num_threads(),
    }


def run(task: Task) -> Record:
    """Fit with the task's seed (data draw, initialisation, batch order; or the one source it varies), test the last
    epoch once, return the record."""
    with quiet():
        cli, fit_seconds = fitted(task)
        metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=None, verbose=False)[0]
    return {
        "config": task.name,
        "config_hash": task.config_hash,
        "seed": task.seed,
        "params": cli.model.n_params,
        "test_pairs": len(cli.datamodule.test_set),
        "metrics": {k.removeprefix("test/"): round(float(v), 6) for k, v in metrics.items()},
        "fit_seconds": round(fit_seconds, 3),
        "threads": torch.get_num_threads(),
        "code": code_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "host": socket.gethostname(),
    }
