"""The LightningCLI of the study, shared by train.py and benchmark.py."""

import warnings
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from pairs.classifier import PairClassifier
from pairs.data import PairDataModule

LOGGER = {
    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
    "init_args": {"save_dir": "runs", "default_hp_metric": False},
}


class PairCLI(LightningCLI):
    """LightningCLI over PairClassifier and PairDataModule; TensorBoard logs under runs/<config name>/."""

    def __init__(self, args: list[str] | None = None, **kwargs):
        kwargs.setdefault("trainer_defaults", {"logger": LOGGER, "accelerator": "cpu", "log_every_n_steps": 10})
        kwargs.setdefault("parser_kwargs", {"exit_on_error": False})  # train.py prints the one-line cause
        with warnings.catch_warnings():  # explicit args are the whole command line, whatever sys.argv holds
            warnings.filterwarnings("ignore", "LightningCLI's args parameter")
            super().__init__(PairClassifier, PairDataModule, run=False, args=args, **kwargs)

    def before_instantiate_classes(self) -> None:
        """Name the TensorBoard run after the config file, unless the config names it."""
        logger, configs = self.config.trainer.logger, self.config.get("config")
        if configs and getattr(logger, "class_path", "").endswith("TensorBoardLogger"):
            if logger.init_args.name == "lightning_logs":
                logger.init_args.name = Path(str(configs[-1])).stem
