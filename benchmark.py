"""Every study configuration over many seeds: mean ± std tables and the paired effects of each factor.

Seed s fixes round s (data draw, initialisation and batch order) for every config. Each run is tested once, at
its last epoch. Finished runs are appended to a JSONL file as they end; rerunning skips them, so an interrupted
benchmark resumes where it stopped.

    python benchmark.py                                  # the ten study configs, seeds 0..9
    python benchmark.py --configs 'cnn_*' --seeds 20 --epochs 10 --workers 2
    python benchmark.py --configs 'cnn_*' 'mlp_*' 'fixed/cnn_*' 'fixed/mlp_*' --precision 0.5
                                                         # add seeds until every paired effect is within ±0.5
    python benchmark.py --vary data init order --configs cnn_aux_shared
                                                         # where the spread across seeds comes from
    python benchmark.py --report-only                    # re-render the report from the results file

--precision stops on the width of the intervals only, never on significance: stopping once an effect looks
significant would bias the intervals and the conclusions.
"""

import argparse
import fnmatch
import sys
import time
from pathlib import Path

from tqdm import tqdm

from common import options, paths
from common.errors import InputError, run_main
from common.files import write_atomically
from pairs import executors, report, results, runs, study


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = options.parser(__doc__)
    parser.add_argument(
        "--configs",
        nargs="+",
        action=options.Distinct,
        metavar="NAME",
        help="config names or globs in configs/ (default: the ten study configs; with --report-only: "
        "every config in the results file)",
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds",
        type=options.integer(1, len(study.TEST_SEEDS)),
        default=study.BENCHMARK_SEEDS,
        help="run seeds 0..N-1",
    )
    seeds.add_argument(
        "--seed-list",
        type=options.integer(study.TEST_SEEDS.start, study.TEST_SEEDS.stop - 1),
        nargs="+",
        metavar="SEED",
        help="run exactly these seeds, each once",
    )
    parser.add_argument("--epochs", type=options.integer(1), help="override every config's max_epochs")
    parser.add_argument(
        "--precision",
        type=options.number(options.POSITIVE),
        metavar="P",
        help=f"add seeds in blocks of {study.SEED_BLOCK}, the same for every config, until the 95%% interval of "
        "every paired effect in the report (weight sharing and auxiliary loss in each 2x2, tuned - fixed) has a "
        "half-width <= P points, or --max-seeds are run. It stops on precision only, never on significance",
    )
    parser.add_argument(
        "--max-seeds",
        type=options.integer(1),
        metavar="N",
        help=f"with --precision, the most seeds (default {study.MAX_SEEDS}, at most {len(study.TEST_SEEDS)})",
    )
    parser.add_argument(
        "--vary",
        nargs="+",
        action=options.Distinct,
        default=[],
        choices=list(study.SOURCES),
        metavar="SOURCE",
        help="where the spread comes from, for one config: for each SOURCE (data: the pair draw, init: the initial "
        "weights, order: the batch order) run the config with that source alone varied by the seed, the other two "
        "held at seed 0; the config's own runs on the same seeds (all three varied) run too",
    )
    executors.add_options(parser)
    parser.add_argument(
        "--results",
        type=Path,
        default="results/benchmark.jsonl",
        help="the journal: one run a line (written by fits, so a writable file; with --report-only, only read)",
    )
    parser.add_argument("--report", type=options.output_file, default="results/benchmark.md", help="the tables")
    parser.add_argument("--figure", type=options.output_file, default="results/benchmark.png", help="the figure")
    parser.add_argument(
        "--tensorboard", type=options.output_folder, metavar="DIR", help="also log every run to TensorBoard under DIR"
    )
    parser.add_argument("--fresh", action="store_true", help="start over: discard the results file's runs")
    parser.add_argument("--report-only", action="store_true", help="render the report from the file; train nothing")
    args = parser.parse_args(argv)
    args.seed_list = args.seed_list if args.seed_list is not None else list(range(args.seeds))
    if not args.report_only:  # where fits run matters only when there are fits
        executors.settle_options(args, parser)
    try:
        study.check_seeds(args.seed_list, study.TEST_SEEDS, "benchmark rounds")
        if not args.report_only:
            args.configs = runs.select(args.configs or study.CELLS)
    except InputError as e:
        parser.error(str(e))
    fits = not args.report_only
    try:
        if fits:  # --report-only only reads the journal: a folder the user may not write in serves
            paths.writable_file(args.results, "--results")
        elif args.results.is_dir():
            raise InputError(f"--results {args.results} is a folder; give the journal, a file")
    except InputError as e:
        parser.error(str(e))
    options.check_paths(
        parser,
        inputs={"--configs": [config_path(n) for n in args.configs] if fits else None, "--results": args.results},
        outputs={
            "--results": (args.results if fits else None, (".jsonl",)),
            "--report": (args.report, (".md",)),
            "--figure": (args.figure, options.FIGURE),
            "--tensorboard": (args.tensorboard if fits else None, options.FOLDER),
        },
    )
    for name in [] if args.report_only else args.configs:  # a malformed config is a bad file, not a bad command
        options.load_mapping(Path(config_path(name)))
    check_vary(args, parser)
    check_precision(args, parser)
    return args


