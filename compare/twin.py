"""The torch twins of framework models, with the same weights (for comparisons and parity tests): torch.nn for a
Sequential, the study's own PairClassifier for a PairNet."""

from collections.abc import Callable

import torch

from framework import Conv2d, Flatten, LeakyReLU, Linear, MaxPool2d, Module, PairNet, ReLU, Sequential, Sigmoid, Tanh
from pairs.classifier import PairClassifier

WITHOUT_PARAMETERS: dict[type[Module], Callable[[], torch.nn.Module]] = {
    ReLU: torch.nn.ReLU,
    Tanh: torch.nn.Tanh,
    Sigmoid: torch.nn.Sigmoid,
    Flatten: torch.nn.Flatten,
    MaxPool2d: lambda: torch.nn.MaxPool2d(2),
}


def torch_module(module: Module) -> torch.nn.Module:
    """The torch.nn module of the same kind and shape (weights as torch initialises them)."""
    if isinstance(module, Sequential):
        return torch.nn.Sequential(*map(torch_module, module.modules))
    if isinstance(module, Linear):
        return torch.nn.Linear(
            module.in_features, module.out_features, bias=module.bias is not None, dtype=module.weight.dtype
        )
    if isinstance(module, Conv2d):
        return torch.nn.Conv2d(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            padding=module.padding,
            dtype=module.weight.dtype,
        )
    if isinstance(module, LeakyReLU):
        return torch.nn.LeakyReLU(module.negative_slope)
    return WITHOUT_PARAMETERS[type(module)]()


def copy_weights(model: Module, twin: torch.nn.Module) -> None:
    """Copy the framework's parameters into the twin's, which must list the same shapes in the same order."""
    ours, theirs = [p for p, _ in model.param()], list(twin.parameters())
    if [p.shape for p in ours] != [p.shape for p in theirs]:
        raise ValueError(
            f"{model!r} and its twin differ: parameter shapes {[tuple(p.shape) for p in ours]} "
            f"and {[tuple(p.shape) for p in theirs]}"
        )
    with torch.no_grad():
        for p, q in zip(ours, theirs):
            q.copy_(p)


def torch_twin(model: Sequential) -> torch.nn.Module:
    """The same layers in torch.nn, initialised with copies of the framework's weights."""
    twin = torch_module(model)
    copy_weights(model, twin)
    return twin


def pair_twin(model: PairNet, arguments: dict) -> PairClassifier:
    """The study's PairClassifier(**arguments) in the model's dtype, with copies of the framework model's weights:
    its net is the study's PairNet, its `loss` the study's loss."""
    twin = PairClassifier(**arguments).to(model.param()[0][0].dtype)
    copy_weights(model, twin.net)
    return twin


def decay_groups(twin: torch.nn.Module, weight_decay: float) -> list[dict]:
    """torch.optim parameter groups that decay weights and leave biases alone, as the framework's optimizers do."""
    params = list(twin.parameters())
    return [
        {"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() == 1], "weight_decay": 0.0},
    ]
