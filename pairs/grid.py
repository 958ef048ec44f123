"""Running the benchmark grid: resolve configs, then train and test each (config, seed) in long-lived workers."""

import hashlib
import logging
import multiprocessing
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lightning
import torch

from pairs.cli import PairCLI

QUIET = ["--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false",
         "--trainer.enable_model_summary=false", "--trainer.limit_val_batches=0", "--trainer.logger=false"]
# Keys that change how a run is shown or stored, never what it computes: left out of the config hash.
PRESENTATION = ("logger", "enable_checkpointing", "enable_progress_bar", "enable_model_summary", "default_root_dir")


@dataclass(frozen=True)
class Task:
    name: str
    config_hash: str
    args: tuple[str, ...]
    seed: int


def cli_args(path: str, epochs: int | None, tensorboard: str | None, seed: int = 0) -> list[str]:
    """The LightningCLI arguments of one benchmark run of the config at `path`; TensorBoard logs, if asked for,
    go to DIR/<config>/seed_<seed>."""
    args = ["--config", path, *QUIET]
    if epochs is not None:
        args.append(f"--trainer.max_epochs={epochs}")
    if tensorboard:
        args += ["--trainer.logger.class_path=lightning.pytorch.loggers.TensorBoardLogger",
                 f"--trainer.logger.init_args.save_dir={tensorboard}", "--trainer.logger.init_args.default_hp_metric=false",
                 f"--trainer.logger.init_args.version=seed_{seed}"]
    return args


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
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def config_hash(args: list[str]) -> str:
    """A hash of the resolved configuration, seed and presentation-only keys left out."""
    with quiet():
        cli = PairCLI([*args, "--seed_everything=0"], save_config_callback=None)
    config = cli.config.clone()
    for key in ("config", "seed_everything", *(f"trainer.{k}" for k in PRESENTATION)):
        config.pop(key, None)
    return hashlib.sha256(cli.parser.dump(config, skip_validation=True).encode()).hexdigest()[:12]


def run(task: Task) -> dict:
    """Fit with the task's seed (data draw and initialisation), test the last epoch once, return the record."""
    with quiet():
        cli = PairCLI([*task.args, f"--seed_everything={task.seed}"], save_config_callback=None)
        start = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        fit_seconds = time.perf_counter() - start
        metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=None, verbose=False)[0]
    return {
        "config": task.name, "config_hash": task.config_hash, "seed": task.seed, "params": cli.model.n_params,
        "metrics": {k.removeprefix("test/"): round(float(v), 6) for k, v in metrics.items()},
        "fit_seconds": round(fit_seconds, 3), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "lightning": lightning.__version__,
    }


def execute(tasks: list[Task], workers: int, threads: int) -> Iterator[dict]:
    """Records of `tasks` as they finish: in this process when workers == 1, else in a pool of long-lived workers."""
    if workers == 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield from map(run, tasks)
        finally:
            torch.set_num_threads(previous)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited thread pools
    with context.Pool(workers, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
        yield from pool.imap_unordered(run, tasks)


def default_threads(workers: int) -> int:
    """cores // workers, at least 1: parallel workers must not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // workers)
