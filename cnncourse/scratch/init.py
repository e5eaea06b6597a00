"""Random initialisation of weights, scaled so that signals neither vanish nor explode.

If the weights of a layer with :math:`n_{in}` inputs have variance :math:`\\sigma^2`, each output
is a sum of :math:`n_{in}` products and its variance is about :math:`n_{in}\\sigma^2` times the
input's. Choosing :math:`\\sigma^2 \\propto 1/n_{in}` keeps the variance of the activations the
same from layer to layer, so that a deep network starts in a regime where it can learn:

* **Glorot** (Xavier) initialisation balances the forward and the backward pass for symmetric
  activations (tanh): :math:`\\sigma^2 = 2 / (n_{in} + n_{out})`;
* **He** (Kaiming) initialisation compensates for ReLU, which zeroes half of its inputs and so
  halves the variance: :math:`\\sigma^2 = 2 / n_{in}`.

Each comes as a normal and a uniform distribution of the same variance (a uniform distribution
on :math:`[-a, a]` has variance :math:`a^2/3`).

Weights follow PyTorch's layout: a fully connected layer's weight is (out_features,
in_features) and a convolution's (out_channels, in_channels, kh, kw), so that
:math:`n_{in} = C_{in} k_h k_w` and :math:`n_{out} = C_{out} k_h k_w` (:func:`fans`).
"""

from __future__ import annotations

import math

import numpy as np

from cnncourse import _checks


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of the given shape.

    .. math:: n_{in} = \\text{shape}[1] \\prod_{k \\ge 2} \\text{shape}[k], \\quad
              n_{out} = \\text{shape}[0] \\prod_{k \\ge 2} \\text{shape}[k]

    (the same as PyTorch's ``torch.nn.init._calculate_fan_in_and_fan_out``).

    Args:
        shape: the weight's shape, at least 2D: (out, in) or (out, in, kh, kw, ...).
    """
    shape = _shape(shape)
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _shape(shape) -> tuple:
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}")
    shape = tuple(_checks.integer(s, "shape", minimum=1) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions (out, in, ...), got {shape}")
    return shape


def he_normal(shape, rng=None, dtype=np.float64) -> np.ndarray:
    """He (Kaiming) normal initialisation: :math:`w \\sim \\mathcal{N}(0,\\, 2/n_{in})`.

    For layers followed by a ReLU. Equals :func:`torch.nn.init.kaiming_normal_` with its default
    ``mode="fan_in", nonlinearity="relu"`` in distribution.

    Args:
        shape: the weight's shape (see :func:`fans`).
        rng: ``None``, an int seed or a :class:`numpy.random.Generator`.
        dtype: a float dtype.
    """
    fan_in, _ = fans(shape)
    rng = _checks.rng_from(rng, "rng")
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=_shape(shape)).astype(_checks.float_dtype(dtype))


def he_uniform(shape, rng=None, dtype=np.float64) -> np.ndarray:
    """He uniform initialisation: :math:`w \\sim \\mathcal{U}(-a, a)`, :math:`a = \\sqrt{6/n_{in}}`
    (variance :math:`2/n_{in}`). Arguments as :func:`he_normal`."""
    fan_in, _ = fans(shape)
    rng = _checks.rng_from(rng, "rng")
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=_shape(shape)).astype(_checks.float_dtype(dtype))


def glorot_normal(shape, rng=None, dtype=np.float64) -> np.ndarray:
    """Glorot (Xavier) normal initialisation: :math:`w \\sim \\mathcal{N}(0,\\, 2/(n_{in}+n_{out}))`.

    For layers followed by tanh or sigmoid, or by nothing. Arguments as :func:`he_normal`.
    """
    fan_in, fan_out = fans(shape)
    rng = _checks.rng_from(rng, "rng")
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=_shape(shape)).astype(_checks.float_dtype(dtype))


def glorot_uniform(shape, rng=None, dtype=np.float64) -> np.ndarray:
    """Glorot uniform initialisation: :math:`w \\sim \\mathcal{U}(-a, a)`,
    :math:`a = \\sqrt{6/(n_{in}+n_{out})}`. Arguments as :func:`he_normal`."""
    fan_in, fan_out = fans(shape)
    rng = _checks.rng_from(rng, "rng")
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=_shape(shape)).astype(_checks.float_dtype(dtype))
