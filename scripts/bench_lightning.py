"""Lightning fit time against the plain PyTorch loop it replaces.

Same model, data, seed, epochs, batch size, optimizer and scheduler as the config asks, the study's loss; the two
alternate in one process, with the torch threads a benchmark fit gets (--threads). Before any time is reported, the
two fits must end in the same weights (largest difference <= --tolerance); otherwise the script exits 1: the times
would compare different computations. With --floor, the same two fits of a network that computes next to nothing (one
learnt set of target and digit logits, whatever the pair) over as many steps: what the Trainer's own loop costs a step
(the same hooks run around any model's training step), and so the ratio it leaves the config's fit at best.

    MNIST_DIR=../shared/mnist python -m scripts.bench_lightning [--rounds 5] [--floor]
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

CONFIG, FLOOR = "config", "one weight"  # the networks timed: the config's, and with --floor the OneWeight


class OneWeight(torch.nn.Module):
    """A network that computes next to nothing: the same learnt target logits (and digit logits, if `digits`) for
    every pair, so the study's loss has the terms it has for the config's network."""

    def __init__(self, digits: bool) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(2))
        self.digits = torch.nn.Parameter(torch.zeros(2, 10)) if digits else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Target logits [B, 2] and digit logits [B, 2, 10] or None, whatever the pairs."""
        digits = None if self.digits is None else self.digits.expand(len(x), 2, 10)
        return self.logits.expand(len(x), 2), digits


def optimization(cli: PairCLI) -> tuple[torch.optim.Optimizer, list]:
    """The optimizer and the schedulers the config asks for: the instances LightningCLI built for this CLI."""
    optimizers = cli.model.configure_optimizers()
    return (optimizers[0][0], optimizers[1]) if isinstance(optimizers, tuple) else (optimizers, [])


def build(config: str, seed: int, floor: bool = False) -> PairCLI:
    """The config's CLI as a benchmark fit builds it; `floor`: with a OneWeight network in place of the config's, and
    the optimizer LightningCLI built (one group, on the config network's parameters) given the OneWeight's."""
    cli = fit_cli(["--config", config, f"--seed_everything={seed}", *QUIET])
    if floor:
        cli.model.net = Ensemble([OneWeight(cli.model.has_digits)])
        [group] = optimization(cli)[0].param_groups
        group["params"] = list(cli.model.parameters())
    return cli


def plain_fit(cli: PairCLI, seed: int) -> tuple[float, torch.nn.Module]:
    """The loop Lightning replaces in a benchmark fit: the module's own loss of each batch, backward, the optimizer's
    step, the scheduler stepped per epoch; the optimizer and scheduler are the ones the config asks for."""
    model, data = cli.model.net, cli.datamodule
    data.setup("fit")
    optimizer, schedulers = optimization(cli)
    seed_everything(seed, verbose=False)
    start = time.perf_counter()
    model.train()
    for _ in range(cli.config.trainer.max_epochs):
        for batch in data.train_dataloader():
            loss = cli.model.step(batch, "train")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return time.perf_counter() - start, model


def lightning_fit(cli: PairCLI, seed: int) -> tuple[float, torch.nn.Module]:
    """The benchmark's fit: the Trainer's, with what a benchmark fit turns off turned off (runs.QUIET)."""
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


def report(times: dict[tuple[str, str], list[float]], steps: int) -> None:
    """Each network's fit times, their medians' ratio and Lightning's extra a step; with the one-weight network, the
    ratio its extra leaves the config's fit at best."""
    median = {key: statistics.median(values) for key, values in times.items()}
    extra: dict[str, float] = {}
    for network in dict.fromkeys(network for network, _ in times):
        for side, name in (("plain", "plain loop   "), ("lightning", "Lightning fit")):
            runs = ", ".join(f"{t:.3f}" for t in times[network, side])
            print(f"{network:10s} {name}  median {median[network, side]:.3f} s  ({runs})")
        extra[network] = (median[network, "lightning"] - median[network, "plain"]) / steps
        print(
            f"{network:10s} ratio Lightning / plain = {median[network, 'lightning'] / median[network, 'plain']:.3f}"
            f"  (Lightning's extra {extra[network] * 1e3:.3f} ms a step, {steps} steps)"
        )
    if FLOOR in extra:
        step = median[CONFIG, "plain"] / steps
        print(
            f"the floor: around the one-weight network the Trainer adds what it adds around any model's step; over a "
            f"plain step of {step * 1e3:.3f} ms it leaves this config at {1 + extra[FLOOR] / step:.3f} x the plain "
            "loop at best"
        )


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
    parser.add_argument(
        "--floor",
        action="store_true",
        help="in every round, also both fits of a one-weight network over as many steps: the Trainer's own cost a "
        "step, and the ratio it leaves the config's fit at best",
    )
    args = parser.parse_args(argv)
    options.load_mapping(Path(args.config))
    torch.set_num_threads(args.threads)
    networks = [CONFIG, FLOOR] if args.floor else [CONFIG]
    times = {(network, side): list[float]() for network in networks for side in ("plain", "lightning")}
    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        for network in networks:
            results = {}
            for side, fit in (("plain", plain_fit), ("lightning", lightning_fit)):
                cli = build(args.config, args.seed, network == FLOOR)
                seconds, results[side] = fit(cli, args.seed)
                if round_:
                    times[network, side].append(seconds)
            check_same(
                results["plain"].parameters(),
                results["lightning"].parameters(),
                args.tolerance,
                f"final weights of the plain loop and the Lightning fit ({network} network)",
            )
            steps = cli.trainer.global_step  # the Lightning fit's optimizer steps, the plain loop's too
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.config}, {args.rounds} rounds")
    report(times, steps)
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
