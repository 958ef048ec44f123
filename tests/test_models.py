"""Model shapes, parameter counts for every config, the loss, and P(d1 <= d2)."""

from pathlib import Path

import pytest
import torch
import yaml
from torch.nn import functional as F

from pairs import runs, study
from pairs.classifier import PairClassifier
from pairs.models import count_parameters, p_first_le_second
from pairs.space import load_space

CONFIGS = sorted(Path("configs").glob("*.yaml"))
STUDY = study.FACTORIAL_CELLS


def model_of(name: str) -> PairClassifier:
    return PairClassifier(**yaml.safe_load(Path(f"configs/{name}.yaml").read_text())["model"])


def test_every_study_config_exists_tuned_and_as_the_fixed_recipe():
    cells = set(STUDY) | {"baseline_cnn", "baseline_mlp"}
    assert {c.stem for c in CONFIGS} >= cells
    assert {c.stem for c in Path("configs/fixed").glob("*.yaml")} == cells


@pytest.mark.parametrize("name", STUDY + ["baseline_cnn", "baseline_mlp"])
def test_tuned_configs_keep_what_the_tuning_holds_fixed(name):
    tuned, fixed = (flat(yaml.safe_load(Path(f"configs/{d}{name}.yaml").read_text())) for d in ("", "fixed/"))
    searched = set(load_space(Path("configs/search/space.yaml")).params)
    held = ["seed_everything", "model.arch", "model.trunk", "model.weight_sharing", "model.channels", "model.hidden"]
    for key in [*held, "data.n_pairs", "trainer.max_epochs", "model.prediction"]:
        if key not in searched:
            assert tuned.get(key) == fixed.get(key), key
    assert (tuned.get("model.aux_weight", 1.0) > 0) == (fixed.get("model.aux_weight", 1.0) > 0)
    assert "data.val_pairs" not in tuned


@pytest.mark.parametrize("name", STUDY + ["baseline_cnn", "baseline_mlp"])
def test_shapes(name):
    model = model_of(name)
    logits, digits = model(torch.randn(5, 2, 14, 14))
    assert logits.shape == (5, 2)
    assert digits is None if name.startswith("baseline") else digits.shape == (5, 2, 10)
    assert model.n_params == count_parameters(model.net) > 0


@pytest.mark.parametrize("trunk", ["cnn", "mlp"])
@pytest.mark.parametrize("aux", ["aux", "noaux"])
def test_separate_has_one_more_trunk_than_shared(trunk, aux):
    shared, separate = (model_of(f"fixed/{trunk}_{aux}_{s}") for s in ("shared", "separate"))
    one_trunk = count_parameters(shared.net.members[0].trunks[0])
    assert len(shared.net.members[0].trunks) == 1 and len(separate.net.members[0].trunks) == 2
    assert separate.n_params == shared.n_params + one_trunk


def test_baseline_cnn_is_the_spec_convnet_of_about_70k_parameters():
    # conv 2->32 3x3 (608) + conv 32->64 3x3 (18,496) + FC 256->200 (51,400) + FC 200->2 (402)
    assert model_of("baseline_cnn").n_params == 608 + 18_496 + 51_400 + 402


