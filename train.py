"""Train, evaluate or use one configuration of the digit-pairs study (is digit 1 <= digit 2?).

  python train.py --config configs/cnn_aux_shared.yaml   fit, test the last epoch once, print a summary
  python train.py fit --config CONFIG --ckpt_path CKPT    the same, resuming an interrupted fit from CKPT
  python train.py test --config CONFIG --ckpt_path CKPT   test a saved checkpoint on the test pairs
  python train.py predict --config CONFIG --ckpt_path CKPT --pairs PAIRS.pt --output OUT.pt
                                                          predict given pairs (a tensor [N,2,14,14], pixels 0..255)

A checkpoint is used with the config it was trained with (its model keys must match; the fit's config.yaml lies
beside its checkpoints/ folder).

A fit logs to runs/<config>/version_N/: TensorBoard events, config.yaml and checkpoints/ (the last epoch).
Any key below can be set on the command line after --config, e.g. --trainer.max_epochs 5 --model.dropout 0.2.
"""

import os
import shlex
import shutil
import sys
import time
from argparse import RawDescriptionHelpFormatter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from jsonargparse import DefaultHelpFormatter, Namespace
from jsonargparse.typing import Path_fc, Path_fr
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import Logger
from torch.utils.data import DataLoader, TensorDataset

from common import mnist, options, paths
from common.errors import InputError, run_main
from common.files import atomic
from pairs.classifier import PairClassifier, plain
from pairs.cli import PairCLI
from pairs.data import PairDataModule

SUBCOMMANDS = ("fit", "test", "predict")


class HelpFormatter(DefaultHelpFormatter, RawDescriptionHelpFormatter):
    """jsonargparse's help, with the description laid out as written."""


PARSER = {
    "description": __doc__,
    "formatter_class": HelpFormatter,
    "usage": "python train.py [fit | test | predict] --config CONFIG [--ckpt_path CKPT] [--KEY VALUE ...]",
    "exit_on_error": False,  # train.py prints the one-line cause
}


