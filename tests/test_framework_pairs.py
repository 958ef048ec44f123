"""The framework running the study: PairNet and WeightedLosses against the study's own PairClassifier (float64),
gradient checks, a tiny siamese + aux fit, and the study by hand, compare.by_hand."""

import copy
import inspect
import json
import re

import pytest
import torch
import yaml

from common.errors import InputError
from compare import by_hand as runner
from compare.twin import pair_twin
from framework import CrossEntropy, Module, PairNet, Sequential, WeightedLosses, gradcheck
from pairs.classifier import PairClassifier
from pairs.data import PairDataModule
from pairs.study import FACTORIAL_CELLS

F64 = torch.float64
TINY_MODEL = {
    "trunk": "cnn",
    "weight_sharing": True,
    "aux_weight": 1.0,
    "channels": [3, 4],
    "hidden": [6],
    "head_hidden": 5,
}
VARIANTS = [
    TINY_MODEL | {"trunk": trunk, "weight_sharing": shared, "aux_weight": aux}
    for trunk in ("cnn", "mlp")
    for shared in (True, False)
    for aux in (0.0, 0.5)
]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def tiny_pairs(n=4, seed=0):
    g = gen(seed)
    classes = torch.randint(0, 10, (n, 2), generator=g)
    return torch.randn(n, 2, 14, 14, dtype=F64, generator=g), (classes[:, 0] <= classes[:, 1]).long(), classes


class WithLoss(Module):
    """A network and its multi-output loss as one module with a scalar output, for gradcheck."""

    def __init__(self, net, loss, targets):
        self.net, self.loss, self.targets = net, loss, targets

    def forward(self, x):
        return self.loss.forward(self.net.forward(x), self.targets)

    def backward(self, grad):
        return self.net.backward(*self.loss.backward(grad))

    def param(self):
        return self.net.param()


def name(variant):
    return f"{variant['trunk']}-{'shared' if variant['weight_sharing'] else 'separate'}-aux{variant['aux_weight']}"


@pytest.mark.parametrize("variant", VARIANTS, ids=name)
def test_outputs_loss_and_every_gradient_match_the_study_s_model(variant):
    model = runner.build(variant, gen(), dtype=F64)
    twin = pair_twin(model, variant)
    x, target, classes = tiny_pairs()
    loss = runner.pair_loss(variant["aux_weight"])
    logits, digits = model.forward(x)
    value = loss.forward((logits, digits), (target, classes.reshape(-1)))
    dx = model.backward(*loss.backward())
    twin_x = x.clone().requires_grad_()
    twin_logits, twin_digits = twin(twin_x)
    twin_value = twin.loss(twin_logits, twin_digits, target, classes)
    twin_value.backward()
    assert (logits - twin_logits.detach()).abs().max() <= 1e-12
    assert (digits - twin_digits.detach().reshape(-1, 10)).abs().max() <= 1e-12
    assert abs(value.item() - twin_value.item()) <= 1e-12
    assert (dx - twin_x.grad).abs().max() <= 1e-12
    for (_, g), p in zip(model.param(), twin.net.parameters(), strict=True):
        assert (g - p.grad).abs().max() <= 1e-12 * max(1, p.grad.abs().max())


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v["aux_weight"]], ids=name)
def test_gradcheck_network_with_its_loss(variant):
    x, target, classes = tiny_pairs(2)
    model = runner.build(variant | {"channels": [2, 2], "hidden": [3], "head_hidden": 3}, gen(), dtype=F64)
    gradcheck(WithLoss(model, runner.pair_loss(variant["aux_weight"]), (target, classes.reshape(-1))), x)


def test_shared_trunk_gradient_is_the_sum_of_two_copies_gradients():
    shared = runner.build(TINY_MODEL, gen(), dtype=F64)
    separate = PairNet([copy.deepcopy(shared.trunks[0]) for _ in range(2)], copy.deepcopy(shared.head))
    x, grads = tiny_pairs()[0], (torch.randn(4, 2, dtype=F64), torch.randn(8, 10, dtype=F64))
    for model in (shared, separate):
        model.forward(x)
        model.backward(*grads)
    n = len(shared.trunks[0].param())
    trunk_grads = [g for _, g in separate.param()]
    for (_, g), first, second in zip(shared.param()[:n], trunk_grads[:n], trunk_grads[n : 2 * n], strict=True):
        assert torch.allclose(g, first + second, rtol=0, atol=1e-12)


