"""Every layer of :mod:`cnncourse.scratch` again, written with PyTorch tensor operations.

The functions take and return :class:`torch.Tensor` objects on any device (CPU, CUDA) and are
differentiated by autograd. They keep the argument names and the numbers of their NumPy
counterparts in :mod:`cnncourse.scratch` (``conv2d(x, w, b, stride, padding, dilation)``,
``dropout(x, p_keep)``, ...), which one parametrised test checks for every registered layer,
together with PyTorch's own routines (``tests/test_nn_parity.py``).

Each function writes the layer's formula with elementary tensor operations; none calls the
PyTorch routine that computes the same layer (``relu`` is ``torch.maximum(u, 0)``, not
``torch.relu``). Two layers have the backward pass the scratch chapters derive, written by hand:
:func:`conv2d` and :func:`max_pool2d` run the :class:`torch.autograd.Function` classes of
:mod:`cnncourse.nn.autograd`; :func:`relu` and :func:`relu6` have a one-line one there too, so
that their gradient at a kink is 0, as PyTorch's. For every other layer autograd differentiates
the formula.

Arguments are checked as in the scratch functions: a wrong type raises :class:`TypeError`, a
wrong value :class:`ValueError`, and the message names the argument.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from cnncourse import _checks
from cnncourse.nn.autograd import (ClampFunction, Conv2dFunction, MaxPool2dFunction, max_pool2d_forward,
                                   step)
from cnncourse.scratch.convolution import _layer_arguments
from cnncourse.scratch.losses import CLIP
from cnncourse.scratch.pooling import _divisor, _pool_arguments

__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
    "sigmoid", "tanh", "relu", "relu6", "softplus",
    "linear", "flatten",
    "softmax", "cross_entropy", "softmax_cross_entropy", "mse_loss",
    "batch_norm", "batch_norm_per_pixel", "dropout", "masked_dropout",
]

REDUCTIONS = ("mean", "sum", "none")
"""How a loss turns the per-element losses into its result, as in ``torch.nn``."""


# --------------------------------------------------------------------------- argument checks
def _tensor(value, name: str, ndim=None, floating: bool = True) -> torch.Tensor:
    """``value`` if it is a tensor (of floating dtype, with an allowed number of dimensions)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            wanted = " or ".join(f"{n}D" for n in allowed)
            raise ValueError(f"{name} must be a {wanted} tensor, got shape {tuple(value.shape)}")
    return value


def _same_device(reference: torch.Tensor, reference_name: str, **others) -> None:
    for name, tensor in others.items():
        if tensor is not None and tensor.device != reference.device:
            raise ValueError(f"{name} is on {tensor.device} but {reference_name} is on "
                             f"{reference.device}: move them to the same device")


def _common_dtype(*tensors) -> torch.dtype:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _shape_only(shape) -> np.ndarray:
    """A NumPy array of ``shape`` that takes no memory: the scratch layers' argument checks read
    shapes, so the geometry of a layer and its error messages come from one place."""
    return np.broadcast_to(np.zeros((), dtype=np.float64), tuple(shape))


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    _checks.check_choice(reduction, "reduction", REDUCTIONS)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