class TrainCLI(PairCLI):
    """PairCLI with train.py's subcommands: fit (then test the last epoch once), test a checkpoint, predict pairs."""

    def __init__(self, args: list[str]):
        self.results: dict[str, float] = {}
        self.pairs: torch.Tensor | None = None  # predict's --pairs, read and checked with the arguments
        parsers = PARSER | {name: PARSER for name in SUBCOMMANDS}
        super().__init__(args, run=True, parser_kwargs=parsers)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """fit, test and predict, with the Trainer method arguments each leaves to the CLI."""
        return {name: skip for name, skip in LightningCLI.subcommands().items() if name in SUBCOMMANDS}

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs) -> LightningArgumentParser:
        """Lightning's parser of a subcommand; predict's also takes --pairs and --output (Lightning has no public
        hook for a subcommand's own arguments)."""
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "predict":
            parser.add_argument(
                "--pairs",
                type=Path_fr,
                required=True,
                help="a torch.save file of a tensor [N,2,14,14]: N pairs, pixel values 0..255 (floats or integers)",
            )
            parser.add_argument(
                "--output",
                type=Path_fc,
                required=True,
                help="the .pt file to write: target [N], p_target [N] and digit classes [N,2]",
            )
        return parser

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parse; the log folders must be writable; no output may be an input (options.check_paths); test and
        predict need a readable checkpoint of the config's model; predict's pairs must be pixels 0..255. All before
        anything is built or written."""
        super().parse_arguments(parser, args)
        command = self.config.subcommand
        config = self.config[command]
        logger = config.trainer.logger.get("init_args") if isinstance(config.trainer.logger, Namespace) else None
        folders = {
            "trainer.default_root_dir": config.trainer.default_root_dir,
            "trainer.logger.init_args.save_dir": logger.get("save_dir") if logger else None,
        }
        if command == "predict":  # predict writes its --output only
            folders = {}
        for key, folder in folders.items():
            if folder:
                paths.writable_folder(Path(folder), key)
        inputs: dict[str, options.PathsGiven] = {
            "--config": [str(path) for path in config.config],
            "--ckpt_path": config.ckpt_path,
            "data.data_dir": mnist.resolve_dir(config.data.data_dir),
        }
        outputs: dict[str, tuple[options.PathsGiven, tuple[str, ...]]] = {
            key: (folder, options.FOLDER) for key, folder in folders.items()
        }
        if command == "predict":
            inputs["--pairs"], outputs["--output"] = str(config.pairs), (str(config.output), (".pt", ".pth"))
        options.check_paths(parser, inputs, outputs)
        ckpt_path = config.ckpt_path
        if command != "fit" and not ckpt_path:
            raise InputError(
                f"{command} needs --ckpt_path, a checkpoint written by a fit, "
                "e.g. runs/cnn_aux_shared/version_0/checkpoints/<name>.ckpt"
            )
        if ckpt_path:
            try:
                checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            except Exception as e:  # torch.load fails in many ways on a file that is not its own
                raise InputError(
                    f"--ckpt_path {ckpt_path}: not a checkpoint that can be read ({type(e).__name__})"
                ) from e
            check_model(checkpoint, config.model, Path(ckpt_path), [str(path) for path in config.config])
        if command == "predict":
            self.pairs = load_pairs(config.pairs)

    def before_instantiate_classes(self) -> None:
        """test and predict write no checkpoint; predict writes no logs; a run without a logger writes nothing
        outside the folders it names: no config.yaml (Lightning would write it into the current folder and refuse
        to overwrite it next time) and, unless trainer.default_root_dir names a folder, no checkpoints/."""
        super().before_instantiate_classes()
        config = self.config[self.subcommand]
        no_logger = config.trainer.logger in (False, None)
        if self.subcommand != "fit" or (no_logger and not config.trainer.default_root_dir):
            config.trainer.enable_checkpointing = False
        if self.subcommand == "predict":
            config.trainer.logger = False
        if self.subcommand == "predict" or no_logger:
            self.save_config_callback = None

    def fit(self, model: PairClassifier, datamodule: PairDataModule, **kwargs) -> None:
        """Fit (resuming from --ckpt_path if given), then test the last epoch's weights once and print a summary."""
        with removed_if_failed(self.trainer.logger, shlex.join(["python", "train.py", *self.command_line])):
            start = time.perf_counter()
            self.trainer.fit(model, datamodule=datamodule, **kwargs)
            seconds = time.perf_counter() - start
            self.results = dict(self.trainer.test(model, datamodule=datamodule, ckpt_path=None, verbose=False)[0])
        self.results["fit_seconds"] = seconds
        self.summary()

    def test(self, model: PairClassifier, datamodule: PairDataModule, **kwargs) -> None:
        """Test the weights of --ckpt_path on the test pairs and print a summary."""
        with removed_if_failed(self.trainer.logger):
            self.results = dict(self.trainer.test(model, datamodule=datamodule, **kwargs | {"verbose": False})[0])
        self.summary()

    def predict(self, model: PairClassifier, datamodule: PairDataModule, **kwargs) -> None:
        """Predict the pairs of --pairs with the weights of --ckpt_path and write the predictions to --output."""
        config, pairs = self.config_init[self.subcommand], self.pairs
        assert pairs is not None  # read with predict's arguments
        loader = DataLoader(TensorDataset(pairs), batch_size=datamodule.hparams["batch_size"])
        batches = self.trainer.predict(model, dataloaders=loader, **kwargs | {"return_predictions": True})
        assert isinstance(batches, list)  # one dataloader, predictions returned: a list of batch dicts
        predictions = {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}
        save(predictions, Path(os.fspath(config.output)))
        print(f"predictions     {config.output}  ({len(pairs)} pairs: {', '.join(predictions)})")

    def summary(self) -> None:
        """Print the config, parameter count, test metrics, fit seconds and where the logs are."""
        results, model = self.results, self.model
        configs = ", ".join(str(c) for c in self.config[self.subcommand].config)
        print(f"config          {configs}")
        print(f"parameters      {model.n_params:,}")
        print(f"test accuracy   {results['test/acc']:.4f}")
        if "test/digit_acc" in results:
            print(f"digit accuracy  {results['test/digit_acc']:.4f}")
            print(f"acc from digits {results['test/acc_from_digits']:.4f}")
        if "fit_seconds" in results:
            print(f"fit seconds     {results['fit_seconds']:.1f}")
        logger = self.trainer.logger
        if logger is not None:
            print(f"logs            {logger.log_dir}  (tensorboard --logdir {logger.save_dir})")


