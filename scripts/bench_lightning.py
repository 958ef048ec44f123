"""Lightning fit time against the plain PyTorch loop it replaces.

Same model (the spec's ~70k convnet), data, seed, 25 epochs, batch 100; the two alternate in one process.

    MNIST_DIR=../shared/mnist python scripts/bench_lightning.py [--rounds 5]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from lightning.pytorch import seed_everything
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pairs.cli import PairCLI  # noqa: E402

QUIET = ["--trainer.logger=false", "--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false",
         "--trainer.enable_model_summary=false"]


def build(config: str, seed: int) -> PairCLI:
    return PairCLI(["--config", config, f"--seed_everything={seed}", *QUIET], save_config_callback=None)


def plain_fit(cli: PairCLI, seed: int) -> tuple[float, torch.nn.Module]:
    """The loop Lightning replaces: per-batch step, per-epoch train loss and accuracy."""
    model, data = cli.model.net, cli.datamodule
    data.setup("fit")
    optimizer = torch.optim.Adam(model.parameters(), **cli.config.optimizer.init_args)
    seed_everything(seed, verbose=False)
    start = time.perf_counter()
    model.train()
    for _ in range(cli.config.trainer.max_epochs):
        loss_sum, correct, seen = 0.0, 0, 0
        for x, target, _ in data.train_dataloader():
            logits, _ = model(x)
            loss = F.cross_entropy(logits, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(x)
            correct += int((logits.argmax(1) == target).sum())
            seen += len(x)
    return time.perf_counter() - start, model


def lightning_fit(cli: PairCLI, seed: int) -> tuple[float, torch.nn.Module]:
    cli.datamodule.setup("fit")
    seed_everything(seed, verbose=False)
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return time.perf_counter() - start, cli.model.net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/baseline_cnn.yaml")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    times = {"plain": [], "lightning": []}
    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        results = {}
        for name, fit in (("plain", plain_fit), ("lightning", lightning_fit)):
            seconds, model = fit(build(args.config, args.seed), args.seed)
            results[name] = model
            if round_:
                times[name].append(seconds)
        gap = max((a - b).abs().max().item() for a, b in zip(results["plain"].parameters(), results["lightning"].parameters()))
    plain, lightning = statistics.median(times["plain"]), statistics.median(times["lightning"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.config}, {args.rounds} rounds")
    print(f"plain loop      median {plain:.2f} s  ({', '.join(f'{t:.2f}' for t in times['plain'])})")
    print(f"Lightning fit   median {lightning:.2f} s  ({', '.join(f'{t:.2f}' for t in times['lightning'])})")
    print(f"ratio Lightning / plain = {lightning / plain:.3f}")
    print(f"largest final-weight difference between the two = {gap:.2e}")


if __name__ == "__main__":
    main()
