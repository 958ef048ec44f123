"""The Ray backend: the same records as the local pool on a two-node cluster, MNIST shipped through the object
store, and one clear error for each way of failing to reach a cluster."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import benchmark
from common import mnist
from pairs import cluster, runs
from pairs import data as pair_data
from tests import ROOT

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]
from ray.cluster_utils import Cluster  # noqa: E402


def records(path: str) -> dict:
    return {(r["config"], r["seed"]): r for r in map(json.loads, Path(path).read_text().splitlines())}


def test_a_two_node_cluster_gives_the_local_records(workdir, mnist_dir, monkeypatch):
    common = ["--configs", "tiny_*", "--seeds", "2", "--threads", "1", "--report", "r.md", "--figure", "r.png"]
    benchmark.main([*common, "--workers", "1", "--results", "local.jsonl"])
    monkeypatch.setenv("MNIST_DIR", str(workdir / "no-mnist-here"))  # the nodes cannot read the driver's copy
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    try:
        monkeypatch.setenv("MNIST_DIR", str(mnist_dir))  # the driver can: it ships the data to the tasks
        benchmark.main([*common, "--ray", nodes.address, "--results", "ray.jsonl"])
    finally:
        ray.shutdown()
        nodes.shutdown()
    local, remote = records("local.jsonl"), records("ray.jsonl")
    assert local.keys() == remote.keys() and len(local) == 4
    for key in local:
        assert local[key]["metrics"] == remote[key]["metrics"], key  # bit-identical at the same thread count
        assert {k: v for k, v in local[key].items() if k not in ("fit_seconds", "host")} == {
            k: v for k, v in remote[key].items() if k not in ("fit_seconds", "host")
        }


def test_a_task_reads_the_shipped_mnist_not_the_disk(workdir, monkeypatch):
    data = {split: pair_data.load_split(split) for split in mnist.SPLITS}
    args = tuple(runs.cli_args("configs/tiny_base.yaml", None, None))
    expected = runs.run(runs.Task("tiny_base", args, 0))
    monkeypatch.setenv("MNIST_DIR", str(workdir / "no-mnist-here"))
    pair_data.read_split.cache_clear()
    monkeypatch.setattr(pair_data, "read_split", lambda *a: pytest.fail("a task read MNIST from disk"))
    shipped = cluster.fit(runs.run, runs.Task("tiny_base", args, 0), 1, data)
    assert shipped["metrics"] == expected["metrics"]


def test_ray_options_without_an_address_name_the_ways_to_give_one(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(cluster.ClusterError, match="RAY_ADDRESS is not set; pass --ray auto"):
        cluster.address("")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert cluster.address("") == "10.0.0.1:6379" and cluster.address("local") == "local"


def test_an_unreachable_cluster_is_one_error_line_and_the_journal_is_kept(workdir):
    Path("r.jsonl").write_text("")
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmark.py"),
            "--configs",
            "tiny_base",
            "--seeds",
            "1",
            "--ray",
            "127.0.0.1:1",
            "--results",
            "r.jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no Ray cluster at '127.0.0.1:1'") and "ray start --head" in last
    assert "Traceback" not in run.stderr and Path("r.jsonl").exists()


def test_a_cluster_too_small_for_one_task_is_refused(workdir):
    cpus = os.cpu_count() or 1  # a local instance has this machine's CPUs
    with pytest.raises(
        cluster.ClusterError, match=f"has {cpus} CPUs but one fit asks for {cpus + 1}; pass --threads {cpus}"
    ):
        with cluster.RayExecutor("local", cpus + 1):
            pass
