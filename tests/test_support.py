"""cnncourse.data, cnncourse.grading and cnncourse.viz."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnncourse.data import SAMPLE_IMAGES, sample_image
from cnncourse.grading import (CONVOLUTION_LIBRARY_NAMES, check_array, check_does_not_use,
                               check_equal, check_raises)
from cnncourse.viz import show_images, show_matrix


# ------------------------------------------------------------------------------ data
@pytest.mark.parametrize("name", SAMPLE_IMAGES)
def test_sample_images_load_offline_as_floats_in_the_unit_range(name):
    image = sample_image(name)
    assert image.ndim == 2 and image.dtype == np.float64
    assert 0.0 <= image.min() < image.max() <= 1.0


def test_sample_image_colour_and_size():
    rgb = sample_image("coffee", gray=False, size=120)
    assert rgb.shape == (80, 120, 3)
    assert sample_image("camera", size=64).shape == (64, 64)
    with pytest.raises(ValueError, match="name must be one of"):
        sample_image("lena")
    with pytest.raises(ValueError, match="size must be a positive int"):
        sample_image("camera", size=0)


# ------------------------------------------------------------------------------ grading
def test_check_array_says_what_was_expected_and_what_came_back():
    check_array(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-12], "ok")
    with pytest.raises(AssertionError, match=r"y: expected shape \(2,\), got shape \(3,\)"):
        check_array(np.zeros(3), np.zeros(2), "y")
    with pytest.raises(AssertionError, match=r"1 of 4 values differ.*index \(1, 0\): expected 3.0, got 5.0"):
        check_array([[1.0, 2.0], [5.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], "y")
    with pytest.raises(AssertionError, match="got None"):
        check_array(None, np.zeros(2), "y")
    with pytest.raises(AssertionError, match="dtype of kind 'f'"):
        check_array(np.array([1, 2]), [1, 2], "y", dtype_kind="f")


def test_check_equal_and_check_raises():
    check_equal([3, 4], (3, 4), "shape")
    with pytest.raises(AssertionError, match=r"shape: expected \(3, 4\), got \(4, 3\)"):
        check_equal((4, 3), (3, 4), "shape")

    def raises_value_error():
        raise ValueError("bad")

    check_raises(ValueError, raises_value_error)
    with pytest.raises(AssertionError, match="expected ValueError, but nothing was raised"):
        check_raises(ValueError, lambda: None)
    with pytest.raises(AssertionError, match="expected ValueError, got NotImplementedError"):
        check_raises(ValueError, _not_implemented)


def _not_implemented():
    raise NotImplementedError()


def _uses_scipy(x):
    import scipy.signal
    return scipy.signal.convolve2d(x, x)


def _hides_scipy_in_a_helper(x):
    return _uses_scipy(x)


def _honest(x):
    return np.sum(x[::-1, ::-1] * x)


def test_check_does_not_use_finds_library_calls_also_through_helpers():
    check_does_not_use(_honest, CONVOLUTION_LIBRARY_NAMES)
    with pytest.raises(AssertionError, match="_uses_scipy uses convolve2d"):
        check_does_not_use(_uses_scipy)
    with pytest.raises(AssertionError, match=r"_hides_scipy_in_a_helper uses convolve2d \(through _uses_scipy\)"):
        check_does_not_use(_hides_scipy_in_a_helper)
    with pytest.raises(AssertionError, match="uses sum"):
        check_does_not_use(_honest, {"sum"})


# ------------------------------------------------------------------------------ viz
def test_show_images_draws_one_panel_per_image():
    fig = show_images([np.zeros((4, 4)), np.ones((4, 4)) - 0.5, np.ones((4, 4, 3))],
                      ["a", "b", "c"], ncols=2, symmetric=(1,))
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["a", "b", "c"]
    assert len(fig.axes) == 5  # four panels on a 2x2 grid and the colour bar of image 1
    plt.close(fig)
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        show_images([np.zeros((2, 2))] * 2, ["a"])


def test_show_matrix_writes_every_value():
    ax = show_matrix(np.arange(6).reshape(2, 3), "m")
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3", "4", "5"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="matrix must be 2D"):
        show_matrix(np.zeros(3))
