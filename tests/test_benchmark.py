"""benchmark.py on a tiny grid: JSONL content, resume, serial = parallel, report tables, paired arithmetic."""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import types
from concurrent.futures import Future
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

import benchmark
from common.stats import paired_effect
from pairs import effects, executors, report, results, runs
from pairs.record import Record
from tests import ROOT


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


OUTPUTS = "--results r.jsonl --report r.md --figure r.png"
PAIR = "--configs cnn_aux_shared fixed/cnn_aux_shared"


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
        assert run.keys() == Record.__required_keys__ | Record.__optional_keys__  # each key declared, each written
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


def test_a_failure_mid_benchmark_keeps_every_finished_run_and_resumes(workdir, monkeypatch, mid_run_failure):
    failure, seen = mid_run_failure
    original = executors.execute

    def failing(tasks, workers, threads, **kwargs):
        for i, record in enumerate(original(tasks, workers, threads, **kwargs)):
            if i == 2:
                raise failure
            yield record

    monkeypatch.setattr(executors, "execute", failing)
    with pytest.raises(seen[0], match=seen[1]):
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
    deadline = time.time() + 300  # the first record; a loaded machine is slow to import and spawn
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
    assert "argument --seeds: 0 is not an integer in [1, 100]" in capsys.readouterr().err


GOOD = '{"config": "a", "config_hash": "h", "seed": 0, "metrics": {"acc": 0.5}, "fit_seconds": 1}'


@pytest.mark.parametrize(
    "line, message",
    [
        ("{oops", r"r.jsonl:2: not JSON"),
        ('{"config": "a"}', r"r.jsonl:2: missing \['config_hash', 'fit_seconds', 'metrics', 'seed'\]"),
        (GOOD.replace('"seed": 0', '"seed": "0"'), r"r.jsonl:2: field 'seed' is '0', not int"),
        (GOOD.replace('{"acc": 0.5}', "[0.5]"), r"r.jsonl:2: field 'metrics' is \[0.5\], not dict"),
        (GOOD.replace("0.5", '"high"'), r"r.jsonl:2: field 'metrics' must map names to numbers"),
        (GOOD[:-1] + ', "block": "pilot"}', r"r.jsonl:2: field 'block' is 'pilot', not one of main, replication"),
    ],
)
def test_a_malformed_line_in_the_middle_is_one_error_naming_file_and_line(workdir, error_of, line, message):
    Path("r.jsonl").write_text(f"{GOOD}\n{line}\n{GOOD}\n")
    with pytest.raises(results.ResultsError, match=message):
        results.load(Path("r.jsonl"))
    code, last = error_of(benchmark.main, ["--report-only", "--results", "r.jsonl"])
    assert code == 1 and last.startswith("error: r.jsonl:2:")


def test_a_line_is_checked_for_the_keys_every_record_holds():
    assert set(results.FIELDS) == Record.__required_keys__


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
    (tmp_path / "common").mkdir()
    for name, text in (
        ("runs", "from pairs.cli import PairCLI\n"),
        ("cli", "from pairs import models\n"),
        ("models", "from common.errors import Failure\n"),
        ("report", "x = 1\n"),
    ):
        (package / f"{name}.py").write_text(text)
    (tmp_path / "common" / "errors.py").write_text("x = 1\n")
    monkeypatch.setattr(runs, "FOLDERS", {"pairs": package, "common": tmp_path / "common"})
    before = runs.code_version()
    (tmp_path / "common" / "errors.py").write_text("x = 2\n")  # the shared floor counts where a fit imports it
    assert runs.code_version() != before
    before = runs.code_version()
    (package / "report.py").write_text("x = 2\n")  # presents results only: no fit imports it
    assert runs.code_version() == before
    (package / "models.py").write_text("from common.errors import Failure\nx = 2\n")
    assert runs.code_version() != before
    (package / "models.py").rename(package / "nets.py")  # a renamed module stays covered through its import
    (package / "cli.py").write_text("from pairs import nets\n")
    renamed = runs.code_version()
    (package / "nets.py").write_text("x = 3\n")
    assert runs.code_version() != renamed


