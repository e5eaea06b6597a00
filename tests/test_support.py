"""cnncourse.data (sample images) and cnncourse.viz."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnncourse.data import SAMPLE_IMAGES, sample_image
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
