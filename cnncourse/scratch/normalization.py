"""Batch normalisation in NumPy, in the two forms the course compares.

Batch normalisation standardises every feature over the mini-batch and then lets the network
rescale and shift it with learned parameters :math:`\\gamma, \\beta`:

.. math:: \\mathrm{BN}(x) = \\gamma \\frac{x - \\bar{x}}{\\sqrt{s^2 + \\varepsilon}} + \\beta,
          \\qquad \\bar{x} = \\frac{1}{m}\\sum x, \\quad s^2 = \\frac{1}{m}\\sum (x - \\bar{x})^2 .

The two forms differ in what counts as one feature, that is, over which entries the mean and
variance are taken and which entries share a :math:`\\gamma, \\beta`:

* :func:`batch_norm_forward` (**per channel**, what PyTorch's ``BatchNorm2d`` and every library
  do): for an (N, C, H, W) input, one mean and variance per channel over the
  :math:`m = N H W` values of that channel in the batch, and one :math:`\\gamma_c, \\beta_c` per
  channel: :math:`2C` parameters. All positions of a feature map share the statistics, as they
  share the convolution kernel that made it.
* :func:`batch_norm_per_pixel_forward` (**per pixel**, as the slides write it): a mean and
  variance for every position :math:`(c, h, w)` over the :math:`m = N` samples of the batch only,
  and a :math:`\\gamma, \\beta` per position: :math:`2CHW` parameters. Nothing is shared
  between positions, and each statistic rests on only N numbers.

For a (N, D) input of a fully connected layer both forms are the same.

At test time there is no batch to average over (and the output must not depend on the other
images), so both use running estimates of the mean and variance collected during training:

.. math:: \\hat{\\mu} \\leftarrow (1 - \\text{momentum})\\,\\hat{\\mu} + \\text{momentum}\\,\\bar{x},
          \\qquad
          \\hat{\\sigma}^2 \\leftarrow (1 - \\text{momentum})\\,\\hat{\\sigma}^2
          + \\text{momentum}\\,\\frac{m}{m-1} s^2 ,

exactly as PyTorch does: the running variance uses the unbiased estimate, the normalisation the
biased one.
"""

from __future__ import annotations

import numpy as np

from cnncourse import _checks
from cnncourse.registry import LayerSpec, Sample, register_layer
from cnncourse.scratch.layer import Layer, Parameter

CHAPTER = "book/05-training"


# --------------------------------------------------------------------------- shared core
def _prepare(x, gamma, beta, running_mean, running_var, training, momentum, eps, per_channel):
    x = _checks.as_float_array(x, "x", ndim=(2, 3, 4, 5) if per_channel else None)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and at least one feature axis, got shape {x.shape}")
    training = _checks.boolean(training, "training")
    momentum = _checks.real(momentum, "momentum", minimum=0.0, maximum=1.0)
    eps = _checks.real(eps, "eps", minimum=0.0, open_minimum=True)
    if per_channel:
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (x.shape[1],)
        broadcast = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    else:
        axes = (0,)
        shape = x.shape[1:]
        broadcast = (1,) + x.shape[1:]
    gamma = _checks.as_float_array(gamma, "gamma")
    beta = _checks.as_float_array(beta, "beta")
    for name, array in (("gamma", gamma), ("beta", beta)):
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape} for x of shape {x.shape}, got {array.shape}")
    for name, array in (("running_mean", running_mean), ("running_var", running_var)):
        if array is None:
            continue
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            raise TypeError(f"{name} must be a float numpy array (it is updated in place) or None")
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape} for x of shape {x.shape}, got {array.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("running_mean and running_var are needed when training is False")
    return x, gamma, beta, training, momentum, eps, axes, broadcast


def _normalize_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                       per_channel):
    x, gamma, beta, training, momentum, eps, axes, broadcast = _prepare(
        x, gamma, beta, running_mean, running_var, training, momentum, eps, per_channel)
    dtype = x.dtype
    if training:
        m = x.size // int(np.prod(broadcast))
        if m < 2:
            raise ValueError(f"batch normalisation needs more than one value per feature when "
                             f"training, got x of shape {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = np.mean(centred * centred, axis=axes, keepdims=True)
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean.reshape(running_mean.shape)
        if running_var is not None:
            running_var *= 1.0 - momentum
            running_var += momentum * (m / (m - 1)) * var.reshape(running_var.shape)
    else:
        mean = running_mean.reshape(broadcast).astype(dtype, copy=False)
        var = running_var.reshape(broadcast).astype(dtype, copy=False)
        centred = x - mean
    inv_std = (1.0 / np.sqrt(var + eps)).astype(dtype, copy=False)
    x_hat = centred * inv_std
    g = gamma.reshape(broadcast).astype(dtype, copy=False)
    out = x_hat * g + beta.reshape(broadcast).astype(dtype, copy=False)
    cache = (x_hat, inv_std, g, axes, training, gamma.dtype)
    return out, cache


def _normalize_backward(dout, cache):
    x_hat, inv_std, g, axes, training, param_dtype = cache
    dout = np.asarray(dout, dtype=x_hat.dtype)
    dbeta = dout.sum(axis=axes).astype(param_dtype, copy=False)
    dgamma = (dout * x_hat).sum(axis=axes).astype(param_dtype, copy=False)
    dx_hat = dout * g
    if not training:  # the statistics are constants
        return dx_hat * inv_std, dgamma, dbeta
    m = x_hat.size // inv_std.size
    dx = (inv_std / m) * (m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)
                          - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True))
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------- per channel
def batch_norm(x, gamma, beta, eps: float = 1e-5):
    """Batch normalisation per channel of a batch, with the batch's own statistics.

    .. math:: y_{n c \\dots} = \\gamma_c \\frac{x_{n c \\dots} - \\bar{x}_c}
              {\\sqrt{s_c^2 + \\varepsilon}} + \\beta_c

    with :math:`\\bar{x}_c, s_c^2` the mean and (biased) variance of channel :math:`c` over the
    batch and every spatial position. See :func:`batch_norm_forward` for running statistics and
    evaluation mode.

    Shape:
        x: (N, C), (N, C, L) or (N, C, H, W); gamma, beta: (C,); output: the shape of x.
    """
    return batch_norm_forward(x, gamma, beta, eps=eps)[0]


