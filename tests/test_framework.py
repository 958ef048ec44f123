"""The hand-written framework: gradient checks, Taylor and adjoint tests, parity with torch.nn, errors, rules."""

import math

import pytest
import torch

from compare.twin import decay_groups, torch_twin
from framework import (
    SGD,
    Adam,
    CrossEntropy,
    Dropout,
    GradcheckError,
    LeakyReLU,
    Linear,
    LossMSE,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    adjoint_test,
    gradcheck,
    jacobian,
    taylor_test,
)
from framework.gradcheck import ratios

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, dtype=F64, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=gen(seed))


def mlp(activation=ReLU, dtype=F64, seed=0, sizes=(3, 5, 4, 2)):
    g = gen(seed)
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [Linear(a, b, dtype=dtype, generator=g), activation()]
    return Sequential(*layers[:-1])


class Reseeded(Module):
    """Dropout with the same mask at every forward, so that finite differences see one function."""

    def __init__(self, p):
        self.generator = gen(1)
        self.dropout = Dropout(p, self.generator)

    def forward(self, x):
        self.generator.manual_seed(1)
        return self.dropout.forward(x)

    def backward(self, grad):
        return self.dropout.backward(grad)


MODULES = {
    "linear": lambda: Linear(4, 3, dtype=F64, generator=gen()),
    "linear-xavier": lambda: Linear(4, 3, init="xavier", dtype=F64, generator=gen()),
    "linear-he-nobias": lambda: Linear(4, 3, bias=False, init="he", dtype=F64, generator=gen()),
    "relu": ReLU,
    "leaky-relu": lambda: LeakyReLU(0.1),
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "dropout-train": lambda: Reseeded(0.3),
    "dropout-eval": lambda: Dropout(0.3).eval(),
    "sequential": lambda: mlp(Tanh),
}


def input_for(name):
    return randn(6, 3 if name == "sequential" else 4)


# ---- gradient checks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULES)
def test_gradcheck_every_module(name):
    errors = gradcheck(MODULES[name](), input_for(name), eps=1e-6, atol=1e-5, rtol=1e-3)
    assert errors["input"] < 1e-5


@pytest.mark.parametrize("loss, target", [(LossMSE(), randn(6, 2, seed=1)), (CrossEntropy(), torch.arange(6) % 2)])
@pytest.mark.parametrize("activation", [ReLU, Tanh, Sigmoid, LeakyReLU])
def test_gradcheck_whole_network_with_its_loss(loss, target, activation):
    model = mlp(activation)
    errors = gradcheck(model, randn(6, 3), loss=loss, target=target)
    assert len(errors) == 1 + len(model.param())  # the input and every parameter tensor, every entry


class WrongLinear(Linear):
    """A deliberately wrong backward: the bias gradient is off by a factor of 2."""

    def backward(self, grad):
        out = super().backward(grad)
        self.grad_bias.add_(grad.sum(0))
        return out


def test_negative_control_wrong_backward_fails():
    with pytest.raises(GradcheckError, match="param 1"):
        gradcheck(WrongLinear(4, 3, dtype=F64, generator=gen()), randn(6, 4))


# ---- Taylor and adjoint tests ----------------------------------------------------------------------------------

EPSILONS = [0.5**k for k in range(4, 12)]


def test_taylor_gradient_test_on_a_loss():
    model, loss, x, target = mlp(Tanh), LossMSE(), randn(6, 3), randn(6, 2, seed=1)
    f = lambda z: loss.forward(model.forward(z), target)
    f(x)
    grad = model.backward(loss.backward())
    d = randn(6, 3, seed=2)
    rows = taylor_test(f, x, d, (d * grad).sum(), EPSILONS)
    for first, second in ratios(rows):
        assert first == pytest.approx(2, abs=0.1) and second == pytest.approx(4, abs=0.2)


def test_taylor_jacobian_test_on_a_layer_output():
    model, x, d = mlp(Sigmoid), randn(2, 3), randn(2, 3, seed=2)
    jd = (jacobian(model, x) @ d.reshape(-1)).view(2, 2)
    rows = taylor_test(model.forward, x, d, jd, EPSILONS)
    for first, second in ratios(rows):
        assert first == pytest.approx(2, abs=0.1) and second == pytest.approx(4, abs=0.2)


