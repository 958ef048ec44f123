"""The LightningCLI of the study: every fit builds its model, data and trainer through it (train.py, the benchmark's
and the tuner's fits, the scripts)."""

import logging
import math
import os
import sys
import warnings
from pathlib import Path

import jsonargparse
import yaml
from jsonargparse import Namespace
from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI, LRSchedulerTypeTuple
from torch.optim import Optimizer

from common import options
from common.errors import InputError
from pairs.classifier import PairClassifier, check_losses, plain
from pairs.data import PairDataModule, check_split

LOGGER = {
    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
    "init_args": {"save_dir": "runs", "default_hp_metric": False},
}
COSINE = "torch.optim.lr_scheduler.CosineAnnealingLR"
GPUS = {"gpu": (CUDAAccelerator, MPSAccelerator), "cuda": (CUDAAccelerator,), "mps": (MPSAccelerator,)}
JSONARGPARSE_YAML = jsonargparse.get_loader("yaml")  # jsonargparse's own YAML reader, kept: it reads 1e-3 as a float


def load_yaml(text: str, path: str = "") -> object:
    """jsonargparse's YAML reader, through options.load_yaml: a key given twice, in a config file or a value on the
    command line, is refused with both lines instead of the last one winning."""
    return options.load_yaml(text, path or "a YAML value", JSONARGPARSE_YAML)


jsonargparse.set_loader("yaml", load_yaml, (yaml.YAMLError,))


def check_numbers(config: Namespace) -> None:
    """Refuse the numbers Lightning and torch accept but no run can use: a NaN or an infinity anywhere, an integer
    torch cannot hold (beyond 64 bits), a seed_everything outside 32 bits (the study's own seeds are typed), fewer
    than one epoch (-1 is Lightning's "forever"), a learning rate <= 0, a momentum outside [0, 1)."""
    seed = config.get("seed_everything")
    if not isinstance(seed, bool) and isinstance(seed, int) and not options.SEEDS.holds(seed):
        raise InputError(f"seed_everything is {seed}: a seed must be an integer {options.SEEDS}")
    for key, value in config.items():
        for number in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(number, float) and not math.isfinite(number):
                raise InputError(f"{key} is {number}: every number of a run must be finite")
            if isinstance(number, int) and not -options.INT64 - 1 <= number <= options.INT64:
                raise InputError(f"{key} is {number}: every integer of a run must fit torch's 64 bits, |n| < 2^63")
    epochs = config.trainer.max_epochs
    if epochs is not None and epochs < 1:
        raise InputError(f"trainer.max_epochs is {epochs}: a run needs 1 or more epochs")
    optimizer = config.get("optimizer")
    arguments = optimizer.get("init_args") if isinstance(optimizer, Namespace) else None
    if arguments is None:
        return
    lr, momentum = arguments.get("lr"), arguments.get("momentum")
    if lr is not None and lr <= 0:
        raise InputError(f"optimizer.init_args.lr is {lr}: the learning rate must be > 0")
    if momentum is not None and not 0 <= momentum < 1:
        raise InputError(f"optimizer.init_args.momentum is {momentum}: it must be in [0, 1)")


class NoTips(logging.Filter):
    """Drops Lightning's "💡 Tip" adverts; its other lines pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("💡 Tip")


NO_TIPS = NoTips()


def quiet_lightning() -> None:
    """Silence Lightning's adverts and a deprecation warning it triggers in torch 2.13, nothing else."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(NO_TIPS)
    warnings.filterwarnings("ignore", ".*LeafSpec.*", FutureWarning)


class PairParser(LightningArgumentParser):
    """Lightning's parser; a config file is first read by options.load_mapping, so one that is not valid YAML (line
    and column), not a mapping or that gives a key twice (both lines) is an InputError naming the file."""

    def parse_path(self, path: str | os.PathLike, *args, **kwargs):
        options.load_mapping(Path(path))
        return super().parse_path(path, *args, **kwargs)


