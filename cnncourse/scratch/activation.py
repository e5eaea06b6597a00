"""Activation functions in NumPy: sigmoid, tanh, ReLU, ReLU6 and softplus.

An activation function :math:`f` is applied to every entry of its input on its own, so its
backward pass is the upstream gradient times the derivative, entry by entry:
:math:`\\partial L / \\partial u = \\partial L / \\partial y \\cdot f'(u)`.

Each function comes as ``f(u)``, ``f_forward(u) -> (y, cache)`` and ``f_backward(dout, cache)``,
plus a :class:`~cnncourse.scratch.layer.Layer`. All keep the input's floating dtype and never
overflow: the sigmoid and softplus are written so that ``exp`` only ever sees a non-positive
argument.
"""

from __future__ import annotations

import numpy as np

from cnncourse import _checks
from cnncourse.registry import LayerSpec, Sample, register_layer
from cnncourse.scratch.layer import Layer


def _input(u) -> np.ndarray:
    return _checks.as_float_array(u, "u", allow_empty=True)


def _upstream(dout, shape) -> np.ndarray:
    dout = _checks.as_float_array(dout, "dout", allow_empty=True)
    if dout.shape != shape:
        raise ValueError(f"dout must have the output's shape {shape}, got {dout.shape}")
    return dout


# --------------------------------------------------------------------------- sigmoid
def sigmoid(u) -> np.ndarray:
    r"""The logistic sigmoid, entry by entry.

    .. math:: \sigma(u) = \frac{1}{1 + e^{-u}} = \frac{e^{u}}{1 + e^{u}} : \mathbb{R} \to (0, 1)

    The first form is used for :math:`u \ge 0` and the second for :math:`u < 0`, so that the
    exponential is always :math:`e^{-|u|} \le 1`: no overflow for :math:`u = -1000`, and
    :math:`\sigma(u) \approx e^{u}` keeps its full relative precision for large negative u.

    Shape:
        Any; the output has the input's shape and floating dtype.
    """
    u = _input(u)
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1 / (1 + e), e / (1 + e)).astype(u.dtype, copy=False)


def sigmoid_forward(u):
    """Sigmoid and its cache (the output). Returns ``(y, cache)``."""
    y = sigmoid(u)
    return y, y


def sigmoid_backward(dout, cache) -> np.ndarray:
    r"""Gradient of the sigmoid: :math:`\sigma'(u) = \sigma(u)\,(1 - \sigma(u)) \le 1/4`."""
    y = cache
    return _upstream(dout, y.shape) * (y * (1 - y))


# --------------------------------------------------------------------------- tanh
def tanh(u) -> np.ndarray:
    r"""The hyperbolic tangent, entry by entry.

    .. math:: \tanh(u) = \frac{e^{u} - e^{-u}}{e^{u} + e^{-u}} = 2\sigma(2u) - 1 : \mathbb{R} \to (-1, 1)
    """
    return np.tanh(_input(u))


def tanh_forward(u):
    """Tanh and its cache (the output). Returns ``(y, cache)``."""
    y = tanh(u)
    return y, y


def tanh_backward(dout, cache) -> np.ndarray:
    r"""Gradient of tanh: :math:`\tanh'(u) = 1 - \tanh^2(u) \le 1`."""
    y = cache
    return _upstream(dout, y.shape) * (1 - y * y)


# --------------------------------------------------------------------------- ReLU
def relu(u) -> np.ndarray:
    r"""The rectified linear unit, entry by entry.

    .. math:: \mathrm{ReLU}(u) = \max\{u, 0\} : \mathbb{R} \to [0, +\infty)
    """
    u = _input(u)
    return np.maximum(u, 0).astype(u.dtype, copy=False)


def relu_forward(u):
    """ReLU and its cache (the input). Returns ``(y, cache)``."""
    u = _input(u)
    return relu(u), u


def relu_backward(dout, cache) -> np.ndarray:
    r"""Gradient of ReLU: 1 where :math:`u > 0`, else 0 (0 at the kink :math:`u = 0`, as in PyTorch)."""
    u = cache
    return _upstream(dout, u.shape) * (u > 0)


# --------------------------------------------------------------------------- ReLU6
def relu6(u) -> np.ndarray:
    r"""ReLU bounded by 6, entry by entry.

    .. math:: \mathrm{ReLU6}(u) = \min\{\max\{u, 0\}, 6\} : \mathbb{R} \to [0, 6]
    """
    u = _input(u)
    return np.clip(u, 0, 6).astype(u.dtype, copy=False)


def relu6_forward(u):
    """ReLU6 and its cache (the input). Returns ``(y, cache)``."""
    u = _input(u)
    return relu6(u), u


def relu6_backward(dout, cache) -> np.ndarray:
    r"""Gradient of ReLU6: 1 where :math:`0 < u < 6`, else 0 (0 at both kinks, as in PyTorch)."""
    u = cache
    return _upstream(dout, u.shape) * ((u > 0) & (u < 6))


