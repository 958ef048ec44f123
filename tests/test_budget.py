"""The study's answer against the tuning budget on hand-made trials whose answers are known: the best so far in the
sampler's order, Dodge et al.'s expected maximum, the effects at budget k (from trials 0..k-1 only), the script end
to end, and every class of malformed trial line refused by file, line and field."""

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from common.errors import InputError
from common.stats import interval
from pairs import budget
from pairs.effects import Effect, Paired
from pairs.record import TrialRow
from pairs.report import name_of
from scripts import budget as script

SEEDS = (100, 101, 102)
SQUARE = ("cnn_aux_shared", "cnn_aux_separate", "cnn_noaux_shared", "cnn_noaux_separate")


def line(cell: str, number: int, value: float, state: str = "complete", epochs: int = 4, **changes) -> dict:
    """A trial line scored at epochs 2 and 4 (a pruned one at 2 only), its seeds at value - 0.01, value, value +
    0.01, and its value their mean, as the tuner writes it; `changes` replace fields."""
    evaluated = [2, epochs] if state == "complete" else [2]
    scores = {str(e): {str(s): value + d for s, d in zip(SEEDS, (-0.01, 0.0, 0.01))} for e in evaluated}
    last = scores[str(evaluated[-1])]
    made = {
        "cell": cell,
        "trial": number,
        "state": state,
        "params": {"optimizer.init_args.lr": 0.001, "model.prediction": "learnt"},
        "epochs": epochs,
        "scores": scores,
        "value": sum(last.values()) / len(last),
        "parameters": 1000 + number,
        "fit_seconds": 1.5,
    }
    return made | changes


def written(path: Path, lines: Sequence[dict | str]) -> Path:
    path.write_text("".join((text if isinstance(text, str) else json.dumps(text)) + "\n" for text in lines))
    return path


def cells_of(tmp_path: Path, lines: list[dict]) -> dict[str, list[budget.Trial]]:
    return budget.load(written(tmp_path / "tuning.jsonl", lines))


def test_the_fields_read_are_the_fields_the_tuner_writes():
    assert list(budget.FIELDS) == list(TrialRow.__annotations__)


# ---- the best so far ----------------------------------------------------------------------------------------------

# trial: 0 complete 0.70; 1 pruned 0.95 (never the best); 2 complete 0.80; 3 complete 0.80 (a tie: 2 stays); 4 0.85
HAND = [(0.70, "complete"), (0.95, "pruned"), (0.80, "complete"), (0.80, "complete"), (0.85, "complete")]


def test_the_best_so_far_is_the_best_complete_trial_among_the_first_k(tmp_path):
    trials = cells_of(tmp_path, [line("cnn_aux_shared", i, v, s) for i, (v, s) in enumerate(HAND)])["cnn_aux_shared"]
    assert [getattr(budget.best_at(trials, k), "number", None) for k in range(1, 6)] == [0, 0, 2, 2, 4]
    curve = budget.best_so_far(trials)
    assert [value for value, _, _ in curve] == [trials[n].value for n in (0, 0, 2, 2, 4)]
    _, low, high, _ = interval(trials[4].last.values())
    assert curve[-1][1:] == (low, high) and low < trials[4].value < high


def test_before_any_trial_completes_there_is_no_best(tmp_path):
    lines = [line("cnn_aux_shared", 0, 0.9, "pruned"), line("cnn_aux_shared", 1, 0.6)]
    trials = cells_of(tmp_path, lines)["cnn_aux_shared"]
    assert budget.best_at(trials, 1) is None and budget.best_at(trials, 2) is trials[1]
    first, second = budget.best_so_far(trials)
    assert all(math.isnan(v) for v in first) and second[0] == trials[1].value


# ---- the expected maximum (Dodge et al. 2019) ------------------------------------------------------------------------


def test_the_expected_maximum_against_a_hand_computation():
    # values 1, 2, 3 and k = 2: P(max = 1, 2, 3) = 1/9, 3/9, 5/9; E = 22/9, E[max²] = 58/9, variance 38/81
    mean, sd = budget.expected_max([3.0, 1.0, 2.0], 2)
    assert mean == pytest.approx(22 / 9) and sd == pytest.approx(math.sqrt(38) / 9)


def test_one_draw_is_the_mean_and_many_draws_the_maximum():
    values = [0.71, 0.83, 0.80, 0.65, 0.83, 0.90]
    mean, sd = budget.expected_max(values, 1)
    assert mean == pytest.approx(sum(values) / len(values))
    assert sd == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)))
    mean, sd = budget.expected_max(values, 2000)
    assert mean == pytest.approx(0.90, abs=1e-12) and sd == pytest.approx(0, abs=1e-5)


