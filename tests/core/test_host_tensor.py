"""``core.nest.host_tensor``: numpy inputs of compiled programs, handed to TF as aligned private copies."""
import numpy as np
import pytest
import tensorflow as tf

from gentf.core.nest import host_tensor

ARRAYS = [np.arange(6.0).reshape(2, 3), np.arange(6, dtype=">f8"), np.ones(3, np.float16),
          np.arange(4, dtype=np.uint8), np.array(3.5), np.zeros((0, 3)), np.array([True, False]),
          np.ones(2, np.complex64), np.arange(12.0).reshape(3, 4)[:, ::2], np.arange(5, dtype=np.int32)[1:]]


@pytest.mark.parametrize("x", ARRAYS, ids=lambda x: f"{x.dtype.str}{x.shape}")
def test_same_values_shape_and_dtype_as_convert_to_tensor(x):
    got, expected = host_tensor(x), tf.convert_to_tensor(x)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_array_equal(tf.reverse(tf.reshape(got, [-1]), [0]), x.reshape(-1)[::-1])  # a kernel reads it


def test_a_private_aligned_copy():
    """Writing the array afterwards leaves the tensor alone; TF's kernels (which check 64-byte
    alignment) read it wherever numpy put the array, e.g. a view starting mid-buffer."""
    x = np.arange(101.0)[1:]
    t = host_tensor(x)
    x[:] = -1.0
    np.testing.assert_array_equal(t.numpy(), np.arange(1.0, 101.0))
    assert float(tf.linalg.matvec(tf.reshape(t, [10, 10]), tf.ones([10], tf.float64))[0]) == sum(range(1, 11))
