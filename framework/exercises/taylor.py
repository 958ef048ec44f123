"""Gradient and Jacobian tests as a command: Taylor remainders and the transpose (adjoint) test.

    python -m framework.exercises.taylor [--figure runs/framework/taylor.png]

For eps = 0.5^k, |f(x + eps d) - f(x)| must fall as O(eps) and |f(x + eps d) - f(x) - eps * (first-order term)|
as O(eps^2): their ratios approach 2 and 4 as eps halves. The gradient test takes f = a network's loss
(first-order term d^T grad f from backward); the Jacobian test takes f = a layer's output (J d from the
Jacobian assembled by backward). The transpose test checks u^T (J v) = v^T (J^T u) with J v from forward passes.
"""

import sys

import torch
from matplotlib.figure import Figure

from common import options
from common.errors import run_main
from framework import Linear, LossMSE, Sequential, Sigmoid, Tanh, adjoint_test, jacobian, taylor_test
from framework.exercises.experiment import without_autograd
from framework.gradcheck import ratios

EPSILONS = [0.5**k for k in range(1, 16)]


def network(g: torch.Generator) -> Sequential:
    return Sequential(
        Linear(4, 8, dtype=torch.float64, generator=g),
        Tanh(),
        Linear(8, 3, dtype=torch.float64, generator=g),
        Sigmoid(),
    )


def gradient_test(g: torch.Generator) -> list:
    model, loss = network(g), LossMSE()
    x, target, d = (torch.randn(5, n, dtype=torch.float64, generator=g) for n in (4, 3, 4))
    f = lambda z: loss.forward(model.forward(z), target)
    f(x)
    grad = model.backward(loss.backward())
    return taylor_test(f, x, d, (d * grad).sum(), EPSILONS)


def jacobian_test(g: torch.Generator) -> list:
    model = network(g)
    x, d = (torch.randn(2, 4, dtype=torch.float64, generator=g) for _ in range(2))
    jd = (jacobian(model, x) @ d.reshape(-1)).view(2, 3)
    return taylor_test(model.forward, x, d, jd, EPSILONS)


def print_table(name: str, rows: list) -> None:
    print(
        f"\n{name}\n| eps | first-order residual | ratio | second-order residual | ratio |\n|---:|---:|---:|---:|---:|"
    )
    for row, r in zip(rows, [(None, None), *ratios(rows)]):
        fmt = lambda v: "" if v is None else f"{v:.3f}"
        print(f"| {row[0]:.2e} | {row[1]:.3e} | {fmt(r[0])} | {row[2]:.3e} | {fmt(r[1])} |")


@without_autograd()
def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--figure", type=options.output_file, default="runs/framework/taylor.png", help="the PNG")
    parser.add_argument("--seed", type=options.seed, default=0, help="weights, inputs and directions")
    args = parser.parse_args(argv)
    options.check_paths(parser, inputs={}, outputs={"--figure": (args.figure, options.FIGURE)})
    g = torch.Generator().manual_seed(args.seed)
    tests = {
        "gradient test (f = MSE loss of a network)": gradient_test(g),
        "Jacobian test (f = the network's output)": jacobian_test(g),
    }
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, (name, rows) in zip(axes, tests.items()):
        print_table(name, rows)
        eps = [r[0] for r in rows]
        ax.loglog(eps, [r[1] for r in rows], "o-", label="|f(x+εd) − f(x)|")
        ax.loglog(eps, [r[2] for r in rows], "s-", label="|f(x+εd) − f(x) − ε·derivative|")
        ax.loglog(eps, [rows[-1][1] * e / eps[-1] for e in eps], "k:", label="slope 1 (O(ε))")
        ax.loglog(eps, [rows[-1][2] * (e / eps[-1]) ** 2 for e in eps], "k--", label="slope 2 (O(ε²))")
        ax.set(xlabel="ε", ylabel="residual", title=name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    model = network(g)
    x = torch.randn(5, 4, dtype=torch.float64, generator=g)
    u, v = torch.randn(5, 3, dtype=torch.float64, generator=g), torch.randn(5, 4, dtype=torch.float64, generator=g)
    print(f"\ntranspose test: |u^T(Jv) - v^T(J^T u)| = {adjoint_test(model, x, u, v):.2e}")
    print(f"figure: {args.figure}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