def test_the_expected_curve_counts_pruned_trials_at_their_last_value(tmp_path):
    trials = cells_of(tmp_path, [line("cnn_aux_shared", i, v, s) for i, (v, s) in enumerate(HAND)])["cnn_aux_shared"]
    curve = budget.expected_curve(trials)
    assert len(curve) == 5 and curve[0][0] == pytest.approx(sum(v for v, _ in HAND) / 5)
    assert all(a[0] < b[0] for a, b in zip(curve, curve[1:]))  # more draws, a higher expected best


# ---- the effects at budget k ---------------------------------------------------------------------------------------


def square(extra: list[dict] | None = None) -> list[dict]:
    """The CNN 2×2, three trials a cell, each cell's values rising with the trial number."""
    base = dict(zip(SQUARE, (0.90, 0.88, 0.80, 0.83)))
    return [line(cell, i, base[cell] + 0.01 * i) for cell in SQUARE for i in range(3)] + (extra or [])


def diffs(cells: dict[str, list[budget.Trial]], k: int) -> dict[str, dict[int, float]]:
    """Every effect's and interaction's per-seed differences at budget k, by the report's name."""
    measured, crossed = budget.effects_at(cells, k)
    return {name_of(member): member.diffs for member in [*measured, *crossed]}


def test_the_effects_at_budget_k_are_the_study_s_on_each_cell_s_best_of_its_first_k(tmp_path):
    cells = cells_of(tmp_path, square())
    measured, crossed = budget.effects_at(cells, 2)
    assert len(measured) == 4 and len(crossed) == 1
    sharing = measured[0]  # weight sharing with the auxiliary loss: shared − separate, both at their trial 1
    assert (sharing.a, sharing.b, sharing.given) == ("cnn_aux_shared", "cnn_aux_separate", "auxiliary loss")
    shared, separate = (budget.best_at(cells[cell], 2) for cell in SQUARE[:2])
    assert shared is not None and separate is not None and shared.number == separate.number == 1
    assert sharing.diffs == {s: shared.last[s] - separate.last[s] for s in SEEDS}
    assert sharing.diffs[100] == pytest.approx(0.02)


def test_an_effect_at_budget_k_uses_trials_0_to_k_minus_1_only(tmp_path):
    before = diffs(cells_of(tmp_path, square()), 3)
    after = cells_of(tmp_path, square([line("cnn_aux_shared", 3, 0.99)]))  # a fourth trial, far the best
    assert diffs(after, 3) == before
    changed = diffs(after, 4)
    assert {name for name in before if changed[name] != before[name]} == {  # those with cnn_aux_shared in them
        "CNN trunk, tuned: weight sharing (shared − separate), auxiliary loss",
        "CNN trunk, tuned: auxiliary loss (aux − no aux), weight sharing",
        "CNN trunk, tuned: interaction",
    }


def test_the_effects_within_a_head_use_each_cell_s_best_trial_with_that_head(tmp_path):
    lines = [line(cell, 0, 0.80 + 0.01 * i) for i, cell in enumerate(SQUARE)]  # the learnt head
    lines += [line(cell, 1, 0.90 - 0.02 * i, params={"model.prediction": "digits"}) for i, cell in enumerate(SQUARE)]
    cells = cells_of(tmp_path, lines)
    learnt, _ = budget.effects_within(cells, "model.prediction", "learnt")
    digits, _ = budget.effects_within(cells, "model.prediction", "digits")
    assert learnt[0].diffs == pytest.approx({s: -0.01 for s in SEEDS})  # cnn_aux_shared − cnn_aux_separate, trial 0
    assert digits[0].diffs == pytest.approx({s: +0.02 for s in SEEDS})  # the same, trial 1


# ---- the script ----------------------------------------------------------------------------------------------------


def test_the_script_writes_the_report_and_the_figure(tmp_path):
    lines = square() + [line(cell, i, 0.80 + 0.005 * i) for cell in SQUARE for i in range(3, 12)]
    lines += [line("baseline_cnn", i, 0.70, "pruned" if i % 3 else "complete") for i in range(12)]  # no 2×2: curves
    trials = written(tmp_path / "tuning.jsonl", lines)
    report, figure = tmp_path / "out" / "budget.md", tmp_path / "figures" / "budget.png"
    script.main(["--trials", str(trials), "--report", str(report), "--figure", str(figure)])
    text = report.read_text()
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "[figure](../figures/budget.png)" in text
    assert "| effect | k = 5 | k = 10 | k = 12 | same sign at every k ≥ 10 as at N |" in text
    rows = [row for row in text.splitlines() if row.startswith("| CNN trunk, tuned: ")]
    assert len(rows) == 10 and sum(row.endswith((" yes |", " no |")) for row in rows) == 5  # and the head table's
    assert "| effect | within `learnt` |" in text
    assert "| baseline_cnn | 12 | 8 | 70.00 (#0) | 70.00 (#0) | 70.00 (#0) | learnt | 1,000 |" in text
    assert "MLP" not in text and "biased upwards at small k" in text
    assert not list(tmp_path.rglob("*.part"))


