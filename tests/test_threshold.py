"""Threshold neurons: AND and OR by one unit, XOR by none on a grid (and the argument), XOR by a 2-2-1 network."""

import pytest
import torch

from framework.exercises import threshold

INPUTS = [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize(
    "name, function", [("AND", lambda a, b: a and b), ("OR", lambda a, b: a or b), ("NAND", lambda a, b: not (a and b))]
)
def test_one_unit_computes_and_or_nand_on_the_truth_table(name, function):
    weights, bias = threshold.UNITS[name]
    for (a, b), output in zip(INPUTS, threshold.unit_outputs(weights, bias)):
        assert output == int(function(a, b)) == int(weights[0] * a + weights[1] * b + bias > 0)


def test_the_grid_holds_no_xor_unit_but_many_and_or_units():
    units = threshold.grid_units(limit=2.0, step=0.25)
    assert len(units) == 17**3 and units.min() == -2.0 and units.max() == 2.0
    counts = threshold.grid_counts(units)
    assert counts["XOR"] == 0 and counts["AND"] > 0 and counts["OR"] > 0
    assert threshold.grid_counts(torch.tensor([[1.0, 1.0, -1.5], [1.0, 1.0, -0.5]])) == {"AND": 1, "OR": 1, "XOR": 0}


def test_two_layers_compute_xor():
    assert threshold.network_outputs(threshold.XOR_UNITS) == threshold.TRUTH["XOR"] == [0, 1, 1, 0]


def test_command_prints_the_units_the_grid_and_the_argument(capsys):
    found = threshold.main(["--grid-limit", "1", "--grid-step", "0.5"])
    out = capsys.readouterr().out
    assert found["AND"] and found["OR"] and found["XOR network"] and found["grid"]["XOR"] == 0
    assert "125 units" in out and "XOR computed by 0" in out
    assert "w1 + w2 + 2b > 0" in out and "contradicts" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--grid-step", "0"], "argument --grid-step: 0 is not a number > 0"),
        (["--grid-limit", "nan"], "argument --grid-limit: nan is not a number > 0"),
        (["--grid-limit", "1", "--grid-step", "2"], "--grid-step 2 exceeds --grid-limit 1"),
        (["--grid-step", "1e-300"], "gives 6e+300 values per axis (inf units); at most 201 per axis"),
        (["--grid-limit", "1e308", "--grid-step", "1e-3"], "gives inf values per axis"),
    ],
)
def test_bad_grid_is_a_usage_error(argv, words, error_of):
    code, line = error_of(threshold.main, argv)
    assert code == 2 and line.startswith("error: ") and words in line, line