def test_the_real_code_version_covers_the_model_and_data_not_the_report():
    names = {f"{path.parent.name}/{path.name}" for path in runs.computing_modules()}
    study = {f"pairs/{name}.py" for name in ("cli", "classifier", "models", "data", "augment", "runs")}
    assert study | {"common/mnist.py", "common/errors.py"} <= names
    assert "pairs/report.py" not in names
    assert not names & {f"pairs/{name}.py" for name in ("effects", "spread", "doc_tables", "results", "report")}
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
    deadline = time.time() + 300  # the first record; a loaded machine is slow to import and spawn
    while time.time() < deadline and not (Path("r.jsonl").exists() and Path("r.jsonl").read_text().count("\n") >= 1):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=300)  # took over 60 s beside other jobs once; a hang still fails
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
    assert "| weight sharing (shared − separate) | auxiliary loss | +2.50 |" in text
    assert "| auxiliary loss (aux − no aux) | weight sharing | +5.50 |" in text
    assert "Family: the 4 factor effects" in text and "Holm p over the 4 |" in text
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
    assert "| cnn_aux_shared | 89.5 ± 0.7 | 91.0 ± 1.4 | +1.50 |" in text
    assert "Family: the 4 tuned − fixed effects" in text


def test_tensorboard_logs_only_when_asked(workdir):
    bench("--workers", "1")
    assert not list(Path(".").rglob("events.out.tfevents.*"))
    bench("--workers", "1", "--tensorboard", "tb", results_file="tb.jsonl")
    runs = sorted(p.relative_to("tb").as_posix() for p in Path("tb").glob("*/*"))
    assert runs == ["tiny_base/seed_0", "tiny_base/seed_1", "tiny_pair/seed_0", "tiny_pair/seed_1"]
    assert all(list(Path("tb", run).glob("events.out.tfevents.*")) for run in runs)


# ---- seeds until the answer is resolved: the precision loop, on records made up per (config, seed) -------------


@pytest.fixture
def tuned_and_fixed(workdir, tiny_config):
    """configs/cnn_aux_shared.yaml and configs/fixed/cnn_aux_shared.yaml beside the tiny ones: one paired effect."""
    (workdir / "configs" / "fixed").mkdir()
    (workdir / "configs" / "cnn_aux_shared.yaml").write_text(tiny_config("pairnet"))
    (workdir / "configs" / "fixed" / "cnn_aux_shared.yaml").write_text(tiny_config("pairnet", 1))
    return workdir


def made_up_fits(monkeypatch, interrupt_after: int | None = None) -> list[tuple[str, int]]:
    """Fits replaced by records whose tuned − fixed difference is +5 ± 1 points, alternating with the seed: its 95%
    half-width is 0.75 points over 10 seeds, 0.48 over 20. Returns the (name, seed) of every fit, as they happen."""
    fits, code = [], runs.code_version()

    def execute(tasks, workers, threads, **kwargs):
        for task in tasks:
            if len(fits) == interrupt_after:
                raise KeyboardInterrupt
            fits.append((task.name, task.seed))
            acc = 0.80 if task.name.startswith("fixed/") else 0.85 + 0.01 * (-1) ** task.seed
            yield {
                "config": task.name,
                "config_hash": task.config_hash,
                "seed": task.seed,
                "code": code,
                "metrics": {"acc": acc},
                "fit_seconds": 1.0,
            }

    monkeypatch.setattr(executors, "execute", execute)
    return fits


def precise(*args: str) -> None:
    benchmark.main(["--configs", "cnn_aux_shared", "fixed/cnn_aux_shared", "--workers", "1", *OUTPUTS.split(), *args])


