"""Element-wise activations and the softmax, each backward beside its forward."""

from framework.losses import softmax
from framework.module import Module


class Activation(Module):
    """An element-wise map; subclasses give the value and its derivative in terms of input x and output y (a new
    tensor, which backward multiplies by the gradient in place)."""

    def forward(self, x):
        self.input, self.output = x, self.value(x)
        return self.output

    def backward(self, grad):
        x = self.saved("input")
        return self.derivative(x, self.output).mul_(self.check_grad(grad, x.shape))

    def value(self, x):
        raise NotImplementedError

    def derivative(self, x, y):
        raise NotImplementedError


class ReLU(Activation):
    def value(self, x):
        return x.clamp_min(0)

    def derivative(self, x, y):
        return y.sign()  # 1 where x > 0, else 0 (NaN where x is): one pass, where a bool mask needs a slow cast


class LeakyReLU(Activation):
    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def value(self, x):
        return x.where(x > 0, x * self.negative_slope)

    def derivative(self, x, y):
        positive = x > 0
        return positive.to(x.dtype).where(positive, self.negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"


class Tanh(Activation):
    def value(self, x):
        return x.tanh()

    def derivative(self, x, y):
        return 1 - y * y


class Sigmoid(Activation):
    """1 / (1 + e^-x), computed from e^-|x| so that neither branch overflows."""

    def value(self, x):
        z = (-x.abs()).exp()
        return (1 / (1 + z)).where(x >= 0, z / (1 + z))

    def derivative(self, x, y):
        return y * (1 - y)


class Softmax(Module):
    """softmax over the last dimension; backward applies J^T with J = diag(s) - s s^T, row by row."""

    def forward(self, x):
        self.output = softmax(x)
        return self.output

    def backward(self, grad):
        s = self.saved("output")
        grad = self.check_grad(grad, s.shape)
        return s * (grad - (grad * s).sum(-1, keepdim=True))