# --------------------------------------------------------------------------- convolution
def conv2d(x, w, b=None, stride=1, padding=0, dilation=1) -> torch.Tensor:
    r"""2D convolutional layer (a cross-correlation plus a bias) by im2col and a matrix product.

    .. math::
        y(n, o, i, j) = b(o) + \sum_{r=0}^{C-1} \sum_{u=0}^{K_H-1} \sum_{v=0}^{K_W-1}
        w(o, r, u, v)\, x_p(n, r,\, i s_1 + u d_1,\, j s_2 + v d_2)

    with :math:`x_p` the zero-padded input, :math:`s` the stride and :math:`d` the dilation. The
    windows of the padded input are copied into the columns of a matrix (im2col, through a
    strided view) and the filters, as the rows of an ``F x C KH KW`` matrix, multiply all the
    columns in one product. The backward pass is the hand-written one of
    :class:`cnncourse.nn.autograd.Conv2dFunction`. The same numbers as
    :func:`cnncourse.scratch.convolution.conv2d` and :func:`torch.nn.functional.conv2d`.

    Args:
        x: input, (N, C, H, W), or (C, H, W) for one image.
        w: filters, (F, C, KH, KW).
        b: one bias per filter, (F,), or None.
        stride: step of the kernel, an int or a pair (rows, columns), >= 1.
        padding: zero padding, an int or a pair >= 0, or ``"valid"`` (none) or ``"same"`` (as
            large an output as the input; stride 1 only; an odd total puts the extra pixel after).
        dilation: spacing of the kernel taps, an int or a pair >= 1.

    Shape:
        - x: (N, C, H, W) or (C, H, W)
        - out: (N, F, H_out, W_out) or (F, H_out, W_out), with
          :math:`H_{out} = \lfloor (H + p_{top} + p_{bottom} - d_1 (K_H - 1) - 1) / s_1 \rfloor + 1`
          and likewise :math:`W_{out}`.

    Returns:
        The output, on the device of ``x``, in the promoted dtype of ``x``, ``w``, ``b``.
    """
    x = _tensor(x, "x", (3, 4))
    w = _tensor(w, "w", 4)
    if b is not None:
        b = _tensor(b, "b", 1)
    _same_device(x, "x", w=w, b=b)
    _, _, _, g = _layer_arguments(_shape_only(x.shape), _shape_only(w.shape),
                                  None if b is None else _shape_only(b.shape), stride, padding, dilation)
    dtype = _common_dtype(x, w, b)
    x4 = x.unsqueeze(0) if g.single else x
    out = Conv2dFunction.apply(x4.to(dtype), w.to(dtype), None if b is None else b.to(dtype), g)
    return out.squeeze(0) if g.single else out


# --------------------------------------------------------------------------- pooling
def max_pool2d(x, kernel_size, stride=None, padding=0) -> torch.Tensor:
    r"""2D max pooling over the last two axes, with the hand-written backward pass.

    .. math::
        y_{n,c,i,j} = \max_{0 \le u < k_H,\; 0 \le v < k_W}
                      \tilde x_{n,c,\,i s_1 - p_1 + u,\; j s_2 - p_2 + v}

    with :math:`\tilde x` the input padded with :math:`-\infty`. The forward pass is a running
    maximum over the :math:`k_H k_W` taps; when a gradient is wanted it also records the winner of
    every window, the first maximum in row-major order, to which the backward pass of
    :class:`cnncourse.nn.autograd.MaxPool2dFunction` sends the gradient, as in PyTorch.

    Args:
        x: input, (N, C, H, W) or (C, H, W).
        kernel_size: window size, an int or a pair.
        stride: step of the window, an int or a pair; default ``kernel_size``.
        padding: implicit :math:`-\infty` padding on each side, at most half the window.

    Shape:
        - Input: (N, C, H, W) or (C, H, W)
        - Output: (N, C, H_out, W_out) or (C, H_out, W_out),
          :math:`H_{out} = \lfloor (H + 2 p_1 - k_H) / s_1 \rfloor + 1` (and so for W).
    """
    x = _tensor(x, "x", (3, 4))
    _, kernel, strides, pads, out_size = _pool_arguments(_shape_only(x.shape), kernel_size, stride, padding)
    if torch.is_grad_enabled() and x.requires_grad:
        return MaxPool2dFunction.apply(x, kernel, strides, pads, out_size)
    return max_pool2d_forward(x, kernel, strides, pads, out_size)  # no gradient: no winners to keep


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True,
               divisor_override=None) -> torch.Tensor:
    r"""2D average pooling over the last two axes.

    .. math::
        y_{n,c,i,j} = \frac{1}{D_{ij}} \sum_{u=0}^{k_H-1} \sum_{v=0}^{k_W-1}
                      x_{n,c,\,i s_1 - p_1 + u,\; j s_2 - p_2 + v}

    with zero padding; :math:`D_{ij} = k_H k_W` (``count_include_pad=True``) or the number of the
    window's pixels inside the input (``False``). The windows are a strided view of the padded
    input (``Tensor.unfold`` twice), summed over their two window axes.

    Args:
        x: input, (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding: as in :func:`max_pool2d` (zero padding).
        count_include_pad: whether the padded zeros count in the divisor.
        divisor_override: a number that replaces :math:`D_{ij}` (as in PyTorch), or None.

    Shape:
        As :func:`max_pool2d`.
    """
    x = _tensor(x, "x", (3, 4))
    _, (kh, kw), (sh, sw), pads, out_size = _pool_arguments(_shape_only(x.shape), kernel_size,
                                                            stride, padding)
    count_include_pad = _checks.boolean(count_include_pad, "count_include_pad")
    if divisor_override is not None:
        divisor = _checks.integer(divisor_override, "divisor_override", minimum=1)
    else:
        divisor = _divisor(x.shape[-2:], out_size, (kh, kw), (sh, sw), pads, count_include_pad)
        if isinstance(divisor, np.ndarray):
            divisor = torch.as_tensor(divisor, dtype=x.dtype, device=x.device)
    ph, pw = pads
    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph)) if (ph or pw) else x
    windows = xp.unfold(-2, kh, sh).unfold(-2, kw, sw)  # (..., H_out, W_out, kH, kW), a view
    return windows.sum(dim=(-2, -1)) / divisor


