"""Train one configuration, test it at the last epoch, print a summary.

    python train.py --config configs/cnn_aux_shared.yaml [--trainer.max_epochs 5 ...]
"""

import sys
import time
from argparse import ArgumentError

from pairs.cli import PairCLI
from pairs.mnist import MNISTError


def main(args: list[str] | None = None) -> dict[str, float]:
    cli = PairCLI(args)
    model, data, trainer = cli.model, cli.datamodule, cli.trainer
    start = time.perf_counter()
    trainer.fit(model, datamodule=data)
    fit_seconds = time.perf_counter() - start
    results = trainer.test(model, datamodule=data, ckpt_path=None, verbose=False)[0]  # the last epoch's weights
    configs = ", ".join(str(c) for c in cli.config.get("config") or []) or "(defaults)"
    print(f"config          {configs}")
    print(f"parameters      {model.n_params:,}")
    print(f"test accuracy   {results['test/acc']:.4f}")
    if "test/digit_acc" in results:
        print(f"digit accuracy  {results['test/digit_acc']:.4f}")
        print(f"acc from digits {results['test/acc_from_digits']:.4f}")
    print(f"fit seconds     {fit_seconds:.1f}")
    if trainer.logger is not None:
        print(f"logs            {trainer.logger.log_dir}  (tensorboard --logdir {trainer.logger.save_dir})")
    return {**results, "fit_seconds": fit_seconds}


if __name__ == "__main__":
    try:
        main()
    except ArgumentError as e:
        sys.exit(f"error: {' '.join(str(e).split())} (python train.py --help lists every key)")
    except (MNISTError, ValueError) as e:
        sys.exit(f"error: {e}")
