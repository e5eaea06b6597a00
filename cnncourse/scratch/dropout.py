"""Dropout in NumPy, in its "inverted" form.

During training every activation is kept with probability ``p_keep`` and set to zero
otherwise; a dropped activation takes no part in the loss, so no gradient flows back through it.
At test time every unit is used. For the expected activation to be the same in both cases, the
kept activations are divided by ``p_keep`` during training (inverted dropout), and the network
is left unchanged at test time:

.. math:: y = \\frac{m \\odot x}{p_{keep}}, \\quad m_k \\sim \\mathrm{Bernoulli}(p_{keep}),
          \\qquad \\mathbb{E}[y] = x .

The course follows the slides and names the **keep** probability ``p_keep``. PyTorch's
:class:`torch.nn.Dropout` takes the **drop** probability ``p = 1 - p_keep``.
"""

from __future__ import annotations

import numpy as np

from cnncourse import _checks
from cnncourse.registry import LayerSpec, Sample, register_layer
from cnncourse.scratch.layer import Layer

CHAPTER = "book/05-training"


def _keep_probability(p_keep) -> float:
    return _checks.real(p_keep, "p_keep", minimum=0.0, maximum=1.0, open_minimum=True)


def masked_dropout_forward(x, mask, p_keep: float):
    """Dropout with a given mask: ``x * mask / p_keep``, and its cache.

    The deterministic core of :func:`dropout_forward`, useful to check the backward pass and to
    reproduce one particular draw.

    Args:
        x: input, any shape.
        mask: 0/1 (or boolean) array of the shape of ``x``; 1 keeps the unit.
        p_keep: the keep probability the mask was drawn with, in (0, 1].

    Returns:
        ``(out, cache)``, ``out`` of the shape and dtype of ``x``.
    """
    x = _checks.as_float_array(x, "x")
    p_keep = _keep_probability(p_keep)
    mask = _checks.as_array(mask, "mask")
    _checks.same_shape(x, mask, "x", "mask")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold only 0 and 1 (or False and True)")
    scale = (mask / p_keep).astype(x.dtype, copy=False)
    return x * scale, (scale,)


def masked_dropout_backward(dout, cache):
    """Gradient of :func:`masked_dropout_forward` with respect to ``x``: ``dout * mask / p_keep``.

    Dropped units get a zero gradient: the same mask serves both passes.
    """
    (scale,) = cache
    if scale is None:  # evaluation mode: the identity
        return np.array(dout, copy=True)
    return np.asarray(dout, dtype=scale.dtype) * scale


def dropout(x, p_keep: float, training: bool = True, rng=None):
    """Inverted dropout: keep each entry with probability ``p_keep`` and scale it by 1/p_keep.

    .. math:: y = \\frac{m \\odot x}{p_{keep}}, \\quad m_k \\sim \\mathrm{Bernoulli}(p_{keep})

    Args:
        x: input, any shape.
        p_keep: the keep probability, in (0, 1] (PyTorch's ``p`` is ``1 - p_keep``).
        training: ``False`` returns (a copy of) ``x`` unchanged, as at test time.
        rng: ``None``, an int seed or a :class:`numpy.random.Generator` for the mask.

    Shape:
        Output: the shape of ``x``.
    """
    return dropout_forward(x, p_keep, training, rng)[0]


def dropout_forward(x, p_keep: float, training: bool = True, rng=None):
    """:func:`dropout` that also returns its cache (the mask) for :func:`dropout_backward`."""
    x = _checks.as_float_array(x, "x")
    p_keep = _keep_probability(p_keep)
    training = _checks.boolean(training, "training")
    rng = _checks.rng_from(rng, "rng")
    if not training or p_keep == 1.0:
        return x.copy(), (None,)
    mask = rng.random(x.shape) < p_keep
    return masked_dropout_forward(x, mask, p_keep)


def dropout_backward(dout, cache):
    """Gradient of :func:`dropout_forward`: the upstream gradient through the same mask."""
    return masked_dropout_backward(dout, cache)


class Dropout(Layer):
    """Inverted dropout layer with keep probability ``p_keep``.

    In training mode each call draws a new mask (from ``rng``); in evaluation mode
    (``layer.eval()``) the layer is the identity.

    Args:
        p_keep: the keep probability, in (0, 1]; PyTorch's ``nn.Dropout(p=1 - p_keep)``.
        rng: ``None``, an int seed or a :class:`numpy.random.Generator`.

    Shape:
        Input and output: any shape, the same.
    """

    def __init__(self, p_keep: float = 0.5, rng=None):
        self.p_keep = _keep_probability(p_keep)
        self.rng = _checks.rng_from(rng, "rng")
        self._cache = None

    def forward(self, x):
        out, self._cache = dropout_forward(x, self.p_keep, self.training, self.rng)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return dropout_backward(dout, self._cache)

    def extra_repr(self) -> str:
        return f"p_keep={self.p_keep:g}"


def _sample_masked_dropout(rng, dtype):
    cases = []
    for shape, p_keep in [((4, 5), 0.5), ((2, 3, 4, 4), 0.8), ((7,), 0.3), ((3, 2), 1.0)]:
        x = rng.normal(size=shape).astype(dtype)
        mask = rng.random(shape) < p_keep
        cases.append(Sample((x, mask), {"p_keep": p_keep}, f"shape={shape} p_keep={p_keep}"))
    return cases


register_layer(LayerSpec(
    name="dropout", family="dropout", forward=masked_dropout_forward,
    backward=masked_dropout_backward, oracle="cnncourse.oracles.masked_dropout",
    sampler=_sample_masked_dropout, input_names=("x", "mask"), chapter=CHAPTER,
    forbidden=("torch.nn.functional.dropout", "torch.dropout"), differentiable=(0,)))
