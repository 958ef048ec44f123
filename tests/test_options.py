"""pairs/options.py: the argparse types refuse what a run cannot use, and --help states what they accept."""

import argparse

import pytest

from common import options


def parser() -> argparse.ArgumentParser:
    parser = options.parser("a test")
    parser.add_argument("--n", type=options.integer(1, 100), default=10, help="a count")
    parser.add_argument("--lr", type=options.number(options.POSITIVE), default=0.1, help="a rate")
    parser.add_argument("--seed", type=options.seed, default=0, help="a seed")
    parser.add_argument("--names", nargs="+", action=options.Distinct, help="names")
    return parser


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--n", "1" + "0" * 400], "is not an integer in [1, 100]"),  # int() takes it; the range refuses it
        (["--n", "1.5"], "'1.5' is not an integer"),
        (["--n", "0"], "0 is not an integer in [1, 100]"),
        (["--lr", "nan"], "nan is not a number > 0"),
        (["--lr=-inf"], "-inf is not a number > 0"),
        (["--seed", str(2**32)], "is not an integer in [0, 4294967295]"),
        (["--names", "a", "b", "a"], "a given twice; give each once"),
    ],
)
def test_a_value_out_of_range_is_a_usage_error_naming_the_option(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        parser().parse_args(argv)
    line = capsys.readouterr().err.strip()
    option = argv[0].split("=")[0]
    assert info.value.code == 2 and line.startswith(f"error: argument {option}: ") and words in line, line


def test_values_in_range_pass():
    args = parser().parse_args(["--n", "100", "--lr", "1e-4", "--seed", str(2**32 - 1), "--names", "a", "b"])
    assert (args.n, args.lr, args.seed, args.names) == (100, 1e-4, 2**32 - 1, ["a", "b"])


def test_help_states_each_range_and_default():
    text = " ".join(parser().format_help().split())
    assert "a count (integer in [1, 100]; default 10)" in text
    assert "a rate (number > 0; default 0.1)" in text
    assert "a seed (integer in [0, 4294967295]; default 0)" in text  # a default of 0 is shown too
