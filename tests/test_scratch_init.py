"""cnncourse.scratch.init: fan computation and the variances of He and Glorot initialisation."""

import math

import numpy as np
import pytest
import torch

from cnncourse.scratch.init import fans, glorot_normal, glorot_uniform, he_normal, he_uniform


@pytest.mark.parametrize("shape", [(10, 20), (16, 3, 5, 5), (8, 4, 3), (1, 1), (6, 2, 1, 7)])
def test_fans_equal_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert fans(shape) == expected


def test_fans_of_linear_and_conv_weights():
    assert fans((120, 400)) == (400, 120)  # (out_features, in_features)
    assert fans((16, 6, 5, 5)) == (150, 400)  # (out_channels, in_channels, kh, kw)


@pytest.mark.parametrize("function, variance", [
    (he_normal, lambda fi, fo: 2 / fi),
    (he_uniform, lambda fi, fo: 2 / fi),
    (glorot_normal, lambda fi, fo: 2 / (fi + fo)),
    (glorot_uniform, lambda fi, fo: 2 / (fi + fo)),
])
@pytest.mark.parametrize("shape", [(200, 300), (64, 32, 3, 3)])
def test_variance_and_mean(function, variance, shape):
    w = function(shape, rng=0)
    assert w.shape == shape and w.dtype == np.float64
    expected = variance(*fans(shape))
    n = w.size  # >= 60000: the sample variance is within a few percent
    assert abs(w.mean()) < 5 * math.sqrt(expected / n)
    assert w.var() == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("function, bound", [
    (he_uniform, lambda fi, fo: math.sqrt(6 / fi)),
    (glorot_uniform, lambda fi, fo: math.sqrt(6 / (fi + fo))),
])
def test_uniform_bounds(function, bound):
    shape = (50, 40, 3, 3)
    w = function(shape, rng=1)
    a = bound(*fans(shape))
    assert np.abs(w).max() <= a
    assert np.abs(w).max() > 0.99 * a


def test_he_normal_has_the_distribution_of_torch_kaiming_normal():
    shape = (128, 64, 3, 3)
    torch.manual_seed(0)
    theirs = torch.nn.init.kaiming_normal_(torch.empty(shape, dtype=torch.float64), nonlinearity="relu")
    assert he_normal(shape, rng=0).std() == pytest.approx(theirs.std().item(), rel=0.02)


def test_seeded_reproducible_and_dtype():
    np.testing.assert_array_equal(he_normal((4, 5), rng=3), he_normal((4, 5), rng=3))
    assert not np.array_equal(he_normal((4, 5), rng=3), he_normal((4, 5), rng=4))
    assert glorot_uniform((4, 5), rng=0, dtype=np.float32).dtype == np.float32
    generator = np.random.default_rng(0)
    assert not np.array_equal(he_uniform((3, 3), generator), he_uniform((3, 3), generator))


def test_bad_arguments():
    with pytest.raises(ValueError, match="shape must have at least 2 dimensions"):
        he_normal((10,))
    with pytest.raises(TypeError, match="shape must be a tuple of ints"):
        he_normal(10)
    with pytest.raises(ValueError, match="shape must be at least 1, got 0"):
        glorot_normal((0, 3))
    with pytest.raises(ValueError, match="dtype must be one of float16, float32, float64; got int64"):
        he_normal((2, 2), dtype=np.int64)