def test_taylor_test_exposes_a_wrong_gradient():
    model = Sequential(WrongLinear(3, 2, dtype=F64, generator=gen()), Tanh())
    loss, x, target = LossMSE(), randn(6, 3), randn(6, 2)
    f = lambda z: loss.forward(model.forward(z), target)
    f(x)
    model.backward(loss.backward())
    grad_bias = model.param()[1][1]
    bias = model.param()[1][0]
    d = randn(2, seed=3)

    def of_bias(b):
        saved = bias.clone()
        bias.copy_(b)
        value = f(x)
        bias.copy_(saved)
        return value

    rows = taylor_test(of_bias, bias.clone(), d, (d * grad_bias).sum(), EPSILONS)
    assert all(second == pytest.approx(2, abs=0.1) for _, second in ratios(rows)[-3:])  # O(eps), not O(eps^2)


@pytest.mark.parametrize("name", [n for n in MODULES if n != "dropout-train"])
def test_adjoint(name):
    module, x = MODULES[name](), input_for(name)
    out = module.forward(x)
    assert adjoint_test(module, x, randn(*out.shape, seed=4), randn(*x.shape, seed=5)) <= 1e-10


# ---- parity with torch.nn (autograd used here only) ------------------------------------------------------------


def torch_params(twin):
    return list(twin.parameters())  # in the framework's param() order: weight, bias per layer


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("activation", [ReLU, Tanh, Sigmoid, LeakyReLU])
@pytest.mark.parametrize("loss_name", ["mse", "ce"])
def test_outputs_and_gradients_match_torch(dtype, tol, activation, loss_name):
    model = mlp(activation, dtype=dtype, sizes=(3, 25, 25, 2))
    twin = torch_twin(model)
    x = randn(8, 3, dtype=dtype)
    target = randn(8, 2, dtype=dtype, seed=1) if loss_name == "mse" else torch.arange(8) % 2
    ours, theirs = (
        (LossMSE(), torch.nn.MSELoss()) if loss_name == "mse" else (CrossEntropy(), torch.nn.CrossEntropyLoss())
    )
    with torch.no_grad():
        out = model.forward(x)
        value = ours.forward(out, target)
        model.backward(ours.backward())
    twin_out = twin(x)
    twin_value = theirs(twin_out, target)
    twin_value.backward()
    assert (out - twin_out.detach()).abs().max() <= tol
    assert abs(value.item() - twin_value.item()) <= tol
    for (_, g), p in zip(model.param(), torch_params(twin)):
        assert (g - p.grad).abs().max() <= tol


@pytest.mark.parametrize("slope", [-0.5, 0.0, 0.01, 1.0, 2.0])
def test_leaky_relu_matches_torch_for_any_slope(slope):
    x = torch.cat([randn(20), torch.zeros(1, dtype=F64)])
    module, grad = LeakyReLU(slope), randn(21, seed=1)
    out = module.forward(x)
    twin_x = x.clone().requires_grad_()
    twin_out = torch.nn.functional.leaky_relu(twin_x, slope)
    twin_out.backward(grad)
    assert torch.equal(out, twin_out.detach())
    assert torch.equal(module.backward(grad), twin_x.grad)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_100_optimizer_steps_match_torch(name):
    model = mlp(ReLU, dtype=torch.float32, sizes=(2, 25, 25, 2))
    twin = torch_twin(model)
    params, groups = torch_params(twin), decay_groups(twin, 1e-2)
    if name == "sgd":
        ours = SGD(model.param(), lr=0.05, momentum=0.9, weight_decay=1e-2)
        theirs = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    else:
        ours, theirs = Adam(model.param(), lr=1e-2, weight_decay=1e-2), torch.optim.Adam(groups, lr=1e-2)
    loss, twin_loss = LossMSE(), torch.nn.MSELoss()
    g = gen(3)
    for _ in range(100):
        x, y = torch.randn(10, 2, generator=g), torch.randn(10, 2, generator=g)
        with torch.no_grad():
            ours.zero_grad()
            loss.forward(model.forward(x), y)
            model.backward(loss.backward())
            ours.step()
        theirs.zero_grad()
        twin_loss(twin(x), y).backward()
        theirs.step()
    for (p, _), q in zip(model.param(), params):
        assert (p - q.detach()).abs().max() <= 1e-5


def test_mse_gradient_is_that_of_the_mean_over_all_elements():
    pred, target = randn(5, 2), randn(5, 2, seed=1)
    loss = LossMSE()
    assert loss.forward(pred, target).item() == pytest.approx(((pred - target) ** 2).mean().item())
    assert torch.allclose(loss.backward(), 2 * (pred - target) / 10)


