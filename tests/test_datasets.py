"""Tests of gentf.datasets: digits split, IDX reading (and its errors), BatchLoader,
and the real Fashion-MNIST files from Debian's dataset-fashion-mnist package."""
import gzip
import math
import os
import struct

import numpy as np
import pytest

from gentf.core.errors import GentfError
from gentf.datasets import (MNIST_FILES, BatchLoader, Dataset, DatasetError,
                            fashion_mnist_folder, load_digits, load_idx, load_mnist, next_batch)

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array, code=None):
    """Encode `array` in the IDX format (big-endian)."""
    array = np.asarray(array)
    code = _CODES[array.dtype] if code is None else code
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array=None, raw=None):
    """Write `array` (or the given raw bytes) to `path`, gzipped if it ends in .gz."""
    data = idx_bytes(array) if raw is None else raw
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)
    return str(path)


def write_mnist(folder, n_train=5, n_test=3, gz=False, rows=4, cols=3, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
              rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
              rng.integers(0, 10, n_test, dtype=np.uint8)]
    for name, a in zip(MNIST_FILES, arrays):
        write_idx(os.path.join(folder, name + (".gz" if gz else "")), a)
    return arrays


# ---- digits ---------------------------------------------------------------------------

def test_digits_shapes_ranges_dtypes():
    d = load_digits()
    assert isinstance(d, Dataset)
    n_test = math.ceil(0.2 * 1797)
    assert d.train_x.shape == (1797 - n_test, 64) and d.test_x.shape == (n_test, 64)
    assert d.train_y.shape == (1797 - n_test,) and d.test_y.shape == (n_test,)
    assert d.train_x.dtype == np.float64 and d.train_y.dtype == np.int32
    assert d.test_x.dtype == np.float64 and d.test_y.dtype == np.int32
    for x in (d.train_x, d.test_x):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(d.train_y)) == set(range(10)) == set(np.unique(d.test_y))


def test_digits_split_sizes_and_determinism():
    a, b = load_digits(test_fraction=0.5, seed=3), load_digits(test_fraction=0.5, seed=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert len(a.test_y) == math.ceil(0.5 * 1797) and len(a.train_y) + len(a.test_y) == 1797
    c = load_digits(test_fraction=0.5, seed=4)
    assert not np.array_equal(a.train_x, c.train_x)
    # the split partitions the data: train + test is the whole set, each image once
    from sklearn.datasets import load_digits as sk_digits
    whole = np.concatenate([a.train_x, a.test_x])
    assert sorted(map(tuple, whole * 16)) == sorted(map(tuple, sk_digits().data))


def test_digits_bad_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.0)


# ---- IDX round trips ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(3, 4, 2)) * 50).astype(dtype)
    out = load_idx(write_idx(tmp_path / ("a.idx" + suffix), a))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_idx_one_dim_and_empty(tmp_path):
    np.testing.assert_array_equal(load_idx(write_idx(tmp_path / "v", np.arange(7, dtype=np.uint8))),
                                  np.arange(7))
    assert load_idx(write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))).shape == (0, 28, 28)


# ---- IDX corruption: every case raises DatasetError naming the file ---------------------

_GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
_CORRUPT = {
    "empty": (b"", "truncated header"),
    "short header": (_GOOD[:2], "truncated header"),
    "bad magic": (b"\x08\x03" + _GOOD[2:], "bad magic"),
    "bad magic 2": (b"\x00\x01" + _GOOD[2:], "bad magic"),
    "unknown dtype": (_GOOD[:2] + b"\x0A" + _GOOD[3:], "unknown IDX dtype code 0x0A"),
    "truncated dims": (_GOOD[:9], "truncated header"),
    "truncated data": (_GOOD[:-1], "truncated data"),
    "trailing bytes": (_GOOD + b"\x00", "trailing bytes"),
}


@pytest.mark.parametrize("case", sorted(_CORRUPT))
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_corrupt(tmp_path, case, suffix):
    raw, message = _CORRUPT[case]
    path = write_idx(tmp_path / ("bad-idx" + suffix), raw=raw)
    with pytest.raises(DatasetError, match=message) as info:
        load_idx(path)
    assert path in str(info.value)
    assert isinstance(info.value, GentfError)


