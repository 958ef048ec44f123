"""Lightning fit time against the plain PyTorch loop it replaces.

Same model, data, seed, epochs, batch size, optimizer and scheduler as the config asks, the study's loss; the two
alternate in one process, with the torch threads a benchmark fit gets (--threads). Before any time is reported, the
two fits must end in the same weights (largest difference <= --tolerance); otherwise the script exits 1: the times
would compare different computations.

    MNIST_DIR=../shared/mnist python -m scripts.bench_lightning [--rounds 5]
"""

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from lightning.pytorch import seed_everything

from common import options
from common.equality import check_same
from common.errors import run_main
from pairs import executors
from pairs.cli import PairCLI
from pairs.models import Ensemble
from pairs.runs import QUIET, fit_cli


def build(config: str, seed: int) -> PairCLI:
    """The config's CLI as a benchmark fit builds it."""
    return fit_cli(["--config", config, f"--seed_everything={seed}", *QUIET])


def plain_fit(cli: PairCLI, seed: int) -> tuple[float, torch.nn.Module]:
    """The loop Lightning replaces: per-batch step, per-epoch train loss and accuracy, the scheduler stepped per
    epoch; the optimizer and scheduler are the ones the config asks for, the loss the study's."""
    model, data = cli.model.net, cli.datamodule
    data.setup("fit")
    optimizers = cli.model.configure_optimizers()
    optimizer, schedulers = (optimizers[0][0], optimizers[1]) if isinstance(optimizers, tuple) else (optimizers, [])
    seed_everything(seed, verbose=False)
    start = time.perf_counter()
    model.train()
    for _ in range(cli.config.trainer.max_epochs):
        loss_sum, correct, seen = 0.0, 0, 0
        for x, target, classes in data.train_dataloader():
            logits, digits = model(x)
            loss = cli.model.loss(logits, digits, target, classes)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(x)
            correct += int((logits.argmax(1) == target).sum())
            seen += len(x)
        for scheduler in schedulers:
            scheduler.step()
    return time.perf_counter() - start, model


def lightning_fit(cli: PairCLI, seed: int) -> tuple[float, torch.nn.Module]:
    cli.datamodule.setup("fit")
    seed_everything(seed, verbose=False)
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return time.perf_counter() - start, cli.model.net


@contextmanager
def phase_timers(model: Ensemble) -> Iterator[dict[str, float]]:
    """Seconds spent inside the block in the ensemble members' forward and in backward, timed by hooks that both
    fits go through."""
    spent, started = {"forward": 0.0, "backward": 0.0}, dict[str, float]()
    begin = lambda name: started.__setitem__(name, time.perf_counter())
    end = lambda name: spent.__setitem__(name, spent[name] + time.perf_counter() - started.pop(name))
    hooks = [member.register_forward_pre_hook(lambda *_: begin("forward")) for member in model.members]
    hooks += [member.register_forward_hook(lambda *_: end("forward")) for member in model.members]
    backward = torch.Tensor.backward

    def timed_backward(tensor: torch.Tensor, *args, **kwargs) -> None:
        begin("backward")
        backward(tensor, *args, **kwargs)
        end("backward")

    torch.Tensor.backward = timed_backward  # type: ignore[method-assign,assignment]
    try:
        yield spent
    finally:
        torch.Tensor.backward = backward  # type: ignore[method-assign]
        for hook in hooks:
            hook.remove()


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--config", default="configs/baseline_cnn.yaml", help="the study config both fits follow")
    parser.add_argument("--rounds", type=options.integer(1), default=5, help="timed rounds, after one warm-up round")
    parser.add_argument("--seed", type=options.seed, default=0, help="seed_everything's seed, every round")
    parser.add_argument(
        "--threads",
        type=options.integer(1),
        default=executors.default_threads(os.cpu_count() or 1),
        help="torch threads of both fits (default: a benchmark fit's, cores // the default workers)",
    )
    parser.add_argument(
        "--tolerance",
        type=options.number(options.POSITIVE),
        default=1e-5,
        help="largest final-weight difference allowed",
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="after the timed rounds, one more of each fit with forward and backward timed by hooks: what is left is "
        "data, loss, optimizer and the loop around them",
    )
    args = parser.parse_args(argv)
    options.load_mapping(Path(args.config))
    torch.set_num_threads(args.threads)
    times: dict[str, list[float]] = {"plain": [], "lightning": []}
    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        results = {}
        for name, fit in (("plain", plain_fit), ("lightning", lightning_fit)):
            seconds, model = fit(build(args.config, args.seed), args.seed)
            results[name] = model
            if round_:
                times[name].append(seconds)
        check_same(
            results["plain"].parameters(),
            results["lightning"].parameters(),
            args.tolerance,
            "final weights of the plain loop and the Lightning fit",
        )
    plain, lightning = statistics.median(times["plain"]), statistics.median(times["lightning"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.config}, {args.rounds} rounds")
    print(f"plain loop      median {plain:.2f} s  ({', '.join(f'{t:.2f}' for t in times['plain'])})")
    print(f"Lightning fit   median {lightning:.2f} s  ({', '.join(f'{t:.2f}' for t in times['lightning'])})")
    print(f"ratio Lightning / plain = {lightning / plain:.3f}")
    print(f"the two fits end in the same weights (largest difference <= {args.tolerance:g}, every round)")
    if args.phases:
        for name, fit in (("plain", plain_fit), ("lightning", lightning_fit)):
            cli = build(args.config, args.seed)
            with phase_timers(cli.model.net) as spent:
                seconds, _ = fit(cli, args.seed)
            phases = "  ".join(f"{phase} {value:.2f} s" for phase, value in spent.items())
            print(f"{name:9s} phases: {phases}  the rest {seconds - sum(spent.values()):.2f} s  (fit {seconds:.2f} s)")


if __name__ == "__main__":
    run_main(main)