# --------------------------------------------------------------------------- softplus
def softplus(u) -> np.ndarray:
    r"""Softplus, a smooth ReLU, entry by entry.

    .. math:: \mathrm{softplus}(u) = \log(1 + e^{u}) = \max\{u, 0\} + \log(1 + e^{-|u|})
              : \mathbb{R} \to (0, +\infty)

    The second form is the one computed: the exponential never exceeds 1, so
    ``softplus(1000) = 1000`` and ``softplus(-1000) = 0`` come out without overflow, and
    ``log1p`` keeps the small values of the negative side exact to the last bit.

    PyTorch's ``torch.nn.functional.softplus`` instead returns ``u`` itself above a threshold
    (``threshold=20`` by default), where :math:`\log(1 + e^{u})` and :math:`u` differ by
    :math:`e^{-u} < 2 \cdot 10^{-9}`: less than float32 can see, but not float64.
    """
    u = _input(u)
    return (np.maximum(u, 0) + np.log1p(np.exp(-np.abs(u)))).astype(u.dtype, copy=False)


def softplus_forward(u):
    """Softplus and its cache (the input). Returns ``(y, cache)``."""
    u = _input(u)
    return softplus(u), u


def softplus_backward(dout, cache) -> np.ndarray:
    r"""Gradient of softplus: the sigmoid, :math:`\mathrm{softplus}'(u) = \sigma(u) \in (0, 1)`."""
    u = cache
    return _upstream(dout, u.shape) * sigmoid(u)


# --------------------------------------------------------------------------- layers
class _Activation(Layer):
    """An activation layer over one forward/backward pair (no parameters)."""

    _forward = None
    _backward = None

    def __init__(self):
        self._cache = None

    def forward(self, x):
        out, self._cache = type(self)._forward(x)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return type(self)._backward(dout, self._cache)


class Sigmoid(_Activation):
    """Layer applying :func:`sigmoid`."""

    _forward = staticmethod(sigmoid_forward)
    _backward = staticmethod(sigmoid_backward)


class Tanh(_Activation):
    """Layer applying :func:`tanh`."""

    _forward = staticmethod(tanh_forward)
    _backward = staticmethod(tanh_backward)


class ReLU(_Activation):
    """Layer applying :func:`relu`."""

    _forward = staticmethod(relu_forward)
    _backward = staticmethod(relu_backward)


class ReLU6(_Activation):
    """Layer applying :func:`relu6`."""

    _forward = staticmethod(relu6_forward)
    _backward = staticmethod(relu6_backward)


class Softplus(_Activation):
    """Layer applying :func:`softplus`."""

    _forward = staticmethod(softplus_forward)
    _backward = staticmethod(softplus_backward)


# --------------------------------------------------------------------------- registry
_SHAPES = ((7,), (3, 5), (2, 3, 4, 4))


def _away_from(values, kinks, gap=1e-2):
    """Move values that lie within ``gap`` of a kink by ``2 * gap``, so finite differences stay valid."""
    for kink in kinks:
        near = np.abs(values - kink) < gap
        values = np.where(near, values + np.where(values >= kink, 2 * gap, -2 * gap), values)
    return values


def _sampler(scale, kinks=(), extremes=()):
    def sample(rng, dtype):
        cases = []
        for shape in _SHAPES:
            u = _away_from(rng.normal(scale=scale, size=shape), kinks)
            cases.append(Sample((u.astype(dtype),), {}, f"normal(0, {scale}) {shape}"))
        if extremes:
            cases.append(Sample((np.array(extremes, dtype=dtype),), {}, "large |u|"))
        return cases
    return sample


def _register(name, forward, backward, oracle, sampler, torch_module, forbidden):
    register_layer(LayerSpec(
        name=name, family="activation", forward=forward, backward=backward, oracle=oracle,
        sampler=sampler, chapter="book/04-activations", torch_module=torch_module,
        forbidden=forbidden + ("cnncourse.scratch.activation",)))


_register("sigmoid", sigmoid_forward, sigmoid_backward, "torch.sigmoid",
          _sampler(3.0, extremes=(-60.0, -30.0, -12.5, -1.0, 1.0)), "torch.nn.Sigmoid",
          ("torch.sigmoid", "torch.nn.functional.sigmoid", "scipy.special.expit"))
_register("tanh", tanh_forward, tanh_backward, "torch.tanh",
          _sampler(2.0), "torch.nn.Tanh",
          ("torch.tanh", "torch.nn.functional.tanh"))
_register("relu", relu_forward, relu_backward, "torch.nn.functional.relu",
          _sampler(2.0, kinks=(0.0,)), "torch.nn.ReLU",
          ("torch.relu", "torch.nn.functional.relu"))
_register("relu6", relu6_forward, relu6_backward, "torch.nn.functional.relu6",
          _sampler(5.0, kinks=(0.0, 6.0)), "torch.nn.ReLU6",
          ("torch.nn.functional.relu6", "torch.nn.functional.hardtanh"))
_register("softplus", softplus_forward, softplus_backward, "cnncourse.oracles.softplus",
          _sampler(4.0, extremes=(-700.0, -50.0, -25.0, 25.0, 50.0, 700.0)), "torch.nn.Softplus",
          ("torch.nn.functional.softplus", "torch.logaddexp", "numpy.logaddexp"))
