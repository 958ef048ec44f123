"""The one configurable LightningModule of the study: loss, metrics and logging around a pair network."""

import inspect
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

import torch
from jsonargparse.typing import NonNegativeFloat, PositiveFloat, PositiveInt, restricted_number_type
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanMetric, Metric, MetricCollection
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy
from torchmetrics.functional.classification import multiclass_confusion_matrix

from common.errors import InputError
from pairs import figures
from pairs.data import target as target_of
from pairs.hparams import log_session
from pairs.models import (
    Ensemble,
    PairNet,
    baseline_cnn,
    baseline_mlp,
    count_parameters,
    p_first_le_second,
    scaled,
)

Fraction = restricted_number_type("Fraction", float, [(">=", 0), ("<", 1)])
STAGES = ("train", "val", "test")
PROGRESS_BAR = ("loss", "acc")  # metrics the progress bar shows; every metric goes to the logger


def to_cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached CPU copies: the one way tensors leave the model (figures, hparams, prediction files), whatever
    device it ran on."""
    return {key: value.detach().cpu() for key, value in tensors.items()}


def plain(value: object) -> object:
    """`value` as a YAML-safe plain type: bool, int, float (not their jsonargparse subclasses), str, list, dict."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def optimisation(trainer: Trainer) -> dict[str, dict[str, object]]:
    """The fit's optimizer and learning-rate scheduler, each as its class name and constructor arguments."""
    setup = {}
    if trainer.optimizers:
        optimizer = trainer.optimizers[0]
        setup["optimizer"] = {"class": type(optimizer).__name__, **optimizer.defaults}
    if trainer.lr_scheduler_configs:
        scheduler = trainer.lr_scheduler_configs[0].scheduler
        names = [n for n in inspect.signature(type(scheduler)).parameters if n not in ("optimizer", "last_epoch")]
        setup["lr_scheduler"] = {"class": type(scheduler).__name__, **{n: getattr(scheduler, n, None) for n in names}}
    return {key: {k: v for k, v in args.items() if v is not None} for key, args in setup.items()}


def check_losses(arch: str, aux_weight: float, target_weight: float) -> None:
    """Refuse a model left with no loss to train on: target_weight 0 needs arch pairnet and aux_weight > 0."""
    if target_weight == 0 and (aux_weight == 0 or arch != "pairnet"):
        raise InputError("model.target_weight: 0 leaves no loss to train on; it needs arch: pairnet and aux_weight > 0")