def batch_norm_forward(x, gamma, beta, running_mean=None, running_var=None,
                       training: bool = True, momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation per channel, as :func:`torch.nn.functional.batch_norm`.

    In training mode (``training=True``) the batch is normalised with its own per-channel mean
    and biased variance, and ``running_mean`` / ``running_var`` (when given) are updated in place:

    .. math:: \\hat{\\mu} \\leftarrow (1-\\text{momentum})\\hat{\\mu} + \\text{momentum}\\,\\bar{x},
              \\quad
              \\hat{\\sigma}^2 \\leftarrow (1-\\text{momentum})\\hat{\\sigma}^2
              + \\text{momentum}\\,\\tfrac{m}{m-1} s^2

    with :math:`m` the number of values per channel (N H W). In evaluation mode the running
    estimates replace the batch statistics, so every sample is normalised independently.

    Args:
        x: input, (N, C) or (N, C, ...).
        gamma, beta: scale and shift, (C,).
        running_mean, running_var: float arrays of shape (C,), updated in place in training
            mode; needed in evaluation mode; ``None`` to keep no running statistics.
        training: use the batch statistics (and update the running ones).
        momentum: weight of the new batch in the running estimates, in [0, 1].
        eps: added to the variance, > 0.

    Returns:
        ``(out, cache)``, ``out`` of the shape and dtype of ``x``.
    """
    return _normalize_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                              per_channel=True)


def batch_norm_backward(dout, cache):
    """Gradients of :func:`batch_norm_forward` (or the per-pixel form).

    In training mode the mean and variance depend on every input, and the chain rule through
    them gives, per feature, with :math:`\\hat{x} = (x - \\bar{x})/\\sqrt{s^2+\\varepsilon}` and
    :math:`g = \\gamma \\, \\partial L / \\partial y`:

    .. math:: \\frac{\\partial L}{\\partial x} = \\frac{1}{m\\sqrt{s^2+\\varepsilon}}
              \\Big(m\\, g - \\sum g - \\hat{x} \\sum g\\, \\hat{x}\\Big),
              \\quad
              \\frac{\\partial L}{\\partial \\gamma} = \\sum \\frac{\\partial L}{\\partial y}\\hat{x},
              \\quad
              \\frac{\\partial L}{\\partial \\beta} = \\sum \\frac{\\partial L}{\\partial y}

    (sums over the :math:`m` values of the feature). In evaluation mode the statistics are
    constants and :math:`\\partial L/\\partial x = g / \\sqrt{\\hat{\\sigma}^2+\\varepsilon}`.

    Returns:
        ``(dx, dgamma, dbeta)``.
    """
    return _normalize_backward(dout, cache)


# --------------------------------------------------------------------------- per pixel
def batch_norm_per_pixel_forward(x, gamma, beta, running_mean=None, running_var=None,
                                 training: bool = True, momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation per pixel, as the slides write it.

    .. math:: y_{i j} = \\gamma_j \\frac{x_{i j} - \\bar{x}_j}{\\sqrt{s_j^2 + \\varepsilon}} + \\beta_j,
              \\quad \\bar{x}_j = \\frac{1}{N}\\sum_{i=1}^{N} x_{ij},
              \\quad s_j^2 = \\frac{1}{N}\\sum_{i=1}^{N} (x_{ij} - \\bar{x}_j)^2

    for every sample :math:`i` of the batch and every position :math:`j = (c, h, w)`. The
    difference with :func:`batch_norm_forward`: here each of the C·H·W positions has its own
    statistics, taken over the N samples only, and its own :math:`\\gamma_j, \\beta_j` (2·C·H·W
    parameters instead of 2·C); nothing is shared across the positions of a feature map. For
    an (N, D) input the two forms coincide.

    Args: as :func:`batch_norm_forward`, with ``gamma``, ``beta``, ``running_mean`` and
        ``running_var`` of shape ``x.shape[1:]``.

    Returns:
        ``(out, cache)``; the backward pass is :func:`batch_norm_per_pixel_backward`.
    """
    return _normalize_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                              per_channel=False)


