"""Data input for the tutorials: bundled digits, MNIST-format IDX files, minibatches.

- `load_digits` splits scikit-learn's bundled 8x8 digits (no download).
- `load_idx` / `load_mnist` read MNIST-format IDX files (plain or gzipped), e.g. the real
  Fashion-MNIST files installed by Debian's ``dataset-fashion-mnist`` package
  (see `fashion_mnist_folder`).
- `BatchLoader` draws random minibatches without replacement within each epoch.

Every malformed input raises `DatasetError` naming the file; nothing is read partially.
"""
import gzip
import os
import zlib
from typing import NamedTuple, Optional

import numpy as np

from .core.errors import ArgumentError, GentfError

__all__ = ["Dataset", "DatasetError", "load_digits", "load_idx", "load_mnist",
           "fashion_mnist_folder", "FASHION_MNIST_FOLDER", "BatchLoader", "next_batch", "MNIST_FILES"]


class DatasetError(GentfError):
    """A data file or folder is missing or corrupt. The message names the path."""


class Dataset(NamedTuple):
    """Train/test split: x float64 (N, D) in [0, 1], y int32 class labels."""
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 1,797 bundled 8x8 digits, as x (N, 64) = pixel/16 and y in 0..9.

    The split is stratified by label and determined by `seed`; the test part holds
    ceil(test_fraction * 1797) examples.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ArgumentError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split
    digits = _sk_load_digits()
    x = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int32)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Dataset(train_x, train_y, test_x, test_y)


# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    """All bytes of `path`, transparently gunzipping ``*.gz`` files."""
    try:
        if str(path).endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot read ({type(e).__name__}: {e})") from None


def load_idx(path):
    """Read one IDX file (plain or ``.gz``) into a native-endian numpy array.

    Layout: two zero bytes, a type code byte (0x08 ubyte, 0x09 byte, 0x0B short,
    0x0C int, 0x0D float, 0x0E double), an ndim byte, ndim big-endian uint32 sizes,
    then the data in C order, big-endian. The data length must match exactly.
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetError(f"{path}: truncated header ({len(raw)} bytes, need at least 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: bad magic number 0x{raw[:4].hex()} "
                           "(IDX files start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DatasetError(f"{path}: unknown IDX dtype code 0x{code:02X} "
                           f"(known: {', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated header ({len(raw)} bytes, "
                           f"need {header} for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        what = "truncated data" if actual < expected else "trailing bytes after data"
        raise DatasetError(f"{path}: {what}: shape {shape} of {dtype.name} needs {expected} "
                           f"data bytes, file has {actual}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _find(folder, name):
    """Path of `name` or `name`.gz in `folder` (plain file preferred)."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise DatasetError(f"{os.path.join(folder, name)}: file not found (nor {name}.gz)")


def _images_and_labels(images_path, labels_path):
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"{images_path}: expected a 3-d ubyte image array, "
                           f"got {images.ndim}-d {images.dtype.name}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"{labels_path}: expected a 1-d integer label array, "
                           f"got {labels.ndim}-d {labels.dtype.name}")
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} has {len(images)} images but {labels_path} "
                           f"has {len(labels)} labels")
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0
    return x, labels.astype(np.int32)


def load_mnist(folder):
    """Load the four standard MNIST-format files from `folder` (each optionally ``.gz``).

    Returns a `Dataset` with x flattened to (N, rows*cols) float64 = pixel/255 and y int32.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: no such folder")
    paths = [_find(folder, name) for name in MNIST_FILES]
    train_x, train_y = _images_and_labels(paths[0], paths[1])
    test_x, test_y = _images_and_labels(paths[2], paths[3])
    return Dataset(train_x, train_y, test_x, test_y)


# Where Debian's ``dataset-fashion-mnist`` package installs the gzipped IDX files.
FASHION_MNIST_FOLDER = "/usr/share/datasets/fashion-mnist"


def fashion_mnist_folder() -> Optional[str]:
    """The Debian ``dataset-fashion-mnist`` install folder, or None if not installed."""
    folder = FASHION_MNIST_FOLDER
    try:
        [_find(folder, name) for name in MNIST_FILES]
    except DatasetError:
        return None
    return folder


class BatchLoader:
    """Random minibatches without replacement within an epoch, reshuffled each epoch.

    Consecutive batches concatenated form a sequence of permutations of the examples,
    so every example appears exactly once per epoch; a batch that crosses an epoch
    boundary takes the rest of the old epoch and the start of a new one.
    Deterministic given `seed`.
    """

    def __init__(self, x, y, seed=0):
        self.x, self.y = np.asarray(x), np.asarray(y)
        if len(self.x) != len(self.y):
            raise DatasetError(f"BatchLoader: {len(self.x)} inputs but {len(self.y)} labels")
        if len(self.x) == 0:
            raise DatasetError("BatchLoader: no examples")
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(self.x))
        self._pos = 0
        self.epoch = 0  # index of the epoch the last batch ended in

    def __len__(self):
        return len(self.x)

    def _take(self, n):
        """Next `n` indices of the epoch order, starting new epochs as needed."""
        parts = []
        while n > 0:
            if self._pos == len(self._order):
                self._order = self._rng.permutation(len(self.x))
                self._pos = 0
                self.epoch += 1
            k = min(n, len(self._order) - self._pos)
            parts.append(self._order[self._pos:self._pos + k])
            self._pos += k
            n -= k
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def next_batch(self, n):
        """The next minibatch `(xs, ys)` of `n` examples (copies)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ArgumentError(f"next_batch: batch size must be a positive int, got {n!r}")
        idx = self._take(int(n))
        return self.x[idx], self.y[idx]


def next_batch(loader, n):
    """Functional spelling of `loader.next_batch(n)`, as in the seed tutorial."""
    return loader.next_batch(n)
