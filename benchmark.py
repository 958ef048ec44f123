"""Every study configuration over many seeds: mean ± std tables and the paired effects of each factor.

Seed s fixes round s (data draw and initialisation) for every config. Each run is tested once, at its last
epoch. Finished runs are appended to a JSONL file as they end; rerunning skips them, so an interrupted
benchmark resumes where it stopped.

    python benchmark.py                                  # the ten study configs, seeds 0..9
    python benchmark.py --configs 'cnn_*' --seeds 20 --epochs 10 --workers 2
    python benchmark.py --report-only                    # re-render the report from the results file
"""

import argparse
import fnmatch
import sys
import time
from pathlib import Path

from tqdm import tqdm

from pairs import grid, report, results
from pairs.cluster import ClusterError
from pairs.cluster import address as cluster_address
from pairs.mnist import MNISTError

DEFAULT = report.CELLS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", metavar="NAME",
                        help="config names or globs in configs/ (default: the ten study configs; with --report-only: "
                             "every config in the results file)")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=10, help="run seeds 0..N-1 (default 10)")
    seeds.add_argument("--seed-list", type=int, nargs="+", metavar="SEED", help="run exactly these seeds")
    parser.add_argument("--epochs", type=int, help="override every config's max_epochs")
    parser.add_argument("--workers", type=int, default=grid.default_threads(1), help="parallel worker processes")
    parser.add_argument("--threads", type=int, help="torch threads per run (default cores // workers; with --ray, 1)")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="run the fits as tasks on a Ray cluster: auto, HOST:PORT, or local (a private instance); "
                             "no value: $RAY_ADDRESS")
    parser.add_argument("--results", type=Path, default=Path("results/benchmark.jsonl"))
    parser.add_argument("--report", type=Path, default=Path("results/benchmark.md"))
    parser.add_argument("--figure", type=Path, default=Path("results/benchmark.png"))
    parser.add_argument("--tensorboard", metavar="DIR", help="also log every run to TensorBoard under DIR")
    parser.add_argument("--fresh", action="store_true", help="start over: discard the results file's runs")
    parser.add_argument("--report-only", action="store_true", help="render the report from the file; train nothing")
    args = parser.parse_args(argv)
    args.seed_list = args.seed_list if args.seed_list is not None else list(range(args.seeds))
    if not args.seed_list:
        parser.error("no seeds to run: --seeds must be >= 1")
    for name in ("epochs", "workers", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    args.threads = args.threads or (1 if args.ray is not None else grid.default_threads(args.workers))
    if args.ray is not None:
        try:
            args.ray = cluster_address(args.ray)
        except ClusterError as e:
            parser.error(str(e))
    if not args.report_only:
        try:
            args.configs = grid.select(args.configs or DEFAULT)
        except ValueError as e:
            parser.error(str(e))
    return args


def recorded(runs: list[dict], patterns: list[str] | None) -> list[dict]:
    """The runs of the configs matching the names or globs (all without), the last record of each (config, seed)."""
    latest = {(r["config"], r["seed"]): r for r in runs}
    if patterns is None:
        return list(latest.values())
    return [r for (config, _), r in latest.items() if any(fnmatch.fnmatch(config, p.removesuffix(".yaml")) for p in patterns)]


def run_grid(args: argparse.Namespace) -> list[dict]:
    """Train and test every (config, seed) not yet in the results file with this code; the runs asked for."""
    if args.fresh and args.results.exists():
        args.results.unlink()
    results.drop_torn_tail(args.results)
    done, code = results.done(results.load(args.results)), grid.code_version()
    paths = {name: str(grid.CONFIGS / f"{name}.yaml") for name in args.configs}
    hashes = {name: grid.config_hash(grid.cli_args(path, args.epochs, None)) for name, path in paths.items()}
    wanted = {(hashes[name], seed, code) for name in args.configs for seed in args.seed_list}
    todo = [grid.Task(name, tuple(grid.cli_args(paths[name], args.epochs, args.tensorboard, seed)), seed, hashes[name])
            for seed in args.seed_list for name in args.configs if (hashes[name], seed, code) not in done]
    skipped = len(wanted) - len(todo)
    if todo:
        where = f"Ray cluster {args.ray}" if args.ray else f"{args.workers} workers"
        print(f"{len(todo)} runs to do ({skipped} already in {args.results}); {where} x {args.threads} threads",
              file=sys.stderr)
        start = time.perf_counter()
        records = grid.execute(todo, args.workers, args.threads, ray=args.ray)
        try:
            for record in tqdm(records, total=len(todo), unit="run"):
                results.append(args.results, record)
        except KeyboardInterrupt:
            records.close()  # stops the workers now, wherever the interrupt landed
            sys.exit(f"interrupted: finished runs are saved in {args.results}; rerun the same command to resume")
        print(f"grid wall time {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return [r for r in results.load(args.results) if (r["config_hash"], r["seed"], r.get("code")) in wanted]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    grid.stop_on_sigterm()
    runs = recorded(results.load(args.results), args.configs) if args.report_only else run_grid(args)
    if not runs:
        sys.exit(f"no finished runs of these configs and seeds in {args.results}")
    text = report.render(runs)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text + "\n")
    report.figure(runs, args.figure)
    print(text)
    print(f"\nreport: {args.report}  figure: {args.figure}  results: {args.results}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except (results.ResultsError, MNISTError, ValueError, ClusterError) as e:
        sys.exit(f"error: {e}")