def batch_norm_per_pixel_backward(dout, cache):
    """Gradients of :func:`batch_norm_per_pixel_forward`: ``(dx, dgamma, dbeta)``.

    The formulas of :func:`batch_norm_backward`, with sums over the batch axis only.
    """
    return _normalize_backward(dout, cache)


# --------------------------------------------------------------------------- layers
class _BatchNorm(Layer):
    """Batch normalisation per channel over ``num_features`` channels (see the subclasses)."""

    allowed_ndim: tuple = ()
    buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype=np.float64):
        self.num_features = _checks.integer(num_features, "num_features", minimum=1)
        self.eps = _checks.real(eps, "eps", minimum=0.0, open_minimum=True)
        self.momentum = _checks.real(momentum, "momentum", minimum=0.0, maximum=1.0)
        dtype = _checks.float_dtype(dtype)
        self.gamma = Parameter(np.ones(num_features, dtype=dtype), "gamma")
        self.beta = Parameter(np.zeros(num_features, dtype=dtype), "beta")
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)
        self._cache = None

    def forward(self, x):
        x = _checks.as_float_array(x, "x")
        if x.ndim not in self.allowed_ndim:
            wanted = " or ".join(f"{n}D" for n in self.allowed_ndim)
            raise ValueError(f"{type(self).__name__} expects a {wanted} input, got shape {x.shape}")
        out, self._cache = batch_norm_forward(x, self.gamma.data, self.beta.data, self.running_mean,
                                              self.running_var, training=self.training,
                                              momentum=self.momentum, eps=self.eps)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        dx, dgamma, dbeta = batch_norm_backward(dout, self._cache)
        self.gamma.grad += dgamma
        self.beta.grad += dbeta
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation per channel of (N, C, H, W) feature maps, as :class:`torch.nn.BatchNorm2d`.

    ``gamma`` starts at 1 and ``beta`` at 0; ``running_mean`` at 0 and ``running_var`` at 1.
    In training mode (``layer.train()``) it normalises with the batch statistics and updates the
    running ones; in evaluation mode (``layer.eval()``) it uses the running ones.

    Args:
        num_features: the number of channels C.
        eps: added to the variance.
        momentum: weight of each new batch in the running statistics.
        dtype: dtype of the parameters and running statistics.

    Shape:
        Input and output: (N, C, H, W).
    """

    allowed_ndim = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features (or (N, C, L) sequences), as :class:`torch.nn.BatchNorm1d`.

    See :class:`BatchNorm2d` for the arguments.

    Shape:
        Input and output: (N, C) or (N, C, L).
    """

    allowed_ndim = (2, 3)


# --------------------------------------------------------------------------- registry
def _sample_batch_norm(rng, dtype, per_channel):
    cases = []
    for shape, eps in [((4, 3), 1e-5), ((5, 2, 3, 3), 1e-5), ((2, 3, 4, 5), 1e-3), ((3, 4, 6), 1e-5),
                       ((8, 1, 2, 2), 0.1)]:
        x = (rng.normal(size=shape) * 2.0 + 0.5).astype(dtype)
        pshape = (shape[1],) if per_channel else shape[1:]
        gamma = rng.normal(size=pshape).astype(dtype)
        beta = rng.normal(size=pshape).astype(dtype)
        cases.append(Sample((x, gamma, beta), {"eps": eps}, f"shape={shape} eps={eps}"))
    return cases


register_layer(LayerSpec(
    name="batch_norm", family="normalization", forward=batch_norm_forward,
    backward=batch_norm_backward, oracle="cnncourse.oracles.batch_norm",
    sampler=lambda rng, dtype: _sample_batch_norm(rng, dtype, per_channel=True),
    input_names=("x", "gamma", "beta"), chapter=CHAPTER,
    forbidden=("torch.nn.functional.batch_norm", "torch.batch_norm")))

register_layer(LayerSpec(
    name="batch_norm_per_pixel", family="normalization", forward=batch_norm_per_pixel_forward,
    backward=batch_norm_per_pixel_backward, oracle="cnncourse.oracles.batch_norm_per_pixel",
    sampler=lambda rng, dtype: _sample_batch_norm(rng, dtype, per_channel=False),
    input_names=("x", "gamma", "beta"), chapter=CHAPTER,
    forbidden=("torch.nn.functional.batch_norm", "torch.batch_norm")))