def global_avg_pool2d(x) -> torch.Tensor:
    r"""Global average pooling: the mean of every channel, :math:`(N, C, H, W) \to (N, C)`.

    .. math:: y_{n,c} = \frac{1}{HW} \sum_{a=0}^{H-1} \sum_{b=0}^{W-1} x_{n,c,a,b}
    """
    x = _tensor(x, "x", 4)
    return x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])


# --------------------------------------------------------------------------- activations
def _minus_abs(u: torch.Tensor) -> torch.Tensor:
    """:math:`-|u|` as :math:`u (1 - 2 s)` with :math:`s = 1 - H(-u)` (1 for :math:`u \\ge 0`), a
    constant: its derivative is that of the branch :math:`u \\ge 0` at 0, so -1 there."""
    return u * (2 * step(-u) - 1)


def sigmoid(u) -> torch.Tensor:
    r"""The logistic sigmoid, entry by entry, without overflow.

    .. math:: \sigma(u) = rac{1}{1 + e^{-u}} = rac{e^{u}}{1 + e^{u}}
              = rac{s + (1 - s)\, z}{1 + z}, \quad z = e^{-|u|}, \ s = [u \ge 0]

    The first form for :math:`u \ge 0`, the second for :math:`u < 0`, so the exponential is
    always :math:`z \le 1`; the third writes the choice with arithmetic (:math:`s` is a
    constant 0 or 1).

    Shape:
        Any; the output has the input's shape and dtype.
    """
    u = _tensor(u, "u")
    s = 1 - step(-u)
    z = torch.exp(_minus_abs(u))
    return (s + (1 - s) * z) / (1 + z)


def tanh(u) -> torch.Tensor:
    r"""The hyperbolic tangent, entry by entry.

    .. math:: 	anh(u) = \operatorname{sign}(u)\, rac{1 - e^{-2|u|}}{1 + e^{-2|u|}}
              = -\operatorname{sign}(u)\, rac{m}{2 + m}, \quad m = e^{-2|u|} - 1

    :math:`m` comes from ``expm1``, so that small :math:`|u|` keep their full relative precision.
    """
    u = _tensor(u, "u")
    sign = 1 - 2 * step(-u)  # +1 for u >= 0, -1 below
    m = torch.expm1(2 * _minus_abs(u))
    return sign * (-m / (2 + m))


def relu(u) -> torch.Tensor:
    r"""The rectified linear unit, :math:`\max\{u, 0\}`, entry by entry.

    Its gradient is the step :math:`H(u)`, 0 at the kink :math:`u = 0` as in PyTorch
    (:class:`cnncourse.nn.autograd.ClampFunction`); NaN stays NaN.
    """
    u = _tensor(u, "u")
    return ClampFunction.apply(u, 0.0, None)


def relu6(u) -> torch.Tensor:
    r"""ReLU bounded by 6, :math:`\min\{\max\{u, 0\}, 6\}`; gradient 0 at both kinks, as in PyTorch."""
    u = _tensor(u, "u")
    return ClampFunction.apply(u, 0.0, 6.0)


def softplus(u) -> torch.Tensor:
    r"""Softplus, :math:`\log(1 + e^{u}) = \max\{u, 0\} + \log(1 + e^{-|u|})`, entry by entry.

    The second form is computed: the exponential never exceeds 1 and ``log1p`` keeps small
    values exact. Unlike :func:`torch.nn.functional.softplus`, there is no threshold above which
    :math:`u` itself is returned (see :mod:`cnncourse.scratch.activation`).
    """
    u = _tensor(u, "u")
    tail = torch.log1p(torch.exp(_minus_abs(u)))
    return torch.where(u >= 0, u + tail, tail)


