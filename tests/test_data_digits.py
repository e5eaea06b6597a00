"""cnncourse.data.digits: the scikit-learn digits as image tensors, split by class."""

import numpy as np
import pytest
from skimage.transform import resize
from sklearn.datasets import load_digits

from cnncourse.data import DIGIT_CLASSES, load_digits_split

RAW = load_digits()


def _rows(*arrays):
    """All images of the arrays as one sorted multiset of rows (for comparing splits)."""
    stacked = np.concatenate([a.reshape(len(a), -1) for a in arrays])
    return stacked[np.lexsort(stacked.T[::-1])]


def test_images_are_nchw_float32_in_the_unit_range_with_int64_labels():
    x_train, y_train, x_test, y_test = load_digits_split()
    assert x_train.shape[1:] == x_test.shape[1:] == (1, 8, 8)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert len(x_train) == len(y_train) and len(x_test) == len(y_test)
    assert len(x_train) + len(x_test) == len(RAW.target) == 1797
    assert len(x_test) == round(0.25 * 1797)
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    assert DIGIT_CLASSES == tuple("0123456789")


def test_the_split_is_a_partition_of_the_data_set_and_keeps_every_label():
    x_train, y_train, x_test, y_test = load_digits_split(normalize=False, dtype=np.float64)
    expected = _rows(np.column_stack([RAW.images.reshape(1797, -1), RAW.target]))
    got = _rows(np.column_stack([x_train.reshape(len(x_train), -1), y_train]),
                np.column_stack([x_test.reshape(len(x_test), -1), y_test]))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("test_size", [0.25, 0.5, 300])
def test_the_split_is_stratified(test_size):
    _, y_train, _, y_test = load_digits_split(test_size=test_size, seed=3)
    share = len(y_test) / (len(y_train) + len(y_test))
    if isinstance(test_size, int):
        assert len(y_test) == test_size
    per_class = np.bincount(RAW.target)
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - share * per_class) <= 1)


def test_the_split_depends_only_on_the_seed():
    first = load_digits_split(seed=7)
    again = load_digits_split(seed=7)
    other = load_digits_split(seed=8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_normalize_divides_the_counts_by_16_and_dtype_is_kept():
    x_raw, y_raw, _, _ = load_digits_split(normalize=False, dtype=np.float64)
    x_unit, y_unit, _, _ = load_digits_split(normalize=True, dtype=np.float64)
    assert x_raw.dtype == np.float64 and x_raw.max() == 16.0
    np.testing.assert_array_equal(x_raw, np.round(x_raw))  # counts are whole numbers
    np.testing.assert_array_equal(y_raw, y_unit)
    np.testing.assert_allclose(x_unit, x_raw / 16.0, rtol=0, atol=0)


@pytest.mark.parametrize("size", [16, 28, 4])
def test_size_resizes_every_image_and_keeps_the_split(size):
    x_small, y_small, _, y_small_test = load_digits_split(seed=1)
    x_big, y_big, _, y_big_test = load_digits_split(seed=1, size=size)
    assert x_big.shape == (len(x_small), 1, size, size) and x_big.dtype == np.float32
    np.testing.assert_array_equal(y_small, y_big)
    np.testing.assert_array_equal(y_small_test, y_big_test)
    assert 0.0 <= x_big.min() and x_big.max() <= 1.0
    # the resized image shows the same digit: compare both at the smaller of the two sizes
    small = min(size, 8)
    shrunk = np.stack([resize(img[0], (small, small), anti_aliasing=True) for img in x_big[:200]])
    reference = np.stack([resize(img[0], (small, small), anti_aliasing=True) for img in x_small[:200]])
    assert np.corrcoef(shrunk.ravel(), reference.ravel())[0, 1] > 0.9
    np.testing.assert_allclose(shrunk.mean(axis=(1, 2)), reference.mean(axis=(1, 2)), atol=0.05)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"test_size": 0.0}, ValueError, "test_size"),
    ({"test_size": 1.0}, ValueError, "test_size"),
    ({"test_size": 0.001}, ValueError, "test_size=0.001 puts 2 of 1797 images in the test set"),
    ({"test_size": 5}, ValueError, "test_size must be at least 10"),
    ({"test_size": "a quarter"}, TypeError, "test_size"),
    ({"seed": -1}, ValueError, "seed must be at least 0"),
    ({"seed": 1.5}, TypeError, "seed must be an int"),
    ({"dtype": np.int32}, ValueError, "dtype must be one of float16, float32, float64; got int32"),
    ({"dtype": "pixels"}, TypeError, "dtype must be a NumPy float dtype"),
    ({"normalize": 1}, TypeError, "normalize must be a bool"),
    ({"size": 1}, ValueError, "size must be at least 2"),
    ({"size": 16.0}, TypeError, "size must be an int"),
])
def test_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_digits_split(**kwargs)