def test_seeds_are_added_in_blocks_until_every_interval_is_narrow_enough(tuned_and_fixed, monkeypatch, capsys):
    fits = made_up_fits(monkeypatch)
    precise("--seed-list", "3", "4", "11", "--precision", "0.6")
    seeds = {name: sorted(s for n, s in fits if n == name) for name in ("cnn_aux_shared", "fixed/cnn_aux_shared")}
    first = [3, 4, 11]
    second = [0, 1, 2, 5, 6, 7, 8, 9, 10, 12]  # the next ten unused test seeds
    third = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22]
    assert seeds["cnn_aux_shared"] == seeds["fixed/cnn_aux_shared"] == sorted(first + second + third)
    assert [s for n, s in fits if n == "cnn_aux_shared"] == first + second + third  # block by block
    progress = [line for line in capsys.readouterr().err.splitlines() if "seeds done" in line]
    assert progress[0].startswith("3 seeds done; widest interval left: the effect of tuning on cnn_aux_shared: ±")
    assert [line.split(";")[0] for line in progress] == ["3 seeds done", "13 seeds done", "23 seeds done"]
    assert progress[-1].endswith("±0.44 points (asked ±0.6)")
    text = Path("r.md").read_text()
    assert "Every paired effect's 95% interval is within ±0.6 points with 23 seeds" in text
    # 12 even seeds at +6 points, 11 odd at +4: mean +5.04, sd 1.02, t(0.975, 22) = 2.074 -> ±0.44
    assert "| cnn_aux_shared | 80.0 ± 0.0 | 85.0 ± 1.0 | +5.04 | [+4.60, +5.49] | 23 |" in text


def test_the_loop_stops_at_the_most_seeds_and_says_what_is_still_wide(tuned_and_fixed, monkeypatch, capsys):
    fits = made_up_fits(monkeypatch)
    precise("--precision", "0.1", "--max-seeds", "25")
    assert sorted(s for n, s in fits if n == "fixed/cnn_aux_shared") == list(range(25))
    assert (
        "25 seeds done; widest interval left: the effect of tuning on cnn_aux_shared: ±0.4" in capsys.readouterr().err
    )
    text = Path("r.md").read_text()
    assert "The maximum of 25 seeds was reached; still wider than ±0.1 points:" in text
    assert "- the effect of tuning on cnn_aux_shared: ±0.4" in text
    assert "| +5.04 | [+4.62, +5.46] | 25 |" in text
    assert "**resolved**: tuning helps cnn_aux_shared by +5.04 points" in text  # the width stops, never concludes


def test_a_rerun_of_the_precision_loop_resumes_without_refitting(tuned_and_fixed, monkeypatch):
    made_up_fits(monkeypatch, interrupt_after=25)  # in the second block of seeds
    with pytest.raises(SystemExit, match="rerun the same command to resume"):
        precise("--precision", "0.6")
    assert len(lines()) == 25
    fits = made_up_fits(monkeypatch)
    precise("--precision", "0.6")
    assert len(fits) == 40 - 25 and len(lines()) == 40
    assert sorted(fits) == sorted(
        {(r["config"], r["seed"]) for r in lines()} - {(r["config"], r["seed"]) for r in lines()[:25]}
    )
    fits = made_up_fits(monkeypatch)
    precise("--precision", "0.6")
    assert fits == [] and "within ±0.6 points with 20 seeds" in Path("r.md").read_text()


# ---- a replication block of fresh seeds, after the main estimate ----------------------------------------------------


def test_a_replication_block_takes_the_next_unused_seeds_and_is_recorded_as_such(tuned_and_fixed, monkeypatch):
    fits = made_up_fits(monkeypatch)
    precise("--seed-list", "0", "1", "2", "4", "5")  # the main block
    assert "No replication block yet" in Path("r.md").read_text()
    fits.clear()
    precise("--replicate", "3")
    both = ("cnn_aux_shared", "fixed/cnn_aux_shared")
    assert sorted(fits) == sorted((name, seed) for name in both for seed in (3, 6, 7))  # the next three unused
    assert {(r["seed"], r["block"]) for r in lines()} == {(s, "main") for s in (0, 1, 2, 4, 5)} | {
        (s, "replication") for s in (3, 6, 7)
    }
    text = Path("r.md").read_text()
    assert "Main block: 10 runs, seeds 0–2, 4–5; replication block: 6 runs, seeds 3, 6–7." in text
    # main: +6, +4, +6, +6, +4 (seeds 0, 1, 2, 4, 5): mean 5.2, sd 1.095, t(0.975, 4) = 2.776, sqrt(1/5 + 1/3) = 0.730
    # -> prediction interval 5.2 ± 2.22; replication +4, +6, +4: mean 4.67, inside and positive; pooled: 8 seeds, 5.0
    assert (
        "| cnn_aux_shared | +5.20 (5) | [+2.98, +7.42] | +4.67 [+1.80, +7.54] (3) | consistent | "
        "+5.00 [+4.11, +5.89] (8) |"
    ) in text
    assert "The replication block's +4.67 over 3 seeds lies inside the 95% prediction interval" in text
    assert "| cnn_aux_shared | 80.0 ± 0.0 | 85.2 ± 1.1 | +5.20 |" in text  # the tables are the main block's
    fits.clear()
    precise("--replicate", "3")
    assert fits == []  # a rerun resumes: nothing left to fit
    precise("--seed-list", "0", "1", "2", "4", "5", "--precision", "0.1", "--max-seeds", "10")
    assert sorted({s for _, s in fits}) == [8, 9, 10, 11, 12]  # the main block skips the replication's seeds
    assert {s for s, b in ((r["seed"], r["block"]) for r in lines()) if b == "replication"} == {3, 6, 7}


