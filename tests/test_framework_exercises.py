"""The framework's exercises: fixed-input unit tests, the MNIST runner, toy sets, the Taylor command."""

import math
from pathlib import Path

import matplotlib.figure
import matplotlib.image
import pytest
import torch

from framework import SGD, CrossEntropy, Linear, ReLU, Sigmoid
from framework import test as disk
from framework.exercises import mnist as runner
from framework.exercises import taylor, toys
from framework.exercises.experiment import batches, classes
from framework.exercises.figures import decision_regions
from framework.losses import softmax

X = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=torch.float64)


def sigmoid(v):
    return 1 / (1 + math.exp(-v))


def test_sigmoid_and_its_derivative_to_7_decimals():
    module = Sigmoid()
    values = module.forward(X)
    derivative = module.backward(torch.ones_like(X))
    for x, y, dy in zip(X.tolist(), values.tolist(), derivative.tolist()):
        assert y == pytest.approx(sigmoid(x), abs=1e-7)
        assert dy == pytest.approx(sigmoid(x) * (1 - sigmoid(x)), abs=1e-7)


def test_relu_and_its_derivative_to_7_decimals():
    module = ReLU()
    assert module.forward(X).tolist() == pytest.approx([0, 0, 0, 0.5, 2], abs=1e-7)
    assert module.backward(torch.ones_like(X)).tolist() == pytest.approx([0, 0, 0, 1, 1], abs=1e-7)


def test_softmax_to_7_decimals():
    logits = [1.0, 2.0, 3.0]
    total = sum(math.exp(v) for v in logits)
    assert softmax(torch.tensor([logits], dtype=torch.float64))[0].tolist() == pytest.approx(
        [math.exp(v) / total for v in logits], abs=1e-7
    )


LOGITS = [[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 3.0]]
TARGET = [0, 2, 2]


def test_cross_entropy_and_accuracy_on_a_3x3_example():
    expected = sum(math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in zip(LOGITS, TARGET)) / 3
    logits, target = torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(TARGET)
    assert CrossEntropy().forward(logits, target).item() == pytest.approx(expected, abs=1e-7)
    assert (classes(logits) == target).double().mean().item() == pytest.approx(2 / 3)


