"""Score a config and candidate changes to it on validation pairs carved from the training pairs: the honest
way to choose one.

Each run trains on n_pairs - val_pairs pairs and reports the validation accuracy at the last epoch. The config
as is and every candidate (`--set KEY=VALUE ...`, repeat `--set` for more) run on the same seeds, so each
candidate is compared with the config seed by seed (mean paired difference ± its standard error). It never
evaluates the test pairs.

    MNIST_DIR=../shared/mnist python -m scripts.validate --config configs/best.yaml --seeds 100 101 102 \\
        --set model.members=1 --set data.shift=1 trainer.max_epochs=60
"""

import statistics
import time
from pathlib import Path

import torch

from common import options
from common.errors import InputError, run_main
from common.stats import mean_std
from pairs import runs
from pairs.study import SELECTION_SEEDS, check_seeds


def candidate_args(config: str, val_pairs: int, overrides: list[str]) -> list[str]:
    """The LightningCLI arguments of one candidate: the config, the validation split, the candidate's overrides."""
    return [*runs.cli_args(config, None, None), *runs.validation_args(val_pairs), *(f"--{item}" for item in overrides)]


def score(config: str, seed: int, val_pairs: int, overrides: list[str]) -> float:
    """Validation accuracy at the last epoch of one fit."""
    return runs.validate(runs.Task(config, tuple(candidate_args(config, val_pairs, overrides)), seed))["val_acc"]


def summary(scores: list[float], baseline: list[float] | None) -> str:
    """Mean ± std in %, and the mean paired difference from the baseline ± its standard error."""
    line = f"val acc {mean_std(scores, digits=2)}"
    if baseline is not None:
        diffs = [100 * (a - b) for a, b in zip(scores, baseline)]
        error = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
        line += f", vs the config as is {statistics.mean(diffs):+.2f} ± {error:.2f} (paired, SE)"
    return line


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--config", required=True, help="the study config the candidates change")
    parser.add_argument(
        "--seeds",
        type=options.integer(SELECTION_SEEDS.start, SELECTION_SEEDS.stop - 1),
        nargs="+",
        default=list(SELECTION_SEEDS[:3]),
        help=f"seeds of the fits (default 100 101 102; choosing seeds start at {SELECTION_SEEDS.start})",
    )
    parser.add_argument(
        "--val-pairs",
        type=options.integer(1),
        default=200,
        help="training pairs held out for validation, fewer than n_pairs",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a candidate's LightningCLI overrides; repeat --set for more candidates (default: none, the config alone)",
    )
    args = parser.parse_args(argv)
    for overrides in args.set:
        options.check_overrides(parser, overrides)
    candidates = [sorted(overrides) for overrides in args.set]
    for i, overrides in enumerate(candidates):
        if overrides in candidates[:i]:
            parser.error(f"--set {' '.join(args.set[i])} given twice; give each candidate once")
    try:
        check_seeds(args.seeds, SELECTION_SEEDS, "choosing a candidate")
    except InputError as e:
        parser.error(str(e))
    options.load_mapping(Path(args.config))
    for overrides in [[], *args.set]:  # every candidate's config resolves before the first fit starts
        with runs.quiet():
            runs.config_hash(candidate_args(args.config, args.val_pairs, overrides))
    baseline = None
    for overrides in [[], *args.set]:
        name = " ".join(overrides) or "as is"
        scores = []
        for seed in args.seeds:
            start = time.perf_counter()
            scores.append(score(args.config, seed, args.val_pairs, overrides))
            print(
                f"{name} seed {seed}: val acc {scores[-1]:.4f}  ({time.perf_counter() - start:.0f} s, "
                f"{torch.get_num_threads()} threads)",
                flush=True,
            )
        print(f"{args.config} {name}: {summary(scores, baseline)} over seeds {args.seeds}", flush=True)
        baseline = baseline or scores


if __name__ == "__main__":
    run_main(main, usage_hint="python -m scripts.validate --help; the config keys: python train.py --help")