def flat(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for key, value in tree.items():
        out |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return out


@pytest.mark.parametrize("trunk", ["cnn", "mlp"])
def test_fixed_recipes_differ_only_in_the_factor_their_name_says(trunk):
    load = lambda a, s: flat(yaml.safe_load(Path(f"configs/fixed/{trunk}_{a}_{s}.yaml").read_text()))
    base = load("aux", "shared")
    for (a, s), factor in {
        ("noaux", "shared"): "model.aux_weight",
        ("aux", "separate"): "model.weight_sharing",
    }.items():
        other = load(a, s)
        assert other.keys() == base.keys()
        assert [k for k in base if base[k] != other[k]] == [factor]
    assert base["trainer.max_epochs"] == 25 and base["data.batch_size"] == 100
    assert base["trainer.accelerator"] == "cpu"


def batch(n=6):
    g = torch.Generator().manual_seed(0)
    classes = torch.randint(0, 10, (n, 2), generator=g)
    return torch.randn(n, 2, 14, 14, generator=g), (classes[:, 0] <= classes[:, 1]).long(), classes


def test_aux_weight_zero_removes_the_digit_loss():
    x, target, classes = batch()
    model = PairClassifier(aux_weight=0.0)
    logits, digits = model(x)
    assert torch.equal(model.loss(logits, digits, target, classes), F.cross_entropy(logits, target))
    model.loss(logits, digits, target, classes).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logits, _ = model(x)
    F.cross_entropy(logits, target).backward()
    assert all(torch.equal(a, b) for a, b in zip(grads, (p.grad for p in model.parameters())))


def test_aux_weight_adds_the_mean_digit_cross_entropy():
    x, target, classes = batch()
    model = PairClassifier(aux_weight=0.5)
    logits, digits = model(x)
    expected = (
        F.cross_entropy(logits, target)
        + 0.5 * (F.cross_entropy(digits[:, 0], classes[:, 0]) + F.cross_entropy(digits[:, 1], classes[:, 1])) / 2
    )
    assert torch.allclose(model.loss(logits, digits, target, classes), expected)


def test_target_weight_zero_trains_on_the_digits_alone():
    x, target, classes = batch()
    model = PairClassifier(prediction="digits", target_weight=0.0, label_smoothing=0.1)
    logits, digits = model(x)
    expected = F.cross_entropy(digits.reshape(-1, 10), classes.reshape(-1), label_smoothing=0.1)
    assert torch.allclose(model.loss(logits, digits, target, classes), expected)
    assert not torch.allclose(expected, F.cross_entropy(digits.reshape(-1, 10), classes.reshape(-1)))


@pytest.mark.parametrize(
    "kwargs", [{"target_weight": 0.0, "aux_weight": 0.0}, {"target_weight": 0.0, "arch": "baseline_cnn"}]
)
def test_a_model_left_without_loss_is_refused(kwargs):
    with pytest.raises(ValueError, match="target_weight"):
        PairClassifier(**kwargs)


def test_p_first_le_second_matches_the_double_sum():
    digits = torch.randn(4, 2, 10, dtype=torch.float64)
    p = digits.softmax(-1)
    brute = torch.stack([sum(p[b, 0, i] * p[b, 1, j] for i in range(10) for j in range(i, 10)) for b in range(4)])
    assert torch.allclose(p_first_le_second(digits), brute)
    certain = torch.full((2, 2, 10), -1e4)
    certain[0, 0, 3] = certain[0, 1, 3] = 1e4  # a sure tie counts as <=
    certain[1, 0, 7] = certain[1, 1, 2] = 1e4
    assert p_first_le_second(certain).tolist() == [1.0, 0.0]


def test_every_config_parses_and_builds():
    for name in runs.available_configs():
        assert len(runs.config_hash(runs.cli_args(f"configs/{name}.yaml", None, None))) == 12, name


@pytest.mark.parametrize("name", ["best", "best_mlp", "best_noaux"])
def test_best_configs_read_the_target_off_the_digits(name):
    model = model_of(name).eval()
    assert all(member.head is None for member in model.net.members) and model.hparams.prediction == "digits"
    for logits, digits in model.net.member_outputs(torch.randn(4, 2, 14, 14)):
        assert torch.allclose(logits.softmax(1)[:, 1], p_first_le_second(digits), atol=1e-5)


def test_one_member_passes_its_outputs_through():
    x = torch.randn(6, 2, 14, 14)
    model = PairClassifier(prediction="digits").eval()
    ((logits, digits),) = model.net.member_outputs(x)
    assert all(torch.equal(a, b) for a, b in zip(model(x), (logits, digits)))


@pytest.mark.parametrize("prediction", ["head", "digits"])
def test_an_ensemble_predicts_its_members_mean_probabilities(prediction):
    x = torch.randn(6, 2, 14, 14)
    model = PairClassifier(prediction=prediction, members=3).eval()
    outputs = model.net.member_outputs(x)
    logits, digits = model(x)
    for ensemble, index in ((logits, 0), (digits, 1)):
        mean = torch.stack([output[index].softmax(-1) for output in outputs]).mean(0)
        assert torch.allclose(ensemble.exp(), mean, atol=1e-6)
    assert not torch.allclose(outputs[0][1], outputs[1][1])  # members start apart
    assert model.n_params == 3 * PairClassifier(prediction=prediction).n_params


def test_each_member_is_trained_on_its_own_loss():
    x, target, classes = batch()
    model = PairClassifier(prediction="digits", members=2)
    loss = model.training_step((x, target, classes), 0)
    members = [model.loss(*output, target, classes) for output in model.net.member_outputs(x)]
    assert torch.allclose(loss, (members[0] + members[1]) / 2)
    assert not torch.allclose(loss, model.loss(*model(x), target, classes))


def test_predict_step_standardises_raw_pairs_with_the_training_statistics_it_keeps():
    model = PairClassifier().eval()
    model.input_mean.fill_(30.0)
    model.input_std.fill_(70.0)
    raw = torch.rand(5, 2, 14, 14) * 255
    predicted = model.predict_step(raw, 0)
    logits, digits = model((raw - 30.0) / 70.0)
    assert torch.equal(predicted["target"], logits.argmax(1)) and torch.equal(predicted["classes"], digits.argmax(-1))
    assert torch.allclose(predicted["p_target"], logits.softmax(1)[:, 1])
    assert {"input_mean", "input_std"} <= set(model.state_dict())  # checkpoints carry them


def test_per_digit_metrics_by_hand(monkeypatch):
    """Four pairs with known digit predictions: accuracy at each position, both, and the argmax comparison."""
    model = PairClassifier()
    classes = torch.tensor([[1, 2], [3, 3], [5, 4], [0, 9]])
    predicted = torch.tensor([[1, 2], [3, 4], [4, 4], [7, 9]])  # first right 2/4, second right 3/4
    digits = F.one_hot(predicted, 10).float() * 10
    target = (classes[:, 0] <= classes[:, 1]).long()  # 1, 1, 0, 1
    batch = {
        "loss": torch.zeros(4),
        "logits": torch.zeros(4, 2),
        "x": torch.zeros(4, 2, 14, 14),
        "target": target,
        "classes": classes,
        "digits": digits,
    }
    model.epoch_outputs["test"].append(batch)
    logged = {}
    monkeypatch.setattr(model, "log", lambda name, value, **kwargs: logged.__setitem__(name, float(value)))
    model.log_stage("test")
    assert logged["test/digit_acc_first"] == 0.5 and logged["test/digit_acc_second"] == 0.75
    assert logged["test/digit_acc"] == 0.625
    # argmax comparisons: 1<=2 yes, 3<=4 yes, 4<=4 yes (truth: 5<=4 no), 7<=9 yes -> 3 of 4 right
    assert logged["test/acc_from_argmax"] == 0.75
    assert logged["test/acc"] == 0.25  # the zero logits predict class 0 everywhere; one target is 0


@pytest.mark.parametrize("arch", ["pairnet", "baseline_cnn"])
def test_channels_last_changes_the_layout_not_the_function(arch):
    torch.manual_seed(0)
    default = PairClassifier(arch=arch, weight_sharing=False).eval()
    last = PairClassifier(arch=arch, weight_sharing=False, memory_format="channels_last").eval()
    last.load_state_dict(default.state_dict())
    convs = lambda model: [p for p in model.parameters() if p.dim() == 4]
    assert all(p.is_contiguous() for p in convs(default))
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs(last))  # kept by load_state_dict
    assert any(not p.is_contiguous() for p in convs(last))  # a conv of one input channel is both
    x = torch.randn(8, 2, 14, 14)
    for a, b in zip(default(x), last(x), strict=True):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-5)
