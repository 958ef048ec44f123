"""Losses: forward(prediction, target) returns a scalar; backward() returns d loss / d prediction."""

from framework.module import Module


class Loss(Module):
    def check_shapes(self, prediction, target):
        if prediction.shape != target.shape:
            raise ValueError(f"{self!r}: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")


class LossMSE(Loss):
    """Mean over *all* elements of (prediction - target)^2, as torch's MSELoss(reduction='mean')."""

    def forward(self, prediction, target):
        self.check_shapes(prediction, target)
        self.diff = prediction - target
        return (self.diff * self.diff).mean()

    def backward(self, grad=1.0):
        diff = self.saved("diff")
        return diff * (2.0 * grad / diff.numel())


def log_softmax(logits):
    """log softmax over the last dimension, with the row maximum subtracted so that nothing overflows."""
    shifted = logits - logits.max(-1, keepdim=True).values
    return shifted - shifted.exp().sum(-1, keepdim=True).log()


def softmax(logits):
    return log_softmax(logits).exp()


class CrossEntropy(Loss):
    """Softmax cross-entropy over logits [N, C] against class indices [N], mean over the batch.

    Fused with the softmax and computed with the row maximum subtracted, so large logits do not overflow.
    """

    def forward(self, logits, target):
        if logits.dim() != 2 or target.shape != logits.shape[:1]:
            raise ValueError(
                f"{self!r} expects logits [N, C] and class indices [N], "
                f"got {tuple(logits.shape)} and {tuple(target.shape)}"
            )
        log_probs = log_softmax(logits)
        self.probs, self.target = log_probs.exp(), target
        return -log_probs.gather(1, target.view(-1, 1)).mean()

    def backward(self, grad=1.0):
        probs = self.saved("probs")
        one_hot = probs.new_zeros(probs.shape).scatter_(1, self.target.view(-1, 1), 1.0)
        return (probs - one_hot) * (grad / probs.shape[0])