def check_precision(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--precision forms a paired effect of the configs; --max-seeds goes with it, at least the seeds asked for and at
    most the test seeds (default study.MAX_SEEDS)."""
    if args.precision is None:
        if args.max_seeds is not None:
            parser.error("--max-seeds goes with --precision")
        return
    args.max_seeds = study.MAX_SEEDS if args.max_seeds is None else args.max_seeds
    if not len(args.seed_list) <= args.max_seeds <= len(study.TEST_SEEDS):
        parser.error(
            f"--max-seeds must be at least the {len(args.seed_list)} seeds asked for and at most the "
            f"{len(study.TEST_SEEDS)} test seeds, got {args.max_seeds}"
        )
    if not args.report_only and not measured(dict.fromkeys(args.configs, [])):
        parser.error(
            "--precision needs configs that form a paired effect: two cells of a weight sharing x auxiliary loss "
            "2x2 (e.g. 'cnn_*'), or a config and its fixed recipe (cnn_aux_shared fixed/cnn_aux_shared)"
        )


def check_vary(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--vary takes exactly one config, and neither --precision nor --report-only."""
    if not args.vary:
        return
    for option in ("precision", "report_only"):
        if getattr(args, option):
            parser.error(f"--vary does not go with --{option.replace('_', '-')}: run them as two commands")
    if len(args.configs) != 1:
        parser.error(f"--vary takes exactly one config, got {len(args.configs)}: {', '.join(args.configs)}")


def measured(grouped: dict[str, list[dict]]) -> list[report.Effect]:
    """The report's paired effects whose two configs are both in `grouped`."""
    return [e for e in report.effects(grouped) if e.a in grouped and e.b in grouped]


def recorded(records: list[dict], patterns: list[str] | None) -> list[dict]:
    """The runs of the configs matching the names or globs (all without), with their runs that vary one source; the
    last record of each (name, seed)."""
    latest = {(r["config"], r["seed"]): r for r in records}
    if patterns is None:
        return list(latest.values())
    return [
        r
        for (name, _), r in latest.items()
        if any(fnmatch.fnmatch(study.VARIED.sub(r"\g<config>", name), p.removesuffix(".yaml")) for p in patterns)
    ]


def config_path(name: str) -> str:
    return str(study.CONFIGS / f"{name}.yaml")


def run_hashes(args: argparse.Namespace) -> dict[tuple[str, str | None], str]:
    """The config hash of every kind of run asked for: each config, and with --vary each source varied alone."""
    kinds = [(name, vary) for name in args.configs for vary in (None, *args.vary)]
    return {
        (name, vary): runs.config_hash(runs.cli_args(config_path(name), args.epochs, None), vary)
        for name, vary in kinds
    }


def run_grid(args: argparse.Namespace, seeds: list[int], hashes: dict[tuple[str, str | None], str]) -> list[dict]:
    """Train and test every kind of run in `hashes` on `seeds` not yet in the results file with this code; the runs
    asked for."""
    results.drop_torn_tail(args.results)
    done, code = results.done(results.load(args.results)), runs.code_version()
    wanted = {(config_hash, seed, code) for config_hash in hashes.values() for seed in seeds}
    todo = [
        runs.Task(
            study.run_name(name, vary),
            tuple(runs.cli_args(config_path(name), args.epochs, args.tensorboard, seed, vary)),
            seed,
            config_hash,
            vary,
        )
        for seed in seeds
        for (name, vary), config_hash in hashes.items()
        if (config_hash, seed, code) not in done
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


def until_precise(args: argparse.Namespace, hashes: dict[tuple[str, str | None], str]) -> list[dict]:
    """Run the configs on the seeds asked for, then on blocks of further seeds, the same for every config, until
    every paired effect's 95% interval is within ±precision points or max_seeds are run; the runs. One line on
    stderr after each block: the seeds done and the widest interval left."""
    seeds = list(args.seed_list)
    while True:
        records = run_grid(args, seeds, hashes)
        widest = max(measured(report.by_config(records)), key=report.Effect.half_width)
        print(
            f"{len(seeds)} seeds done; widest interval left: {report.width(widest)} (asked ±{args.precision:g})",
            file=sys.stderr,
        )
        if widest.half_width() <= args.precision or len(seeds) >= args.max_seeds:
            return records
        more = [s for s in study.TEST_SEEDS if s not in seeds]
        seeds += more[: min(study.SEED_BLOCK, args.max_seeds - len(seeds))]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    executors.stop_on_sigterm()
    if args.report_only:
        records = recorded(results.load(args.results), args.configs)
    else:
        hashes = run_hashes(args)  # once: each builds the config's CLI, so a bad config stops before anything changes
        if args.fresh and args.results.exists():
            args.results.unlink()
        records = until_precise(args, hashes) if args.precision else run_grid(args, args.seed_list, hashes)
    if not records:
        sys.exit(f"no finished runs of these configs and seeds in {args.results}")
    text = report.render(records, precision=args.precision, max_seeds=args.max_seeds)
    write_atomically(args.report, text + "\n")
    report.figure(records, args.figure)
    print(text)
    print(f"\nreport: {args.report}  figure: {args.figure}  results: {args.results}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main, interrupted="interrupted: every finished run is saved; rerun the same command to resume")
