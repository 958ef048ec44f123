"""Image layers with torch's signatures and layouts: Conv2d, MaxPool2d and Flatten, each backward beside its forward."""

import math

from torch import empty

from framework.module import Module


class Conv2d(Module):
    """2-D cross-correlation (as torch's Conv2d), stride 1, zero padding, with bias; weight [out, in, k, k].

    Channels last inside, [N, C, H, W] outside: the input is read as [N, H, W, C] (a view, without copying, of what
    Conv2d and MaxPool2d return), and the output is the matmul's [N * Ho * Wo, out] seen as [N, out, Ho, Wo].
    Forward: every k x k patch becomes a row (unfold, one copy), and one matmul applies all filters. Backward: the
    weight gradient is one matmul with the saved patches; the input gradient is the patches' gradient (one matmul)
    added back where each patch came from (a transposed convolution: k * k strided adds).
    Init U(+-1/sqrt(fan_in)) for weight and bias, fan_in = in * k * k, as torch does.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, dtype=None, generator=None
    ):
        if min(in_channels, out_channels, kernel_size) < 1 or padding < 0:
            raise ValueError(
                f"Conv2d needs positive channels and kernel size and padding >= 0, got "
                f"({in_channels}, {out_channels}, {kernel_size}, padding={padding})"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.padding = kernel_size, padding
        bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = empty(out_channels, in_channels, kernel_size, kernel_size, dtype=dtype).uniform_(
            -bound, bound, generator=generator
        )
        self.bias = empty(out_channels, dtype=dtype).uniform_(-bound, bound, generator=generator)
        self.grad_weight, self.grad_bias = self.weight.new_zeros(self.weight.shape), self.bias.new_zeros(out_channels)

    def matrix(self):
        """The weight as [out, k * k * in], columns in the patches' order (row, column, channel)."""
        return self.weight.permute(0, 2, 3, 1).reshape(self.out_channels, -1)

    def forward(self, x):
        k, p = self.kernel_size, self.padding
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} expects input [N, {self.in_channels}, H, W], got {tuple(x.shape)}")
        if min(x.shape[2:]) + 2 * p < k:
            raise ValueError(f"{self!r}: input {tuple(x.shape)} with padding {p} is smaller than the {k}x{k} kernel")
        x = x.permute(0, 2, 3, 1)
        if p:
            padded = x.new_zeros(x.shape[0], x.shape[1] + 2 * p, x.shape[2] + 2 * p, x.shape[3])
            padded[:, p:-p, p:-p] = x
            x = padded
        n, h, w, c = self.padded_shape = x.shape
        # [N, Ho, Wo, C, k, k] -> rows (n, i, j), columns (row, column, channel)
        self.patches = x.unfold(1, k, 1).unfold(2, k, 1).permute(0, 1, 2, 4, 5, 3).reshape(-1, k * k * c)
        out = self.bias.addmm(self.patches, self.matrix().t())
        return out.view(n, h - k + 1, w - k + 1, self.out_channels).permute(0, 3, 1, 2)

    def backward(self, grad):
        patches = self.saved("patches")
        n, h, w, c = self.padded_shape
        k, p = self.kernel_size, self.padding
        ho, wo = h - k + 1, w - k + 1
        g = self.check_grad(grad, (n, self.out_channels, ho, wo)).permute(0, 2, 3, 1).reshape(-1, self.out_channels)
        # each product in the orientation MKL does fast (up to 7x apart on these shapes)
        self.grad_weight.add_((patches.t() @ g).t().view(self.out_channels, k, k, c).permute(0, 3, 1, 2))
        self.grad_bias.add_(g.sum(0))
        grad_patches = (self.matrix().t() @ g.t()).t() if c == 1 else g @ self.matrix()
        grad_patches = grad_patches.view(n, ho, wo, k, k, c)
        dx = grad.new_zeros(n, h, w, c)
        for i in range(k):
            for j in range(k):
                dx[:, i : i + ho, j : j + wo].add_(grad_patches[:, :, :, i, j])
        return dx[:, p : h - p, p : w - p].permute(0, 3, 1, 2)

    def param(self) -> list:
        return [(self.weight, self.grad_weight), (self.bias, self.grad_bias)]

    def __repr__(self) -> str:
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, padding={self.padding})"
        )


class MaxPool2d(Module):
    """Max over non-overlapping 2 x 2 windows (kernel = stride = 2, as torch's MaxPool2d(2)); an odd last row or
    column is dropped. The gradient goes to each window's first maximum in row-major order, as torch's does.

    Works on the windows as views of channels-last memory (the layout Conv2d leaves): the maximum of each window
    row's two columns, then of its two rows, remembering where the second column or row won (strictly, so that a
    tie keeps the first); backward routes the gradient by those two masks, a row and then a column.
    """

    def __init__(self, kernel_size: int = 2):
        if kernel_size != 2:
            raise ValueError(f"MaxPool2d supports kernel_size 2 only, got {kernel_size}")

    def forward(self, x):
        if x.dim() != 4 or min(x.shape[2:]) < 2:
            raise ValueError(f"{self!r} expects input [N, C, H, W] with H, W >= 2, got {tuple(x.shape)}")
        self.input_shape = x.shape
        v = self.windows(x)
        rows = v.select(4, 0).maximum(v.select(4, 1))  # [N, H/2, 2, W/2, C]: the maximum of each window row
        self.right = v.select(4, 1) > v.select(4, 0)
        self.lower = rows.select(2, 1) > rows.select(2, 0)
        return rows.select(2, 0).maximum(rows.select(2, 1)).permute(0, 3, 1, 2)

    def backward(self, grad):
        lower, right = self.saved("lower"), self.saved("right")
        n, c, h, w = self.input_shape
        grad = self.check_grad(grad, (n, c, h // 2, w // 2)).permute(0, 2, 3, 1)
        rows = grad.new_empty(right.shape)
        self.route(grad, lower, rows.select(2, 0), rows.select(2, 1))
        dx = grad.new_zeros(n, h, w, c).permute(0, 3, 1, 2)  # channels last, as Conv2d's output
        v = self.windows(dx)
        self.route(rows, right, v.select(4, 0), v.select(4, 1))
        return dx

    @staticmethod
    def windows(x):
        """x [N, C, H, W] as [N, H/2, 2, W/2, 2, C] over whole windows (a view)."""
        n, c, h, w = x.shape
        return x.permute(0, 2, 3, 1)[:, : h // 2 * 2, : w // 2 * 2].view(n, h // 2, 2, w // 2, 2, c)

    @staticmethod
    def route(grad, second, first_out, second_out) -> None:
        """grad into second_out where `second`, else into first_out, 0 in the other; the masks go to 0/1 through
        uint8, as a bool tensor's own cast to float is several times slower."""
        first_out.copy_(grad).mul_(second.logical_not().byte().to(grad.dtype))
        second_out.copy_(grad).mul_(second.byte().to(grad.dtype))

    def __repr__(self) -> str:
        return "MaxPool2d(2)"


class Flatten(Module):
    """[N, ...] -> [N, prod(...)], as torch's Flatten()."""

    def forward(self, x):
        self.input_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        shape = self.saved("input_shape")
        return self.check_grad(grad, (shape[0], shape[1:].numel())).reshape(shape)