@contextmanager
def removed_if_failed(logger: Logger | None, resume: str = "python train.py fit") -> Iterator[None]:
    """On failure, remove the log version folder this run created (and the parents it created, if left empty),
    unless it holds a checkpoint: then say how to resume from it (`resume` + --ckpt_path)."""
    folder = Path(logger.log_dir) if logger is not None and logger.log_dir else Path()
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        yield
    except BaseException:
        checkpoints = sorted(folder.rglob("*.ckpt")) if created and folder.exists() else []
        if checkpoints:
            print(f"stopped; to resume: {resume} --ckpt_path {checkpoints[-1]}", file=sys.stderr)
        elif created and folder.exists():
            shutil.rmtree(folder)
            for parent in created[1:]:
                if parent.exists() and not any(parent.iterdir()):
                    parent.rmdir()
        raise


def check_model(checkpoint: object, model: Namespace, ckpt_path: Path, configs: list[str]) -> None:
    """Refuse a checkpoint whose model differs from the config's: Lightning would take the checkpoint's model keys
    over the config's without a word, and the run would test one model under another's name and log folder. A key
    the checkpoint does not hold (one added since) keeps the config's value, as Lightning does."""
    stored = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(stored, dict) or not stored:
        raise InputError(
            f"--ckpt_path {ckpt_path}: no model hyper-parameters in it; give a checkpoint written by train.py"
        )
    asked = plain(model.as_dict())
    assert isinstance(asked, dict)
    differ = [key for key in asked if key in stored and plain(stored[key]) != asked[key]]
    if differ:
        keys = "; ".join(
            f"model.{key} {stored[key]!r} in the checkpoint, {asked[key]!r} in the config" for key in differ
        )
        beside = ckpt_path.parent.parent / "config.yaml"  # where a fit's logger saved its config
        fix = f"give --config {beside}, the config it was trained with" if beside.is_file() else "give its own config"
        raise InputError(
            f"--ckpt_path {ckpt_path} holds another model than --config {', '.join(configs)}: {keys}; {fix}"
        )


def load_pairs(path: str | os.PathLike) -> torch.Tensor:
    """The pairs saved at `path`: a tensor [N,2,14,14] of pixel values 0..255 (floats or integers), as float. Pixels
    on another scale (0..1, or standardised) would be standardised again by the model and answer every pair alike,
    so they are refused, with the range found."""
    try:
        pairs = torch.load(path, weights_only=True)
    except Exception as e:  # torch.load fails in many ways on a file that is not its own
        raise InputError(f"--pairs {path}: not a torch.save file of a tensor ({type(e).__name__})") from e
    shape = tuple(pairs.shape) if isinstance(pairs, torch.Tensor) else None
    if shape is None or len(shape) != 4 or shape[1:] != (2, 14, 14) or not shape[0]:
        found = shape or type(pairs).__name__
        raise InputError(f"--pairs {path}: expected a tensor [N, 2, 14, 14] of N >= 1 pairs, got {found}")
    if pairs.dtype == torch.bool or pairs.is_complex():
        raise InputError(f"--pairs {path}: a tensor of {pairs.dtype}; expected pixel values 0..255, floats or integers")
    pixels = pairs.float()
    if not torch.isfinite(pixels).all():
        raise InputError(f"--pairs {path}: holds NaN or infinite values; expected pixel values 0..255")
    low, high = pixels.min().item(), pixels.max().item()
    if low < 0 or high > 255 or 0 < high <= 1:
        scale = " (as if scaled to 0..1: multiply by 255)" if 0 <= low and high <= 1 else ""
        raise InputError(
            f"--pairs {path}: pixel values from {low:g} to {high:g}{scale}; expected raw pixel values 0..255, "
            "MNIST's, average-pooled to 14x14 (the model standardises them itself)"
        )
    return pixels


def save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename it into place: nothing is half-written."""
    with atomic(path) as out:
        torch.save(tensors, out)


def main(args: list[str] | None = None) -> dict[str, float]:
    """Run a subcommand (fit when none is named); the test metrics, and the fit seconds of a fit."""
    args = sys.argv[1:] if args is None else list(args)
    if not args or args[0] not in SUBCOMMANDS:
        args = ["fit", *args]
    return TrainCLI(args).results


if __name__ == "__main__":
    run_main(main, usage_hint="python train.py --help lists every key")
