"""benchmark.py on a tiny grid: JSONL content, resume, serial = parallel, report tables, paired arithmetic."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import benchmark
from pairs import executors, report, results, runs
from pairs.stats import paired_effect

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str, results_file: str = "r.jsonl") -> None:
    benchmark.main(
        [
            "--configs",
            "tiny_*",
            "--seeds",
            "2",
            "--results",
            results_file,
            "--report",
            "r.md",
            "--figure",
            "r.png",
            *args,
        ]
    )


def lines(path="r.jsonl"):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_jsonl_holds_one_line_per_run(workdir):
    bench("--workers", "1")
    runs = lines()
    assert sorted((r["config"], r["seed"]) for r in runs) == [
        ("tiny_base", 0),
        ("tiny_base", 1),
        ("tiny_pair", 0),
        ("tiny_pair", 1),
    ]
    for run in runs:
        assert {"config_hash", "metrics", "fit_seconds", "torch", "lightning", "params", "threads"} <= run.keys()
        assert 0 <= run["metrics"]["acc"] <= 1 and run["fit_seconds"] > 0
    assert len({r["config_hash"] for r in runs if r["config"] == "tiny_pair"}) == 1
    assert ("digit_acc" in runs[0]["metrics"]) == (runs[0]["config"] == "tiny_pair")
    assert Path("r.md").read_text().count("| tiny_") == 2 and Path("r.png").stat().st_size > 0


def test_seeds_differ_and_the_same_seed_repeats(workdir):
    bench("--workers", "1")
    bench("--workers", "1", "--fresh", results_file="again.jsonl")
    first, second = lines(), lines("again.jsonl")
    key = lambda r: (r["config"], r["seed"])
    assert [r["metrics"] for r in sorted(first, key=key)] == [r["metrics"] for r in sorted(second, key=key)]
    pair = {r["seed"]: r["metrics"] for r in first if r["config"] == "tiny_pair"}
    assert pair[0] != pair[1]  # fresh data and initialisation every round


def test_resume_after_interruption_loses_nothing(workdir, monkeypatch):
    original = executors.execute

    def interrupted(tasks, workers, threads, **kwargs):
        for i, record in enumerate(original(tasks, workers, threads, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(executors, "execute", interrupted)
    with pytest.raises(SystemExit, match="rerun the same command to resume"):
        bench("--workers", "1")
    saved = lines()
    assert len(saved) == 2
    monkeypatch.setattr(executors, "execute", original)
    bench("--workers", "1")
    after = lines()
    assert after[:2] == saved and len(after) == 4
    assert len({(r["config"], r["seed"]) for r in after}) == 4  # nothing ran twice


def test_a_killed_benchmark_resumes(workdir):
    command = [
        sys.executable,
        str(ROOT / "benchmark.py"),
        *"--configs tiny_* --seeds 3 --workers 1 --epochs 3 --results r.jsonl --report r.md --figure r.png".split(),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (Path("r.jsonl").exists() and Path("r.jsonl").read_text().count("\n") >= 1):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = lines()
    assert 1 <= len(killed) < 6
    subprocess.run(command, env=env, check=True, capture_output=True)
    after = lines()
    assert after[: len(killed)] == killed and len(after) == 6


def test_parallel_results_equal_serial_results(workdir):
    bench("--workers", "1", "--threads", "1", results_file="serial.jsonl")
    bench("--workers", "2", results_file="parallel.jsonl")
    by_run = lambda runs: {(r["config"], r["seed"]): r["metrics"] for r in runs}
    assert by_run(lines("serial.jsonl")) == by_run(lines("parallel.jsonl"))
    assert {r["threads"] for r in lines("parallel.jsonl")} == {1}


def test_config_hash_follows_what_the_run_computes(workdir):
    path = "configs/tiny_pair.yaml"
    same = runs.config_hash(runs.cli_args(path, None, None))
    assert same == runs.config_hash(runs.cli_args(path, None, "tb"))
    assert same == runs.config_hash([*runs.cli_args(path, None, None), "--data.data_dir=/moved/mnist"])
    assert same != runs.config_hash(runs.cli_args(path, 2, None))
    assert same != runs.config_hash([*runs.cli_args(path, None, None), "--model.dropout=0.1"])
    assert same != runs.config_hash([*runs.cli_args(path, None, None), "--optimizer.init_args.lr=0.02"])


def test_report_only_trains_nothing(workdir, monkeypatch):
    bench("--workers", "1")
    monkeypatch.setattr(runs, "run", lambda task: pytest.fail("trained during --report-only"))
    Path("r.md").unlink()
    bench("--report-only")
    assert "| tiny_pair |" in Path("r.md").read_text()


def test_unknown_config_lists_the_available_ones(workdir):
    with pytest.raises(SystemExit):
        benchmark.main(["--configs", "nope"])
    with pytest.raises(ValueError, match="no config matches 'nope'; available: tiny_base, tiny_pair"):
        runs.select(["nope"])


def test_zero_seeds_is_an_error(workdir, capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["--configs", "tiny_pair", "--seeds", "0"])
    assert "--seeds must be >= 1" in capsys.readouterr().err


GOOD = '{"config": "a", "config_hash": "h", "seed": 0, "metrics": {"acc": 0.5}, "fit_seconds": 1}'


@pytest.mark.parametrize(
    "line, message",
    [
        ("{oops", r"r.jsonl:2: not JSON"),
        ('{"config": "a"}', r"r.jsonl:2: missing \['config_hash', 'fit_seconds', 'metrics', 'seed'\]"),
        (GOOD.replace('"seed": 0', '"seed": "0"'), r"r.jsonl:2: field 'seed' is '0', not int"),
        (GOOD.replace('{"acc": 0.5}', "[0.5]"), r"r.jsonl:2: field 'metrics' is \[0.5\], not dict"),
        (GOOD.replace("0.5", '"high"'), r"r.jsonl:2: field 'metrics' must map names to numbers"),
    ],
)
def test_a_malformed_line_in_the_middle_is_one_error_naming_file_and_line(workdir, capsys, line, message):
    Path("r.jsonl").write_text(f"{GOOD}\n{line}\n{GOOD}\n")
    with pytest.raises(results.ResultsError, match=message):
        results.load(Path("r.jsonl"))
    with pytest.raises(SystemExit):
        subprocess_main(["--report-only", "--results", "r.jsonl"])
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: r.jsonl:2:")


def subprocess_main(args: list[str]) -> None:
    """benchmark.py's __main__ path in this process: errors become one `error:` line."""
    try:
        benchmark.main(args)
    except (results.ResultsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from e


def test_a_torn_last_line_is_set_aside_and_the_run_resumes(workdir, capsys):
    bench("--workers", "1")
    whole = Path("r.jsonl").read_text()
    Path("r.jsonl").write_text(whole + whole.splitlines()[0][:40])  # killed mid-write
    bench("--workers", "1")
    assert Path("r.jsonl").read_text() == whole  # nothing re-run, nothing lost
    assert Path("r.jsonl.bad").read_text() == whole.splitlines()[0][:40] + "\n"
    assert "half-written line" in capsys.readouterr().err
    Path("r.jsonl").write_text(whole.rstrip("\n"))  # a whole record that lost only its newline is kept
    bench("--workers", "1")
    assert Path("r.jsonl").read_text() == whole


def test_report_only_with_only_the_results_file_reports_everything_in_it(workdir):
    bench("--workers", "1", "--epochs", "2")
    Path("r.md").unlink()
    benchmark.main(["--report-only", "--results", "r.jsonl", "--report", "r.md", "--figure", "r.png"])
    text = Path("r.md").read_text()
    assert "| tiny_pair |" in text and "| tiny_base |" in text and "4 runs" in text
    benchmark.main(
        ["--report-only", "--configs", "tiny_base", "--results", "r.jsonl", "--report", "r.md", "--figure", "r.png"]
    )
    assert "| tiny_pair |" not in Path("r.md").read_text()


def test_records_carry_the_code_version_and_other_code_is_rerun(workdir, monkeypatch):
    bench("--workers", "1")
    assert {r["code"] for r in lines()} == {runs.code_version()}
    monkeypatch.setattr(runs, "code_version", lambda: "changed")
    bench("--workers", "1")
    assert len(lines()) == 8 and {r["code"] for r in lines()[4:]} == {"changed"}
    benchmark.main(["--report-only", "--results", "r.jsonl", "--report", "r.md", "--figure", "r.png"])
    assert "4 runs" in Path("r.md").read_text()  # the latest record of each (config, seed)
    Path("r.jsonl").write_text("\n".join(Path("r.jsonl").read_text().splitlines()[2:6]) + "\n")
    benchmark.main(["--report-only", "--results", "r.jsonl", "--report", "r.md", "--figure", "r.png"])
    assert "Warning: these runs come from 2 versions of the code" in Path("r.md").read_text()


def test_the_code_version_follows_what_a_fit_imports(tmp_path, monkeypatch):
    package = tmp_path / "pairs"
    package.mkdir()
    for name, text in (
        ("runs", "from pairs.cli import PairCLI\n"),
        ("cli", "from pairs import models\n"),
        ("models", "x = 1\n"),
        ("report", "x = 1\n"),
    ):
        (package / f"{name}.py").write_text(text)
    monkeypatch.setattr(runs, "PACKAGE", package)
    before = runs.code_version()
    (package / "report.py").write_text("x = 2\n")  # presents results only: no fit imports it
    assert runs.code_version() == before
    (package / "models.py").write_text("x = 2\n")
    assert runs.code_version() != before
    (package / "models.py").rename(package / "nets.py")  # a renamed module stays covered through its import
    (package / "cli.py").write_text("from pairs import nets\n")
    renamed = runs.code_version()
    (package / "nets.py").write_text("x = 3\n")
    assert runs.code_version() != renamed


def test_the_real_code_version_covers_the_model_and_data_not_the_report():
    names = {path.stem for path in runs.computing_modules()}
    assert {"cli", "classifier", "models", "data", "augment", "mnist", "runs"} <= names
    assert not names & {"report", "results", "tuning", "stats", "executors"}


@pytest.mark.slow
def test_sigterm_stops_the_benchmark_like_ctrl_c(workdir):
    command = [
        sys.executable,
        str(ROOT / "benchmark.py"),
        *"--configs tiny_* --seeds 20 --workers 2 --epochs 3 --results r.jsonl --report r.md --figure r.png".split(),
    ]
    process = subprocess.Popen(
        command,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (Path("r.jsonl").exists() and Path("r.jsonl").read_text().count("\n") >= 1):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "rerun the same command to resume" in err and "Traceback" not in err
    time.sleep(1)
    states = subprocess.run(["ps", "-o", "stat=,args=", "-s", str(process.pid)], capture_output=True, text=True).stdout
    assert [line for line in states.splitlines() if not line.strip().startswith("Z")] == []  # no live orphan


# ---- the report's arithmetic, on hand-made runs ------------------------------------------------------------------


def test_paired_difference_against_a_hand_computed_example():
    a, b = {0: 0.90, 1: 0.80, 2: 0.85, 7: 0.5}, {0: 0.85, 1: 0.80, 2: 0.80}
    mean, low, high, n = paired_effect(a, b)
    # differences 0.05, 0, 0.05 (seed 7 is unpaired): mean 1/30, sd 0.028868, se 0.016667, t(0.975, df=2) = 4.3027
    assert n == 3
    assert mean == pytest.approx(1 / 30)
    assert low == pytest.approx(1 / 30 - 4.3027 * 0.016667, abs=1e-4)
    assert high == pytest.approx(1 / 30 + 4.3027 * 0.016667, abs=1e-4)


def fake_runs():
    accuracy = {
        "cnn_aux_shared": [0.90, 0.92],
        "cnn_aux_separate": [0.88, 0.89],
        "cnn_noaux_shared": [0.85, 0.86],
        "cnn_noaux_separate": [0.84, 0.84],
    }
    return [
        {
            "config": name,
            "config_hash": name,
            "seed": seed,
            "params": 1000,
            "fit_seconds": 2.0,
            "metrics": {"acc": acc, "digit_acc": 0.9, "acc_from_digits": 0.9},
        }
        for name, values in accuracy.items()
        for seed, acc in enumerate(values)
    ]


def test_report_tables():
    text = report.render(fake_runs())
    assert "| cnn_aux_shared | 1,000 | 2 | 91.0 ± 1.4 | 90.0 ± 0.0 | – | – | 90.0 ± 0.0 | – | 2.0 |" in text
    assert "| weight sharing | 91.0 ± 1.4 | 85.5 ± 0.7 |" in text
    assert "| no weight sharing | 88.5 ± 0.7 | 84.0 ± 0.0 |" in text
    # weight sharing with aux: diffs 0.02, 0.03 -> +2.5 points; aux with sharing: 0.05, 0.06 -> +5.5
    assert "| weight sharing (shared − separate) | auxiliary loss | +2.5 |" in text
    assert "| auxiliary loss (aux − no aux) | weight sharing | +5.5 |" in text
    assert "MLP trunk" not in text
    partial = report.render([r for r in fake_runs() if r["config"] != "cnn_noaux_separate"])
    assert "| weight sharing (shared − separate) | no auxiliary loss | missing: cnn_noaux_separate | | 0 |" in partial


def test_report_compares_each_tuned_config_with_its_fixed_recipe():
    fixed = [
        r | {"config": f"fixed/{r['config']}", "metrics": {"acc": r["metrics"]["acc"] - 0.01 * (1 + r["seed"])}}
        for r in fake_runs()
    ]
    text = report.render(fake_runs() + fixed)
    assert "### CNN trunk, tuned:" in text and "### CNN trunk, fixed recipe:" in text
    # tuned - fixed = 0.01, 0.02 on seeds 0, 1 -> +1.5 points
    assert "| cnn_aux_shared | 89.5 ± 0.7 | 91.0 ± 1.4 | +1.5 |" in text


def test_tensorboard_logs_only_when_asked(workdir):
    bench("--workers", "1")
    assert not list(Path(".").rglob("events.out.tfevents.*"))
    bench("--workers", "1", "--tensorboard", "tb", results_file="tb.jsonl")
    runs = sorted(p.relative_to("tb").as_posix() for p in Path("tb").glob("*/*"))
    assert runs == ["tiny_base/seed_0", "tiny_base/seed_1", "tiny_pair/seed_0", "tiny_pair/seed_1"]
    assert all(list(Path("tb", run).glob("events.out.tfevents.*")) for run in runs)