def journal(main: range, fresh: range = range(0)) -> str:
    """A results file of cnn_aux_shared and its fixed recipe on the `main` seeds and, as a replication block, the
    `fresh` ones."""
    return "".join(
        json.dumps(
            {
                "config": name,
                "config_hash": name,
                "seed": seed,
                "metrics": {"acc": 0.8},
                "fit_seconds": 1,
                "block": block,
            }
        )
        + "\n"
        for block, seeds in (("main", main), ("replication", fresh))
        for seed in seeds
        for name in ("cnn_aux_shared", "fixed/cnn_aux_shared")
    )


@pytest.mark.parametrize(
    "args, recorded, message",
    [
        (f"{PAIR} --replicate 0", journal(range(50)), "argument --replicate: 0 is not an integer in [1, 100]"),
        (
            f"{PAIR} --replicate 51",
            journal(range(50)),
            "--replicate 51 is beyond the seeds left: the main block uses 50 of the 100 test seeds, so 50 are left",
        ),
        (f"{PAIR} --replicate 5 --seeds 3", journal(range(50)), "it does not go with --seeds or --seed-list"),
        (f"{PAIR} --replicate 5 --seed-list 3", journal(range(50)), "it does not go with --seeds or --seed-list"),
        (f"{PAIR} --replicate 5 --precision 0.5", journal(range(50)), "--replicate does not go with --precision"),
        (f"{PAIR} --replicate 5 --fresh", journal(range(50)), "--replicate does not go with --fresh"),
        (f"{PAIR} --replicate 5", "", "--replicate needs the main block first: r.jsonl has no main-block runs of"),
        (
            "--configs cnn_aux_shared tiny_pair --replicate 5",
            journal(range(50)),
            "r.jsonl has no main-block runs of tiny_pair",
        ),
        (
            f"{PAIR} --seed-list 49 50",
            journal(range(50), range(50, 55)),
            "seed 50 belongs to the replication block in r.jsonl: the main estimate cannot take it",
        ),
        (f"{PAIR} --seeds 60", journal(range(50), range(50, 55)), "seed 50 belongs to the replication block"),
        ("--configs tiny_pair --docs", journal(range(2)), "--docs goes with --report-only"),
        ("--report-only --docs --configs tiny_pair", journal(range(2)), "--docs takes every run in the results file"),
    ],
)
def test_bad_replication_input_is_one_error_line_and_runs_nothing(
    tuned_and_fixed, monkeypatch, error_of, args, recorded, message
):
    Path("r.jsonl").write_text(recorded)
    monkeypatch.setattr(executors, "execute", lambda *a, **k: pytest.fail("ran fits on bad input"))
    code, line = error_of(benchmark.main, [*args.split(), *OUTPUTS.split()])
    assert code == 2 and line.startswith("error: ") and message in line, line
    assert Path("r.jsonl").read_text() == recorded and not Path("r.md").exists()


def test_a_seed_in_both_blocks_is_refused_by_name(tuned_and_fixed, error_of):
    Path("r.jsonl").write_text(journal(range(5)) + journal(range(0), range(4, 6)))
    code, line = error_of(benchmark.main, ["--report-only", *OUTPUTS.split()])
    assert code == 1 and "cnn_aux_shared has runs in both the main and the replication block on seed 4" in line
    code, line = error_of(benchmark.main, [*PAIR.split(), "--replicate", "2", *OUTPUTS.split()])
    assert code == 1 and "on seed 4" in line and not Path("r.md").exists()


# ---- the effects of a 2×2 ---------------------------------------------------------------------------------------


