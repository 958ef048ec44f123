"""The Module protocol and the Sequential container."""


class Module:
    """A layer with a hand-written backward.

    forward(*input) returns the output and keeps what backward needs; backward(*gradwrtoutput) returns
    the gradient with respect to the input and *accumulates* parameter gradients until zero_grad(). Each takes
    and returns a tensor or a tuple of tensors: a module of several outputs returns a tuple from forward, and
    its backward takes one gradient per output, spread out or as that one tuple.
    """

    training = True

    def forward(self, *input):
        raise NotImplementedError

    def backward(self, *gradwrtoutput):
        raise NotImplementedError

    def param(self) -> list:
        """(parameter, gradient) pairs; empty for a module without parameters."""
        return []

    def children(self) -> list:
        return []

    def __call__(self, *input):
        return self.forward(*input)

    def train(self, mode: bool = True) -> "Module":
        """Set training mode here and in every submodule."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for _, grad in self.param():
            grad.zero_()

    def saved(self, name: str):
        """What forward kept under `name`; a clear error if backward comes first."""
        value = getattr(self, name, None)
        if value is None:
            raise RuntimeError(f"{self!r}.backward called before forward")
        return value

    def check_grad(self, grad, shape):
        """The incoming gradient must have the output's shape."""
        if tuple(grad.shape) != tuple(shape):
            raise ValueError(
                f"{self!r}.backward got a gradient of shape {tuple(grad.shape)}, "
                f"but its output has shape {tuple(shape)}"
            )
        return grad

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def spread(values: tuple) -> tuple:
    """Arguments of forward or backward as a tuple, whether they came spread out or as one tuple."""
    return values[0] if len(values) == 1 and isinstance(values[0], tuple) else values


def one_or_tuple(values: tuple):
    """A single value as itself, several as their tuple: what forward and backward return."""
    return values[0] if len(values) == 1 else values


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse. A tuple one module returns is the next one's
    arguments, in both directions."""

    def __init__(self, *modules: Module):
        self.modules = list(modules)

    def forward(self, *input):
        values = spread(input)
        for module in self.modules:
            out = module.forward(*values)
            values = out if isinstance(out, tuple) else (out,)
        return one_or_tuple(values)

    def backward(self, *gradwrtoutput):
        grads = spread(gradwrtoutput)
        for module in reversed(self.modules):
            out = module.backward(*grads)
            grads = out if isinstance(out, tuple) else (out,)
        return one_or_tuple(grads)

    def param(self) -> list:
        return [pair for module in self.modules for pair in module.param()]

    def children(self) -> list:
        return self.modules

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(map(repr, self.modules)) + ")"