def test_idx_corrupt_gzip_stream(tmp_path):
    gz = gzip.compress(_GOOD)
    for name, raw in [("truncated.gz", gz[:len(gz) // 2]), ("notgzip.gz", _GOOD)]:
        path = str(tmp_path / name)
        with open(path, "wb") as f:
            f.write(raw)
        with pytest.raises(DatasetError, match="cannot read") as info:
            load_idx(path)
        assert path in str(info.value)


def test_idx_missing_file(tmp_path):
    path = str(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not found") as info:
        load_idx(path)
    assert path in str(info.value)


# ---- load_mnist -----------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_small(tmp_path, gz):
    tr_im, tr_lab, te_im, te_lab = write_mnist(tmp_path, gz=gz)
    d = load_mnist(tmp_path)
    assert d.train_x.shape == (5, 12) and d.test_x.shape == (3, 12)
    assert d.train_x.dtype == np.float64 and d.train_y.dtype == np.int32
    np.testing.assert_allclose(d.train_x, tr_im.reshape(5, 12) / 255.0)
    np.testing.assert_array_equal(d.test_y, te_lab)
    assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0


def test_load_mnist_missing_folder(tmp_path):
    folder = str(tmp_path / "absent")
    with pytest.raises(DatasetError, match="no such folder") as info:
        load_mnist(folder)
    assert folder in str(info.value)


@pytest.mark.parametrize("name", MNIST_FILES)
def test_load_mnist_missing_file(tmp_path, name):
    write_mnist(tmp_path)
    os.remove(tmp_path / name)
    with pytest.raises(DatasetError, match="not found") as info:
        load_mnist(tmp_path)
    assert os.path.join(str(tmp_path), name) in str(info.value)


def test_load_mnist_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DatasetError, match="has 3 images but .* has 4 labels") as info:
        load_mnist(tmp_path)
    assert labels in str(info.value)


def test_load_mnist_wrong_kinds(tmp_path):
    write_mnist(tmp_path)
    images = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 4, 3), np.float32))
    with pytest.raises(DatasetError, match="3-d ubyte") as info:
        load_mnist(tmp_path)
    assert images in str(info.value)
    write_mnist(tmp_path)
    labels = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((5, 2), np.uint8))
    with pytest.raises(DatasetError, match="1-d integer") as info:
        load_mnist(tmp_path)
    assert labels in str(info.value)


def test_load_mnist_corrupt_file(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = str(tmp_path / "t10k-images-idx3-ubyte.gz")
    write_idx(path, raw=idx_bytes(np.zeros((3, 4, 3), np.uint8))[:-5])
    with pytest.raises(DatasetError, match="truncated data") as info:
        load_mnist(tmp_path)
    assert path in str(info.value)


# ---- BatchLoader ----------------------------------------------------------------------

def test_batch_loader_covers_each_example_once_per_epoch():
    n = 23
    x = np.arange(n, dtype=np.float64)[:, None] * np.ones((1, 3))
    y = np.arange(n, dtype=np.int32)
    loader = BatchLoader(x, y, seed=5)
    ys = []
    for _ in range(n):  # 23 batches of 4 = exactly 4 epochs
        xs, yb = loader.next_batch(4)
        assert xs.shape == (4, 3) and yb.shape == (4,)
        np.testing.assert_array_equal(xs[:, 0], yb)  # x and y stay paired
        ys.append(yb)
    ys = np.concatenate(ys)
    epochs = ys.reshape(4, n)
    for e in epochs:
        assert sorted(e) == list(range(n))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch
    assert loader.epoch == 3


def test_batch_loader_deterministic_and_seeded():
    x, y = np.random.default_rng(0).normal(size=(50, 2)), np.arange(50)
    a, b, c = BatchLoader(x, y, seed=1), BatchLoader(x, y, seed=1), BatchLoader(x, y, seed=2)
    ra = [a.next_batch(7)[1] for _ in range(20)]
    rb = [next_batch(b, 7)[1] for _ in range(20)]
    rc = [c.next_batch(7)[1] for _ in range(20)]
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(ra, rc)


def test_batch_loader_batch_larger_than_data_and_errors():
    loader = BatchLoader(np.zeros((3, 1)), np.arange(3), seed=0)
    _, yb = loader.next_batch(7)
    assert sorted(yb[:3]) == sorted(yb[3:6]) == [0, 1, 2]
    with pytest.raises(ValueError, match="positive int"):
        loader.next_batch(0)
    with pytest.raises(DatasetError, match="3 inputs but 2 labels"):
        BatchLoader(np.zeros((3, 1)), np.arange(2))


# ---- real Fashion-MNIST from Debian's dataset-fashion-mnist ------------------------------

def test_fashion_mnist_real_files():
    folder = fashion_mnist_folder()
    assert folder == "/usr/share/datasets/fashion-mnist", (
        "Fashion-MNIST not found: install it with `apt-get install -y dataset-fashion-mnist`")
    d = load_mnist(folder)
    assert d.train_x.shape == (60000, 784) and d.test_x.shape == (10000, 784)
    assert d.train_y.shape == (60000,) and d.test_y.shape == (10000,)
    assert d.train_x.dtype == np.float64 and d.train_y.dtype == np.int32
    assert d.train_x.min() == 0.0 and d.train_x.max() == 1.0
    # Fashion-MNIST is balanced: 6,000 train and 1,000 test images per class 0..9
    np.testing.assert_array_equal(np.bincount(d.train_y), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(d.test_y), [1000] * 10)
    images = load_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"))
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(d.test_x[0], images[0].reshape(-1) / 255.0)
    loader = BatchLoader(d.train_x, d.train_y, seed=0)
    xs, ys = loader.next_batch(100)
    assert xs.shape == (100, 784) and ys.shape == (100,)