def test_the_effects_of_a_2x2_are_computed_once_with_their_labels_and_seeds():
    found = {(e.group, e.label, e.given): e for e in effects.effects(effects.by_config(fake_runs()))}
    assert list(found) == [
        ("CNN trunk, tuned", "weight sharing (shared − separate)", "auxiliary loss"),
        ("CNN trunk, tuned", "weight sharing (shared − separate)", "no auxiliary loss"),
        ("CNN trunk, tuned", "auxiliary loss (aux − no aux)", "weight sharing"),
        ("CNN trunk, tuned", "auxiliary loss (aux − no aux)", "no weight sharing"),
    ]
    sharing = found["CNN trunk, tuned", "weight sharing (shared − separate)", "auxiliary loss"]
    assert (sharing.a, sharing.b) == ("cnn_aux_shared", "cnn_aux_separate")
    assert sharing.diffs == pytest.approx({0: 0.02, 1: 0.03})


# ---- where the spread comes from ------------------------------------------------------------------------------


def spread_runs(total: list[float], test_pairs: int | None = 500) -> list[dict]:
    """cnn_aux_shared's own runs with accuracies `total` and its runs varying one source alone, seeds 0..4."""
    accuracy = {
        "cnn_aux_shared (vary data)": [0.90, 0.91, 0.92, 0.93, 0.94],  # variance 2.5 points²
        "cnn_aux_shared (vary init)": [0.90, 0.90, 0.91, 0.91, 0.92],  # 0.7
        "cnn_aux_shared (vary order)": [0.90, 0.90, 0.90, 0.90, 0.91],  # 0.2
        "cnn_aux_shared": total,
    }
    extra = {} if test_pairs is None else {"test_pairs": test_pairs}
    return [
        {"config": name, "config_hash": name, "seed": seed, "fit_seconds": 1.0, "metrics": {"acc": acc}, **extra}
        for name, values in accuracy.items()
        for seed, acc in enumerate(values)
    ]


def test_the_spread_table_gives_each_part_the_sum_and_their_ratio_to_the_total_with_intervals():
    runs = spread_runs([0.88, 0.90, 0.92, 0.91, 0.89])  # variance 2.5 points², 4 degrees of freedom
    text = report.render(runs).split("## Where the spread comes from")[1]
    # chi-square interval of a variance on 4 degrees of freedom: 4 v / chi2(0.975, 4), 4 v / chi2(0.025, 4)
    chi = lambda v, dof: (dof * v / scipy_stats.chi2.ppf(0.975, dof), dof * v / scipy_stats.chi2.ppf(0.025, dof))
    shown = lambda v, dof: f"{v:.2f} [{chi(v, dof)[0]:.2f}, {chi(v, dof)[1]:.2f}]"
    assert f"| data: the pair draw (training and test pairs) | 5 | {shown(2.5, 4)} | 1.58 |" in text
    assert f"| init: initial weights (and dropout, augmentations) | 5 | {shown(0.7, 4)} | 0.84 |" in text
    assert f"| order: the training batch order | 5 | {shown(0.2, 4)} | 0.45 |" in text
    assert "| total: all three vary (the config's own runs) | 5 | 2.50 [0.90, 20.64] | 1.58 |" in text
    dof = 3.4**2 / ((2.5**2 + 0.7**2 + 0.2**2) / 4)  # Welch-Satterthwaite
    assert f"| sum of the 3 above ({dof:.1f} degrees of freedom) |  | {shown(3.4, dof)} | 1.84 |" in text
    ratio = [3.4 / 2.5 / scipy_stats.f.ppf(q, dof, 4) for q in (0.975, 0.025)]
    assert f"| sum / total | | 1.36 [{ratio[0]:.2f}, {ratio[1]:.2f}] | |" in text
    p = statistics.mean(r["metrics"]["acc"] for r in runs)
    floor = 1e4 * p * (1 - p) / 500
    assert f"p = {100 * p:.1f} %, n_test = 500; its share of the total {100 * floor / 2.5:.0f}%" in text
    assert f"Check: the sum is 1.36 times the total, 95% interval [{ratio[0]:.2f}, {ratio[1]:.2f}], it holds 1" in text
    tight = report.render(spread_runs([0.90, 0.90, 0.90, 0.90, 0.901], test_pairs=None))
    assert "above 1: the sources do not add up to the total spread" in tight and "n_test = 1,000" in tight
    assert "needs all three sources varied; missing: order" in report.render(
        [r for r in runs if r["config"] != "cnn_aux_shared (vary order)"]
    )
    more = spread_runs([0.88, 0.90, 0.92, 0.91, 0.89, 0.90, 0.92])  # the total counts every seed of the study
    assert "| total: all three vary (the config's own runs) | 7 |" in report.render(more)


