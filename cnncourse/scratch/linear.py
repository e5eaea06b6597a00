"""Fully connected (linear) layers and flattening, in NumPy.

A fully connected layer connects every input unit to every output unit: output ``o`` is a
weighted sum of all ``d_in`` inputs plus a bias. A CNN's last layers are usually fully
connected (AlexNet's classifier has three); :func:`flatten` turns the stack of feature maps of
the convolutional part, ``(N, C, H, W)``, into one vector per image, ``(N, C H W)``, that they
can take.

The weight has PyTorch's layout ``(out_features, in_features)``, so ``y = x w^T + b``.
"""

from __future__ import annotations

import math

import numpy as np

from cnncourse import _checks
from cnncourse.registry import LayerSpec, Sample, register_layer
from cnncourse.scratch.layer import Layer, Parameter


# --------------------------------------------------------------------------- linear
def _linear_arguments(x, w, b):
    x = _checks.as_float_array(x, "x")
    w = _checks.as_float_array(w, "w", ndim=2)
    if x.ndim < 1:
        raise ValueError(f"x must have at least 1 dimension (..., in_features), got shape {x.shape}")
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[-1]} features (shape {x.shape}) but w expects "
                         f"{w.shape[1]} (shape {w.shape}, laid out (out_features, in_features))")
    if b is not None:
        b = _checks.as_float_array(b, "b", ndim=1)
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},), one bias per output; got {b.shape}")
    return x, w, b


def linear(x, w, b=None) -> np.ndarray:
    r"""Fully connected layer: every output is a weighted sum of all inputs plus a bias.

    .. math:: y_{n,o} = b_o + \sum_{i=1}^{d_{in}} w_{o,i}\, x_{n,i}, \qquad y = x W^\top + b

    Args:
        x: input, shape ``(..., in_features)``; every leading axis is a batch axis.
        w: weights, shape ``(out_features, in_features)``.
        b: biases, shape ``(out_features,)``, optional.

    Shape:
        - Input: :math:`(*, d_{in})`
        - Output: :math:`(*, d_{out})`

    Returns:
        ``y`` with dtype ``numpy.result_type(x, w, b)``.
    """
    x, w, b = _linear_arguments(x, w, b)
    y = x @ w.T
    if b is not None:
        y = y + b
    return y


def linear_forward(x, w, b=None):
    """Fully connected layer and its cache ``(x, w, has_bias)``. Returns ``(y, cache)``."""
    x, w, b = _linear_arguments(x, w, b)
    return linear(x, w, b), (x, w, b is not None)


def linear_backward(dout, cache):
    r"""Gradients of the fully connected layer.

    .. math::
        \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} W, \qquad
        \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial y}\Big)^\top x, \qquad
        \frac{\partial L}{\partial b} = \sum_n \frac{\partial L}{\partial y_n}

    with the batch axes flattened into one (the sums run over every sample).

    Returns:
        ``(dx, dw, db)``; ``db`` is ``None`` when the forward pass had no bias.
    """
    x, w, has_bias = cache
    dout = _checks.as_float_array(dout, "dout")
    expected = x.shape[:-1] + (w.shape[0],)
    if dout.shape != expected:
        raise ValueError(f"dout must have the output's shape {expected}, got {dout.shape}")
    rows = dout.reshape(-1, w.shape[0])
    dx = dout @ w
    dw = rows.T @ x.reshape(-1, w.shape[1])
    db = rows.sum(axis=0) if has_bias else None
    return dx, dw, db


# --------------------------------------------------------------------------- flatten
def flatten(x) -> np.ndarray:
    r"""Flatten every axis but the first: ``(N, d_1, d_2, ...) -> (N, d_1 d_2 \cdots)``.

    Entries keep their row-major (C) order, as in ``torch.flatten(x, start_dim=1)``. Unlike
    PyTorch, which returns a view when it can, the result is a new array: changing it never
    changes ``x``.

    Shape:
        - Input: :math:`(N, *)` with at least 2 axes
        - Output: :math:`(N, \prod *)`
    """
    x = _checks.as_float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (N, ...), got shape {x.shape}")
    return x.reshape(x.shape[0], -1).copy()


