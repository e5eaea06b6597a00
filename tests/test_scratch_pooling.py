"""cnncourse.scratch.pooling against torch.nn.functional: values, gradients (ties, overlapping
windows, NaN), dtypes, the slides' example, the layers and the error messages."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.scratch import pooling
from cnncourse.scratch.pooling import (
    AvgPool2d,
    GlobalAvgPool2d,
    MaxPool2d,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_forward,
)

rng = np.random.default_rng(20261125)

SLIDE_GRID = np.array([[3, 3, 2, 1, 0],
                       [0, 0, 1, 3, 1],
                       [3, 1, 2, 2, 3],
                       [2, 0, 0, 2, 2],
                       [2, 0, 0, 0, 1]], dtype=float)


def random_setting():
    """A random window, stride and padding (as torch allows them) and an input they fit."""
    kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 5, size=2))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    size = [int(rng.integers(max(1, k - 2 * p), 12)) for k, p in zip(kernel, padding)]
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), *size)
    return shape, dict(kernel_size=kernel, stride=stride, padding=padding)


def torch_max_pool(x, dout, **kwargs):
    t = torch.tensor(x, requires_grad=True)
    y = F.max_pool2d(t, **kwargs)
    y.backward(torch.from_numpy(np.asarray(dout, dtype=x.dtype)))
    return y.detach().numpy(), t.grad.numpy()


# ------------------------------------------------------------------------------ max pooling
def test_the_slides_grid_pooled_3x3_with_stride_1():
    expected = np.array([[3, 3, 3], [3, 3, 3], [3, 2, 3]], dtype=float)
    np.testing.assert_array_equal(max_pool2d(SLIDE_GRID[None], 3, stride=1)[0], expected)
    np.testing.assert_array_equal(max_pool2d_forward(SLIDE_GRID[None], 3, stride=1)[0][0], expected)


@pytest.mark.parametrize("values", ["distinct", "ties", "nan", "-inf"])
def test_max_pool2d_equals_torch_forward_and_backward(values):
    for _ in range(30):
        shape, kwargs = random_setting()
        if values == "distinct":
            x = rng.normal(size=shape)
        else:  # small integers: most windows hold several maxima
            x = rng.integers(0, 3, size=shape).astype(float)
            if values == "nan":
                x[rng.random(shape) < 0.15] = np.nan
            elif values == "-inf":
                x[rng.random(shape) < 0.4] = -np.inf
        for dtype in (np.float64, np.float32):
            xd = x.astype(dtype)
            before = xd.copy()
            plain = max_pool2d(xd, **kwargs)
            out, cache = max_pool2d_forward(xd, **kwargs)
            dout = rng.normal(size=out.shape).astype(dtype)
            expected, expected_dx = torch_max_pool(xd, dout, **kwargs)
            dx = max_pool2d_backward(dout, cache)
            label = f"{shape} {kwargs} {np.dtype(dtype)}"
            np.testing.assert_array_equal(plain, expected, err_msg=label)
            np.testing.assert_array_equal(out, expected, err_msg=label)
            assert out.dtype == plain.dtype == dx.dtype == dtype, label
            tol = 1e-12 if dtype == np.float64 else 1e-5
            np.testing.assert_allclose(dx, expected_dx, rtol=tol, atol=tol, err_msg=label)
            np.testing.assert_array_equal(xd, before, err_msg=f"{label}: the input changed")


def test_max_pool2d_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0] = [[1.0, 5.0], [5.0, 5.0]]
    out, cache = max_pool2d_forward(x, 2)
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 1.0], [0.0, 0.0]])
    # A maximum on a later row but an earlier column does not come first.
    x[0, 0] = [[1.0, 5.0], [5.0, 1.0]]
    dx = max_pool2d_backward(np.ones((1, 1, 1, 1)), max_pool2d_forward(x, 2)[1])
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_overlapping_windows_add_their_gradients_at_a_shared_winner():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 9.0                        # the centre lies in all four 3x3/2 windows
    out, cache = max_pool2d_forward(x, 3, stride=2)
    assert out.shape == (1, 1, 2, 2) and np.all(out == 9.0)
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = max_pool2d_backward(dout, cache)
    assert dx[0, 0, 2, 2] == 10.0
    assert np.count_nonzero(dx) == 1


def test_stride_defaults_to_the_kernel_size():
    x = rng.normal(size=(2, 3, 8, 8))
    np.testing.assert_array_equal(max_pool2d(x, 2), max_pool2d(x, 2, stride=2))
    np.testing.assert_array_equal(max_pool2d(x, 2), F.max_pool2d(torch.from_numpy(x), 2).numpy())


def test_a_stride_wider_than_the_window_leaves_skipped_pixels_without_gradient():
    x = rng.normal(size=(1, 2, 9, 10))
    out, cache = max_pool2d_forward(x, 2, stride=(4, 3))
    dout = rng.normal(size=out.shape)
    _, expected_dx = torch_max_pool(x, dout, kernel_size=2, stride=(4, 3))
    np.testing.assert_allclose(max_pool2d_backward(dout, cache), expected_dx, atol=1e-12)


def test_max_pool2d_is_the_same_in_many_small_blocks(monkeypatch):
    """The fast passes work through the channels in blocks; a partial last block must work too."""
    x = rng.integers(0, 4, size=(3, 7, 11, 13)).astype(np.float32)
    dout = rng.normal(size=(3, 7, 6, 7)).astype(np.float32)
    monkeypatch.setattr(pooling, "_BLOCK_BYTES", 3 * 11 * 13 * 4)   # three planes per block
    out, cache = max_pool2d_forward(x, 3, stride=2, padding=1)
    dx = max_pool2d_backward(dout, cache)
    expected, expected_dx = torch_max_pool(x, dout, kernel_size=3, stride=2, padding=1)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_allclose(dx, expected_dx, atol=1e-6)
    t = torch.tensor(x, requires_grad=True)
    y = F.avg_pool2d(t, 3, 2, 1)
    y.backward(torch.from_numpy(dout))
    o2, c2 = avg_pool2d_forward(x, 3, stride=2, padding=1)
    np.testing.assert_allclose(o2, y.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(avg_pool2d_backward(dout, c2), t.grad.numpy(), atol=1e-6)


def test_unbatched_input_and_integer_input():
    x = rng.integers(-5, 5, size=(3, 6, 7))
    out = max_pool2d(x, 3, stride=2, padding=1)
    assert out.dtype == np.float64 and out.shape == (3, 3, 4)
    expected = F.max_pool2d(torch.from_numpy(x.astype(float)), 3, 2, 1).numpy()
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(max_pool2d_forward(x, 3, stride=2, padding=1)[0], expected)


# ------------------------------------------------------------------------------ average pooling
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_equals_torch_forward_and_backward(count_include_pad):
    for _ in range(20):
        shape, kwargs = random_setting()
        for dtype in (np.float64, np.float32):
            x = rng.normal(size=shape).astype(dtype)
            before = x.copy()
            t = torch.tensor(x, requires_grad=True)
            y = F.avg_pool2d(t, count_include_pad=count_include_pad, **kwargs)
            dout = rng.normal(size=y.shape).astype(dtype)
            y.backward(torch.from_numpy(dout))
            plain = avg_pool2d(x, count_include_pad=count_include_pad, **kwargs)
            out, cache = avg_pool2d_forward(x, count_include_pad=count_include_pad, **kwargs)
            dx = avg_pool2d_backward(dout, cache)
            tol = 1e-12 if dtype == np.float64 else 1e-5
            label = f"{shape} {kwargs} {np.dtype(dtype)}"
            for ours in (plain, out):
                np.testing.assert_allclose(ours, y.detach().numpy(), rtol=tol, atol=tol, err_msg=label)
                assert ours.dtype == dtype
            np.testing.assert_allclose(dx, t.grad.numpy(), rtol=tol, atol=tol, err_msg=label)
            assert dx.dtype == dtype
            np.testing.assert_array_equal(x, before)


def test_average_pooling_of_the_slides_grid():
    out = avg_pool2d(SLIDE_GRID[None], 3, stride=1)[0]
    np.testing.assert_allclose(out[0, 0], SLIDE_GRID[:3, :3].mean())
    np.testing.assert_allclose(out[2, 1], SLIDE_GRID[2:, 1:4].mean())


# ------------------------------------------------------------------------------ global average pooling
def test_global_avg_pool2d_equals_torch():
    for shape in [(2, 3, 4, 5), (1, 1, 1, 1), (4, 8, 7, 7)]:
        for dtype in (np.float64, np.float32):
            x = rng.normal(size=shape).astype(dtype)
            t = torch.tensor(x, requires_grad=True)
            y = F.adaptive_avg_pool2d(t, 1).flatten(1)
            dout = rng.normal(size=shape[:2]).astype(dtype)
            y.backward(torch.from_numpy(dout))
            out, cache = global_avg_pool2d_forward(x)
            tol = 1e-12 if dtype == np.float64 else 1e-6
            np.testing.assert_allclose(out, y.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_array_equal(global_avg_pool2d(x), out)
            dx = global_avg_pool2d_backward(dout, cache)
            np.testing.assert_allclose(dx, t.grad.numpy(), rtol=tol, atol=tol)
            assert out.dtype == dx.dtype == dtype and out.shape == shape[:2] and dx.shape == shape


# ------------------------------------------------------------------------------ layers
def test_pooling_layers_match_their_functions():
    x = rng.normal(size=(2, 3, 9, 9))
    for layer, forward, backward, kwargs in [
        (MaxPool2d(3, stride=2, padding=1), max_pool2d_forward, max_pool2d_backward,
         dict(kernel_size=3, stride=2, padding=1)),
        (AvgPool2d(2), avg_pool2d_forward, avg_pool2d_backward, dict(kernel_size=2)),
        (GlobalAvgPool2d(), global_avg_pool2d_forward, global_avg_pool2d_backward, {}),
    ]:
        out = layer.forward(x)
        expected, cache = forward(x, **kwargs)
        np.testing.assert_array_equal(out, expected)
        dout = rng.normal(size=out.shape)
        np.testing.assert_array_equal(layer.backward(dout), backward(dout, cache))
        assert layer.parameters() == []
    assert "kernel_size=(3, 3)" in repr(MaxPool2d(3, stride=2, padding=1))


def test_backward_before_forward_is_an_error():
    for layer in (MaxPool2d(2), AvgPool2d(2), GlobalAvgPool2d()):
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.ones((1, 1, 1, 1)))


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("function", [max_pool2d, max_pool2d_forward, avg_pool2d, avg_pool2d_forward])
def test_bad_pooling_arguments_raise_clear_errors(function):
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="kernel_size"):
        function(x, 0)
    with pytest.raises(TypeError, match="kernel_size"):
        function(x, "2")
    with pytest.raises(ValueError, match="stride"):
        function(x, 2, stride=0)
    with pytest.raises(TypeError, match="stride"):
        function(x, 2, stride=1.5)
    with pytest.raises(ValueError, match="padding"):
        function(x, 2, padding=-1)
    with pytest.raises(ValueError, match="padding must be at most half"):
        function(x, 3, padding=2)
    with pytest.raises(ValueError, match="x must be a 3D or 4D"):
        function(np.zeros((4, 4)), 2)
    with pytest.raises(TypeError, match="x must"):
        function("image", 2)
    with pytest.raises(ValueError, match="does not fit"):
        function(x, 5)


def test_bad_backward_and_layer_arguments():
    _, cache = max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        max_pool2d_backward(np.zeros((1, 1, 3, 3)), cache)
    _, cache = avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        avg_pool2d_backward(np.zeros((1, 2, 2)), cache)
    _, cache = global_avg_pool2d_forward(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="dout must have shape"):
        global_avg_pool2d_backward(np.zeros((3, 2)), cache)
    with pytest.raises(ValueError, match="x must be a 4D"):
        global_avg_pool2d(np.zeros((3, 4, 4)))
    with pytest.raises(TypeError, match="count_include_pad"):
        avg_pool2d(np.zeros((1, 1, 4, 4)), 2, count_include_pad=1)
    with pytest.raises(TypeError, match="count_include_pad"):
        AvgPool2d(2, count_include_pad="yes")
    with pytest.raises(ValueError, match="kernel_size"):
        MaxPool2d(0)
    with pytest.raises(ValueError, match="stride"):
        MaxPool2d(2, stride=(1, 0))


def test_an_infinite_or_nan_output_gradient_reaches_the_winner_only():
    x = rng.integers(0, 3, size=(2, 3, 7, 7)).astype(float)
    out, cache = max_pool2d_forward(x, 3, stride=2, padding=1)
    dout = rng.normal(size=out.shape)
    dout[0, 0, 1, 1] = np.inf
    dout[1, 2, 0, 3] = np.nan
    _, expected_dx = torch_max_pool(x, dout, kernel_size=3, stride=2, padding=1)
    dx = max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(expected_dx))
    np.testing.assert_allclose(dx, expected_dx, atol=1e-12)
    assert np.count_nonzero(~np.isfinite(dx)) == 2