def test_split_is_80_20_and_batches_are_full_but_the_last(mnist_dir):
    (x, y), (val_x, val_y) = runner.split(*runner.images("train", mnist_dir), 0.2)
    assert (len(x), len(val_x)) == (240, 60) and torch.equal(val_y, runner.images("train", mnist_dir)[1][240:])
    assert x.shape[1] == 784 and 0 <= x.min() and x.max() <= 1
    parts = batches(10, 4, torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [4, 4, 2] and sorted(torch.cat(parts).tolist()) == list(range(10))


def test_l2_term_is_reg_times_w_for_weights_and_absent_for_biases():
    layer = Linear(3, 2, generator=torch.Generator().manual_seed(0))
    weight, bias = layer.weight.clone(), layer.bias.clone()
    SGD(layer.param(), lr=0.5, weight_decay=0.1).step()  # zero gradients: only the L2 term moves anything
    assert torch.allclose(layer.weight, weight - 0.5 * 0.1 * weight)
    assert torch.equal(layer.bias, bias)


def test_one_sgd_step_gives_the_expected_weights():
    layer = Linear(3, 3, dtype=torch.float64)
    layer.weight.copy_(torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.5, -0.1], [0.2, 0.2, 0.2]]))
    layer.bias.copy_(torch.tensor([0.1, 0.0, -0.1]))
    x, target = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 1.0]], dtype=torch.float64), torch.tensor([2, 0])
    weight, bias = layer.weight.clone(), layer.bias.clone()
    loss = CrossEntropy()
    loss.forward(layer.forward(x), target)
    layer.backward(loss.backward())
    SGD(layer.param(), lr=0.1, weight_decay=0.01).step()
    # by hand: dL/dlogits = (softmax - one_hot) / N; dW = dlogits^T x; db = column sums
    logits = [
        [sum(w * v for w, v in zip(row, xs)) + b for row, b in zip(weight.tolist(), bias.tolist())] for xs in x.tolist()
    ]
    probs = [[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in logits]
    dlogits = [[(p - (j == t)) / 2 for j, p in enumerate(row)] for row, t in zip(probs, target.tolist())]
    for i in range(3):
        db = sum(d[i] for d in dlogits)
        assert layer.bias[i].item() == pytest.approx(bias[i].item() - 0.1 * db, abs=1e-12)
        for k in range(3):
            dw = sum(d[i] * xs[k] for d, xs in zip(dlogits, x.tolist())) + 0.01 * weight[i, k].item()
            assert layer.weight[i, k].item() == pytest.approx(weight[i, k].item() - 0.1 * dw, abs=1e-12)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_one_epoch_lifts_accuracy_above_chance_and_writes_curves(tmp_path, mnist_dir):
    config = write_config(
        tmp_path / "c.yaml",
        f"model: two_layer\nepochs: 1\nhidden: 32\nlr: 0.5\nbatch_size: 16\n"
        f"data_dir: {mnist_dir}\nout_dir: {tmp_path / 'out'}\n",
    )
    summary = runner.main(["--config", str(config)])
    assert summary["test_acc"] > 0.3 and summary["best_epoch"] == 1
    assert (tmp_path / "out" / "curves.csv").read_text().startswith("epoch,train_loss,train_acc,val_loss,val_acc")
    assert matplotlib.image.imread(tmp_path / "out" / "curves.png").shape[2] in (3, 4)


def test_best_epoch_is_chosen_on_validation(tmp_path, mnist_dir, monkeypatch):
    config = write_config(
        tmp_path / "c.yaml", f"model: softmax\nepochs: 3\ndata_dir: {mnist_dir}\nout_dir: {tmp_path}\n"
    )
    seen = []
    original = runner.accuracy

    def spy(model, x, y):
        seen.append(len(x))
        return original(model, x, y)

    monkeypatch.setattr(runner, "accuracy", spy)
    runner.main(["--config", str(config)])
    assert seen == [60, 60, 60, 200]  # validation every epoch, the test split once at the end


@pytest.mark.parametrize(
    "text, message",
    [
        ("model: two_layer\nlearning_rate: 0.1\n", "unknown config key"),
        ("lr: -0.1\n", "lr must be a number"),
        ("model: cnn\n", "model must be"),
        ("epochs: 0\n", "epochs must be an integer >= 1 and < 2^63, got 0"),
        ("epochs: true\n", "epochs must be an integer >= 1 and < 2^63, got True"),
        (f"hidden: {2**63}\n", f"hidden must be an integer >= 1 and < 2^63, got {2**63}"),
        (f"seed: {2**32}\n", f"seed must be an integer in [0, 4294967295], got {2**32}"),
        ("epochs: 1\nhidden: 8\nepochs: 2\n", "key epochs is given twice, on line 1 and line 3"),
        ("lr: true\n", "lr must be a number > 0, got True"),
        ("reg: -1\n", "reg must be a number >= 0, got -1"),
        ("momentum: 1\n", "momentum must be a number in [0, 1), got 1"),
        ("lr_decay: 0\n", "lr_decay must be a number in (0, 1], got 0"),
        ("val_fraction: 1\n", "val_fraction must be a number in (0, 1), got 1"),
    ],
)
def test_bad_config_values_fail_at_once(tmp_path, text, message, error_of):
    code, line = error_of(runner.main, ["--config", str(write_config(tmp_path / "c.yaml", text))])
    assert line.startswith("error:") and message in line


@pytest.mark.parametrize(
    "fraction, left", [("0.000001", "300 training and 0 validation"), ("0.999", "0 training and 300 validation")]
)
def test_an_empty_training_or_validation_split_fails_at_once(tmp_path, mnist_dir, fraction, left, error_of):
    config = write_config(tmp_path / "c.yaml", f"data_dir: {mnist_dir}\nout_dir: {tmp_path}\n")
    code, line = error_of(runner.main, ["--config", str(config), f"val_fraction={fraction}"])
    message = line
    assert message.startswith("error: val_fraction") and left in message and "\n" not in message


def test_missing_mnist_fails_with_the_folder(tmp_path, monkeypatch, error_of):
    monkeypatch.setattr("common.mnist.MIRRORS", ())
    config = write_config(tmp_path / "c.yaml", f"data_dir: {tmp_path / 'none'}\n")
    code, line = error_of(runner.main, ["--config", str(config)])
    assert str(tmp_path / "none") in line and "MNIST_DIR" in line


@pytest.mark.parametrize("name", list(toys.DATASETS))
def test_toy_generators_are_seeded_and_labelled(name):
    generate, n_classes = toys.DATASETS[name]
    x, y = generate(500, torch.Generator().manual_seed(0))
    again, _ = generate(500, torch.Generator().manual_seed(0))
    assert x.shape == (500, 2) and torch.equal(x, again)
    assert set(y.unique().tolist()) == set(range(n_classes))


def test_linear_fails_where_the_tanh_network_succeeds():
    *_, linear = toys.run("swiss_roll", "linear", 0, epochs=100, batch_size=64, lr=0.1)
    *_, tanh = toys.run("swiss_roll", "tanh", 0, epochs=300, batch_size=64, lr=0.1)
    assert linear < 0.7 < 0.99 < tanh


def test_decision_regions_colour_the_box_around_the_points_by_the_classifier():
    fig = matplotlib.figure.Figure()
    ax = fig.add_subplot()
    x, labels = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), torch.tensor([0, 1, 1])
    decision_regions(ax, lambda points: (points[:, 0] > 0.5).long(), x, labels, "title", resolution=10)
    mesh, points = ax.collections
    corners = torch.tensor(mesh.get_coordinates()[..., 0])
    first = (corners[:-1, :-1] + corners[1:, 1:]) / 2  # cell centres: the grid's first coordinate
    assert torch.equal(torch.tensor(mesh.get_array()).view(10, 10), (first > 0.5).long())
    assert first.min() < 0 and first.max() > 1 and len(points.get_offsets()) == 3 and ax.get_title() == "title"