def flatten_forward(x):
    """Flatten and its cache (the input's shape). Returns ``(y, cache)``."""
    y = flatten(x)
    return y, np.shape(x)


def flatten_backward(dout, cache) -> np.ndarray:
    """Gradient of flatten: ``dout`` put back into the input's shape."""
    shape = cache
    dout = _checks.as_float_array(dout, "dout", ndim=2)
    expected = (shape[0], math.prod(shape[1:]))
    if dout.shape != expected:
        raise ValueError(f"dout must have the output's shape {expected}, got {dout.shape}")
    return dout.reshape(shape).copy()


# --------------------------------------------------------------------------- layers
class Linear(Layer):
    r"""Fully connected layer with parameters ``weight`` ``(out_features, in_features)`` and ``bias``.

    Both start uniform in :math:`[-1/\sqrt{d_{in}},\ 1/\sqrt{d_{in}}]`, the distribution of
    PyTorch's ``nn.Linear``; :mod:`cnncourse.scratch.init` has the He and Glorot schemes.

    Args:
        in_features, out_features: :math:`d_{in}` and :math:`d_{out}`.
        bias: whether the layer adds a bias.
        rng: ``None``, an int seed or a :class:`numpy.random.Generator`.
        dtype: float dtype of the parameters.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None,
                 dtype=np.float64):
        self.in_features = _checks.integer(in_features, "in_features", minimum=1)
        self.out_features = _checks.integer(out_features, "out_features", minimum=1)
        bias = _checks.boolean(bias, "bias")
        rng = _checks.rng_from(rng, "rng")
        dtype = _checks.float_dtype(dtype)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, size=shape).astype(dtype), "weight")
        self.bias = (Parameter(rng.uniform(-bound, bound, size=self.out_features).astype(dtype), "bias")
                     if bias else None)
        self._cache = None

    def forward(self, x):
        bias = None if self.bias is None else self.bias.data
        out, self._cache = linear_forward(x, self.weight.data, bias)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        dx, dw, db = linear_backward(dout, self._cache)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Layer):
    """Layer applying :func:`flatten`: ``(N, C, H, W) -> (N, C H W)``."""

    def __init__(self):
        self._cache = None

    def forward(self, x):
        out, self._cache = flatten_forward(x)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return flatten_backward(dout, self._cache)


# --------------------------------------------------------------------------- registry
def _linear_samples(rng, dtype):
    cases = []
    for x_shape, out_features in (((4, 5), 3), ((2, 3, 6), 4), ((1, 1), 1), ((7, 10), 2), ((5,), 3)):
        x = rng.normal(size=x_shape)
        w = rng.normal(size=(out_features, x_shape[-1])) / math.sqrt(x_shape[-1])
        b = rng.normal(size=out_features)
        cases.append(Sample((x.astype(dtype), w.astype(dtype), b.astype(dtype)), {},
                            f"x {x_shape}, w {w.shape}"))
    return cases


def _flatten_samples(rng, dtype):
    return [Sample((rng.normal(size=shape).astype(dtype),), {}, str(shape))
            for shape in ((2, 3, 4, 5), (4, 6), (3, 2, 5), (1, 1, 1, 1))]


register_layer(LayerSpec(
    name="linear", family="linear", forward=linear_forward, backward=linear_backward,
    oracle="torch.nn.functional.linear", sampler=_linear_samples, input_names=("x", "w", "b"),
    chapter="book/04-activations", torch_module="torch.nn.Linear",
    forbidden=("torch.nn.functional.linear", "torch.addmm", "cnncourse.scratch.linear")))
register_layer(LayerSpec(
    name="flatten", family="linear", forward=flatten_forward, backward=flatten_backward,
    oracle="cnncourse.oracles.flatten", sampler=_flatten_samples, chapter="book/04-activations",
    torch_module="torch.nn.Flatten", forbidden=("torch.flatten", "cnncourse.scratch.linear")))