def test_sequential_carries_the_pairnet_s_tuples_both_ways():
    """forward returns (target logits, digit logits); backward takes their gradients spread out or as that tuple."""
    x, grads = tiny_pairs()[0], (torch.randn(4, 2, dtype=F64), torch.randn(8, 10, dtype=F64))
    bare = runner.build(TINY_MODEL, gen(), dtype=F64)
    wrapped = Sequential(copy.deepcopy(bare))
    out, wrapped_out = bare.forward(x), wrapped.forward(x)
    assert isinstance(wrapped_out, tuple) and all(torch.equal(a, b) for a, b in zip(out, wrapped_out, strict=True))
    dx = bare.backward(*grads)
    assert torch.equal(wrapped.backward(grads), dx)  # the tuple forward returned, as one argument
    wrapped.zero_grad()
    assert torch.equal(wrapped.backward(*grads), dx)  # or spread out
    assert torch.equal(bare.backward(grads[0]), bare.backward(grads[0], None))  # no loss on the digits


def test_weighted_losses():
    logits, target = torch.randn(4, 3, dtype=F64), torch.tensor([0, 2, 1, 1])
    loss = WeightedLosses((2.0, CrossEntropy()), (0.0, CrossEntropy()), (0.5, CrossEntropy()))
    value = loss.forward((logits, logits, logits), (target, target, target))
    alone = CrossEntropy()
    assert value.item() == pytest.approx(2.5 * alone.forward(logits, target).item(), rel=1e-14)
    first, skipped, last = loss.backward()
    assert skipped is None and torch.allclose(first, 4 * last) and torch.allclose(last, 0.5 * alone.backward())
    with pytest.raises(ValueError, match=r"takes 3 predictions and targets, got 2 and 3"):
        loss.forward((logits, logits), (target, target, target))
    with pytest.raises(RuntimeError, match=r"WeightedLosses\(1 \* CrossEntropy\(\)\)\.backward called before forward"):
        WeightedLosses((1.0, CrossEntropy())).backward()
    with pytest.raises(ValueError, match="weights must be >= 0"):
        WeightedLosses((-1.0, CrossEntropy()))


def test_pairnet_bad_input():
    model = runner.build(TINY_MODEL, gen())
    with pytest.raises(ValueError, match=re.escape("expects pairs [B, 2, H, W], got (4, 1, 14, 14)")):
        model.forward(torch.ones(4, 1, 14, 14))
    with pytest.raises(RuntimeError, match=r"PairNet\(shared trunk .*\)\.backward called before forward"):
        model.backward(torch.ones(4, 2))
    with pytest.raises(ValueError, match="one shared trunk or two separate ones, got 3"):
        PairNet([model.trunks[0]] * 3, model.head)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Conv2d(1, 3, kernel_size=3, padding=0): input (8, 1, 2, 2) with padding 0 is smaller than the 3x3 kernel"
        ),
    ):
        model.forward(torch.ones(4, 2, 2, 2))


# ---- a tiny siamese + aux fit on synthetic MNIST -------------------------------------------------------------------


def test_tiny_fit_loss_decreases_and_step_0_gradients_match_torch(mnist_dir):
    (x, target, classes), _ = runner.standardised_pairs(100, 0, mnist_dir, dtype=F64)
    variant = TINY_MODEL | {"channels": [4, 8], "hidden": [16], "head_hidden": 8}
    model = runner.build(variant, gen(), dtype=F64)
    twin = pair_twin(model, variant)
    loss = runner.pair_loss(1.0)
    loss.forward(model.forward(x[:20]), (target[:20], classes[:20].reshape(-1)))
    model.backward(*loss.backward())
    twin.loss(*twin(x[:20]), target[:20], classes[:20]).backward()
    for (_, g), p in zip(model.param(), twin.net.parameters(), strict=True):
        assert (g - p.grad).abs().max() <= 1e-10 * p.grad.abs().max()
    optimizer, g = runner.Adam(model.param(), lr=1e-2), gen(1)
    curve = [sum(runner.train_epoch(model, loss, optimizer, x, target, classes, 20, g)) / 5 for _ in range(2)]
    assert curve[1] < curve[0]


# ---- the runner -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", FACTORIAL_CELLS)
def test_recipe_is_the_fixed_config_and_builds_the_study_s_architecture(cell):
    config = yaml.safe_load((runner.FIXED / f"{cell}.yaml").read_text())
    recipe = runner.recipe(cell)
    assert recipe["model"].items() >= config["model"].items() and recipe["data"].items() >= config["data"].items()
    assert recipe["epochs"] == config["trainer"]["max_epochs"]
    assert recipe["lr"] == config["optimizer"]["init_args"]["lr"]
    pair_twin(runner.build(recipe["model"], gen()), recipe["model"])  # the same parameter shapes in the same order


