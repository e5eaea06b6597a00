"""Numerical gradients by central differences, and the checks built on them.

For a function ``f`` with array output and a fixed upstream gradient ``dout``, the gradient of the
scalar ``L(x) = sum(f(x) * dout)`` is what a backward pass returns. Each entry is estimated by

.. math:: \\frac{\\partial L}{\\partial x_i} \\approx \\frac{L(x + h e_i) - L(x - h e_i)}{2h},

whose error is of order :math:`h^2`: with ``h = 1e-5`` in float64 a correct backward pass agrees
to a relative error of about 1e-8 or better, a wrong one to 1e-2 or worse.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from cnncourse import _checks


def rel_error(a, b, floor: float = 1e-30) -> float:
    """Relative error of two arrays as a whole: ``||a - b|| / (||a|| + ||b||)`` (Euclidean norms).

    Taken over the whole array rather than entry by entry, so that entries whose true value is
    zero (a ReLU's inactive inputs, a max pool's losers) and which finite differences give as
    1e-12 do not count as large relative errors. 0 for two equal arrays, 1 for ``a = -b``.
    """
    a = _checks.as_array(a, "a", allow_empty=True).astype(np.float64)
    b = _checks.as_array(b, "b", allow_empty=True).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.linalg.norm(a) + np.linalg.norm(b)), floor)
    return float(np.linalg.norm(a - b) / scale)


def numerical_gradient(f: Callable, x: np.ndarray, dout=None, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    ``x`` is changed in place one entry at a time and restored, so ``f`` may close over it (that
    is how the gradient with respect to a weight is taken while ``f`` is a function of the input).
    ``dout`` defaults to ones (the gradient of ``sum(f(x))``); a scalar ``f`` is allowed.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError("x must be a floating-point numpy array (it is perturbed in place)")
    h = _checks.real(h, "h", minimum=0.0, open_minimum=True)
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x = x.reshape(-1)  # a view: writing into it writes into x
    if not np.shares_memory(flat_x, x):
        raise ValueError("x must be contiguous so that it can be perturbed in place")
    weights = None if dout is None else np.asarray(dout, dtype=np.float64)
    flat_grad = grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = np.array(f(x), dtype=np.float64, copy=True)
        flat_x[i] = old - h
        minus = np.array(f(x), dtype=np.float64, copy=True)
        flat_x[i] = old
        diff = plus - minus if weights is None else (plus - minus) * weights
        flat_grad[i] = diff.sum() / (2 * h)
    return grad


def check_gradients(forward: Callable, backward: Callable, inputs: Sequence[np.ndarray],
                    kwargs: dict | None = None, dout=None, wrt: Sequence[int] | None = None,
                    h: float = 1e-5, seed: int = 0) -> list[float]:
    """Compare a backward pass with numerical gradients; return one relative error per input.

    ``forward(*inputs, **kwargs)`` returns ``(out, cache)`` and ``backward(dout, cache)`` the
    gradients (one array per input, or a single array for a single input). ``dout`` defaults to
    a random upstream gradient (seeded), which exercises every output. ``wrt`` selects the inputs
    to check (default: all).
    """
    kwargs = dict(kwargs or {})
    inputs = [np.array(a, dtype=np.float64, copy=True) for a in inputs]
    out, cache = forward(*inputs, **kwargs)
    if dout is None:
        dout = np.random.default_rng(seed).normal(size=np.shape(out))
    grads = backward(np.asarray(dout, dtype=np.float64), cache)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    wrt = range(len(inputs)) if wrt is None else wrt
    errors = []
    for index in wrt:
        def f(_, index=index):
            return forward(*inputs, **kwargs)[0]
        numeric = numerical_gradient(f, inputs[index], dout, h=h)
        errors.append(rel_error(grads[index], numeric))
    return errors
