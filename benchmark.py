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

from pairs import executors, report, results, runs, study
from pairs.errors import run_main
from pairs.files import write_atomically


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--configs",
        nargs="+",
        metavar="NAME",
        help="config names or globs in configs/ (default: the ten study configs; with --report-only: "
        "every config in the results file)",
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=int, default=study.BENCHMARK_SEEDS, help=f"run seeds 0..N-1 (default {study.BENCHMARK_SEEDS})"
    )
    seeds.add_argument("--seed-list", type=int, nargs="+", metavar="SEED", help="run exactly these seeds")
    parser.add_argument("--epochs", type=int, help="override every config's max_epochs")
    executors.add_options(parser)
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
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be >= 1")
    executors.settle_options(args, parser)
    try:
        study.check_seeds(args.seed_list, study.TEST_SEEDS, "benchmark rounds")
        if not args.report_only:
            args.configs = runs.select(args.configs or study.CELLS)
    except ValueError as e:
        parser.error(str(e))
    return args


def recorded(records: list[dict], patterns: list[str] | None) -> list[dict]:
    """The runs of the configs matching the names or globs (all without), the last record of each (config, seed)."""
    latest = {(r["config"], r["seed"]): r for r in records}
    if patterns is None:
        return list(latest.values())
    return [
        r
        for (config, _), r in latest.items()
        if any(fnmatch.fnmatch(config, p.removesuffix(".yaml")) for p in patterns)
    ]


def run_grid(args: argparse.Namespace) -> list[dict]:
    """Train and test every (config, seed) not yet in the results file with this code; the runs asked for."""
    if args.fresh and args.results.exists():
        args.results.unlink()
    results.drop_torn_tail(args.results)
    done, code = results.done(results.load(args.results)), runs.code_version()
    paths = {name: str(study.CONFIGS / f"{name}.yaml") for name in args.configs}
    hashes = {name: runs.config_hash(runs.cli_args(path, args.epochs, None)) for name, path in paths.items()}
    wanted = {(hashes[name], seed, code) for name in args.configs for seed in args.seed_list}
    todo = [
        runs.Task(name, tuple(runs.cli_args(paths[name], args.epochs, args.tensorboard, seed)), seed, hashes[name])
        for seed in args.seed_list
        for name in args.configs
        if (hashes[name], seed, code) not in done
    ]
    skipped = len(wanted) - len(todo)
    if todo:
        where = f"Ray cluster {args.ray}" if args.ray else f"{args.workers} workers"
        print(
            f"{len(todo)} runs to do ({skipped} already in {args.results}); {where} x {args.threads} threads",
            file=sys.stderr,
        )
        start = time.perf_counter()
        records = executors.execute(todo, args.workers, args.threads, ray=args.ray)
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
    executors.stop_on_sigterm()
    records = recorded(results.load(args.results), args.configs) if args.report_only else run_grid(args)
    if not records:
        sys.exit(f"no finished runs of these configs and seeds in {args.results}")
    text = report.render(records)
    write_atomically(args.report, text + "\n")
    report.figure(records, args.figure)
    print(text)
    print(f"\nreport: {args.report}  figure: {args.figure}  results: {args.results}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