def test_recipe_refuses_what_the_framework_does_not_do(tmp_path):
    config = yaml.safe_load((runner.FIXED / "cnn_aux_shared.yaml").read_text())
    config["model"]["batch_norm"] = True
    (tmp_path / "cnn_aux_shared.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match=r"model.batch_norm = True is not supported by the framework runner"):
        runner.recipe("cnn_aux_shared", tmp_path)


@pytest.mark.parametrize(("section", "key", "value"), [("data", "order_seed", 3), ("model", "new_key", 1)])
def test_a_key_the_runner_does_not_follow_is_refused_not_ignored(tmp_path, section, key, value):
    config = yaml.safe_load((runner.FIXED / "cnn_aux_shared.yaml").read_text())
    config.setdefault(section, {})[key] = value
    (tmp_path / "cnn_aux_shared.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match=rf"{section}.{key} = {value} is not supported by the framework runner"):
        runner.recipe("cnn_aux_shared", tmp_path)


def test_the_runner_declares_every_constructor_key_of_the_study():
    for section, cls in (("model", PairClassifier), ("data", PairDataModule)):
        declared = runner.FOLLOWED[section] | set(runner.REQUIRED[section])
        assert declared == set(inspect.signature(cls).parameters), section


def test_one_round_on_synthetic_mnist(mnist_dir):
    cell = runner.recipe("cnn_aux_separate")
    cell["data"] |= {"n_pairs": 100, "data_dir": mnist_dir}
    accuracy, seconds = runner.run(cell, 0, 1)
    assert 0 <= accuracy <= 1 and seconds > 0
    assert runner.run(cell, 0, 1)[0] == accuracy  # the seed fixes the round


def test_unknown_cell_and_bad_data_exit_with_one_error_line(monkeypatch, mnist_dir, error_of):
    code, line = error_of(runner.main, ["--cell", "cnn"])
    assert code == 1 and re.match(
        r"^error: unknown cell 'cnn'; cells: cnn_aux_shared, .*mlp_noaux_separate, or all$", line
    )
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))
    for argv, expected in (
        (
            ["--cell", "mlp_aux_shared", "--epochs", "1"],
            r"^error: data.n_pairs=1000: the train and the test set each "
            r"need 2000 distinct",
        ),
        (
            ["--cell", "mlp_aux_shared", "--study", str(mnist_dir / "missing.jsonl")],
            r"^error: --study .*missing.jsonl "
            r"is not a file",
        ),
    ):
        code, line = error_of(runner.main, argv)
        assert code == 1 and re.match(expected, line), line
    assert torch.is_grad_enabled()  # the runner turns autograd off for itself only


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--rounds", "0"], "argument --rounds: 0 is not an integer in [1, 4294967296]"),
        (["--epochs", "-1"], "argument --epochs: -1 is not an integer >= 1"),
        (["--epochs", "nan"], "argument --epochs: 'nan' is not an integer"),
        (
            ["--cell", "mlp_aux_shared", "cnn_aux_shared", "mlp_aux_shared"],
            "argument --cell: mlp_aux_shared given twice",
        ),
    ],
)
def test_bad_numbers_and_repeated_cells_are_usage_errors(argv, expected, error_of):
    code, line = error_of(runner.main, ["--cell", "mlp_aux_shared", *argv])
    assert code == 2 and line.startswith(f"error: {expected}") and line.endswith("(see --help)"), line


@pytest.mark.parametrize(
    "text, words",
    [
        ("model: [a\n", "mlp_aux_shared.yaml, line 2, column 1: not valid YAML"),
        (
            "- model\n- data\n",
            "mlp_aux_shared.yaml: a YAML mapping of config keys expected (key: value lines), got a list",
        ),
    ],
)
def test_a_recipe_that_is_not_a_yaml_mapping_is_named_with_its_place(tmp_path, text, words):
    (tmp_path / "mlp_aux_shared.yaml").write_text(text)
    with pytest.raises(ValueError, match=re.escape(words)):
        runner.recipe("mlp_aux_shared", tmp_path)


def test_summary_pairs_the_study_s_seeds(tmp_path):
    path = tmp_path / "benchmark.jsonl"
    runs = [
        {"config": "fixed/mlp_aux_shared", "config_hash": "h", "seed": s, "metrics": {"acc": a}, "fit_seconds": 1.0}
        for s, a in ((0, 0.80), (1, 0.82), (2, 0.90))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    study = runner.study_accuracies(path, "mlp_aux_shared")
    row = runner.summary("mlp_aux_shared", {0: 0.81, 1: 0.84}, 0.05, study)
    assert row.startswith("| mlp_aux_shared | 82.50 ± 2.12 | 81.00 ± 1.41 | +1.50 [")
    assert row.endswith("(n=2) | 0.050 |")
