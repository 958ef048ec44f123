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
    python benchmark.py --configs 'cnn_*' --set model.prediction=head --results results/head.jsonl
                                                         # a variant of the configs, in a journal of its own
    python benchmark.py --configs 'cnn_*' 'mlp_*' 'fixed/cnn_*' 'fixed/mlp_*' --replicate 20
                                                         # a replication block: the next 20 unused test seeds
    python benchmark.py --report-only --results records/study.jsonl --docs
                                                         # regenerate the study tables of README.md, docs/results.md

--precision stops on the width of the intervals only, never on significance: stopping once an effect looks
significant would bias the intervals and the conclusions. --replicate runs a declared block of fresh seeds after the
main estimate, recorded as such ("block": "replication"); the report checks each effect's replication against the
main estimate's 95% prediction interval.
"""

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from common import options, paths
from common.errors import InputError, run_main
from common.files import write_atomically
from pairs import doc_tables, effects, executors, report, results, runs, study
from pairs.record import Record
from pairs.results import MAIN, REPLICATION


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
        help=f"run seeds 0..N-1 (default {study.BENCHMARK_SEEDS})",
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
        "--channels-last",
        action="store_true",
        help="every fit with model.memory_format=channels_last: CNN fits run faster on CPU, their float sums in "
        "another order (records of it hash apart from the default's)",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="LightningCLI overrides for every fit, e.g. model.prediction=head: a variant of the configs, in a "
        "results file of its own (its records hash apart and carry the overrides)",
    )
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
        "--replicate",
        type=options.integer(1, len(study.TEST_SEEDS)),
        metavar="N",
        help="after the main estimate: run the configs on the next N test seeds that no main-block run of them in "
        "the results file uses, as a replication block of its own (each record says so); the report then checks each "
        "effect's replication against the main estimate's 95%% prediction interval, and pools the two",
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
    parser.add_argument(
        "--docs",
        action="store_true",
        help="with --report-only: also rewrite the study tables between <!-- study:NAME --> and <!-- /study:NAME --> "
        f"in {' and '.join(doc_tables.DOCUMENTS)} from every run in the results file",
    )
    args = parser.parse_args(argv)
    options.check_overrides(parser, args.set)
    if args.set and args.report_only:
        parser.error("--set changes the fits; --report-only has none (it reads the results file as it is)")
    explicit_seeds = args.seeds is not None or args.seed_list is not None
    if args.seed_list is None:
        args.seed_list = list(range(args.seeds or study.BENCHMARK_SEEDS))
    if not args.report_only:  # where fits run matters only when there are fits
        executors.settle_options(args, parser)
    try:
        study.check_seeds(args.seed_list, study.TEST_SEEDS, "benchmark rounds")
        if not args.report_only:
            args.configs = runs.select(args.configs or study.STUDY_CONFIGS)
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
    check_docs(args, parser)
    check_replicate(args, parser, explicit_seeds)
    check_blocks(args, parser)
    check_variant(args, parser)
    return args


def check_variant(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """The fits asked for have the overrides of the configs' runs already in the results file: a variant of a config
    (--set, --channels-last) goes in a results file of its own, or the report would mix the two."""
    if args.report_only or args.fresh:
        return
    asked = overrides(args)
    for run in results.load(args.results, torn_tail=True):
        if run["config"] in args.configs and run.get("overrides", []) != asked:
            parser.error(
                f"{args.results} holds runs of {run['config']} with overrides {run.get('overrides', [])}, this command "
                f"asks for {asked}: a variant goes in a results file of its own (--results)"
            )


def check_docs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--docs goes with --report-only, on the whole results file."""
    if args.docs and not args.report_only:
        parser.error("--docs goes with --report-only: the tables are regenerated from the results file as it is")
    if args.docs and args.configs:
        parser.error("--docs takes every run in the results file; leave out --configs")


def journal_seeds(args: argparse.Namespace) -> dict[str, dict[str, set[int]]]:
    """block -> config -> its seeds in the results file, for each config asked for."""
    asked = [run for run in results.load(args.results, torn_tail=True) if run["config"] in args.configs]
    results.one_block_per_seed(asked, f"{args.results}: ")
    seeds: dict[str, dict[str, set[int]]] = {MAIN: {}, REPLICATION: {}}
    for run in asked:
        seeds[results.block(run)].setdefault(run["config"], set()).add(run["seed"])
    return seeds


def check_replicate(args: argparse.Namespace, parser: argparse.ArgumentParser, explicit_seeds: bool) -> None:
    """--replicate N: the configs' main block is in the results file, and N test seeds are left beside it; they
    become args.replication_seeds."""
    if args.replicate is None:
        return
    for option in ("precision", "vary", "report_only", "fresh"):
        if getattr(args, option):
            parser.error(f"--replicate does not go with --{option.replace('_', '-')}: run them as two commands")
    if explicit_seeds:
        parser.error(
            "--replicate takes the next test seeds after the main block's, never the main seeds: it does not go "
            "with --seeds or --seed-list"
        )
    main = journal_seeds(args)[MAIN]
    absent = [name for name in args.configs if name not in main]
    if absent:
        parser.error(
            f"--replicate needs the main block first: {args.results} has no main-block runs of {', '.join(absent)}"
        )
    used = set().union(*main.values())
    left = [s for s in study.TEST_SEEDS if s not in used]
    if args.replicate > len(left):
        parser.error(
            f"--replicate {args.replicate} is beyond the seeds left: the main block uses {len(used)} of the "
            f"{len(study.TEST_SEEDS)} test seeds, so {len(left)} are left"
        )
    args.replication_seeds = left[: args.replicate]


