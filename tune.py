"""Tune the study's cells under one equal budget on validation pairs (Optuna); write each winner as a config.

Every cell starts from its fixed recipe, configs/fixed/<cell>.yaml, and gets the same search space
(configs/search/space.yaml), the same number of trials and the same seeds. A trial is scored by its validation
accuracy at its last epoch, mean over the search seeds (100, 101, ...; the benchmark uses 0-99), on validation
pairs carved from the training pairs: the test pairs are never evaluated. With the space's pruner, every trial is
also scored at the pruner's rungs (12, 24, 48 epochs) and stopped where it trails the trials scored there; its fits
continue from checkpoints between rungs. The best few trials are re-scored on fresh seeds before the winner is
chosen, and written to configs/<cell>.yaml. Each cell's Optuna study lives in a journal file under results/tune/,
so an interrupted tuning resumes where it stopped; every trial is exported to a JSON-lines file for
`python -m scripts.budget`.

    python tune.py                                        # the ten cells, 40 trials each
    python tune.py --configs 'cnn_*' mlp_aux_shared --trials 20
    python tune.py --workers 2 --storage results/tune     # parallel workers; where the studies live
"""

import argparse
import json
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from common import options
from common.errors import InputError, run_main
from common.files import write_atomically
from pairs import executors, runs, tuning
from pairs.space import EPOCHS, Space, TuneError, load_space
from pairs.study import CONFIGS, FIXED, SELECTION_SEEDS, TUNING_FIRST_SEED, check_seeds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = options.parser(__doc__)
    parser.add_argument(
        "--configs",
        nargs="+",
        action=options.Distinct,
        default=["*"],
        metavar="NAME",
        help=f"cells to tune: names or globs in {FIXED}/ (default: all)",
    )
    positive = options.integer(1)
    parser.add_argument("--trials", type=positive, default=40, help="trials per cell")
    seeds = options.integer(1, len(SELECTION_SEEDS))
    parser.add_argument("--seeds", type=seeds, default=5, help="search seeds per trial")
    parser.add_argument("--finalists", type=positive, default=3, help="best trials re-scored on fresh seeds")
    parser.add_argument("--fresh-seeds", type=seeds, default=5, help="fresh seeds per finalist")
    parser.add_argument("--val-pairs", type=positive, default=200, help="training pairs held out for validation")
    parser.add_argument("--epochs", type=positive, help="override every cell's max_epochs (for quick trials)")
    parser.add_argument("--space", type=Path, default=CONFIGS / "search" / "space.yaml")
    parser.add_argument(
        "--storage",
        type=options.output_folder,
        default="results/tune",
        help="folder of the Optuna journals (one per cell), plots and summary",
    )
    parser.add_argument(
        "--output", type=options.output_folder, default=str(CONFIGS), help="folder the tuned configs go to"
    )
    parser.add_argument(
        "--export",
        type=Path,
        help="JSON-lines file of every trial: parameters, validation accuracy per rung and seed, state, size "
        "(default: STORAGE/trials.jsonl); python -m scripts.budget reads it",
    )
    executors.add_options(parser)
    args = parser.parse_args(argv)
    if args.finalists > args.trials:
        parser.error(f"--finalists ({args.finalists}) cannot exceed --trials ({args.trials})")
    executors.settle_options(args, parser)
    try:
        args.configs = runs.select(args.configs, FIXED)
    except InputError as e:
        parser.error(str(e))
    args.export = args.export or args.storage / "trials.jsonl"
    options.check_paths(
        parser,
        inputs={"--configs": [FIXED / f"{name}.yaml" for name in args.configs], "--space": args.space},
        outputs={
            "--output": ([args.output / f"{name}.yaml" for name in args.configs], (".yaml",)),
            "--storage": (args.storage, options.FOLDER),
            "--export": (args.export, (".jsonl",)),
        },
    )
    for name in args.configs:  # a malformed config is a bad file, not a bad command line
        options.load_mapping(FIXED / f"{name}.yaml")
    return args


def plots(study: optuna.Study, prefix: Path) -> list[Path]:
    """Optuna's optimisation history and parameter importances of a study, as PNGs next to its journal."""
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the matplotlib backend is "experimental" in Optuna
        draw: list[tuple[str, Callable[[optuna.Study], Axes]]] = [
            ("history", optuna.visualization.matplotlib.plot_optimization_history)
        ]
        if len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) > 1:
            draw.append(("importances", optuna.visualization.matplotlib.plot_param_importances))
        for name, plot in draw:
            figure = plot(study).figure
            assert isinstance(figure, Figure)  # Optuna draws on a figure of its own
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            paths.append(prefix.with_name(f"{prefix.name}_{name}.png"))
            figure.savefig(paths[-1], dpi=110)
            plt.close(figure)
    return paths