@pytest.mark.slow
def test_each_source_of_randomness_varies_alone(workdir):
    assert runs.seed_args(3, "data") == ["--data.seed=3", "--seed_everything=0", "--data.order_seed=0"]
    assert runs.seed_args(3, "order") == ["--data.seed=0", "--seed_everything=0", "--data.order_seed=3"]
    bench("--workers", "1", "--configs", "tiny_pair", "--vary", "data", "init", "order")
    made = {(r["config"], r["seed"]): r for r in lines()}
    kinds = ["tiny_pair", *(f"tiny_pair (vary {source})" for source in ("data", "init", "order"))]
    assert sorted(made) == sorted((kind, seed) for kind in kinds for seed in (0, 1))
    assert len({made[kind, 0]["config_hash"] for kind in kinds}) == 4  # each kind of run keyed apart
    at_zero = [made[kind, 0]["metrics"] for kind in kinds[1:]]
    assert at_zero[0] == at_zero[1] == at_zero[2]  # seed 0 holds all three sources at 0: the same fit
    assert made["tiny_pair", 0]["metrics"] == at_zero[0]  # and the study's own run 0 is that fit: --vary nests it
    assert len({str(made[kind, 1]["metrics"]) for kind in kinds[1:]} | {str(at_zero[0])}) == 4
    assert {r["test_pairs"] for r in made.values()} == {60}
    text = Path("r.md").read_text()
    assert "### tiny_pair" in text and "| total: all three vary (the config's own runs) | 2 |" in text
    assert "n_test = 60" in text and "Check: the sum is" in text
    Path("r.md").unlink()
    benchmark.main(["--report-only", "--configs", "tiny_pair", *OUTPUTS.split()])
    assert "## Where the spread comes from" in Path("r.md").read_text()  # --configs NAME keeps its varied runs


# ---- bad input: one error line, nothing run, no record lost -------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (f"{PAIR} --precision 0", "argument --precision: 0 is not a number > 0"),
        (f"{PAIR} --precision -1", "argument --precision: -1 is not a number > 0"),
        (f"{PAIR} --precision nan", "argument --precision: nan is not a number > 0"),
        (f"{PAIR} --precision half", "argument --precision: 'half' is not a number"),
        (f"{PAIR} --precision 0.5 --seeds 20 --max-seeds 15", "--max-seeds must be at least the 20 seeds asked for"),
        (f"{PAIR} --precision 0.5 --max-seeds 101", "and at most the 100 test seeds, got 101"),
        (f"{PAIR} --max-seeds 20", "--max-seeds goes with --precision"),
        ("--precision 0.5 --configs tiny_*", "--precision needs configs that form a paired effect"),
        ("--vary weights --configs tiny_pair", "argument --vary: invalid choice: 'weights'"),
        ("--vary init --configs tiny_*", "--vary takes exactly one config, got 2: tiny_base, tiny_pair"),
        ("--vary init --configs tiny_pair tiny_base", "--vary takes exactly one config, got 2"),
        ("--vary init --configs tiny_pair --precision 0.5", "--vary does not go with --precision"),
        ("--vary init --configs tiny_pair --report-only", "--vary does not go with --report-only"),
    ],
)
def test_bad_input_is_one_error_line_and_runs_nothing(tuned_and_fixed, monkeypatch, error_of, args, message):
    Path("r.jsonl").write_text(GOOD + "\n")
    monkeypatch.setattr(executors, "execute", lambda *a, **k: pytest.fail("ran fits on bad input"))
    code, line = error_of(benchmark.main, [*args.split(), *OUTPUTS.split(), "--fresh"])
    assert code == 2 and line.startswith("error: ") and message in line
    assert Path("r.jsonl").read_text() == GOOD + "\n" and not Path("r.md").exists()


# ---- where fits run: --workers and --threads ----------------------------------------------------------------------


