"""Score a config and candidate changes to it on validation pairs carved from the training pairs: the honest
way to choose one.

Each run trains on n_pairs - val_pairs pairs and reports the validation accuracy at the last epoch. The config
as is and every candidate (`--set KEY=VALUE ...`, repeat `--set` for more) run on the same seeds, so each
candidate is compared with the config seed by seed (mean paired difference ± its standard error). It never
evaluates the test pairs.

    MNIST_DIR=../shared/mnist python scripts/validate.py --config configs/best.yaml --seeds 100 101 102 \\
        --set model.members=1 --set data.shift=1 trainer.max_epochs=60
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pairs import grid, report  # noqa: E402


def score(config: str, seed: int, val_pairs: int, overrides: list[str]) -> float:
    """Validation accuracy at the last epoch of one fit."""
    args = [*grid.cli_args(config, None, None), *grid.validation_args(val_pairs), *(f"--{item}" for item in overrides)]
    return grid.validate(grid.Task(config, tuple(args), seed))["val_acc"]


def summary(scores: list[float], baseline: list[float] | None) -> str:
    """Mean ± std in %, and the mean paired difference from the baseline ± its standard error."""
    line = f"val acc {report.mean_std(scores, digits=2)}"
    if baseline is not None:
        diffs = [100 * (a - b) for a, b in zip(scores, baseline)]
        error = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
        line += f", vs the config as is {statistics.mean(diffs):+.2f} ± {error:.2f} (paired, SE)"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102])
    parser.add_argument("--val-pairs", type=int, default=200)
    parser.add_argument("--set", nargs="*", action="append", default=[], metavar="KEY=VALUE",
                        help="a candidate's LightningCLI overrides; repeat --set for more candidates")
    args = parser.parse_args()
    baseline = None
    for overrides in [[], *args.set]:
        name = " ".join(overrides) or "as is"
        scores = []
        for seed in args.seeds:
            start = time.perf_counter()
            scores.append(score(args.config, seed, args.val_pairs, overrides))
            print(f"{name} seed {seed}: val acc {scores[-1]:.4f}  ({time.perf_counter() - start:.0f} s, "
                  f"{torch.get_num_threads()} threads)", flush=True)
        print(f"{args.config} {name}: {summary(scores, baseline)} over seeds {args.seeds}", flush=True)
        baseline = baseline or scores


if __name__ == "__main__":
    main()
