"""scripts/validate.py: candidates are scored on validation pairs only, and compared seed by seed."""

from pathlib import Path

import pytest

from pairs.data import PairDataModule
from scripts import validate

TINY_RUN = ["data.n_pairs=60", "data.batch_size=20", "trainer.max_epochs=2"]


def test_score_validates_without_ever_evaluating_the_test_pairs(monkeypatch, mnist_dir):
    def refuse(self):
        raise AssertionError("validation must not touch the test pairs")

    monkeypatch.setattr(PairDataModule, "test_dataloader", refuse)
    score = validate.score("configs/cnn_aux_shared.yaml", 0, 20, [f"data.data_dir={mnist_dir}", *TINY_RUN])
    assert 0.0 <= score <= 1.0


def test_summary_gives_the_paired_difference_and_its_standard_error():
    assert validate.summary([0.90, 0.95], None) == "val acc 92.50 ± 3.54"
    assert validate.summary([0.90, 0.95], [0.88, 0.94]).endswith("vs the config as is +1.50 ± 0.50 (paired, SE)")


def test_candidates_run_on_the_same_seeds(monkeypatch, capsys, tmp_path):
    calls = []
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text("model: {}\n")
    monkeypatch.setattr(validate.runs, "config_hash", lambda args: "h")  # c.yaml is not resolved here
    monkeypatch.setattr(validate, "score", lambda config, seed, val, overrides: calls.append((seed, overrides)) or 0.9)
    monkeypatch.setattr(
        "sys.argv", ["validate.py", "--config", "c.yaml", "--seeds", "101", "102", "--set", "a=1", "--set", "b=2"]
    )
    validate.main()
    assert calls == [(s, o) for o in ([], ["a=1"], ["b=2"]) for s in (101, 102)]
    assert capsys.readouterr().out.count("vs the config as is +0.00 ± 0.00") == 2


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--val-pairs", "0"], "argument --val-pairs: 0 is not an integer >= 1"),
        (["--set", "model.dropout"], "is not KEY=VALUE"),
        (["--set", "model.nope=1"], "model.nope"),
        (["--val-pairs", "60"], "data.val_pairs must be in [0, n_pairs=60)"),
        (["--seeds", "3"], "argument --seeds: 3 is not an integer in [100, 999999]"),
    ],
)
def test_bad_input_fails_before_any_fit(monkeypatch, mnist_dir, error_of, extra, words):
    monkeypatch.setattr(validate.runs, "validate", lambda task: pytest.fail("a fit ran before the input was checked"))
    argv = ["--config", "configs/cnn_aux_shared.yaml", "--seeds", "100", *extra]
    argv += ["--set", *(f"data.data_dir={mnist_dir}", *TINY_RUN)] if "--set" not in extra else []
    code, line = error_of(validate.main, argv)
    assert code != 0 and line.startswith("error:") and words in line, line
