"""Checks of a module's backward: finite differences on every entry, Taylor tests, the adjoint test.

Use float64 tensors. Put modules with randomness (Dropout) in eval mode first.
"""

import math

from torch import empty

from framework.module import Module


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def numerical_gradient(f, x, eps: float = 1e-6):
    """Central differences of the scalar f() with respect to every entry of x (perturbed in place)."""
    grad, flat = empty(x.shape, dtype=x.dtype), x.view(-1)
    for i in range(flat.numel()):
        original = flat[i].item()
        flat[i] = original + eps
        plus = float(f())
        flat[i] = original - eps
        minus = float(f())
        flat[i] = original
        grad.view(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def scalar_output(module: Module, x, loss=None, target=None, generator=None):
    """A scalar function of the module's output, and its gradient with respect to that output.

    With a loss: loss(module(x), target) and loss.backward(). Without: sum(u * module(x)) with a fixed random u.
    """
    if loss is not None:
        return (lambda: loss.forward(module.forward(x), target)), loss.backward
    u = empty(module.forward(x).shape, dtype=x.dtype).normal_(generator=generator)
    return (lambda: (u * module.forward(x)).sum()), (lambda: u)


def gradcheck(
    module: Module, x, loss=None, target=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, generator=None
) -> dict:
    """Compare the analytic input and parameter gradients with central differences on every entry.

    Returns {name: largest absolute error}; raises GradcheckError naming the first tensor that fails.
    """
    f, output_grad = scalar_output(module, x, loss, target, generator)
    module.zero_grad()
    f()
    analytic = {"input": module.backward(output_grad())}
    analytic |= {f"param {i}": g.clone() for i, (_, g) in enumerate(module.param())}
    module.zero_grad()
    tensors = {"input": x} | {f"param {i}": p for i, (p, _) in enumerate(module.param())}
    errors = {}
    for name, tensor in tensors.items():
        numeric = numerical_gradient(f, tensor, eps)
        error = (analytic[name] - numeric).abs()
        errors[name] = error.max().item() if error.numel() else 0.0
        bad = error > atol + rtol * numeric.abs()
        if bad.any():
            i = int(bad.view(-1).nonzero()[0])
            raise GradcheckError(
                f"{module!r}: {name} gradient entry {i} is {analytic[name].view(-1)[i].item():.6g}, "
                f"central differences give {numeric.view(-1)[i].item():.6g}"
            )
    return errors


def jacobian(module: Module, x, parameter=None):
    """The Jacobian d module(x) / dx, or d module(x) / d parameter for one of the tensors of module.param(), as a
    matrix [outputs, entries], one backward per output entry."""
    grad = next(g for p, g in module.param() if p is parameter) if parameter is not None else None
    y = module.forward(x)
    rows = empty(y.numel(), x.numel() if grad is None else grad.numel(), dtype=x.dtype)
    for i in range(y.numel()):
        unit = empty(y.shape, dtype=x.dtype).zero_()
        unit.view(-1)[i] = 1.0
        module.zero_grad()
        module.forward(x)
        input_grad = module.backward(unit)
        rows[i] = (input_grad if grad is None else grad).reshape(-1)
    module.zero_grad()
    return rows


def as_function_of(f, tensor):
    """f() as a function of the value of `tensor` (an input or a parameter f reads), set in place and restored."""

    def of_value(value):
        saved = tensor.clone()
        tensor.copy_(value)
        try:
            return f()
        finally:
            tensor.copy_(saved)

    return of_value


def taylor_test(f, x, d, derivative, epsilons) -> list:
    """Rows (eps, |f(x+eps d) - f(x)|, |f(x+eps d) - f(x) - eps derivative|), norms over all entries.

    derivative is d^T grad f for a scalar f, or J d for a vector f; the residuals fall as O(eps) and O(eps^2).
    """
    fx = f(x)
    rows = []
    for eps in epsilons:
        step = f(x + eps * d) - fx
        rows.append((eps, step.norm().item(), (step - eps * derivative).norm().item()))
    return rows


def ratios(rows: list) -> list:
    """Successive ratios of both residuals: about 2 and 4 when eps halves; nan where a residual is exactly 0."""
    return [tuple(a[k] / b[k] if b[k] else math.nan for k in (1, 2)) for a, b in zip(rows, rows[1:])]


def jvp(module: Module, x, v, h: float = 1e-3):
    """J v by Richardson-extrapolated central differences (error O(h^4)), independent of backward."""

    def central(step):
        return (module.forward(x + step * v) - module.forward(x - step * v)) / (2 * step)

    return (4 * central(h / 2) - central(h)) / 3


def adjoint_test(module: Module, x, u, v) -> float:
    """|u^T (J v) - v^T (J^T u)|, with J v from forward passes and J^T u from backward."""
    jv = jvp(module, x, v)
    module.forward(x)
    jtu = module.backward(u)
    module.zero_grad()
    return abs((u * jv).sum().item() - (v * jtu).sum().item())
