"""cnncourse.scratch.activation against torch: values, derivatives (at the kinks too), numerical
stability for large |u|, dtypes, the layers and the error messages."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse import oracles
from cnncourse.scratch import activation as A

rng = np.random.default_rng(4)

FUNCTIONS = {
    # name: (plain, forward, backward, torch function, layer)
    "sigmoid": (A.sigmoid, A.sigmoid_forward, A.sigmoid_backward, torch.sigmoid, A.Sigmoid),
    "tanh": (A.tanh, A.tanh_forward, A.tanh_backward, torch.tanh, A.Tanh),
    "relu": (A.relu, A.relu_forward, A.relu_backward, F.relu, A.ReLU),
    "relu6": (A.relu6, A.relu6_forward, A.relu6_backward, F.relu6, A.ReLU6),
    "softplus": (A.softplus, A.softplus_forward, A.softplus_backward, oracles.softplus, A.Softplus),
}


def torch_value_and_grad(function, u, dout):
    t = torch.tensor(u, requires_grad=True)
    y = function(t)
    y.backward(torch.from_numpy(dout))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_equals_torch(name, dtype):
    plain, forward, backward, oracle, _ = FUNCTIONS[name]
    # A wide range, the kinks of ReLU and ReLU6 themselves included.
    u = np.concatenate([rng.normal(scale=4, size=200), np.linspace(-12, 12, 97), [0.0, 6.0, -0.0]])
    u = u.reshape(-1, 10).astype(dtype)
    before = u.copy()
    dout = rng.normal(size=u.shape).astype(dtype)
    out, cache = forward(u)
    dx = backward(dout, cache)
    expected, expected_dx = torch_value_and_grad(oracle, u, dout)
    # float32: tanh'(u) = 1 - y^2 near |y| = 1 is a difference of nearly equal numbers, so one
    # unit in the last place of y (6e-8) shows as about 2.5e-7 in the derivative.
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-6, 5e-7)
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(plain(u), expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dx, expected_dx, rtol=rtol, atol=atol)
    assert out.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(u, before)


def test_derivatives_at_the_kinks_are_those_of_torch():
    u = np.array([0.0, 6.0, -1.0, 3.0, 7.0])
    for name in ("relu", "relu6"):
        _, forward, backward, oracle, _ = FUNCTIONS[name]
        dx = backward(np.ones_like(u), forward(u)[1])
        np.testing.assert_array_equal(dx, torch_value_and_grad(oracle, u, np.ones_like(u))[1])
    np.testing.assert_array_equal(A.relu_backward(np.ones(5), A.relu_forward(u)[1]), [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(A.relu6_backward(np.ones(5), A.relu6_forward(u)[1]), [0, 0, 0, 1, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softplus_and_sigmoid_do_not_overflow(dtype):
    u = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would warn
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            sp = A.softplus(u)
            sg = A.sigmoid(u)
            dsp = A.softplus_backward(np.ones_like(u), A.softplus_forward(u)[1])
    np.testing.assert_array_equal(sp[[0, 2, 4]], np.array([0.0, math.log(2.0), 1000.0], dtype=dtype))
    assert sp[3] == dtype(100.0)
    np.testing.assert_array_equal(sg[[0, 2, 4]], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(dsp[[0, 2, 4]], [0.0, 0.5, 1.0])
    assert sp.dtype == sg.dtype == dsp.dtype == dtype


def test_softplus_and_sigmoid_keep_full_precision_far_out():
    u = np.array([-700.0, -300.0, -40.0, -30.0, -1e-8, 1e-8, 15.0, 30.0, 36.0])
    exact_softplus = np.array([math.log1p(math.exp(v)) for v in u])
    exact_sigmoid = np.array([math.exp(v) / (1 + math.exp(v)) for v in u])
    np.testing.assert_allclose(A.softplus(u), exact_softplus, rtol=1e-15)
    np.testing.assert_allclose(A.sigmoid(u), exact_sigmoid, rtol=1e-15)
    # torch.logaddexp(u, 0) is an independent exact softplus
    reference = torch.logaddexp(torch.from_numpy(u), torch.zeros(len(u), dtype=torch.float64)).numpy()
    np.testing.assert_allclose(A.softplus(u), reference, rtol=1e-15)


def test_softplus_differs_from_torch_default_threshold_only_where_documented():
    """torch's softplus returns u itself above threshold=20; the exact value is u + log1p(e^-u)."""
    u = np.array([20.5, 25.0, 30.0])
    ours = A.softplus(u)
    torch_default = F.softplus(torch.from_numpy(u)).numpy()
    np.testing.assert_array_equal(torch_default, u)
    np.testing.assert_allclose(ours - u, np.exp(-u), rtol=0, atol=np.spacing(u).max())
    assert np.all(ours > u)
    np.testing.assert_array_equal(ours, oracles.softplus(torch.from_numpy(u)).numpy())
    # In float32 the difference is below the resolution, and both agree exactly.
    u32 = np.linspace(-30, 60, 181).astype(np.float32)
    np.testing.assert_allclose(A.softplus(u32), F.softplus(torch.from_numpy(u32)).numpy(),
                               rtol=2e-7, atol=1e-30)


def test_integer_input_becomes_float64_and_the_derivative_bounds_hold():
    out = A.relu(np.array([-2, 0, 3]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.0, 0.0, 3.0])
    u = np.linspace(-10, 10, 2001)
    ones = np.ones_like(u)
    assert A.sigmoid_backward(ones, A.sigmoid_forward(u)[1]).max() == pytest.approx(0.25)
    assert A.tanh_backward(ones, A.tanh_forward(u)[1]).max() == pytest.approx(1.0)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_activation_layers_match_their_functions(name):
    _, forward, backward, _, layer_class = FUNCTIONS[name]
    layer = layer_class()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones(3))
    u = rng.normal(scale=3, size=(4, 5))
    out = layer(u)
    expected, cache = forward(u)
    np.testing.assert_array_equal(out, expected)
    dout = rng.normal(size=u.shape)
    np.testing.assert_array_equal(layer.backward(dout), backward(dout, cache))
    assert layer.parameters() == []


@pytest.mark.parametrize("name", FUNCTIONS)
def test_bad_arguments_raise_clear_errors(name):
    plain, forward, backward, _, _ = FUNCTIONS[name]
    with pytest.raises(TypeError, match="u must"):
        plain("not numbers")
    with pytest.raises(TypeError, match="u must"):
        forward(None)
    _, cache = forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match="dout must"):
        backward("gradient", cache)