def test_the_script_refuses_a_figure_it_cannot_draw(tmp_path, error_of):
    trials = written(tmp_path / "tuning.jsonl", square())
    argv = ["--trials", str(trials), "--report", str(tmp_path / "budget.md"), "--figure", str(tmp_path / "budget.txt")]
    code, error = error_of(script.main, argv)
    assert code == 2 and "--figure" in error and ".png" in error


def test_the_sign_column_looks_at_every_budget_from_10_to_n():
    def at(*differences: float) -> list[Paired | None]:
        return [Effect("g", "e", "", "", "", "a", "b", {100: d, 101: d + 0.01}) for d in differences]

    steady, flips = at(*[-0.01] * 9, *[0.02] * 3), at(*[0.02] * 10, -0.02, 0.02)
    rows = script.effect_table({"steady": steady, "flips": flips}, 12)
    assert rows[2].endswith("| yes |") and rows[3].endswith("| no |")  # flips at k = 11 only, between the columns
    assert "| steady | -0.50 [" in rows[2] and script.effect_table({"short": steady[:9]}, 9)[2].endswith("| – |")


# ---- malformed lines -----------------------------------------------------------------------------------------------

FIRST = line("cnn_aux_shared", 0, 0.8)
BAD: dict[str, tuple[dict | str, str]] = {  # what the second line is -> what the error names
    "not JSON": ('{"cell": "cnn_aux_shared",', ":2: not JSON"),
    "a missing field": ({k: v for k, v in line("cnn_aux_shared", 1, 0.8).items() if k != "value"}, ":2: field 'value'"),
    "an ill-typed field": (line("cnn_aux_shared", 1, 0.8, trial="1"), ":2: field 'trial' is '1'"),
    "a NaN value": (json.dumps(line("cnn_aux_shared", 1, 0.8) | {"value": math.nan}), ":2: field 'value' is nan"),
    "an unknown state": (line("cnn_aux_shared", 1, 0.8, state="failed"), ":2: field 'state'"),
    "an accuracy beyond 1": (line("cnn_aux_shared", 1, 1.5), ":2: field 'scores' at epoch 2, seed 100"),
    "a duplicate (cell, trial)": (
        line("cnn_aux_shared", 0, 0.7),
        ":2: field 'trial': cnn_aux_shared trial 0 is on line 1",
    ),
    "a gap in the trial numbers": (
        line("cnn_aux_shared", 2, 0.7),
        ":2: field 'trial': cnn_aux_shared has trial 2 but no trial 1",
    ),
    "other seeds": (
        line("cnn_aux_shared", 1, 0.8, scores={"4": {"100": 0.8, "101": 0.8, "103": 0.8}}),
        ":2: field 'scores' has search seeds [100, 101, 103] where line 1 has [100, 101, 102]",
    ),
    "seeds missing at an epoch": (
        line("cnn_aux_shared", 1, 0.8, scores={"2": {"100": 0.8}, "4": {"100": 0.8, "101": 0.8, "102": 0.8}}),
        ":2: field 'scores' has seeds [100, 101, 102] at epoch 4",
    ),
    "a complete trial without scores at its epochs": (
        line("cnn_aux_shared", 1, 0.8) | {"epochs": 6},
        ":2: field 'scores' of a complete trial ends at epoch 4, not at its 'epochs' (6)",
    ),
    "a value that is not the seeds' mean": (
        line("cnn_aux_shared", 1, 0.8) | {"value": 0.9},
        ":2: field 'value' is 0.9",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_malformed_line_is_refused_by_file_line_and_field(tmp_path, case):
    second, named = BAD[case]
    path = written(tmp_path / "tuning.jsonl", [FIRST, second])
    with pytest.raises(InputError) as info:
        budget.load(path)
    assert f"{path}{named}" in str(info.value)


def test_a_malformed_file_is_one_error_line_and_writes_nothing(tmp_path, error_of):
    path = written(tmp_path / "tuning.jsonl", [FIRST, line("cnn_aux_shared", 0, 0.7)])
    report, figure = tmp_path / "budget.md", tmp_path / "budget.png"
    outputs = ["--report", str(report), "--figure", str(figure)]
    code, error = error_of(script.main, ["--trials", str(path), *outputs])
    assert code == 1 and error.startswith(f"error: {path}:2: field 'trial'") and not report.exists()
    code, error = error_of(script.main, ["--trials", str(tmp_path / "none.jsonl"), *outputs])
    assert code == 1 and error == f"error: trials file {tmp_path / 'none.jsonl'} does not exist"