class PairCLI(LightningCLI):
    """LightningCLI over PairClassifier and PairDataModule; TensorBoard logs under runs/<config name>/.

    A CosineAnnealingLR spans the run: its T_max is set to trainer.max_epochs unless T_max itself is given on the
    command line."""

    def __init__(self, args: list[str] | None = None, **kwargs):
        self.command_line = sys.argv[1:] if args is None else list(args)
        kwargs.setdefault("trainer_defaults", {"logger": LOGGER, "accelerator": "cpu", "log_every_n_steps": 10})
        kwargs.setdefault("parser_kwargs", {"exit_on_error": False})  # train.py prints the one-line cause
        kwargs.setdefault("parser_class", PairParser)
        kwargs.setdefault("run", False)
        kwargs.setdefault("load_from_checkpoint_support", False)  # plain arguments: no `_instantiator` in hparams
        quiet_lightning()
        with warnings.catch_warnings():  # explicit args are the whole command line, whatever sys.argv holds
            warnings.filterwarnings("ignore", "LightningCLI's args parameter")
            super().__init__(PairClassifier, PairDataModule, args=args, **kwargs)

    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """The study's keys first (model, data, optimizer, lr_scheduler), then the Trainer's: --help reads in order."""
        parser.add_lightning_class_args(self._model_class, "model", subclass_mode=self.subclass_mode_model)
        parser.add_lightning_class_args(self._datamodule_class, "data", subclass_mode=self.subclass_mode_data)
        parser.add_optimizer_args((Optimizer,))
        parser.add_lr_scheduler_args(LRSchedulerTypeTuple)
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.set_defaults({f"trainer.{k}": v for k, v in self.trainer_defaults.items() if k != "callbacks"})

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parse, then refuse what Lightning would accept but the study cannot run."""
        super().parse_arguments(parser, args)
        config = self.config.get(str(self.config.get("subcommand")), self.config)
        if not config.get("config"):
            raise InputError("--config is required, e.g. python train.py --config configs/cnn_aux_shared.yaml")
        check_numbers(config)
        accelerator = config.trainer.accelerator
        if accelerator in GPUS and not any(backend.is_available() for backend in GPUS[accelerator]):
            raise InputError(
                f"trainer.accelerator {accelerator}: this machine has no usable GPU; "
                "use --trainer.accelerator cpu, or auto (a GPU where there is one)"
            )

    def before_instantiate_classes(self) -> None:
        """Fit a cosine schedule to the epochs; name the TensorBoard run after the config file, unless the config
        names it."""
        config = self.config.get(str(self.subcommand), self.config)
        trainer = config.trainer
        scheduler = config.get("lr_scheduler")
        given = any("T_max" in arg for arg in self.command_line)
        if scheduler and scheduler.class_path == COSINE and (trainer.max_epochs or 0) > 0 and not given:
            scheduler.init_args.T_max = trainer.max_epochs
        logger = trainer.logger
        tensorboard = getattr(logger, "class_path", "").endswith("TensorBoardLogger")
        if tensorboard and logger.init_args.name == "lightning_logs":
            logger.init_args.name = Path(str(config.config[-1])).stem

    def after_instantiate_classes(self) -> None:
        """Plain hparams (a checkpoint holding jsonargparse's number types does not load with torch.load's
        weights_only); without validation pairs, no validation loop and no sanity check."""
        for module in (self.model, self.datamodule):
            module.hparams.update(plain(dict(module.hparams)))
        if not self.datamodule.hparams.val_pairs:
            self.trainer.limit_val_batches = 0
            self.trainer.num_sanity_val_steps = 0


class ParsedConfig(PairCLI):
    """A study config parsed and checked as a fit's is, building nothing (no model, data or Trainer): enough to hash
    a config, read its keys or refuse it before a fit. Each key's own range is checked at parse; how keys combine
    (validation pairs below n_pairs, a loss left to train on) by the checks the constructors run."""

    def instantiate_classes(self) -> None:
        config = self.config.get(str(self.config.get("subcommand")), self.config)
        check_losses(config.model.arch, config.model.aux_weight, config.model.target_weight)
        check_split(config.data.n_pairs, config.data.val_pairs)

    def after_instantiate_classes(self) -> None:
        pass
