"""Score a config on validation pairs carved from the training pairs: the honest way to choose one.

Trains on n_pairs - val_pairs pairs and reports the validation accuracy at the last epoch, over the given
seeds. It never evaluates the test pairs.

    MNIST_DIR=../shared/mnist python scripts/validate.py --config configs/best.yaml --seeds 100 101 102 [--set KEY=VALUE ...]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pairs import grid  # noqa: E402
from pairs.cli import PairCLI  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102])
    parser.add_argument("--val-pairs", type=int, default=200)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="LightningCLI overrides")
    args = parser.parse_args()
    scores = []
    for seed in args.seeds:
        cli_args = [*grid.cli_args(args.config, None, None), f"--seed_everything={seed}",
                    f"--data.val_pairs={args.val_pairs}", "--trainer.limit_val_batches=1.0",
                    *(f"--{item}" for item in args.set)]
        with grid.quiet():
            cli = PairCLI(cli_args, save_config_callback=None)
            cli.trainer.check_val_every_n_epoch = cli.trainer.max_epochs  # validate once, at the last epoch
            start = time.perf_counter()
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        scores.append(float(cli.trainer.callback_metrics["val/acc"]))
        print(f"seed {seed}: val acc {scores[-1]:.4f}  ({time.perf_counter() - start:.0f} s, {torch.get_num_threads()} threads)",
              flush=True)
    spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
    print(f"{args.config} {' '.join(args.set)}: val acc {100 * statistics.mean(scores):.2f} ± {100 * spread:.2f} "
          f"over seeds {args.seeds}")


if __name__ == "__main__":
    main()
