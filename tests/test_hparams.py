"""The HParams row's keys: a key left out is one the built model never reads, and a key kept is one it does."""

import inspect

import pytest
import torch

from pairs.classifier import PairClassifier
from pairs.hparams import flat, unused_keys

# a model argument's other value, for each argument whose use depends on the others
OTHER = {
    "trunk": lambda v: "mlp" if v != "mlp" else "cnn",
    "weight_sharing": lambda v: not v,
    "channels": lambda v: [3],
    "hidden": lambda v: [5],
    "head_hidden": lambda v: 7,
    "prediction": lambda v: "digits" if v == "head" else "head",
    "aux_weight": lambda v: 2.5,
    "label_smoothing": lambda v: 0.3,
}
MODELS = {
    "cnn": {"arch": "pairnet", "trunk": "cnn"},
    "vgg-separate": {"arch": "pairnet", "trunk": "vgg", "weight_sharing": False},
    "mlp": {"arch": "pairnet", "trunk": "mlp"},
    "digits": {"arch": "pairnet", "prediction": "digits"},
    "noaux": {"arch": "pairnet", "aux_weight": 0.0},
    "baseline_cnn": {"arch": "baseline_cnn"},
    "baseline_mlp": {"arch": "baseline_mlp"},
}


def behaviour(args: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The initial weights of the model built from `args`, and its training loss on one fixed batch."""
    torch.manual_seed(0)
    model = PairClassifier(**args)
    g = torch.Generator().manual_seed(1)
    x, classes = torch.randn(4, 2, 14, 14, generator=g), torch.randint(0, 10, (4, 2), generator=g)
    target = (classes[:, 0] <= classes[:, 1]).long()
    torch.manual_seed(2)  # the same dropout masks
    loss = sum(model.loss(*out, target, classes) for out in model.net.member_outputs(x))
    return model.state_dict(), torch.as_tensor(loss)


def same(a: tuple[dict[str, torch.Tensor], torch.Tensor], b: tuple[dict[str, torch.Tensor], torch.Tensor]) -> bool:
    weights = a[0].keys() == b[0].keys() and all(a[0][k].shape == b[0][k].shape for k in a[0])
    return weights and all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("model", MODELS)
def test_the_keys_left_out_are_exactly_those_the_model_does_not_read(model):
    args = {name: p.default for name, p in inspect.signature(PairClassifier).parameters.items()} | MODELS[model]
    unused = unused_keys(args)
    assert unused <= set(OTHER)
    reference = behaviour(args)
    for key, other in OTHER.items():
        changed = behaviour(args | {key: other(args[key])})
        assert same(changed, reference) == (key in unused), f"{key} is {'un' * (key not in unused)}used"


def test_flat_nests_with_slashes_and_writes_lists_as_text():
    hparams = {"optimizer": {"class": "Adam", "betas": [0.9, 0.999]}, "channels": [32, 64], "batch_norm": True}
    assert flat(hparams) == {
        "optimizer/class": "Adam",
        "optimizer/betas": "[0.9, 0.999]",
        "channels": "[32, 64]",
        "batch_norm": True,
    }
