"""Threshold neurons: one unit computes AND and OR, no unit computes XOR, two layers of them do.

    python -m framework.exercises.threshold [--grid-step 0.1] [--grid-limit 3]

A linear threshold unit outputs 1 when w1 x1 + w2 x2 + b > 0 and 0 otherwise. The command verifies the AND and OR
units on all four inputs, searches a grid of (w1, w2, b) for a unit that computes XOR and finds none (then prints why
none exists at all), and verifies a 2-2-1 network of threshold units that computes XOR.
"""

import torch

from common import options
from common.errors import run_main

INPUTS = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TRUTH = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}
UNITS = {"AND": ([1.0, 1.0], -1.5), "OR": ([1.0, 1.0], -0.5), "NAND": ([-1.0, -1.0], 1.5)}
XOR_UNITS = (("OR", "NAND"), ("AND",))  # XOR(x) = AND(OR(x), NAND(x)): a 2-2-1 network
MAX_AXIS = 201  # grid values per axis at most: 201^3 = 8.1 million units, about half a GB to check
ARGUMENT = """Why no single unit computes XOR: it would need
  (0, 0) -> 0:  b <= 0
  (0, 1) -> 1:  w2 + b > 0
  (1, 0) -> 1:  w1 + b > 0
  (1, 1) -> 0:  w1 + w2 + b <= 0
Adding the middle two gives w1 + w2 + 2b > 0, so w1 + w2 + b > -b >= 0 (by the first), which contradicts the last.
Geometrically: no line separates {(0, 1), (1, 0)} from {(0, 0), (1, 1)}."""


def fires(weights: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Threshold layer: 1 where x W^T + b > 0, else 0; weights [units, inputs], bias [units], x [N, inputs]."""
    return (x @ weights.T + bias > 0).float()


def unit_outputs(weights: list[float], bias: float) -> list[int]:
    """One unit's outputs on the four inputs (0, 0), (0, 1), (1, 0), (1, 1)."""
    return fires(torch.tensor([weights]), torch.tensor([bias]), INPUTS)[:, 0].int().tolist()


def network_outputs(layers: tuple) -> list[int]:
    """A network of threshold layers, each a tuple of UNITS names, applied to the four inputs."""
    x = INPUTS
    for names in layers:
        x = fires(torch.tensor([UNITS[n][0] for n in names]), torch.tensor([UNITS[n][1] for n in names]), x)
    return x[:, 0].int().tolist()


def grid_units(limit: float, step: float) -> torch.Tensor:
    """Every (w1, w2, b) with entries in -limit, -limit + step, ..., limit, as rows [count, 3]."""
    values = torch.arange(round(2 * limit / step) + 1) * step - limit
    return torch.cartesian_prod(values, values, values)


def grid_counts(units: torch.Tensor) -> dict[str, int]:
    """How many of the units (rows w1, w2, b) compute each function of TRUTH on the four inputs."""
    outputs = fires(units[:, :2], units[:, 2], INPUTS).T.int()  # [units, 4 inputs]
    return {name: int((outputs == torch.tensor(truth)).all(1).sum()) for name, truth in TRUTH.items()}


def main(argv: list[str] | None = None) -> dict:
    """Print the verifications; returns what they found."""
    parser = options.parser(__doc__)
    positive = options.number(options.POSITIVE)
    parser.add_argument("--grid-limit", type=positive, default=3.0, help="weights and bias range over [-limit, limit]")
    parser.add_argument(
        "--grid-step",
        type=positive,
        default=0.1,
        help=f"the grid's spacing: at most --grid-limit, and at most {MAX_AXIS} values per axis",
    )
    args = parser.parse_args(argv)
    if args.grid_step > args.grid_limit:
        parser.error(
            f"--grid-step {args.grid_step:g} exceeds --grid-limit {args.grid_limit:g}; give a step <= the limit"
        )
    axis = 2 * args.grid_limit / args.grid_step + 1  # grid_units takes round() of it; inf for extreme values
    if not axis < MAX_AXIS + 0.5:
        parser.error(
            f"--grid-limit {args.grid_limit:g} with --grid-step {args.grid_step:g} gives {axis:.3g} values per axis "
            f"({axis * axis * axis:.3g} units); at most {MAX_AXIS} per axis: give a larger step or a smaller limit"
        )
    found = {}
    print(
        "| function | w1 | w2 | b | outputs on (0,0) (0,1) (1,0) (1,1) | truth table | verified |\n"
        "|---|---:|---:|---:|---|---|---|"
    )
    for name in ("AND", "OR"):
        weights, bias = UNITS[name]
        outputs = unit_outputs(weights, bias)
        found[name] = outputs == TRUTH[name]
        print(f"| {name} | {weights[0]:g} | {weights[1]:g} | {bias:g} | {outputs} | {TRUTH[name]} | {found[name]} |")
    units = grid_units(args.grid_limit, args.grid_step)
    counts = grid_counts(units)
    span = f"[-{args.grid_limit:g}, {args.grid_limit:g}], step {args.grid_step:g}"
    print(
        f"\nexhaustive check over {len(units):,} units (w1, w2, b each in {span}): "
        + ", ".join(f"{n} computed by {c:,}" for n, c in counts.items())
    )
    print(f"\n{ARGUMENT}")
    outputs = network_outputs(XOR_UNITS)
    found["XOR network"] = outputs == TRUTH["XOR"]
    units_text = ", ".join(
        f"{n} (w = ({UNITS[n][0][0]:g}, {UNITS[n][0][1]:g}), b = {UNITS[n][1]:g})" for layer in XOR_UNITS for n in layer
    )
    print(
        f"\n2-2-1 network y = AND(OR(x), NAND(x)); units {units_text}\n"
        f"outputs {outputs}, XOR {TRUTH['XOR']}: verified {found['XOR network']}"
    )
    return found | {"grid": counts}


if __name__ == "__main__":
    run_main(main)
