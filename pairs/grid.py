"""Running many fits: resolve configs, then train each (config, seed) in this process or in long-lived workers.

One executor serves benchmark.py (fit, then test once) and tune.py (fit, then score on validation pairs)."""

import fnmatch
import hashlib
import itertools
import logging
import multiprocessing
import os
import signal
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lightning
import torch

from pairs.cli import PairCLI

CONFIGS = Path("configs")
NOT_STUDY = ("framework/", "search/")  # other formats: the framework's runs, the tuner's search space
QUIET = ["--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false",
         "--trainer.enable_model_summary=false", "--trainer.limit_val_batches=0", "--trainer.logger=false"]
# Keys that change how a run is shown or stored, never what it computes: left out of the config hash (the data
# folder too: its files are checksum-verified, so a moved folder holds the same data).
PRESENTATION = ("trainer.logger", "trainer.enable_checkpointing", "trainer.enable_progress_bar",
                "trainer.enable_model_summary", "trainer.default_root_dir", "data.data_dir")
# Modules of the package that only present or store results: left out of the code version.
NOT_COMPUTING = ("figures.py", "report.py", "results.py", "tuning.py")


@dataclass(frozen=True)
class Task:
    """One fit: the config's name, its LightningCLI arguments and the round's seed."""

    name: str
    args: tuple[str, ...]
    seed: int
    config_hash: str = ""


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


def available_configs(root: Path = CONFIGS) -> list[str]:
    """Names of the study's configs: paths under `root` without .yaml."""
    paths = (p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))
    return sorted(p for p in paths if not p.startswith(NOT_STUDY))


def select(patterns: list[str], root: Path = CONFIGS) -> list[str]:
    """Config names under `root` matching the names or globs, in order; an unknown one is an error listing those
    available."""
    available = available_configs(root)
    chosen = []
    for pattern in patterns:
        matches = fnmatch.filter(available, pattern.removesuffix(".yaml").removeprefix(f"{root.as_posix()}/"))
        if not matches:
            raise ValueError(f"no config matches {pattern!r}; available: {', '.join(available)}")
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
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def config_hash(args: list[str]) -> str:
    """A hash of the resolved configuration, seed and presentation-only keys left out."""
    with quiet():
        cli = PairCLI([*args, "--seed_everything=0"], save_config_callback=None)
    config = cli.config.clone()
    for key in ("config", "seed_everything", *PRESENTATION):
        config.pop(key, None)
    return hashlib.sha256(cli.parser.dump(config, skip_validation=True).encode()).hexdigest()[:12]


def code_version() -> str:
    """A hash of the package sources that decide what a run computes: records of other code are not reused."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name not in NOT_COMPUTING:
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def validation_args(val_pairs: int) -> list[str]:
    """Arguments that hold `val_pairs` of the training pairs out and validate on them once, after the last epoch."""
    return [f"--data.val_pairs={val_pairs}", "--trainer.limit_val_batches=1.0", "--trainer.num_sanity_val_steps=0"]


def fitted(task: Task, validate_once: bool = False) -> tuple[PairCLI, float]:
    """The task's CLI after its fit with the task's seed (data draw and initialisation), and the fit's seconds;
    `validate_once`: the validation loop runs only after the last epoch."""
    cli = PairCLI([*task.args, f"--seed_everything={task.seed}"], save_config_callback=None)
    if validate_once:
        cli.trainer.check_val_every_n_epoch = cli.trainer.max_epochs
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, time.perf_counter() - start


def validate(task: Task) -> dict:
    """Fit on the training pairs less the validation pairs; the validation accuracy at the last epoch. The test
    pairs are never evaluated. The task's args must include `validation_args`."""
    with quiet():
        cli, fit_seconds = fitted(task, validate_once=True)
    return {"config": task.name, "seed": task.seed, "val_acc": float(cli.trainer.callback_metrics["val/acc"]),
            "fit_seconds": round(fit_seconds, 3), "threads": torch.get_num_threads()}


def run(task: Task) -> dict:
    """Fit with the task's seed (data draw and initialisation), test the last epoch once, return the record."""
    with quiet():
        cli, fit_seconds = fitted(task)
        metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=None, verbose=False)[0]
    return {
        "config": task.name, "config_hash": task.config_hash, "seed": task.seed, "params": cli.model.n_params,
        "metrics": {k.removeprefix("test/"): round(float(v), 6) for k, v in metrics.items()},
        "fit_seconds": round(fit_seconds, 3), "threads": torch.get_num_threads(), "code": code_version(),
        "torch": torch.__version__, "lightning": lightning.__version__, "host": socket.gethostname(),
    }


def start_worker(threads: int) -> None:
    """A worker's setup: its share of the cores; Ctrl-C is left to the driver, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def stop_on_sigterm() -> None:
    """SIGTERM stops this process the way Ctrl-C does (KeyboardInterrupt): workers stopped, finished work kept."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


class Executor:
    """Runs `fn(task)` calls: in this process when workers == 1, else in a pool of long-lived spawn workers, each
    with `threads` torch threads. `submit` returns a Future; leaving the block stops the workers."""

    def __init__(self, workers: int, threads: int):
        self.workers, self.threads, self.slots = workers, threads, workers
        self.pool = None

    def __enter__(self) -> "Executor":
        if self.workers > 1:
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited thread pools
            self.pool = context.Pool(self.workers, initializer=start_worker, initargs=(self.threads,))
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def submit(self, fn: Callable[[Task], dict], task: Task) -> Future:
        future = Future()
        if self.pool is not None:
            self.pool.apply_async(fn, (task,), callback=future.set_result, error_callback=future.set_exception)
            return future
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            future.set_result(fn(task))
        except Exception as e:  # noqa: BLE001 -- delivered through the future, as a worker's would be
            future.set_exception(e)
        finally:
            torch.set_num_threads(previous)
        return future


def finished(futures: set[Future]) -> set[Future]:
    """Wait until at least one of `futures` is done; the done ones. Waits in short slices: a wait without a
    timeout would not see Ctrl-C or SIGTERM until a fit ends."""
    while not (done := wait(futures, timeout=0.2, return_when=FIRST_COMPLETED).done):
        pass
    return done


def executor(workers: int, threads: int, ray: str | None = None):
    """The local pool of `workers` processes, or with `ray` (a cluster address) the Ray backend; both run fits with
    `threads` torch threads and offer `slots` fits in flight."""
    if ray is None:
        return Executor(workers, threads)
    from pairs.cluster import RayExecutor

    return RayExecutor(ray, threads)


def execute(tasks: list[Task], workers: int, threads: int, fn: Callable[[Task], dict] = run,
            ray: str | None = None) -> Iterator[dict]:
    """Records of `fn` on each task, as they finish; as many tasks in flight as the executor has slots."""
    todo = iter(tasks)
    with executor(workers, threads, ray) as pool:
        pending = {pool.submit(fn, task) for task in itertools.islice(todo, pool.slots)}
        while pending:
            for future in finished(pending):
                pending.remove(future)
                yield future.result()
                pending |= {pool.submit(fn, task) for task in itertools.islice(todo, 1)}


def default_threads(workers: int) -> int:
    """cores // workers, at least 1: parallel workers must not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // workers)
