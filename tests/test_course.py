"""The Practical-DL runner: reading the course's .mat files, its errors, each task at tiny size, the Taylor and
Jacobian checks (which must fail on a wrong backward), the softmax Jacobian, the look-alike sets."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from framework import CrossEntropy, Linear, Sequential, Softmax, adjoint_test, jacobian
from framework.activations import Activation
from framework.exercises import course
from framework.exercises.toys import GMM_MEANS, interleaved_gmm
from tests import ROOT

F64 = torch.float64
SHAPES = {"GMMData.mat": (5, 5), "PeaksData.mat": (2, 5), "SwissRollData.mat": (2, 2)}  # features, classes


def course_arrays(features: int, classes: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features x samples (float32) and one-hot classes x samples, the course's layout."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    y = (rng.normal(size=(features, n)) + labels).astype(np.float32)
    return y, np.eye(classes, dtype=np.float32)[:, labels]


def write_course(folder: Path, n: int = 48, transpose: bool = False, integer: bool = False, **replace) -> Path:
    """The three course files in `folder`: n training and n // 4 validation samples; samples x features when
    `transpose`, integer labels (a row, or a column when transposed) when `integer`; `replace` overrides variables
    of every file (None removes one)."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, (features, classes)) in enumerate(SHAPES.items()):
        variables = {}
        for suffix, count in (("t", n), ("v", n // 4)):
            y, c = course_arrays(features, classes, count, seed)
            if integer:
                c = c.argmax(0)[None].astype(np.float64)
            variables |= {f"Y{suffix}": y.T if transpose else y, f"C{suffix}": c.T if transpose else c}
        variables |= replace
        scipy.io.savemat(folder / name, {k: v for k, v in variables.items() if v is not None})
    return folder


def run(*argv: str, out: Path) -> dict:
    return course.main([*argv, "--out", str(out)])


# ---- reading the course's files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transpose", [False, True], ids=["features-x-samples", "samples-x-features"])
@pytest.mark.parametrize("integer", [False, True], ids=["one-hot", "integer"])
def test_reads_either_orientation_and_either_label_kind(tmp_path, transpose, integer):
    sets = course.read_sets(write_course(tmp_path, transpose=transpose, integer=integer), list(course.FILES))
    for (name, data), (features, classes) in zip(sets.items(), SHAPES.values()):
        y, c = course_arrays(features, classes, 48, list(course.FILES).index(name))
        assert data.x.shape == (48, features) and data.val_x.shape == (12, features)
        assert data.x.dtype == torch.float32 and data.classes == classes
        assert torch.equal(data.x, torch.from_numpy(y.T.copy()))
        assert data.labels.tolist() == c.argmax(0).tolist()


def test_reads_integer_labels_as_a_column(tmp_path):
    y, c = course_arrays(5, 5, 48, 0)
    labels = c.argmax(0)[:, None]
    folder = write_course(tmp_path, Ct=labels, Cv=labels[:12], Yv=y[:, :12])
    data = course.read_sets(folder, ["GMM"])["GMM"]
    assert data.labels.tolist() == labels[:, 0].tolist() and data.classes == 5


BAD = {
    "no variable": ({"Cv": None}, ["GMMData.mat", "Cv"]),
    "sizes": ({"Ct": np.eye(2, dtype=np.float32)[:, np.arange(40) % 2]}, ["Yt", "Ct", "no common number of samples"]),
    "labels": ({"Ct": np.full((5, 48), 0.5)}, ["Ct", "neither one-hot"]),
    "negative labels": ({"Ct": -np.ones((1, 48))}, ["Ct", "neither one-hot"]),
    "nan": ({"Yv": np.full((5, 12), np.nan)}, ["Yv", "NaN"]),
    "features": ({"Yv": np.zeros((3, 12))}, ["Yt has 5 features but Yv has 3"]),
    "text": ({"Yt": "not numbers"}, ["Yt", "numeric matrix"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_data_is_one_error_line_and_nothing_is_written(tmp_path, case, error_of):
    replace, words = BAD[case]
    folder = write_course(tmp_path / "data", **replace)
    code, message = error_of(course.main, ["-task", "task7", "-path", str(folder), "--out", str(tmp_path / "out")])
    assert code == 1 and message.startswith("error: ")
    assert all(word in message for word in words), message
    assert not (tmp_path / "out").exists()


def test_missing_folder_file_and_corrupt_file(tmp_path, error_of):
    out = ["--out", str(tmp_path / "out")]
    assert re.match(
        "error: .*absent: no such folder",
        error_of(course.main, ["-task", "task6", "-path", str(tmp_path / "absent"), *out])[1],
    )
    folder = write_course(tmp_path / "data")
    (folder / "PeaksData.mat").unlink()
    assert re.match(
        "error: .*PeaksData.mat: no such file", error_of(course.main, ["-task", "all", "-path", str(folder), *out])[1]
    )
    (folder / "PeaksData.mat").write_text("not a MATLAB file")
    line = error_of(course.main, ["-task", "task3", "-path", str(folder), *out])[1]
    assert re.match("error: .*PeaksData.mat: not a readable MATLAB .mat file", line)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["-task", "task2"], "invalid choice: 'task2'"),
        (["-task", "all", "--epochs", "0"], "argument --epochs: 0 is not an integer >= 1"),
        (["-task", "all", "--samples", "3"], "argument --samples: 3 is not an integer >= 4"),
        (["-task", "all", "-path", "x", "--samples", "10"], "--samples sizes the look-alike sets"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        run(*argv, out=tmp_path / "out")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: ") and words in err and err.count("\n") == 1


def test_an_output_root_that_is_a_file_is_refused_before_any_work(tmp_path, error_of):
    (tmp_path / "out").write_text("")
    code, line = error_of(course.main, ["-task", "task6", "--out", str(tmp_path / "out")])
    assert code == 2 and line.startswith("error: argument --out: ") and "is a file, not a folder" in line


def test_command_line_error_exits_1_on_stderr(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "framework.exercises.course",
            "-task",
            "task1",
            "-path",
            str(tmp_path / "absent"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1 and "absent" in done.stderr


# ---- the tasks at tiny size --------------------------------------------------------------------------------------


def test_all_tasks_on_course_files(tmp_path, capsys):
    results = run(
        "-task",
        "all",
        "-path",
        str(write_course(tmp_path / "data", transpose=True)),
        "--epochs",
        "2",
        out=tmp_path / "out",
    )
    out = capsys.readouterr().out
    assert f"read from {tmp_path / 'data'}" in out and "GMM: 5 features, 5 classes, 48 training" in out
    assert {task: sorted(p.name for p in (tmp_path / "out" / task).iterdir()) for task in course.TASKS} == {
        "task1": ["taylor.csv", "taylor.png"],
        "task3": ["GMM.csv", "Peaks.csv", "accuracy.png", "one_example.csv", "one_example.png"],
        "task6": ["taylor.csv", "taylor.png"],
        "task7": ["GMM.csv", "Peaks.csv", "SwissRoll.csv", "accuracy.png", "regions.png"],
    }
    assert all(course.verdict(rows) != "FAIL" for tests in results["task1"].values() for rows in tests.values())
    assert results["task3"]["example"][-1]["loss"] < 1e-2 and "below 1e-2" in out
    assert len(results["task7"]["SwissRoll"][3]) == 2  # one row per epoch
    header = (tmp_path / "out" / "task7" / "GMM.csv").read_text().splitlines()[0]
    assert header == "epoch,loss,train_accuracy,validation_accuracy"


def test_look_alikes_say_so_and_have_the_course_shapes(tmp_path, capsys):
    run("-task", "task3", "--samples", "40", "--epochs", "1", out=tmp_path)
    out = capsys.readouterr().out
    assert "no -path: generated look-alike sets (seed 0)" in out
    assert "Peaks: 2 features, 5 classes, 40 training and 10 validation samples" in out
    sets = course.look_alikes(list(course.FILES), 25_000, 0)
    assert {n: (tuple(s.x.shape), tuple(s.val_x.shape), s.classes) for n, s in sets.items()} == {
        "GMM": ((25_000, 5), (6_250, 5), 5),
        "Peaks": ((25_000, 2), (6_250, 2), 5),
        "SwissRoll": ((25_000, 2), (6_250, 2), 2),
    }
    assert all(set(s.labels.tolist()) == set(range(s.classes)) for s in sets.values())


def test_the_gmm_look_alike_is_not_linearly_separable_but_learnable():
    x, labels = interleaved_gmm(20_000, torch.Generator().manual_seed(0))
    design = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    weights = torch.linalg.lstsq(design, torch.eye(5, dtype=F64)[labels]).solution
    assert (design @ weights).argmax(1).eq(labels).double().mean() < 0.75  # best least-squares linear classifier
    squared = ((x[:, None, :] - GMM_MEANS[None]) ** 2).sum(-1)  # the mixture's own (Bayes) classifier
    assert (squared.argmin(1) % 5).eq(labels).double().mean() > 0.99


# ---- Taylor and Jacobian checks --------------------------------------------------------------------------------


class WrongTanh(Activation):
    """tanh whose derivative misses the square: 1 - y."""

    def value(self, x):
        return x.tanh()

    def derivative(self, x, y):
        return 1 - y


class WrongBias(Linear):
    """Linear whose bias gradient is twice the right one."""

    def backward(self, grad):
        self.grad_bias.add_(grad.sum(0))
        return super().backward(grad)


def test_every_check_passes_on_the_framework(tmp_path):
    groups = run("-task", "task6", out=tmp_path)["task6"]
    verdicts = {
        (group, name): course.verdict(rows)
        for group, tests in groups.items()
        if group != "softmax"
        for name, rows in tests.items()
    }
    assert "FAIL" not in verdicts.values() and len(verdicts) == 21
    assert {v for (g, _), v in verdicts.items() if g.startswith(("linear", "relu"))} == {"linear"}
    for group, tests in groups.items():
        if group.startswith(("tanh", "sigmoid", "softmax(", "loss")):
            for rows in tests.values():
                for first, second in course.ratios(rows)[-course.HALVINGS :]:
                    assert abs(first - 2) <= 0.1 and abs(second - 4) <= 0.2


def test_jacobian_check_fails_on_a_wrong_backward():
    g = torch.Generator().manual_seed(0)
    layer = Sequential(Linear(4, 3, dtype=F64, generator=g), WrongTanh())
    tests = course.jacobian_tests(layer, course.example()[0], g)
    assert {name: course.verdict(rows) for name, rows in tests.items()} == {"W": "FAIL", "b": "FAIL", "x": "FAIL"}


def test_gradient_check_fails_on_a_wrong_bias_gradient():
    g = torch.Generator().manual_seed(0)
    tests = course.gradient_tests(WrongBias(4, 3, dtype=F64, generator=g), *course.example(), g)
    assert {name: course.verdict(rows) for name, rows in tests.items()} == {
        "W": "O(eps^2)",
        "b": "FAIL",
        "x": "O(eps^2)",
    }


def test_linear_verdict_fails_on_a_wrong_input_gradient():
    class Scaled(Linear):
        def backward(self, grad):
            return 1.01 * super().backward(grad)

    g = torch.Generator().manual_seed(0)
    tests = course.jacobian_tests(Scaled(4, 3, dtype=F64, generator=g), course.example()[0], g)
    assert {name: course.verdict(rows) for name, rows in tests.items()} == {"W": "linear", "b": "linear", "x": "FAIL"}


# ---- the softmax Jacobian --------------------------------------------------------------------------------------


@pytest.mark.parametrize("z", [[1.0, 2.0, 3.0, 4.0], [0.3, -1.2, 2.5], [50.0, 49.0, -3.0, 0.0, 7.0]])
def test_softmax_jacobian_from_backward_equals_formula_and_central_differences(z):
    checks = course.softmax_checks(torch.tensor(z, dtype=F64), 0)
    assert torch.allclose(checks["backward"], checks["formula"], atol=1e-15)
    assert torch.allclose(checks["backward"], checks["central"], atol=1e-8)
    assert torch.allclose(checks["backward"], checks["backward"].T, atol=1e-15)
    assert torch.allclose(checks["fused"], checks["route"], atol=1e-12)
    s = checks["s"]
    assert torch.allclose(checks["fused"], s - torch.eye(len(z), dtype=F64)[0])


def test_softmax_module_batches_rows_and_passes_the_transpose_test():
    g = torch.Generator().manual_seed(0)
    x, u, v = (torch.randn(3, 4, dtype=F64, generator=g) for _ in range(3))
    module = Softmax()
    assert torch.allclose(module.forward(x), torch.softmax(x, 1))
    assert adjoint_test(module, x, u, v) < 1e-10
    assert jacobian(module, x).shape == (12, 12)
    loss = CrossEntropy()
    loss.forward(x, torch.tensor([0, 1, 2]))
    module.forward(x)
    route = module.backward(-torch.eye(4, dtype=F64)[[0, 1, 2]] / module.forward(x)) / 3
    assert torch.allclose(route, loss.backward(), atol=1e-12)


def test_jacobian_with_respect_to_a_parameter():
    g = torch.Generator().manual_seed(0)
    layer, x = Linear(4, 3, dtype=F64, generator=g), torch.randn(2, 4, dtype=F64, generator=g)
    assert torch.allclose(jacobian(layer, x, layer.bias), torch.eye(3, dtype=F64).repeat(2, 1))
    expected = torch.stack([torch.kron(torch.eye(3, dtype=F64), row[None]) for row in x]).reshape(6, 12)
    assert torch.allclose(jacobian(layer, x, layer.weight), expected)
    assert all(not grad.any() for _, grad in layer.param())  # left zeroed