def check_blocks(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """A main-block run takes no seed of the configs' replication block; the precision loop skips them too
    (args.reserved)."""
    args.reserved = set()
    if args.report_only or args.replicate or args.fresh:
        return
    args.reserved = set().union(*journal_seeds(args)[REPLICATION].values())
    taken = sorted(set(args.seed_list) & args.reserved)
    if taken:
        parser.error(
            f"seed {taken[0]} belongs to the replication block in {args.results}: the main estimate cannot take it "
            "(run the main block on other seeds, or --fresh to start over)"
        )


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


def measured(grouped: dict[str, list[Record]]) -> list[effects.Effect]:
    """The report's paired effects whose two configs are both in `grouped`."""
    return [e for e in effects.effects(grouped) if e.a in grouped and e.b in grouped]


def config_path(name: str) -> str:
    return str(study.CONFIGS / f"{name}.yaml")


def fit_args(
    args: argparse.Namespace, name: str, tensorboard: str | None = None, seed: int = 0, vary: str | None = None
) -> list[str]:
    """The LightningCLI arguments of one run of config `name` with the fit options of the command line."""
    return [
        *runs.cli_args(config_path(name), args.epochs, tensorboard, seed, vary),
        *map("--{}".format, overrides(args)),
    ]


def overrides(args: argparse.Namespace) -> list[str]:
    """The command line's overrides of every fit: --channels-last's and --set's."""
    return ["model.memory_format=channels_last"] * args.channels_last + args.set


def run_hashes(args: argparse.Namespace) -> dict[tuple[str, str | None], str]:
    """The config hash of every kind of run asked for: each config, and with --vary each source varied alone."""
    kinds = [(name, vary) for name in args.configs for vary in (None, *args.vary)]
    return {(name, vary): runs.config_hash(fit_args(args, name), vary) for name, vary in kinds}


def run_grid(
    args: argparse.Namespace, seeds: list[int], hashes: dict[tuple[str, str | None], str], block: str = MAIN
) -> list[Record]:
    """Train and test every kind of run in `hashes` on `seeds` not yet in the results file with this code, each
    record marked with its `block`; the runs asked for."""
    results.drop_torn_tail(args.results)
    done, code = results.done(results.load(args.results)), runs.code_version()
    wanted = {(config_hash, seed, code) for config_hash in hashes.values() for seed in seeds}
    todo = [
        runs.Task(
            study.run_name(name, vary),
            tuple(fit_args(args, name, args.tensorboard, seed, vary)),
            seed,
            config_hash,
            vary,
        )
        for seed in seeds
        for (name, vary), config_hash in hashes.items()
        if (config_hash, seed, code) not in done
    ]
    skipped, changed = len(wanted) - len(todo), overrides(args)
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
                results.append(args.results, record | {"block": block} | ({"overrides": changed} if changed else {}))
        except KeyboardInterrupt:
            records.close()  # stops the workers now, wherever the interrupt landed
            sys.exit(f"interrupted: finished runs are saved in {args.results}; rerun the same command to resume")
        print(f"grid wall time {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return [r for r in results.load(args.results) if (r["config_hash"], r["seed"], r.get("code")) in wanted]


def until_precise(args: argparse.Namespace, hashes: dict[tuple[str, str | None], str]) -> list[Record]:
    """Run the configs on the seeds asked for, then on blocks of further seeds, the same for every config, until
    every paired effect's 95% interval is within ±precision points or max_seeds are run (effects.Stopping); the runs.
    One line on stderr after each block: the seeds done and the widest interval left. Seeds of a replication block
    are never taken."""
    stopping = effects.Stopping(args.precision, args.max_seeds)
    seeds = list(args.seed_list)
    while True:
        records = run_grid(args, seeds, hashes)
        found = measured(effects.by_config(records))
        print(
            f"{len(seeds)} seeds done; widest interval left: {report.width(stopping.widest(found))} "
            f"(asked ±{args.precision:g})",
            file=sys.stderr,
        )
        more = [s for s in study.TEST_SEEDS if s not in seeds and s not in args.reserved]
        if stopping.done(found, len(seeds)) or not more:
            return records
        seeds += more[: min(study.SEED_BLOCK, args.max_seeds - len(seeds))]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    executors.stop_on_sigterm()
    if args.report_only:
        records = results.latest(results.load(args.results), args.configs)
    else:
        hashes = run_hashes(args)  # once: each builds the config's CLI, so a bad config stops before anything changes
        if args.fresh and args.results.exists():
            args.results.unlink()
        if args.replicate:
            run_grid(args, args.replication_seeds, hashes, REPLICATION)
            records = results.latest(results.load(args.results), args.configs)  # the main block with its replication
        elif args.precision:
            records = until_precise(args, hashes)
        else:
            records = run_grid(args, args.seed_list, hashes)
    if not records:
        sys.exit(f"no finished runs of these configs and seeds in {args.results}")
    stopping = effects.Stopping(args.precision, args.max_seeds) if args.precision else None
    text = report.render(records, stopping=stopping)
    write_atomically(args.report, text + "\n")
    report.figure(records, args.figure)
    print(text)
    if args.docs:
        for path in doc_tables.update(records):
            print(f"rewrote the study tables of {path}", file=sys.stderr)
    print(f"\nreport: {args.report}  figure: {args.figure}  results: {args.results}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main, interrupted="interrupted: every finished run is saved; rerun the same command to resume")
