"""Two-input networks: one trunk shared by both digits of a pair (or one trunk each), a head on their joint
outputs, and a loss made of weighted terms on several outputs."""

from framework.module import Module, spread


class PairNet(Module):
    """Digit trunks and a comparison head, as the study's PairNet.

    forward(x [B, 2, H, W]) returns target logits [B, T] and digit logits [2B, D], the digits of pair i in rows
    2i and 2i + 1 (the order of classes.reshape(-1)); the head sees the two digits' outputs as [B, 2, D].
    One trunk (weight sharing) runs both digits stacked along the batch in one pass, so its gradients sum over
    the two digits by construction; two trunks each run their own digit.
    backward(grad_target[, grad_digits]), or the tuple of the two, returns d/dx; grad_digits None means no loss on
    the digits.
    """

    def __init__(self, trunks: list[Module], head: Module):
        if len(trunks) not in (1, 2):
            raise ValueError(f"PairNet takes one shared trunk or two separate ones, got {len(trunks)}")
        self.trunks, self.head = list(trunks), head

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != 2:
            raise ValueError(f"{self!r} expects pairs [B, 2, H, W], got {tuple(x.shape)}")
        self.input_shape = x.shape
        n = len(x)
        if len(self.trunks) == 1:
            digits = self.trunks[0].forward(x.reshape(2 * n, 1, *x.shape[2:]))
        else:
            first, second = (trunk.forward(x[:, i : i + 1]) for i, trunk in enumerate(self.trunks))
            digits = first.new_empty(n, 2, first.shape[1])
            digits[:, 0], digits[:, 1] = first, second
            digits = digits.view(2 * n, -1)
        return self.head.forward(digits.view(n, 2, -1)), digits

    def backward(self, *gradwrtoutput):
        grad_target, grad_digits = (*spread(gradwrtoutput), None)[:2]
        shape = self.saved("input_shape")
        n = shape[0]
        grad = self.head.backward(grad_target).reshape(2 * n, -1)
        if grad_digits is not None:
            grad = grad + grad_digits
        if len(self.trunks) == 1:
            return self.trunks[0].backward(grad).reshape(shape)
        grad = grad.view(n, 2, -1)
        dx = grad.new_empty(shape)
        for i, trunk in enumerate(self.trunks):
            dx[:, i : i + 1] = trunk.backward(grad[:, i])
        return dx

    def param(self) -> list:
        return [pair for module in self.children() for pair in module.param()]

    def children(self) -> list:
        return [*self.trunks, self.head]

    def __repr__(self) -> str:
        sharing = "shared" if len(self.trunks) == 1 else "separate"
        return f"PairNet({sharing} trunk {self.trunks[0]!r}, head {self.head!r})"


class WeightedLosses(Module):
    """sum of weight * loss(prediction, target) over (weight, loss) terms, one term per output.

    forward(predictions, targets) takes one prediction and one target per term; backward(grad=1) returns one
    gradient per prediction, None for a term of weight 0 (it is not computed at all).
    """

    def __init__(self, *terms: tuple[float, Module]):
        if any(weight < 0 for weight, _ in terms):
            raise ValueError(f"WeightedLosses weights must be >= 0, got {[weight for weight, _ in terms]}")
        self.terms = list(terms)

    def forward(self, predictions, targets):
        if len(predictions) != len(self.terms) or len(targets) != len(self.terms):
            raise ValueError(
                f"{self!r} takes {len(self.terms)} predictions and targets, got {len(predictions)} and {len(targets)}"
            )
        self.computed = True
        terms = zip(self.terms, predictions, targets)
        return sum(weight * loss.forward(p, t) for (weight, loss), p, t in terms if weight)

    def backward(self, grad=1.0):
        self.saved("computed")
        return tuple(loss.backward(weight * grad) if weight else None for weight, loss in self.terms)

    def __repr__(self) -> str:
        return "WeightedLosses(" + ", ".join(f"{weight:g} * {loss!r}" for weight, loss in self.terms) + ")"
