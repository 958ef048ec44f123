"""The torch.nn twin of a framework Sequential, with the same weights (for comparisons and parity tests)."""

import torch

from framework import LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh

ACTIVATIONS = {ReLU: torch.nn.ReLU, Tanh: torch.nn.Tanh, Sigmoid: torch.nn.Sigmoid}


def torch_twin(model: Sequential) -> torch.nn.Sequential:
    """The same layers in torch.nn, initialised with copies of the framework's weights."""
    layers = []
    for module in model.modules:
        if isinstance(module, Linear):
            twin = torch.nn.Linear(module.in_features, module.out_features, bias=module.bias is not None,
                                   dtype=module.weight.dtype)
            with torch.no_grad():
                twin.weight.copy_(module.weight)
                if module.bias is not None:
                    twin.bias.copy_(module.bias)
            layers.append(twin)
        elif isinstance(module, LeakyReLU):
            layers.append(torch.nn.LeakyReLU(module.negative_slope))
        else:
            layers.append(ACTIVATIONS[type(module)]())
    return torch.nn.Sequential(*layers)


def decay_groups(twin: torch.nn.Sequential, weight_decay: float) -> list[dict]:
    """torch.optim parameter groups that decay weights and leave biases alone, as the framework's optimizers do."""
    params = list(twin.parameters())
    return [{"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() == 1], "weight_decay": 0.0}]
