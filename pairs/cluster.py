"""The Ray backend of the executor: each (config, seed) fit is one Ray task on a cluster.

The driver loads and verifies MNIST once and puts it in Ray's object store; every task gets it by reference, so
the nodes need no copy of the data. The driver's folder travels as the tasks' working directory, the `pairs`
and `common` packages with it. Only the driver writes results. Ray is imported only when this backend is used.
"""

import os
import socket
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Self

import torch

from common import mnist
from common.errors import Failure
from pairs.data import load_split, shipped
from pairs.record import Record, Validation

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = [".venv", "venv", ".git", "data", "results", "runs", "lightning_logs", "**/__pycache__"]


class ClusterError(Failure):
    """Ray is missing, the cluster cannot be reached or cannot run a task."""


def address(value: str | None) -> str:
    """The cluster address of `--ray [ADDRESS]`: the value, else $RAY_ADDRESS."""
    value = value or os.environ.get("RAY_ADDRESS")
    if not value:
        raise ClusterError(
            "--ray was given no address and RAY_ADDRESS is not set; pass --ray auto (the cluster "
            "started by `ray start` on this machine), --ray HOST:6379, or --ray local"
        )
    return value


def reachable(where: str, timeout: float = 5.0) -> None:
    """For a HOST:PORT address, a quick TCP probe: Ray itself would retry for minutes before giving up."""
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(
            f"no Ray cluster at {where!r} ({e.strerror or e}); start one with `ray start --head` on "
            "that machine, or check the address and port"
        ) from e


def fit(fn: Callable, task, threads: int, data: dict) -> Record | Validation:
    """Inside a Ray task: the fit with `threads` torch threads (Ray's CPUs are only logical) on the shipped MNIST."""
    torch.set_num_threads(threads)
    with shipped(data):
        return fn(task)


class RayExecutor:
    """The Executor (pairs.executors) on Ray: each `fn(task)` call is a Ray task of `threads` CPUs. Leaving the
    block cancels this run's unfinished tasks and disconnects. `where`: a cluster address, or `local` for a
    private instance with this machine's CPUs. The tasks read the MNIST the driver finds ($MNIST_DIR, else
    ./data), whatever a config's `data.data_dir` says: the data travel by reference, not by path."""

    def __init__(self, where: str, threads: int):
        self.where, self.threads, self.slots, self.in_process = where, threads, 0, False
        self.refs: list = []

    def __enter__(self) -> Self:
        try:
            import ray
        except ImportError as e:
            raise ClusterError(
                "Ray is not installed; `pip install -r requirements.txt` installs it (ray==2.60.0)"
            ) from e
        self.ray = ray
        # the driver's folder travels as the tasks' working directory (config paths resolve as on the driver), the
        # package as a module
        runtime_env = {
            "working_dir": str(Path.cwd()),
            "py_modules": [str(ROOT / "pairs"), str(ROOT / "common")],
            "excludes": NOT_SHIPPED,
        }
        # NOT_SHIPPED covers Ray's default excludes; without its own, Ray stops warning on every run that it skips them
        os.environ.setdefault("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES", "")
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "runtime_env": runtime_env}
        if self.where != "local":
            reachable(self.where)
        try:
            if self.where == "local":
                ray.init(num_cpus=os.cpu_count(), **options)
            else:
                ray.init(address=self.where, **options)
        except ConnectionError as e:
            raise ClusterError(
                f"no Ray cluster at {self.where!r} ({' '.join(str(e).split())[:200]}); start one with "
                "`ray start --head`, or check the address"
            ) from e
        except RuntimeError as e:
            raise ClusterError(
                f"cannot join the Ray cluster at {self.where!r}: {' '.join(str(e).split())[:300]} "
                f"(this machine has ray {ray.__version__}: every node needs the same version)"
            ) from e
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < self.threads:
            ray.shutdown()
            raise ClusterError(
                f"the Ray cluster has {cpus:g} CPUs but one fit asks for {self.threads}; pass "
                f"--threads {max(1, int(cpus))} or add nodes"
            )
        self.slots = int(cpus // self.threads)
        self.data = ray.put({split: load_split(split) for split in mnist.SPLITS})
        self.remote = ray.remote(num_cpus=self.threads, max_retries=3)(fit)
        return self

    def __exit__(self, *exc) -> None:
        for ref in self.refs:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # finished or already gone: nothing to stop
                pass
        self.ray.shutdown()

    def submit(self, fn: Callable, task) -> Future:
        ref = self.remote.remote(fn, task, self.threads, self.data)
        self.refs.append(ref)
        future = ref.future()
        future.add_done_callback(lambda _: self.refs.remove(ref))
        return future
