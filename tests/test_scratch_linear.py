"""cnncourse.scratch.linear against torch: the fully connected layer and flatten, their gradients,
dtypes, the layers (initialisation, accumulating gradients) and the error messages."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.scratch.linear import (
    Flatten,
    Linear,
    flatten,
    flatten_backward,
    flatten_forward,
    linear,
    linear_backward,
    linear_forward,
)

rng = np.random.default_rng(6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("x_shape", [(8, 5), (2, 3, 5), (5,)])
def test_linear_equals_torch(x_shape, with_bias, dtype):
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=(4, 5)).astype(dtype)
    b = rng.normal(size=4).astype(dtype) if with_bias else None
    before = [a.copy() for a in (x, w) + ((b,) if with_bias else ())]
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    y = F.linear(*tensors)
    dout = rng.normal(size=y.shape).astype(dtype)
    y.backward(torch.from_numpy(dout))

    out, cache = linear_forward(x, w, b)
    dx, dw, db = linear_backward(dout, cache)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, y.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(linear(x, w, b), out, rtol=tol, atol=tol)
    for ours, tensor in zip((dx, dw, db), tensors + [None]):
        if tensor is None:
            assert ours is None
            continue
        np.testing.assert_allclose(ours, tensor.grad.numpy(), rtol=tol, atol=tol)
        assert ours.dtype == dtype
    assert out.dtype == dtype
    for original, now in zip(before, (x, w, b)):
        np.testing.assert_array_equal(now, original)


def test_linear_uses_the_out_in_weight_layout():
    x = np.array([[1.0, 2.0, 3.0]])
    w = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])           # (out=2, in=3)
    np.testing.assert_array_equal(linear(x, w, np.array([10.0, 20.0])), [[11.0, 25.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flatten_equals_torch_and_returns_a_new_array(dtype):
    for shape in [(2, 3, 4, 5), (3, 7), (1, 2, 1, 3)]:
        x = rng.normal(size=shape).astype(dtype)
        out, cache = flatten_forward(x)
        np.testing.assert_array_equal(out, torch.flatten(torch.from_numpy(x), start_dim=1).numpy())
        np.testing.assert_array_equal(flatten(x), out)
        assert out.dtype == dtype and not np.shares_memory(out, x)
        dout = rng.normal(size=out.shape).astype(dtype)
        dx = flatten_backward(dout, cache)
        assert dx.shape == shape and dx.dtype == dtype
        np.testing.assert_array_equal(dx.reshape(out.shape), dout)
        out[...] = 0
        assert np.any(x != 0)


def test_linear_layer_initialisation_and_forward():
    layer = Linear(50, 7, rng=0)
    assert layer.weight.shape == (7, 50) and layer.bias.shape == (7,)
    bound = 1 / math.sqrt(50)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)
    np.testing.assert_array_equal(Linear(50, 7, rng=0).weight.data, layer.weight.data)
    assert not np.array_equal(Linear(50, 7, rng=1).weight.data, layer.weight.data)
    assert layer.num_parameters() == 7 * 50 + 7
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    x = rng.normal(size=(3, 50))
    np.testing.assert_array_equal(layer(x), linear(x, layer.weight.data, layer.bias.data))
    assert "in_features=50, out_features=7, bias=True" in repr(layer)

    no_bias = Linear(4, 2, bias=False, rng=0, dtype=np.float32)
    assert no_bias.bias is None and no_bias.num_parameters() == 8
    assert no_bias.weight.data.dtype == np.float32
    assert no_bias(np.ones((1, 4), dtype=np.float32)).dtype == np.float32


def test_linear_layer_backward_accumulates_parameter_gradients():
    layer = Linear(6, 3, rng=2)
    x = rng.normal(size=(5, 6))
    dout = rng.normal(size=(5, 3))
    layer.forward(x)
    dx = layer.backward(dout)
    _, cache = linear_forward(x, layer.weight.data, layer.bias.data)
    expected_dx, expected_dw, expected_db = linear_backward(dout, cache)
    np.testing.assert_allclose(dx, expected_dx)
    np.testing.assert_allclose(layer.weight.grad, expected_dw)
    np.testing.assert_allclose(layer.bias.grad, expected_db)
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_allclose(layer.weight.grad, 2 * expected_dw)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_flatten_layer():
    layer = Flatten()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 3)))
    x = rng.normal(size=(2, 3, 4, 4))
    out = layer(x)
    assert out.shape == (2, 48)
    assert layer.backward(out).shape == x.shape
    assert layer.parameters() == []


def test_bad_arguments_raise_clear_errors():
    x, w, b = np.ones((2, 3)), np.ones((4, 3)), np.ones(4)
    with pytest.raises(ValueError, match="w must be a 2D"):
        linear(x, np.ones(3))
    with pytest.raises(ValueError, match="x has 3 features"):
        linear(x, np.ones((4, 5)))
    with pytest.raises(ValueError, match="b must have shape \\(4,\\)"):
        linear(x, w, np.ones(3))
    with pytest.raises(TypeError, match="x must"):
        linear("x", w, b)
    with pytest.raises(ValueError, match="x must have at least 1 dimension"):
        linear(np.float64(2.0), w, b)
    _, cache = linear_forward(x, w, b)
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        linear_backward(np.ones((2, 3)), cache)
    with pytest.raises(ValueError, match="x must have at least 2 dimensions"):
        flatten(np.ones(5))
    _, cache = flatten_forward(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        flatten_backward(np.ones((2, 11)), cache)
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 3)
    with pytest.raises(TypeError, match="out_features"):
        Linear(3, 2.5)
    with pytest.raises(TypeError, match="bias"):
        Linear(3, 2, bias=1)
    with pytest.raises(TypeError, match="rng"):
        Linear(3, 2, rng="seed")
    with pytest.raises(ValueError, match="dtype"):
        Linear(3, 2, dtype=np.int32)