# ---- behaviour ----------------------------------------------------------------------------------------------------


def test_gradients_accumulate_until_zeroed():
    layer, x, g = Linear(3, 2, dtype=F64, generator=gen()), randn(4, 3), randn(4, 2, seed=1)
    layer.forward(x)
    layer.backward(g)
    once = layer.grad_weight.clone()
    layer.backward(g)
    assert torch.allclose(layer.grad_weight, 2 * once)
    layer.zero_grad()
    assert layer.grad_weight.abs().sum() == 0 and layer.grad_bias.abs().sum() == 0


def test_param_pairs():
    assert ReLU().param() == [] and len(Linear(2, 3).param()) == 2 and len(Linear(2, 3, bias=False).param()) == 1
    assert len(mlp().param()) == 6


def test_backward_before_forward_names_the_module():
    with pytest.raises(RuntimeError, match=r"Linear\(3, 2, bias=True\)\.backward called before forward"):
        Linear(3, 2).backward(torch.ones(4, 2))
    with pytest.raises(RuntimeError, match="Tanh"):
        Tanh().backward(torch.ones(2))


def test_shape_errors_name_module_and_shapes():
    layer = Linear(3, 2)
    with pytest.raises(ValueError, match=r"Linear\(3, 2, bias=True\) expects input \[N, 3\], got \(4, 5\)"):
        layer.forward(torch.ones(4, 5))
    layer.forward(torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"gradient of shape \(4, 3\), but its output has shape \(4, 2\)"):
        layer.backward(torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"prediction \(4, 2\) and target \(4,\) differ"):
        LossMSE().forward(torch.ones(4, 2), torch.ones(4))


def test_bad_hyperparameters_are_refused():
    for make in (
        lambda: SGD([], lr=-1),
        lambda: SGD([], lr=0.1, momentum=1.5),
        lambda: Dropout(1.0),
        lambda: Linear(2, 2, init="glorot"),
        lambda: Adam([], weight_decay=-1),
    ):
        with pytest.raises(ValueError):
            make()


def test_sigmoid_and_cross_entropy_are_stable_for_huge_inputs():
    x = torch.tensor([[-1000.0, 0.0, 1000.0]])
    assert torch.equal(Sigmoid().forward(x), torch.tensor([[0.0, 0.5, 1.0]]))
    loss = CrossEntropy()
    value = loss.forward(torch.tensor([[1000.0, 0.0], [0.0, 1000.0]]), torch.tensor([0, 0]))
    assert math.isfinite(value.item()) and value.item() == pytest.approx(500.0)
    assert torch.isfinite(loss.backward()).all()


def test_dropout_modes_propagate_through_containers():
    drop = Dropout(0.5, gen())
    model = Sequential(Linear(4, 4), Sequential(ReLU(), drop))
    model.eval()
    assert not drop.training
    x = torch.ones(1000, 4)
    assert torch.equal(drop.forward(x), x)
    model.train()
    y = drop.forward(x)
    assert drop.training and set(y.unique().tolist()) == {0.0, 2.0}
    assert y.mean().item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    "init, check",
    [
        ("default", lambda w: w.abs().max() <= 1 / math.sqrt(400) and w.abs().max() > 0.9 / math.sqrt(400)),
        ("xavier", lambda w: w.abs().max() <= math.sqrt(6 / 700) and w.abs().max() > 0.9 * math.sqrt(6 / 700)),
        ("he", lambda w: abs(w.std().item() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)),
    ],
)
def test_inits(init, check):
    layer = Linear(400, 300, init=init, generator=gen())
    assert check(layer.weight)
    assert init == "default" or layer.bias.abs().sum() == 0


def test_everything_runs_without_autograd():
    with torch.no_grad():
        assert not torch.is_grad_enabled()
        model, loss = mlp(Tanh, dtype=torch.float32), CrossEntropy()
        optimizer = SGD(model.param(), lr=0.1)
        x, y = randn(16, 3, dtype=torch.float32), torch.arange(16) % 2
        before = loss.forward(model.forward(x), y).item()
        for _ in range(50):
            optimizer.zero_grad()
            loss.forward(model.forward(x), y)
            model.backward(loss.backward())
            optimizer.step()
        assert loss.forward(model.forward(x), y).item() < before