def test_taylor_command_prints_ratios_and_saves_the_plot(tmp_path, capsys):
    taylor.main(["--figure", str(tmp_path / "t.png")])
    out = capsys.readouterr().out
    assert "gradient test" in out and "Jacobian test" in out and "transpose test" in out
    last = [line for line in out.splitlines() if line.startswith("| 3.05e-05")]
    assert len(last) == 2 and all(" 2.000 " in line and " 4.0" in line for line in last)
    assert matplotlib.image.imread(tmp_path / "t.png").ndim == 3


@pytest.mark.parametrize(
    "main, argv, words",
    [
        (disk.main, ["--lr", "nan"], "argument --lr: nan is not a number > 0"),
        (disk.main, ["--momentum", "1"], "argument --momentum: 1 is not a number in [0, 1)"),
        (disk.main, ["--rounds", "0"], "argument --rounds: 0 is not an integer in [1, 4294967296]"),
        (
            disk.main,
            ["--seed", str(2**32 - 1), "--rounds", "2"],
            "--seed 4294967295 --rounds 2 reach seed 4294967296: every seed must be an integer in [0, 4294967295]",
        ),
        (disk.main, ["--epochs", str(2**63)], f"argument --epochs: {2**63} is not an integer >= 1 and < 2^63"),
        (toys.main, ["--lr", "inf"], "argument --lr: inf is not a number > 0"),
        (toys.main, ["--datasets", "disk", "peaks", "disk"], "argument --datasets: disk given twice; give each once"),
        (taylor.main, ["--seed", "-1"], "argument --seed: -1 is not an integer in [0, 4294967295]"),
    ],
)
def test_bad_numbers_and_repeats_are_one_line_usage_errors(main, argv, words, error_of):
    code, line = error_of(main, argv)
    assert code == 2 and line == f"error: {words} (see --help)"


def test_a_figure_path_that_cannot_be_written_is_refused_before_any_work(tmp_path, error_of):
    (tmp_path / "file").write_text("")
    code, line = error_of(taylor.main, ["--figure", str(tmp_path)])
    assert code == 2 and line.startswith("error: argument --figure: ") and "is a folder; give a file path" in line
    code, line = error_of(toys.main, ["--figure", str(tmp_path / "file" / "toys.png")])
    assert code == 2 and line.startswith("error: argument --figure: ") and "is a file, not a folder" in line


def test_the_disk_task_s_output_activation_and_per_epoch_accuracy(capsys):
    model = disk.build(2, "relu", torch.Generator().manual_seed(0), "sigmoid")
    assert type(model.modules[-1]).__name__ == "Sigmoid" and type(model.modules[-2]).__name__ == "Linear"
    assert type(disk.build(1, "tanh", torch.Generator(), "none").modules[-1]).__name__ == "Linear"
    disk.main(["--epochs", "3", "--log-every", "1", "--output-activation", "tanh"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and all("train acc" in line and "test acc" in line for line in lines)
    assert torch.is_grad_enabled()
