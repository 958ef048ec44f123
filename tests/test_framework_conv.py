"""Conv2d, MaxPool2d and Flatten: gradient checks, torch parity in float64, torch's init and layout, bad input."""

import math
import re

import pytest
import torch

from compare.twin import torch_twin
from framework import Conv2d, CrossEntropy, Flatten, Linear, MaxPool2d, ReLU, Sequential, adjoint_test, gradcheck

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=gen(seed))


def convnet(padding=0):
    g = gen()
    return Sequential(
        Conv2d(2, 3, 3, padding=padding, dtype=F64, generator=g),
        ReLU(),
        MaxPool2d(2),
        Conv2d(3, 4, 2, dtype=F64, generator=g),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(4, 3, dtype=F64, generator=g),
    )


MODULES = {  # name: (module, input)
    "conv": (lambda: Conv2d(2, 3, 3, dtype=F64, generator=gen()), (2, 2, 5, 6)),
    "conv-padded": (lambda: Conv2d(2, 3, 3, padding=1, dtype=F64, generator=gen()), (2, 2, 4, 5)),
    "conv-1x1": (lambda: Conv2d(3, 2, 1, dtype=F64, generator=gen()), (2, 3, 3, 3)),
    "maxpool": (MaxPool2d, (2, 3, 4, 6)),
    "maxpool-odd": (MaxPool2d, (2, 3, 5, 7)),
    "flatten": (Flatten, (2, 3, 2, 2)),
    "convnet": (convnet, (3, 2, 10, 10)),
    "convnet-padded": (lambda: convnet(padding=1), (3, 2, 8, 8)),
}


@pytest.mark.parametrize("name", MODULES)
def test_gradcheck(name):
    make, shape = MODULES[name]
    module = make()
    errors = gradcheck(module, randn(*shape))
    assert len(errors) == 1 + len(module.param()) and errors["input"] < 1e-6


@pytest.mark.parametrize("name", MODULES)
def test_adjoint(name):
    make, shape = MODULES[name]
    module, x = make(), randn(*shape)
    out = module.forward(x)
    assert adjoint_test(module, x, randn(*out.shape, seed=1), randn(*shape, seed=2)) <= 1e-10


def test_gradcheck_convnet_with_its_loss():
    gradcheck(convnet(), randn(3, 2, 10, 10), loss=CrossEntropy(), target=torch.tensor([0, 2, 1]))


@pytest.mark.parametrize("name", MODULES)
def test_forward_and_every_gradient_match_torch(name):
    make, shape = MODULES[name]
    module = make()
    model = module if isinstance(module, Sequential) else Sequential(module)
    twin = torch_twin(model)
    x = randn(*shape)
    out = model.forward(x)
    grad = randn(*out.shape, seed=1)
    dx = model.backward(grad)
    twin_x = x.clone().requires_grad_()
    twin_out = twin(twin_x)
    twin_out.backward(grad)
    assert (out - twin_out.detach()).abs().max() <= 1e-12
    assert (dx - twin_x.grad).abs().max() <= 1e-12
    for (_, g), p in zip(model.param(), twin.parameters(), strict=True):
        assert (g - p.grad).abs().max() <= 1e-12


def test_maxpool_ties_send_the_gradient_to_the_first_maximum_as_torch():
    x = torch.tensor([[[[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 2.0, 2.0], [0.0, 0.0, -1.0, -1.0], [0.0, 3.0, -1.0, -1.0]]]])
    pool, grad = MaxPool2d(2), torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, dx = pool.forward(x), pool.backward(grad)
    twin_x = x.clone().requires_grad_()
    torch.nn.MaxPool2d(2)(twin_x).backward(grad)
    assert torch.equal(out, torch.tensor([[[[1.0, 2.0], [3.0, -1.0]]]]))
    assert torch.equal(dx, twin_x.grad)
    assert dx.flatten().tolist() == [1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 4, 0, 0, 3, 0, 0]


def test_conv_layout_and_init_are_torch_s():
    conv = Conv2d(16, 8, 3, generator=gen())
    (weight, grad_weight), (bias, grad_bias) = conv.param()
    assert weight.shape == grad_weight.shape == (8, 16, 3, 3) and bias.shape == grad_bias.shape == (8,)
    bound = 1 / math.sqrt(16 * 9)
    assert 0.95 * bound < weight.abs().max() <= bound and 0.5 * bound < bias.abs().max() <= bound
    assert not grad_weight.any() and not grad_bias.any()


def test_conv_gradients_accumulate_until_zeroed():
    conv, x = Conv2d(2, 3, 3, dtype=F64, generator=gen()), randn(2, 2, 5, 5)
    grad = randn(*conv.forward(x).shape, seed=1)
    conv.backward(grad)
    once = conv.grad_weight.clone()
    conv.backward(grad)
    assert torch.allclose(conv.grad_weight, 2 * once)
    conv.zero_grad()
    assert not conv.grad_weight.any() and not conv.grad_bias.any()


# ---- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, shape, message",
    [
        (
            Conv2d(3, 4, 3),
            (2, 3, 5),
            r"Conv2d\(3, 4, kernel_size=3, padding=0\) expects input \[N, 3, H, W\], "
            r"got \(2, 3, 5\)",
        ),
        (
            Conv2d(3, 4, 3),
            (2, 1, 5, 5),
            r"Conv2d\(3, 4, kernel_size=3, padding=0\) expects input \[N, 3, H, W\], "
            r"got \(2, 1, 5, 5\)",
        ),
        (
            Conv2d(1, 4, 5),
            (2, 1, 4, 9),
            r"Conv2d\(1, 4, kernel_size=5, padding=0\): input \(2, 1, 4, 9\) with padding 0 "
            r"is smaller than the 5x5 kernel",
        ),
        (MaxPool2d(2), (2, 3, 5), r"MaxPool2d\(2\) expects input \[N, C, H, W\] with H, W >= 2, got \(2, 3, 5\)"),
        (MaxPool2d(2), (2, 3, 1, 5), r"MaxPool2d\(2\) expects input \[N, C, H, W\] with H, W >= 2, got \(2, 3, 1, 5\)"),
    ],
)
def test_bad_input_names_module_and_shapes(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module.forward(torch.ones(shape))


def test_padding_lets_a_small_input_through():
    assert Conv2d(1, 2, 5, padding=1).forward(torch.ones(1, 1, 3, 3)).shape == (1, 2, 1, 1)


@pytest.mark.parametrize("module", [Conv2d(1, 2, 3), MaxPool2d(2), Flatten()])
def test_backward_before_forward_names_the_module(module):
    with pytest.raises(RuntimeError, match=rf"{type(module).__name__}\(.*\)\.backward called before forward"):
        module.backward(torch.ones(1, 2, 2, 2))


@pytest.mark.parametrize(
    "module, shape", [(Conv2d(1, 2, 3), (2, 1, 5, 5)), (MaxPool2d(2), (2, 1, 4, 4)), (Flatten(), (2, 1, 4, 4))]
)
def test_wrong_gradient_shape_is_refused(module, shape):
    out = module.forward(torch.ones(shape))
    message = f"gradient of shape (3,), but its output has shape {tuple(out.shape)}"
    with pytest.raises(ValueError, match=re.escape(message)):
        module.backward(torch.ones(3))


def test_bad_hyperparameters_are_refused():
    for make in (
        lambda: Conv2d(0, 2, 3),
        lambda: Conv2d(1, 2, 0),
        lambda: Conv2d(1, 2, 3, padding=-1),
        lambda: MaxPool2d(3),
    ):
        with pytest.raises(ValueError):
            make()
