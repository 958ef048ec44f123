"""Where fits run: long-lived local worker processes, or Ray tasks on a cluster (pairs.cluster), behind one
interface. benchmark.py and tune.py submit `fn(task)` calls and read the records as they finish."""

import argparse
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from typing import Any, Protocol, Self, TypeVar

import torch

from common import options
from pairs.cluster import ClusterError, address
from pairs.record import Record
from pairs.runs import Task, run

Result = TypeVar("Result")  # what a fit returns: runs.run's Record, runs.validate's Validation


class Executor(Protocol):
    """Runs `fn(task)` calls with `threads` torch threads each, `slots` at a time; `submit` returns a Future.
    Entering the block starts the workers; leaving it stops them, finished or not."""

    threads: int
    slots: int
    in_process: bool  # whether the fits run in this process (then nothing runs in parallel)

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def submit(self, fn: Callable[[Task], Result], task: Task) -> Future[Result]: ...


def default_threads(workers: int) -> int:
    """cores // workers, at least 1: parallel workers must not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // workers)


def start_worker(threads: int) -> None:
    """A worker's setup: its share of the cores; Ctrl-C is left to the driver, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def stop_on_sigterm() -> None:
    """SIGTERM stops this process the way Ctrl-C does (KeyboardInterrupt): workers stopped, finished work kept."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


class LocalExecutor:
    """The Executor of this machine: in this process when workers == 1, else a pool of long-lived spawn workers."""

    def __init__(self, workers: int, threads: int):
        self.workers, self.threads, self.slots = workers, threads, workers
        self.in_process = workers == 1
        self.pool: Any = None

    def __enter__(self) -> Self:
        if self.workers > 1:
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited thread pools
            self.pool = context.Pool(self.workers, initializer=start_worker, initargs=(self.threads,))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def submit(self, fn: Callable[[Task], Result], task: Task) -> Future[Result]:
        future: Future[Result] = Future()
        if self.pool is not None:
            self.pool.apply_async(fn, (task,), callback=future.set_result, error_callback=future.set_exception)
            return future
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            future.set_result(fn(task))
        except Exception as e:  # delivered through the future, as a worker's would be
            future.set_exception(e)
        finally:
            torch.set_num_threads(previous)
        return future


def executor(workers: int, threads: int, ray: str | None = None) -> Executor:
    """The local pool of `workers` processes, or with `ray` (a cluster address) the Ray backend."""
    if ray is None:
        return LocalExecutor(workers, threads)
    from pairs.cluster import RayExecutor  # Ray is imported only when asked for

    return RayExecutor(ray, threads)


STOP = threading.Event()  # Ctrl-C or SIGTERM while other processes run the fits; finished() raises it


@contextmanager
def deferred_interrupts(pool: Executor) -> Iterator[None]:
    """While `pool` runs the fits in other processes, Ctrl-C and SIGTERM only set STOP, and finished() raises
    KeyboardInterrupt between its waits. Raised anywhere, the interrupt can land while wait() holds a future's lock;
    the pool's result thread then waits for that lock forever, and the pool never stops. Fits that run in this
    process (one local worker) stay interruptible at once."""
    if pool.in_process:
        yield
        return
    STOP.clear()
    previous = {number: signal.signal(number, lambda *_: STOP.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        stopped = STOP.is_set()
        STOP.clear()  # set only inside the block: finished() outside it (fits in this process) never sees it
    if stopped:  # it came after the last wait: the work is done, the interrupt still stops the command
        raise KeyboardInterrupt


def finished(futures: set[Future]) -> set[Future]:
    """Wait until at least one of `futures` is done; the done ones. Waits in short slices, and before each one
    raises KeyboardInterrupt if STOP is set: a wait without a timeout would not see Ctrl-C or SIGTERM until a fit
    ends, and a check only after an empty slice would never come while fits keep finishing."""
    while True:
        if STOP.is_set():
            raise KeyboardInterrupt
        if done := wait(futures, timeout=0.2, return_when=FIRST_COMPLETED).done:
            return done


def execute(
    tasks: list[Task], workers: int, threads: int, fn: Callable[[Task], Record] = run, ray: str | None = None
) -> Generator[Record, None, None]:
    """Records of `fn` on each task, as they finish; as many tasks in flight as the executor has slots."""
    todo = iter(tasks)
    with executor(workers, threads, ray) as pool, deferred_interrupts(pool):
        pending = {pool.submit(fn, task) for task in itertools.islice(todo, pool.slots)}
        while pending:
            for future in finished(pending):
                pending.remove(future)
                yield future.result()
                pending |= {pool.submit(fn, task) for task in itertools.islice(todo, 1)}


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose where fits run: --workers, --threads, --ray."""
    parser.add_argument(
        "--workers",
        type=options.integer(1),
        default=os.cpu_count() or 1,
        help="parallel worker processes (default: one per core; more than the cores is slower, not faster)",
    )
    parser.add_argument(
        "--threads", type=options.integer(1), help="torch threads per fit (default cores // workers; with --ray, 1)"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the fits as tasks on a Ray cluster: auto, HOST:PORT, or local (a private instance); "
        "no value: $RAY_ADDRESS",
    )


def settle_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Fill in the defaults of `add_options` (threads from workers, the Ray address); warn when local workers times
    threads exceed the cores (the fits then share cores, and each runs slower than alone)."""
    cores = os.cpu_count() or 1
    args.threads = args.threads or (1 if args.ray is not None else default_threads(args.workers))
    if args.ray is None and args.workers * args.threads > cores:
        fit = min(args.workers, cores)
        print(
            f"warning: {args.workers} workers x {args.threads} threads on {cores} cores: the fits share the cores and "
            f"each runs slower; e.g. --workers {fit} --threads {cores // fit} fills the cores without sharing",
            file=sys.stderr,
        )
    if args.ray is not None:
        try:
            args.ray = address(args.ray)
        except ClusterError as e:
            parser.error(str(e))
