"""Where one benchmark fit's time goes, and how far it runs from the machine's compute floor.

Lightning's own SimpleProfiler times every hook of one fit of the config, built as the benchmark builds its fits;
the hooks are grouped into data loading, forward and loss, backward, the optimizer, epoch-end metrics and what is
left, Lightning's own loop. torch's flop counter gives the FLOPs of one training step (forward, loss and
backward), and a float32 GEMM with as many threads measures what this machine computes at its best: the fit's
achieved rate over that is its share of the compute floor.

    MNIST_DIR=../shared/mnist python -m scripts.profile_fit --config configs/cnn_aux_shared.yaml
"""

import time
from pathlib import Path

import torch
from lightning.pytorch.profilers import SimpleProfiler
from torch.utils.flop_counter import FlopCounterMode

from common import options
from common.errors import run_main
from pairs.cli import PairCLI
from pairs.runs import QUIET, fit_cli, quiet


def phases(durations: dict[str, list[float]], module: str, fit_seconds: float) -> dict[str, float]:
    """Seconds per phase of a fit from SimpleProfiler's durations; `module`: the LightningModule's class name. The
    optimizer step's own time excludes the closure (forward, loss and backward) it runs."""
    spent = lambda *names: sum(sum(durations.get(name, [])) for name in names)
    forward = spent("[Strategy]SingleDeviceStrategy.training_step")
    backward = spent("[Strategy]SingleDeviceStrategy.backward")
    parts = {
        "data loading": spent(
            "[_TrainingEpochLoop].train_dataloader_next",
            "[Strategy]SingleDeviceStrategy.batch_to_device",
            "[LightningDataModule]PairDataModule.setup",
        ),
        "forward and loss": forward,
        "backward": backward,
        "optimizer": spent(f"[LightningModule]{module}.optimizer_step")
        - forward
        - backward
        + spent(f"[LightningModule]{module}.optimizer_zero_grad"),
        "epoch-end metrics": spent(f"[LightningModule]{module}.on_train_epoch_end"),
    }
    return parts | {"Lightning's own loop": fit_seconds - sum(parts.values())}


def step_flops(cli: PairCLI) -> int:
    """FLOPs of one training step of the config's model on one batch: forward, loss and backward."""
    cli.datamodule.setup("fit")
    x, target, classes = next(iter(cli.datamodule.train_dataloader()))
    with FlopCounterMode(display=False) as counter:
        logits, digits = cli.model(x)
        cli.model.loss(logits, digits, target, classes).backward()
    return counter.get_total_flops()


def gemm_rate(n: int = 1024, repeats: int = 10) -> float:
    """The best float32 n x n matmul rate of this machine at torch's thread count, in FLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--config", default="configs/cnn_aux_shared.yaml", help="the study config to fit once")
    parser.add_argument("--seed", type=options.seed, default=0, help="the round's seed")
    args = parser.parse_args(argv)
    options.load_mapping(Path(args.config))
    build = lambda *extra: fit_cli(["--config", args.config, f"--seed_everything={args.seed}", *QUIET, *extra])
    with quiet():
        flops = step_flops(build())
        cli = build()
        cli.datamodule.prepare_data()  # MNIST read before the clock starts, as in every fit of a worker but the first
        cli.trainer.profiler = profiler = SimpleProfiler()
        fit_seconds = timed(lambda: cli.trainer.fit(cli.model, datamodule=cli.datamodule))
    steps = cli.trainer.global_step
    parts = phases(profiler.recorded_durations, type(cli.model).__name__, fit_seconds)
    print(f"{args.config}: one fit, {steps} steps, {fit_seconds:.2f} s, torch {torch.get_num_threads()} threads")
    print("| phase | s | % of the fit |\n|---|---:|---:|")
    for name, seconds in parts.items():
        print(f"| {name} | {seconds:.3f} | {100 * seconds / fit_seconds:.1f} |")
    compute = parts["forward and loss"] + parts["backward"]
    achieved, peak = flops * steps / compute, gemm_rate()
    print(
        f"\n{flops / 1e6:.1f} MFLOP a training step; forward and backward run at {achieved / 1e9:.1f} GFLOP/s, the "
        f"whole fit at {flops * steps / fit_seconds / 1e9:.1f}; a float32 GEMM (1024²) at {peak / 1e9:.0f} GFLOP/s: "
        f"the fit runs {peak / (flops * steps / fit_seconds):.1f}x above its compute floor"
    )


if __name__ == "__main__":
    run_main(main)