# --------------------------------------------------------------------------- fully connected
def linear(x, w, b=None) -> torch.Tensor:
    r"""Fully connected layer, :math:`y = x W^\top + b`.

    Args:
        x: input, (..., in_features); every leading axis is a batch axis.
        w: weights, (out_features, in_features).
        b: biases, (out_features,), or None.

    Shape:
        (*, d_in) -> (*, d_out).
    """
    x = _tensor(x, "x")
    w = _tensor(w, "w", 2)
    if b is not None:
        b = _tensor(b, "b", 1)
    _same_device(x, "x", w=w, b=b)
    if x.ndim < 1:
        raise ValueError(f"x must have at least 1 dimension (..., in_features), got shape {tuple(x.shape)}")
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[-1]} features (shape {tuple(x.shape)}) but w expects "
                         f"{w.shape[1]} (shape {tuple(w.shape)}, laid out (out_features, in_features))")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape ({w.shape[0]},), one bias per output; got {tuple(b.shape)}")
    dtype = _common_dtype(x, w, b)
    y = x.to(dtype) @ w.to(dtype).t()
    return y if b is None else y + b.to(dtype)


def flatten(x) -> torch.Tensor:
    r"""Flatten every axis but the first: :math:`(N, d_1, d_2, \dots) \to (N, d_1 d_2 \cdots)`.

    Row-major order, as ``torch.flatten(x, start_dim=1)``; a view of ``x`` when its layout allows.
    """
    x = _tensor(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (N, ...), got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1)


# --------------------------------------------------------------------------- losses
def _class_labels(labels, num_samples: int, num_classes: int, device) -> torch.Tensor:
    """``labels`` as an int64 tensor of shape (N,) with values in ``0 .. C-1``.

    Integer tensors, and float tensors holding whole numbers, are accepted (as in the scratch
    losses).
    """
    labels = _tensor(labels, "labels", 1, floating=False)
    if labels.is_floating_point():
        if not bool(torch.all(labels == torch.round(labels))):
            raise TypeError(f"labels must be integer class indices, got a tensor of dtype "
                            f"{labels.dtype} with fractional values")
    elif labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.device != device:
        raise ValueError(f"labels is on {labels.device} but the scores are on {device}")
    if labels.shape[0] != num_samples:
        raise ValueError(f"labels must hold one class index per sample ({num_samples}), "
                         f"got shape {tuple(labels.shape)}")
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0 or high >= num_classes:
        raise ValueError(f"labels must be class indices in 0..{num_classes - 1}, "
                         f"got values from {low} to {high}")
    return labels.long()


def softmax(logits, axis: int = -1) -> torch.Tensor:
    r"""The softmax of ``logits`` along ``axis``: positive values that sum to one.

    .. math:: \hat{y}_i = \frac{e^{a_i - \max_k a_k}}{\sum_k e^{a_k - \max_k a_k}}

    The largest logit is subtracted first (as a constant: it changes neither the value nor the
    gradient), so no exponent is positive.
    """
    logits = _tensor(logits, "logits")
    axis = _checks.integer(axis, "axis", minimum=-max(1, logits.ndim), maximum=max(1, logits.ndim) - 1)
    shifted = logits - logits.amax(dim=axis, keepdim=True).detach()
    exp = torch.exp(shifted)
    return exp / exp.sum(dim=axis, keepdim=True)


def cross_entropy(probs, labels) -> torch.Tensor:
    r"""Categorical cross-entropy of predicted probabilities, averaged over the batch.

    .. math:: J = -\frac{1}{N} \sum_{i=1}^{N} \log \max\{\hat{y}_{i, t_i}, 10^{-12}\}

    Args:
        probs: probabilities, (N, C).
        labels: class indices, (N,).

    Returns:
        A 0-dimensional tensor.
    """
    probs = _tensor(probs, "probs", 2)
    labels = _class_labels(labels, probs.shape[0], probs.shape[1], probs.device)
    picked = probs.gather(1, labels[:, None])[:, 0]
    # below CLIP the value is held at CLIP; the gradient is -1/(N max(p, CLIP)) as in scratch
    clipped = picked + (torch.clamp(picked.detach(), CLIP, 1.0) - picked.detach())
    return -torch.log(clipped).mean()