def header(outcome: tuning.Outcome, args: argparse.Namespace, scoring: tuning.Scoring, space: Space) -> list[str]:
    """The comment block on top of a tuned config: how it was chosen."""
    winner, cell = outcome["winner"], outcome["cell"]
    seeds = lambda s: f"{s[0]}-{s[-1]}"
    pruning = space.pruning
    pruner = (
        f"successive halving from {pruning.min_resource} epochs, reduction factor {pruning.reduction_factor}"
        if pruning
        else "no pruning"
    )
    return [
        f"{cell}, tuned: chosen on validation pairs, never on the test pairs.",
        f"Command: python tune.py {shlex.join(sys.argv[1:]) or '(defaults)'}",
        f"From {FIXED / cell}.yaml, over the space {args.space} (Optuna TPE, {pruner}):",
        f"{outcome['trials']} trials ({outcome['pruned']} pruned), each fitted on {args.val_pairs} fewer training "
        f"pairs and scored on those {args.val_pairs} at its last epoch (and at each rung it reached),",
        f"mean over seeds {seeds(scoring.seeds)}; the {scoring.finalists} best re-scored on fresh seeds "
        f"{seeds(scoring.rescore_seeds)}; the winner has the best mean over both.",
        f"Trial {winner['trial']}: validation accuracy {100 * winner['search']:.2f}% on the search seeds, "
        f"{100 * winner['fresh']:.2f}% on the fresh seeds; {winner['parameters']:,} parameters.",
        f"The fixed recipe it replaces: {FIXED / cell}.yaml. Do not edit by hand: rerun tune.py.",
    ]


def summary(outcomes: list[tuning.Outcome], wall: float, fits: int) -> str:
    """A Markdown table of every cell's winner."""
    lines = [
        "| cell | trials (pruned) | val % search seeds | val % fresh seeds | parameters | chosen hyper-parameters "
        "| fit CPU s |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for o in outcomes:
        w = o["winner"]
        params = ", ".join(
            f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
            for k, v in w["params"].items()
        )
        lines.append(
            f"| {o['cell']} | {o['trials']} ({o['pruned']}) | {100 * w['search']:.2f} | "
            f"{100 * w['fresh']:.2f} | {w['parameters']:,} | {params} | {o['fit_seconds']:.0f} |"
        )
    gap = [o["winner"]["search"] - o["winner"]["fresh"] for o in outcomes]
    lines += [
        "",
        f"Mean optimism of the chosen trials (search − fresh seeds): {100 * statistics.mean(gap):+.2f} points. "
        f"This run: {fits} fits in {wall:.0f} s wall.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[tuning.Outcome]:
    args = parse_args(argv)
    space = load_space(args.space)
    if args.epochs and EPOCHS in space.params:
        raise TuneError(f"--epochs {args.epochs} would be overridden by the space's {EPOCHS}; drop one of them")
    first = TUNING_FIRST_SEED
    seeds = check_seeds(list(range(first, first + args.seeds + args.fresh_seeds)), SELECTION_SEEDS, "tuning")
    scoring = tuning.Scoring(
        tuple(seeds[: args.seeds]), tuple(seeds[args.seeds :]), args.finalists, args.val_pairs, args.epochs
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tuners = tuning.cell_tuners(args.configs, space, scoring, args.storage, args.trials)
    where = f"Ray cluster {args.ray}" if args.ray else f"{args.workers} workers"
    print(
        f"tuning {len(tuners)} cells x {args.trials} trials x {args.seeds} seeds; {where} x {args.threads} threads; "
        f"studies in {args.storage}",
        file=sys.stderr,
    )
    executors.stop_on_sigterm()
    start, fits_before = time.perf_counter(), sum(t.fits() for t in tuners)
    try:
        tuning.run(tuners, args.workers, args.threads, args.ray)
    except KeyboardInterrupt:
        sys.exit(f"interrupted: finished trials are saved in {args.storage}; rerun the same command to resume")
    wall, fits = time.perf_counter() - start, sum(t.fits() for t in tuners) - fits_before
    outcomes = []
    for tuner in tuners:
        outcome = tuner.outcome()
        path = args.output / f"{tuner.name}.yaml"
        values = tuner.values({**space.fixed, **outcome["winner"]["params"]})
        tuning.write_config(tuner.config, values, header(outcome, args, scoring, space), path)
        plots(tuner.study, args.storage / tuner.name)
        outcomes.append(outcome)
        print(f"{tuner.name}: trial {outcome['winner']['trial']} -> {path}", file=sys.stderr)
    text = summary(outcomes, wall, fits)
    write_atomically(args.export, "".join(json.dumps(row) + "\n" for tuner in tuners for row in tuner.export()))
    write_atomically(args.storage / "summary.md", text + "\n")
    print(text)
    return outcomes


if __name__ == "__main__":
    run_main(main, interrupted="interrupted before any fit started; nothing to resume")
