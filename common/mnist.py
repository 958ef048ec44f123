"""MNIST reader: IDX files (gzip or raw), checksum-verified download, clear errors. Plain torch."""

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import torch

from common.errors import Failure
from common.files import write_atomically

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# name -> (MD5 of the canonical .gz, MD5 of the decompressed bytes)
FILES = {
    "train-images-idx3-ubyte": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
}
SPLITS = {"train": "train", "test": "t10k"}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801


class MNISTError(Failure):
    """A missing, truncated or corrupt MNIST file, or a failed download."""


def resolve_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The MNIST folder: the explicit argument, else $MNIST_DIR, else ./data."""
    return Path(data_dir or os.environ.get("MNIST_DIR") or "data")


def find_file(root: Path, name: str) -> Path | None:
    """The IDX file `name` (gz or raw) in `root` or in torchvision's `root/MNIST/raw`, if present."""
    for folder in (root, root / "MNIST" / "raw"):
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path, magic: int) -> torch.Tensor:
    """Read one uint8 IDX file and check its magic number and size."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip raises these for truncated or non-gzip content
        raise MNISTError(f"{path}: cannot read ({e}); delete it so it can be fetched again") from e
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() or "nothing"
        raise MNISTError(f"{path}: bad magic number {found}, expected {magic:08x}; the file is not this IDX file")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MNISTError(f"{path}: truncated header ({len(raw)} bytes); delete it so it can be fetched again")
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(torch.tensor(shape).prod())
    if len(raw) != expected:
        raise MNISTError(
            f"{path}: {len(raw)} bytes, but its header {shape} needs {expected}; "
            "the file is truncated or corrupt, delete it so it can be fetched again"
        )
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).view(*shape)


def md5_ok(data: bytes, name: str) -> bool:
    """Whether `data` matches the canonical gz MD5 of `name` or the MD5 of its decompressed content."""
    gz_md5, raw_md5 = FILES[name]
    if hashlib.md5(data).hexdigest() == gz_md5:
        return True
    try:
        return hashlib.md5(gzip.decompress(data)).hexdigest() == raw_md5
    except (OSError, EOFError):
        return False


def download(root: Path, name: str, mirrors: tuple[str, ...] | None = None) -> Path:
    """Fetch `name`.gz from the first mirror that serves it with a valid checksum and write it into `root`. Nothing
    is written, and no folder created, until a verified copy is in hand; nothing is left half-written."""
    mirrors = MIRRORS if mirrors is None else mirrors
    failures = []
    for mirror in mirrors:
        try:
            with urllib.request.urlopen(mirror + f"{name}.gz", timeout=30) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"{mirror}: {getattr(e, 'reason', e)}")
            continue
        if md5_ok(data, name):
            return write_atomically(root / f"{name}.gz", data)
        failures.append(f"{mirror}: checksum mismatch")
    raise MNISTError(
        f"MNIST file {name} is not in {root.resolve()} and could not be downloaded "
        f"({'; '.join(failures) or 'no mirrors'}). Put the four IDX files there, or set MNIST_DIR to a folder that "
        "has them."
    )


def read_split(root: Path, split: str, allow_download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of `split` from the IDX files in `root`, downloaded there first where allowed."""
    prefix = SPLITS[split]
    paths = {}
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{prefix}-{kind}-ubyte"
        path = find_file(root, name)
        if path is None:
            if not allow_download:
                raise MNISTError(
                    f"MNIST file {name}(.gz) is not in {root.resolve()}. "
                    "Put the four IDX files there, or set MNIST_DIR to a folder that has them."
                )
            path = download(root, name)
        paths[kind] = path
    images = read_idx(paths["images-idx3"], IMAGE_MAGIC)
    labels = read_idx(paths["labels-idx1"], LABEL_MAGIC)
    if images.shape[1:] != (28, 28):
        raise MNISTError(f"{paths['images-idx3']}: images are {tuple(images.shape[1:])}, expected 28x28")
    if len(images) != len(labels):
        raise MNISTError(
            f"{paths['images-idx3']} holds {len(images)} images but {paths['labels-idx1']} holds {len(labels)} labels"
        )
    if len(labels) and int(labels.max()) > 9:
        raise MNISTError(f"{paths['labels-idx1']}: label {int(labels.max())} is outside 0..9")
    return images, labels.long()


def load_mnist(
    split: str, data_dir: str | os.PathLike | None = None, allow_download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 [N, 28, 28] and labels int64 [N] of the 'train' or 'test' split, read from the IDX files."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return read_split(resolve_dir(data_dir).resolve(), split, allow_download)