def softmax_cross_entropy(logits, labels, reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy of ``softmax(logits)``, computed from the logits.

    .. math:: J_i = m_i + \log \sum_k e^{a_{ik} - m_i} - a_{i t_i}, \quad m_i = \max_k a_{ik}

    Args:
        logits: class scores, (N, C).
        labels: class indices, (N,).
        reduction: ``"mean"`` (default, :math:`\frac{1}{N}\sum_i J_i`), ``"sum"`` or ``"none"``
            (the :math:`N` values :math:`J_i`).
    """
    logits = _tensor(logits, "logits", 2)
    labels = _class_labels(labels, logits.shape[0], logits.shape[1], logits.device)
    shifted = logits - logits.amax(dim=1, keepdim=True).detach()
    log_total = torch.log(torch.exp(shifted).sum(dim=1))
    losses = log_total - shifted.gather(1, labels[:, None])[:, 0]
    return _reduce(losses, reduction)


def mse_loss(pred, target, reduction: str = "mean") -> torch.Tensor:
    r"""Mean squared error, :math:`J = \frac{1}{n} \sum_{k=1}^{n} (\hat{y}_k - y_k)^2` over all entries.

    Args:
        pred: prediction, any shape.
        target: target, the same shape (cast to ``pred``'s dtype).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the squared errors).
    """
    pred = _tensor(pred, "pred")
    target = _tensor(target, "target", floating=False)
    _same_device(pred, "pred", target=target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    diff = pred - target.to(pred.dtype)
    return _reduce(diff * diff, reduction)


# --------------------------------------------------------------------------- batch normalisation
def _normalize(x, gamma, beta, running_mean, running_var, training, momentum, eps, per_channel):
    x = _tensor(x, "x", (2, 3, 4, 5) if per_channel else None)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and at least one feature axis, got shape {tuple(x.shape)}")
    training = _checks.boolean(training, "training")
    momentum = _checks.real(momentum, "momentum", minimum=0.0, maximum=1.0)
    eps = _checks.real(eps, "eps", minimum=0.0, open_minimum=True)
    if per_channel:
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (x.shape[1],)
        broadcast = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    else:
        axes = (0,)
        shape = tuple(x.shape[1:])
        broadcast = (1,) + shape
    for name, t in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is None:
            continue
        _tensor(t, name)
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} for x of shape {tuple(x.shape)}, "
                             f"got {tuple(t.shape)}")
        _same_device(x, "x", **{name: t})
    if not training and (running_mean is None or running_var is None):
        raise ValueError("running_mean and running_var are needed when training is False")
    if training:
        m = x.numel() // int(np.prod(broadcast))
        if m < 2:
            raise ValueError(f"batch normalisation needs more than one value per feature when "
                             f"training, got x of shape {tuple(x.shape)}")
        mean = x.mean(dim=axes, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=axes, keepdim=True)
        with torch.no_grad():
            if running_mean is not None:
                running_mean.mul_(1.0 - momentum).add_(momentum * mean.reshape(shape).to(running_mean.dtype))
            if running_var is not None:
                unbiased = var.reshape(shape).to(running_var.dtype) * (m / (m - 1))
                running_var.mul_(1.0 - momentum).add_(momentum * unbiased)
    else:
        mean = running_mean.reshape(broadcast).to(x.dtype)
        var = running_var.reshape(broadcast).to(x.dtype)
        centred = x - mean
    x_hat = centred * torch.rsqrt(var + eps)
    if gamma is not None:
        x_hat = x_hat * gamma.reshape(broadcast).to(x.dtype)
    if beta is not None:
        x_hat = x_hat + beta.reshape(broadcast).to(x.dtype)
    return x_hat


def batch_norm(x, gamma=None, beta=None, running_mean=None, running_var=None,
               training: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    r"""Batch normalisation per channel, with running statistics.

    .. math:: y = \gamma_c \frac{x - \bar{x}_c}{\sqrt{s_c^2 + \varepsilon}} + \beta_c

    with the mean :math:`\bar{x}_c` and biased variance :math:`s_c^2` of channel :math:`c` over
    the batch and every position (``training=True``), or the running estimates
    (``training=False``). In training mode ``running_mean`` and ``running_var``, when given, are
    updated in place:
    :math:`\hat{\mu} \leftarrow (1 - \text{momentum})\hat{\mu} + \text{momentum}\,\bar{x}` and
    :math:`\hat{\sigma}^2 \leftarrow (1 - \text{momentum})\hat{\sigma}^2 + \text{momentum}\,
    \tfrac{m}{m-1} s^2`, :math:`m` values per channel, as PyTorch does.

    Args:
        x: input, (N, C) or (N, C, ...).
        gamma, beta: scale and shift, (C,), or None for 1 and 0.
        running_mean, running_var: tensors of shape (C,), updated in place when training;
            needed when not training; None to keep no running statistics.
        training: normalise with the batch statistics (and update the running ones).
        momentum: weight of the new batch in the running estimates, in [0, 1].
        eps: added to the variance, > 0.

    Returns:
        The normalised tensor, the shape and dtype of ``x``.
    """
    return _normalize(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                      per_channel=True)


def batch_norm_per_pixel(x, gamma=None, beta=None, running_mean=None, running_var=None,
                         training: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    r"""Batch normalisation per pixel, as the slides write it: statistics over the batch axis only.

    .. math:: y_{ij} = \gamma_j \frac{x_{ij} - \bar{x}_j}{\sqrt{s_j^2 + \varepsilon}} + \beta_j,
              \quad \bar{x}_j = \frac{1}{N}\sum_i x_{ij}

    for every position :math:`j = (c, h, w)`, with its own :math:`\gamma_j, \beta_j`.
    Arguments as :func:`batch_norm`, with ``gamma``, ``beta`` and the running statistics of shape
    ``x.shape[1:]``.
    """
    return _normalize(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                      per_channel=False)


# --------------------------------------------------------------------------- dropout
def _keep_probability(p_keep) -> float:
    return _checks.real(p_keep, "p_keep", minimum=0.0, maximum=1.0, open_minimum=True)


def masked_dropout(x, mask, p_keep: float) -> torch.Tensor:
    r"""Dropout with a given mask: :math:`y = m \odot x / p_{keep}`.

    Args:
        x: input, any shape.
        mask: a boolean or 0/1 tensor of the shape of ``x``; 1 keeps the unit.
        p_keep: the keep probability the mask was drawn with, in (0, 1].
    """
    x = _tensor(x, "x")
    p_keep = _keep_probability(p_keep)
    mask = _tensor(mask, "mask", floating=False)
    _same_device(x, "x", mask=mask)
    if mask.shape != x.shape:
        raise ValueError(f"x and mask must have the same shape, got {tuple(x.shape)} and {tuple(mask.shape)}")
    if mask.dtype != torch.bool and not bool(torch.all((mask == 0) | (mask == 1))):
        raise ValueError("mask must hold only 0 and 1 (or False and True)")
    return x * (mask.to(x.dtype) / p_keep)


def dropout(x, p_keep: float, training: bool = True, rng=None) -> torch.Tensor:
    r"""Inverted dropout: keep each entry with probability ``p_keep`` and divide it by ``p_keep``.

    .. math:: y = \frac{m \odot x}{p_{keep}}, \quad m_k \sim \mathrm{Bernoulli}(p_{keep})

    Args:
        x: input, any shape.
        p_keep: the keep probability, in (0, 1] (PyTorch's ``p`` is ``1 - p_keep``).
        training: ``False`` returns ``x`` itself, as at test time.
        rng: None (PyTorch's global generator), an int seed, or a :class:`torch.Generator` on
            the device of ``x``.
    """
    x = _tensor(x, "x")
    p_keep = _keep_probability(p_keep)
    training = _checks.boolean(training, "training")
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        seed = _checks.integer(rng, "rng", minimum=0)
        rng = torch.Generator(device=x.device).manual_seed(seed)
    elif rng is not None and not isinstance(rng, torch.Generator):
        raise TypeError(f"rng must be None, an int seed or a torch.Generator, got {type(rng).__name__}")
    if not training or p_keep == 1.0:
        return x
    mask = torch.rand(x.shape, generator=rng, device=x.device, dtype=x.dtype) < p_keep
    return masked_dropout(x, mask, p_keep)