@pytest.mark.parametrize("workers, threads, warned", [(1, 1, False), (2, 1, False), (3, 1, True), (2, 2, True)])
def test_more_workers_times_threads_than_cores_is_warned(workdir, monkeypatch, capsys, workers, threads, warned):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    benchmark.parse_args(["--configs", "tiny_pair", "--workers", str(workers), "--threads", str(threads)])
    err = capsys.readouterr().err
    assert ("warning: " in err and f"{workers} workers x {threads} threads on 2 cores" in err) == warned, err
    benchmark.parse_args(["--report-only", "--workers", str(workers), "--threads", str(threads)])
    assert "warning: " not in capsys.readouterr().err  # nothing runs: nothing to warn about


def test_an_interrupt_while_a_pool_runs_waits_for_a_safe_point():
    pending: Future = Future()
    pool = types.SimpleNamespace(in_process=False)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), executors.deferred_interrupts(pool):
        os.kill(os.getpid(), signal.SIGTERM)  # lands here, where a lock may be held: it only sets STOP
        time.sleep(0.05)
        assert executors.STOP.is_set()
        executors.finished({pending})  # the safe point: between two waits
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert not executors.STOP.is_set()  # a later in-process run must not see it


def test_an_interrupt_is_seen_while_fits_keep_finishing():
    done: Future = Future()
    done.set_result({})
    returned = 0
    with pytest.raises(KeyboardInterrupt), executors.deferred_interrupts(types.SimpleNamespace(in_process=False)):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        for _ in range(3):  # a future is always done: no wait ever comes back empty
            executors.finished({done})
            returned += 1
    assert returned == 0  # stopped at the first wait, not after all the work


def test_an_interrupt_after_the_last_wait_still_stops_the_command():
    with pytest.raises(KeyboardInterrupt), executors.deferred_interrupts(types.SimpleNamespace(in_process=False)):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)


@pytest.mark.parametrize("asked", [["--channels-last"], ["--set", "model.memory_format=channels_last"]])
def test_a_variant_reaches_every_fit_and_its_records_hash_apart_and_say_so(workdir, monkeypatch, asked):
    seen, execute = [], executors.execute
    monkeypatch.setattr(
        benchmark.executors, "execute", lambda todo, *a, **k: seen.append(todo) or execute(todo, *a, **k)
    )
    bench("--workers", "1", results_file="default.jsonl")
    bench("--workers", "1", *asked, results_file="last.jsonl")
    default, last = seen
    assert not any("--model.memory_format=channels_last" in task.args for task in default)
    assert all("--model.memory_format=channels_last" in task.args for task in last)
    runs_of = lambda path: {(r["config"], r["seed"]): r["config_hash"] for r in lines(path)}
    default_runs, last_runs = runs_of("default.jsonl"), runs_of("last.jsonl")
    assert default_runs.keys() == last_runs.keys()
    assert all(default_runs[run] != last_runs[run] for run in default_runs)
    assert all("overrides" not in r for r in lines("default.jsonl"))
    assert all(r["overrides"] == ["model.memory_format=channels_last"] for r in lines("last.jsonl"))


def test_a_variant_is_refused_in_a_results_file_of_another(workdir, capsys):
    bench("--workers", "1", "--seeds", "1")
    before = Path("r.jsonl").read_text()
    for asked in (["--set", "model.memory_format=channels_last"], ["--channels-last"]):
        with pytest.raises(SystemExit) as stop:
            bench("--workers", "1", "--seeds", "1", *asked)
        assert stop.value.code == 2
        assert "a variant goes in a results file of its own" in capsys.readouterr().err
    assert Path("r.jsonl").read_text() == before


@pytest.mark.parametrize(
    "asked, named",
    [
        (["--set", "model.prediction"], "is not KEY=VALUE"),
        (["--set", "model.dropout=0.1", "model.dropout=0.2"], "model.dropout given twice"),
        (["--set", "model.dropout=0.1", "--report-only"], "--report-only has none"),
    ],
)
def test_a_bad_set_is_one_error_line(workdir, capsys, asked, named):
    with pytest.raises(SystemExit) as stop:
        bench(*asked)
    assert stop.value.code == 2 and named in capsys.readouterr().err
    assert not Path("r.jsonl").exists()
