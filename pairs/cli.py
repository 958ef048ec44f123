"""The LightningCLI of the study, shared by train.py and benchmark.py."""

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
        kwargs.setdefault("trainer_defaults", {"logger": LOGGER, "accelerator": "cpu"})
        super().__init__(PairClassifier, PairDataModule, run=False, args=args, **kwargs)

    def before_instantiate_classes(self) -> None:
        """Name the TensorBoard run after the config file, unless the config names it."""
        logger = self.config.trainer.logger
        configs = self.config.get("config") or []
        if isinstance(logger, dict) or hasattr(logger, "init_args"):
            init_args = logger["init_args"] if isinstance(logger, dict) else logger.init_args
            if init_args.get("name") in (None, "lightning_logs") and configs:
                init_args["name"] = Path(str(configs[-1])).stem
