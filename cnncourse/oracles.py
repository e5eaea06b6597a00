"""PyTorch versions of the course's layers whose call differs from ``torch.nn.functional``.

The layer registry names each layer's oracle by a dotted name. Where a PyTorch routine takes the
same arguments as the scratch forward pass it is named directly (``torch.nn.functional.conv2d``);
otherwise a small adapter here calls it with the course's argument names. PyTorch is imported
lazily, on the first call.
"""

from __future__ import annotations


# --------------------------------------------------------------------------- losses
def softmax(logits, axis=-1):
    """:func:`torch.softmax` with the course's argument name ``axis`` for ``dim``."""
    import torch

    return torch.softmax(logits, dim=axis)


def softmax_cross_entropy(logits, labels):
    """:func:`torch.nn.functional.cross_entropy` on (N, C) logits and class indices.

    The labels are cast to int64 first (gradient checks hand every input over as float64).
    """
    import torch.nn.functional as F

    return F.cross_entropy(logits, labels.long())


def cross_entropy(probs, labels):
    """Mean negative log-probability of the true classes (``nll_loss`` of ``log(probs)``)."""
    import torch
    import torch.nn.functional as F

    return F.nll_loss(torch.log(probs), labels.long())


# --------------------------------------------------------------------------- normalization
def batch_norm(x, gamma, beta, eps=1e-5):
    """:func:`torch.nn.functional.batch_norm` in training mode, without running statistics."""
    import torch.nn.functional as F

    return F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=eps)


def batch_norm_per_pixel(x, gamma, beta, eps=1e-5):
    """Batch normalisation with a mean and biased variance per position, over the batch axis."""
    import torch

    mean = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


# --------------------------------------------------------------------------- dropout
def masked_dropout(x, mask, p_keep):
    """Inverted dropout with a given 0/1 mask: ``x * mask / p_keep``."""
    return x * mask.to(x.dtype) / p_keep


# --------------------------------------------------------------------------- pooling
def global_avg_pool2d(x):
    """Global average pooling ``(N, C, H, W) -> (N, C)``: the mean of every channel."""
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(x, 1).flatten(start_dim=1)


# --------------------------------------------------------------------------- activations
def softplus(x):
    """Softplus ``log(1 + e^x)`` exact to the last bit, by ``torch.nn.functional.softplus``.

    PyTorch returns ``x`` itself wherever ``x > threshold`` (20 by default), an approximation
    off by ``log(1 + e^-x) < 2.1e-9``: invisible in float32, but more than float64 rounding.
    With ``threshold=40`` the switch happens only where ``e^-x < 4.3e-18`` is below half a
    float64 unit in the last place of ``x``, so the answer is exact in float32 and float64 alike,
    and ``exp`` still cannot overflow below the threshold.
    """
    import torch.nn.functional as F

    return F.softplus(x, beta=1.0, threshold=40.0)


# --------------------------------------------------------------------------- fully connected
def flatten(x):
    """``torch.flatten(x, start_dim=1)``: ``(N, d_1, d_2, ...) -> (N, d_1 d_2 ...)``."""
    import torch

    return torch.flatten(x, start_dim=1)
