"""The Ray backend's cost against the local worker pool: the same grid, the same cores, one after the other.

Runs a benchmark.py grid (by default benchmark.py's own: the ten study cells, 10 seeds) into fresh results
files, local workers first, then Ray tasks: `--ray local`, a private Ray instance on this machine; `--ray
two-nodes`, the local demo of a real cluster: its one-CPU head node alone, then with a second one-CPU node
(the scaling); or the cluster at `--ray ADDRESS`. Prints the wall times, their ratios, and whether every
record's metrics agree: when they do not, it exits 1 (the two backends computed different things, so their
times do not compare). With --epochs 1 the fits are short, so the ratio shows the per-task overhead.

    MNIST_DIR=../shared/mnist python -m scripts.bench_ray                       # the default grid, --ray local
    MNIST_DIR=../shared/mnist python -m scripts.bench_ray --configs fixed/baseline_cnn --seeds 10 --epochs 1
    MNIST_DIR=../shared/mnist python -m scripts.bench_ray --ray two-nodes --configs 'fixed/*' --seeds 2
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import options
from common.errors import Failure, run_main
from pairs.record import Record
from pairs.study import TEST_SEEDS

ROOT = Path(__file__).resolve().parents[1]


def grid(folder: Path, name: str, args: list[str]) -> tuple[float, dict[tuple[str, int], Record]]:
    """Wall seconds of one benchmark.py run into a fresh results file, and its records by (config, seed)."""
    results = folder / f"{name}.jsonl"
    command = [
        sys.executable,
        str(ROOT / "benchmark.py"),
        *args,
        "--results",
        str(results),
        "--report",
        str(folder / f"{name}.md"),
        "--figure",
        str(folder / f"{name}.png"),
    ]
    start = time.perf_counter()
    if subprocess.run(command, stdout=subprocess.DEVNULL).returncode:  # in this folder, as benchmark.py runs
        raise Failure(f"the {name} benchmark.py run failed (its error is above); nothing was compared")
    wall = time.perf_counter() - start
    return wall, {(r["config"], r["seed"]): r for r in map(json.loads, results.read_text().splitlines())}


def identical(a: dict[tuple[str, int], Record], b: dict[tuple[str, int], Record]) -> bool:
    """The same (config, seed) keys, each with bit-identical metrics."""
    return a.keys() == b.keys() and all(a[k]["metrics"] == b[k]["metrics"] for k in a)


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument(
        "--configs",
        nargs="+",
        action=options.Distinct,
        help="names or globs, as benchmark.py takes them (default: its default grid)",
    )
    parser.add_argument(
        "--seeds", type=options.integer(1, len(TEST_SEEDS)), default=10, help="seeds 0..N-1 of each config"
    )
    parser.add_argument("--epochs", type=options.integer(1), help="override every config's max_epochs")
    parser.add_argument(
        "--threads", type=options.integer(1), default=1, help="torch threads per fit, the same on both backends"
    )
    parser.add_argument("--ray", default="local", help="cluster address for the Ray run (default: a local instance)")
    args = parser.parse_args(argv)
    common = ["--seeds", str(args.seeds), "--threads", str(args.threads)]
    common += ["--configs", *args.configs] if args.configs else []
    common += ["--epochs", str(args.epochs)] if args.epochs else []
    with tempfile.TemporaryDirectory() as folder:
        workers = str(max(1, (os.cpu_count() or 1) // args.threads))
        local_wall, local = grid(Path(folder), "local", [*common, "--workers", workers])
        if args.ray == "two-nodes":
            from ray.cluster_utils import Cluster

            nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
            try:
                one_wall, one = grid(Path(folder), "ray_one_node", [*common, "--ray", nodes.address])
                nodes.add_node(num_cpus=1)
                ray_wall, remote = grid(Path(folder), "ray", [*common, "--ray", nodes.address])
            finally:
                nodes.shutdown()
            print(
                f"scaling: one node {one_wall:.1f} s, two nodes {ray_wall:.1f} s, speed-up {one_wall / ray_wall:.2f}x; "
                f"one node's metrics identical: {identical(local, one)}"
            )
        else:
            ray_wall, remote = grid(Path(folder), "ray", [*common, "--ray", args.ray])
    same = identical(local, remote)
    fits = sum(r["fit_seconds"] for r in local.values()) / len(local)
    print(f"{len(local)} runs ({fits:.1f} s per fit locally), {args.threads} thread(s) per fit")
    print(f"local pool: {local_wall:.1f} s   Ray: {ray_wall:.1f} s   Ray / local: {ray_wall / local_wall:.3f}")
    print(f"per run: +{(ray_wall - local_wall) / len(local):.2f} s; metrics identical: {same}")
    if not same:
        raise Failure(
            "the local pool and Ray gave different metrics for the same (config, seed, threads): the "
            "backends do not compute the same thing, so their times do not compare"
        )


if __name__ == "__main__":
    run_main(main)
