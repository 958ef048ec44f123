"""A run's row on TensorBoard's HParams tab: named `<config>/<version>`, holding only the keys its model uses."""

from collections.abc import Mapping
from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.plugins.hparams.summary_v2 import hparams_pb

Value = bool | int | float | str


def unused_keys(model: Mapping[str, object]) -> set[str]:
    """The model arguments in `model` (PairClassifier's) that the network and loss built from them never read."""
    if model["arch"] != "pairnet":  # a baseline: no trunk, no head, no digit outputs, so no digit loss
        pairnet_only = {"trunk", "weight_sharing", "channels", "head_hidden", "prediction", "aux_weight"}
        return pairnet_only | {"label_smoothing"} | ({"hidden"} if model["arch"] == "baseline_cnn" else set())
    unused = {"channels"} if model["trunk"] == "mlp" else set()
    unused |= {"head_hidden"} if model["prediction"] == "digits" else set()
    return unused | ({"label_smoothing"} if model["aux_weight"] == 0 else set())


def flat(hparams: Mapping[str, object], prefix: str = "") -> dict[str, Value]:
    """`hparams` with nested mappings flattened to `outer/inner` keys and other values than bool, int, float and
    str (lists) written as text, as the HParams tab takes them."""
    out: dict[str, Value] = {}
    for key, value in hparams.items():
        if isinstance(value, Mapping):
            out |= flat(value, f"{prefix}{key}/")
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def run_name(logger: TensorBoardLogger) -> str:
    """`<config>/<version>`: the run's log folder below the logger's save_dir, whatever folder TensorBoard reads."""
    return Path(logger.log_dir).relative_to(logger.save_dir).as_posix()


def log_session(logger: TensorBoardLogger, hparams: Mapping[str, object]) -> None:
    """Write the run's HParams session, named after the run, with `hparams` less the model keys it does not use.

    No experiment summary is written: TensorBoard takes the first one it finds as every run's columns, which would
    hide the keys and metrics that run lacks; without one, the columns are the union of the runs' keys."""
    used = {key: value for key, value in hparams.items() if key not in unused_keys(hparams)}
    logger.experiment._get_file_writer().add_summary(hparams_pb(flat(used), trial_id=run_name(logger)))
