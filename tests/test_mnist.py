"""The IDX reader: round trips, layouts, the data-dir order, every corrupt-file error, downloads."""

import gzip
import hashlib
import io
import urllib.error

import pytest
import torch

from common import mnist
from common.mnist import IMAGE_MAGIC, LABEL_MAGIC, MNISTError, load_mnist


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path, gz, mnist_files):
    mnist_files.write(tmp_path, gz=gz)
    images, labels = load_mnist("train", tmp_path)
    expected_images, expected_labels = mnist_files.synthetic_digits(300, 0)
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)
    assert len(load_mnist("test", tmp_path)[0]) == 200


def test_torchvision_layout(tmp_path, mnist_files):
    mnist_files.write(tmp_path / "MNIST" / "raw")
    assert load_mnist("train", tmp_path)[0].shape == (300, 28, 28)


def test_data_dir_order(tmp_path, monkeypatch):
    explicit, from_env = tmp_path / "explicit", tmp_path / "env"
    monkeypatch.setenv("MNIST_DIR", str(from_env))
    assert mnist.resolve_dir(explicit) == explicit
    assert mnist.resolve_dir() == from_env
    monkeypatch.delenv("MNIST_DIR")
    assert str(mnist.resolve_dir()) == "data"


def good_images(files, n=300):
    return files.idx_bytes(files.synthetic_digits(n, 0)[0], IMAGE_MAGIC)


@pytest.mark.parametrize(
    "name, data, message",  # data: the file's content, made from the synthetic MNIST's helpers
    [
        ("train-images-idx3-ubyte", lambda f: good_images(f)[:-10], "truncated or corrupt"),
        ("train-images-idx3-ubyte", lambda f: good_images(f)[:10], "truncated header"),
        ("train-images-idx3-ubyte", lambda f: b"\x00\x00\x08\x01" + good_images(f)[4:], "bad magic number"),
        ("train-labels-idx1-ubyte", lambda f: f.idx_bytes(torch.arange(300) % 11, LABEL_MAGIC), "outside 0..9"),
        ("train-labels-idx1-ubyte", lambda f: f.idx_bytes(torch.zeros(299), LABEL_MAGIC), "300 images but"),
        ("train-images-idx3-ubyte", lambda f: f.idx_bytes(torch.zeros(300, 14, 14), IMAGE_MAGIC), "expected 28x28"),
        ("train-images-idx3-ubyte", lambda f: b"", "bad magic number"),
    ],
)
def test_corrupt_files_fail_with_the_cause(tmp_path, name, data, message, mnist_files):
    mnist_files.write(tmp_path)
    (tmp_path / f"{name}.gz").write_bytes(gzip.compress(data(mnist_files)))
    with pytest.raises(MNISTError, match=message):
        load_mnist("train", tmp_path)


def test_not_gzip_content_in_gz_file(tmp_path, mnist_files):
    mnist_files.write(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"this is not gzip")
    with pytest.raises(MNISTError, match="cannot read"):
        load_mnist("train", tmp_path)


def offline(url, timeout):
    raise urllib.error.URLError("no network")


def test_offline_without_files_names_folder_and_variable(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist.urllib.request, "urlopen", offline)
    with pytest.raises(MNISTError) as info:
        load_mnist("train", tmp_path / "none" / "dir")
    assert str(tmp_path / "none" / "dir") in str(info.value) and "MNIST_DIR" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no folder made for a download that never came


def test_a_verified_download_creates_the_missing_folder(tmp_path, monkeypatch, mnist_files):
    payload = gzip.compress(mnist_files.idx_bytes(torch.arange(10) % 10, LABEL_MAGIC))
    monkeypatch.setattr(mnist, "FILES", {"t10k-labels-idx1-ubyte": (hashlib.md5(payload).hexdigest(), "0" * 32)})
    monkeypatch.setattr(mnist.urllib.request, "urlopen", serve(payload))
    path = mnist.download(tmp_path / "new" / "dir", "t10k-labels-idx1-ubyte", mirrors=("http://mirror/",))
    assert path == tmp_path / "new" / "dir" / "t10k-labels-idx1-ubyte.gz" and path.read_bytes() == payload


def serve(payload: bytes):
    return lambda url, timeout: io.BytesIO(payload)


def test_download_verifies_checksum_and_leaves_nothing_on_mismatch(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist.urllib.request, "urlopen", serve(b"tampered"))
    with pytest.raises(MNISTError, match="checksum mismatch"):
        mnist.download(tmp_path, "t10k-labels-idx1-ubyte", mirrors=("http://mirror/",))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["gz", "content"])
def test_download_accepts_canonical_gz_or_content_md5(tmp_path, monkeypatch, which, mnist_files):
    content = mnist_files.idx_bytes(torch.arange(10) % 10, LABEL_MAGIC)
    payload = gzip.compress(content)
    md5 = hashlib.md5(payload if which == "gz" else content).hexdigest()
    fake = {"t10k-labels-idx1-ubyte": (md5, "0" * 32) if which == "gz" else ("0" * 32, md5)}
    monkeypatch.setattr(mnist, "FILES", fake)
    monkeypatch.setattr(mnist.urllib.request, "urlopen", serve(payload))
    path = mnist.download(tmp_path, "t10k-labels-idx1-ubyte", mirrors=("http://mirror/",))
    assert path.read_bytes() == payload and [p.name for p in tmp_path.iterdir()] == [path.name]