class PairClassifier(LightningModule):
    """Predicts whether digit 1 <= digit 2 from a 2x14x14 pair.

    Args:
        arch: `pairnet` (one trunk per digit and a comparison head), or a baseline that sees the
            2-channel image at once: `baseline_cnn` (the spec's ~70k-parameter convnet) or `baseline_mlp`.
        trunk: `cnn` (LeNet-like), `vgg` (padded conv pairs) or `mlp`: the per-digit network of `pairnet`
            (1x14x14 -> 10 digit logits).
        weight_sharing: one trunk for both digits (true) or one trunk per digit (false).
        aux_weight: weight of the auxiliary digit loss; 0 trains on the target alone.
        target_weight: weight of the target loss; 0 trains the trunk on the individual digits alone (needs
            `arch: pairnet` and aux_weight > 0).
        label_smoothing: label smoothing of the digit loss (the target loss is never smoothed).
        channels: conv widths (each >= 1, at least one) of the `cnn` and `vgg` trunks.
        hidden: hidden widths (each >= 1; none: a linear layer) of the trunk's (or `baseline_mlp`'s) dense part.
        head_hidden: hidden width (>= 1) of the comparison head.
        width: a multiplier (> 0) on every width above (channels, hidden, head_hidden), each rounded, at least 1: one
            knob for the network's size, the same for every cell (the tuner's space varies it).
        prediction: `head` (a learnt comparison head) or `digits` (no head: the target is P(d1 <= d2) computed
            from the two digit distributions, and its cross-entropy trains the trunk through that formula).
        batch_norm: batch norm after every conv / dense layer.
        dropout: dropout rate after every hidden dense layer.
        members: independently initialised networks of this kind, each trained on its own loss on the same
            batches; predictions average their probabilities (an ensemble).
        memory_format: `contiguous_format` or `channels_last` (torch's names): the layout of the conv weights, and
            so of every conv activation. Channels-last runs a CNN's fit faster on CPU with its float sums in another
            order (the same distribution of results, not the same last bits), so it is an option, off by default.

    A key's own range is its type in the signature, checked when the CLI parses a config; the constructor checks
    only how keys combine.
    """

    input_mean: torch.Tensor  # buffers, registered in __init__
    input_std: torch.Tensor

    def __init__(
        self,
        arch: Literal["pairnet", "baseline_cnn", "baseline_mlp"] = "pairnet",
        trunk: Literal["cnn", "vgg", "mlp"] = "cnn",
        weight_sharing: bool = True,
        aux_weight: NonNegativeFloat = 1.0,
        target_weight: NonNegativeFloat = 1.0,
        label_smoothing: Fraction = 0.0,  # type: ignore[valid-type]  # a class jsonargparse makes at run time
        channels: list[PositiveInt] = [32, 64],
        hidden: list[PositiveInt] = [128],
        head_hidden: PositiveInt = 64,
        width: PositiveFloat = 1.0,
        batch_norm: bool = False,
        dropout: Fraction = 0.0,  # type: ignore[valid-type]  # a class jsonargparse makes at run time
        prediction: Literal["head", "digits"] = "head",
        members: PositiveInt = 1,
        memory_format: Literal["contiguous_format", "channels_last"] = "contiguous_format",
    ):
        super().__init__()
        check_losses(arch, aux_weight, target_weight)
        channels, hidden, [head_hidden] = (scaled(w, width) for w in (channels, hidden, [head_hidden]))
        self.save_hyperparameters()
        makers: dict[str, Callable[[], nn.Module]] = {
            "pairnet": partial(
                PairNet, trunk, weight_sharing, channels, hidden, head_hidden, batch_norm, dropout, prediction
            ),
            "baseline_cnn": partial(baseline_cnn, batch_norm, dropout, width),
            "baseline_mlp": partial(baseline_mlp, hidden, batch_norm, dropout),
        }
        make = makers[arch]
        self.net = Ensemble([make() for _ in range(members)])
        self.net.to(memory_format=getattr(torch, memory_format))  # type: ignore[call-overload]  # not in its stubs
        self.has_digits = arch == "pairnet"
        self.n_params = count_parameters(self.net)
        self.train_metrics, self.val_metrics, self.test_metrics = (self.stage_metrics() for _ in STAGES)
        self.epoch_outputs: dict[str, list[dict[str, torch.Tensor]]] = {stage: [] for stage in STAGES}
        self.measured = set(STAGES)  # the stages whose epoch metrics are computed; a benchmark fit skips "train"
        # the training pairs' standardisation, saved in checkpoints so that a checkpoint can predict raw pairs
        self.register_buffer("input_mean", torch.tensor(0.0))
        self.register_buffer("input_std", torch.tensor(1.0))

    def stage_metrics(self) -> MetricCollection:
        """loss, target accuracy, and with digit outputs: digit accuracy over both positions and at each position,
        the target accuracy of P(d1 <= d2) > 1/2 (`acc_from_digits`) and of comparing the two argmax digits
        (`acc_from_argmax`)."""
        metrics: dict[str, Metric | MetricCollection] = {"loss": MeanMetric(), "acc": BinaryAccuracy()}
        if self.has_digits:
            digit_acc = lambda: MulticlassAccuracy(10, average="micro")
            metrics |= {
                "digit_acc": digit_acc(),
                "digit_acc_first": digit_acc(),
                "digit_acc_second": digit_acc(),
                "acc_from_digits": BinaryAccuracy(),
                "acc_from_argmax": BinaryAccuracy(),
            }
        return MetricCollection(metrics, compute_groups=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.net(x)

    def loss(self, logits: torch.Tensor, digits: torch.Tensor | None, target: torch.Tensor, classes: torch.Tensor):
        """target_weight * CE(target) + aux_weight * mean(CE(digit 1), CE(digit 2)), the digit CE label-smoothed."""
        h = self.hparams
        loss = h.target_weight * F.cross_entropy(logits, target) if h.target_weight > 0 else 0.0
        if h.aux_weight > 0 and digits is not None:
            digit_loss = F.cross_entropy(digits.reshape(-1, 10), classes.reshape(-1), label_smoothing=h.label_smoothing)
            loss = loss + h.aux_weight * digit_loss
        return loss

    def step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        """The loss of one batch; its outputs are kept for the stage's epoch-end metrics, if they are measured."""
        x, target, classes = batch
        members = self.net.member_outputs(x)
        losses = [self.loss(*output, target, classes) for output in members]
        loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()  # no extra ops on the hot path of one
        if stage not in self.measured:
            return loss
        logits, digits = self.net.combine(members)
        kept = {
            "loss": loss.detach().expand(len(x)),
            "logits": logits.detach(),
            "x": x,
            "target": target,
            "classes": classes,
        }
        self.epoch_outputs[stage].append(kept | ({"digits": digits.detach()} if digits is not None else {}))
        return loss

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self.step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self.step(batch, "test")

    def on_train_start(self) -> None:
        """Keep the training pairs' mean and std with the weights, for predict_step."""
        mean = getattr(self.trainer.datamodule, "mean", None)
        if mean is not None:
            self.input_mean.copy_(mean)
            self.input_std.copy_(self.trainer.datamodule.std)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the global generator (dropout, augmentations) with the weights: a fit continued from the checkpoint
        draws what the uninterrupted fit would have drawn."""
        checkpoint["rng_state"] = torch.get_rng_state()
        if torch.cuda.is_initialized():
            checkpoint["cuda_rng_state"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["rng_state"])
        if "cuda_rng_state" in checkpoint and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["cuda_rng_state"])

    def predict_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> dict[str, torch.Tensor]:
        """Predictions for raw pairs [B,2,14,14] (pixel values 0..255, as the pair generator gives them): the target
        (1 when digit 1 <= digit 2), its probability, and (with digit outputs) the two digit classes."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        logits, digits = self((x - self.input_mean) / self.input_std)
        out = {"target": logits.argmax(1), "p_target": logits.softmax(1)[:, 1]}
        return to_cpu(out | ({"classes": digits.argmax(-1)} if digits is not None else {}))

    def log_stage(self, stage: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Update the stage's metrics with the whole epoch at once (cheaper than per step), log them as
        `stage/name`, and reset; returns the values and the epoch's outputs."""
        batches = self.epoch_outputs[stage]
        out = {key: torch.cat([b[key] for b in batches]) for key in batches[0]}
        batches.clear()
        metrics = getattr(self, f"{stage}_metrics")
        metrics["loss"].update(out["loss"])
        metrics["acc"].update(out["logits"].argmax(1), out["target"])
        if self.has_digits:
            digits, classes = out["digits"], out["classes"]
            metrics["digit_acc"].update(digits.reshape(-1, 10), classes.reshape(-1))
            metrics["digit_acc_first"].update(digits[:, 0], classes[:, 0])
            metrics["digit_acc_second"].update(digits[:, 1], classes[:, 1])
            metrics["acc_from_digits"].update(p_first_le_second(digits), out["target"])
            predicted = digits.argmax(-1)
            metrics["acc_from_argmax"].update(target_of(predicted), out["target"])
        values = {}
        for name, value in metrics.compute().items():
            values[f"{stage}/{name}"] = value
            self.log(f"{stage}/{name}", value, prog_bar=name in PROGRESS_BAR)
        metrics.reset()
        return values, out

    def on_train_epoch_end(self) -> None:
        if "train" in self.measured:
            self.log_stage("train")

    def on_validation_epoch_end(self) -> None:
        self.log_stage("val")

    def on_test_epoch_end(self) -> None:
        values, out = (to_cpu(tensors) for tensors in self.log_stage("test"))
        if not isinstance(self.logger, TensorBoardLogger):
            return
        metrics = {f"hp/{key.replace('/', '_')}": float(value) for key, value in values.items() if "loss" not in key}
        hparams = self.run_hparams()
        self.logger.log_metrics(metrics)
        log_session(self.logger, hparams)
        # Lightning wrote hparams.yaml at the start from the arguments alone; the whole setup, every key, replaces it
        save_hparams_to_yaml(Path(self.logger.log_dir) / self.logger.NAME_HPARAMS_FILE, hparams)
        wrong = out["logits"].argmax(1) != out["target"]
        experiment = self.logger.experiment
        experiment.add_figure("test/misclassified", figures.misclassified_grid(out["x"][wrong], out["classes"][wrong]))
        if self.has_digits:
            confusion = multiclass_confusion_matrix(out["digits"].reshape(-1, 10), out["classes"].reshape(-1), 10)
            experiment.add_figure("test/digit_confusion", figures.confusion(confusion))

    def run_hparams(self) -> dict[str, object]:
        """What tells runs apart on TensorBoard's HParams tab: the model and data arguments, the effective seeds,
        the parameter count, max_epochs, and the optimizer and scheduler with their arguments."""
        data = dict(getattr(self.trainer.datamodule, "hparams", {}))
        seed = torch.initial_seed()  # what seed_everything set
        if "seed" in data and data["seed"] is None:
            data["seed"] = seed  # the data draw follows the round's seed unless data.seed is set
        hparams = {
            **self.hparams,
            **data,
            "seed_everything": seed,
            "params": self.n_params,
            "max_epochs": self.trainer.max_epochs,
            **optimisation(self.trainer),
        }
        return {key: plain(value) for key, value in hparams.items() if not key.startswith("_") and value is not None}
