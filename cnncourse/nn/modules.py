"""Layers as :class:`torch.nn.Module` classes, thin wrappers around :mod:`cnncourse.nn.functional`.

Each class takes the constructor arguments of the ``torch.nn`` module of the same name, names its
parameters and buffers as that module does (``weight``, ``bias``, ``running_mean``, ...) and
starts from the same random distribution, so that ``ours.load_state_dict(builtin.state_dict())``
works both ways and a network built from these layers gives the numbers of the same network
built from ``torch.nn`` (:func:`to_builtin` and :func:`from_builtin` swap every layer). Their
``forward`` calls the course's functional version, so every convolution and pooling of a network
runs the hand-written passes of :mod:`cnncourse.nn.autograd`.

The exceptions: :class:`Dropout` takes the *keep* probability ``p_keep`` (PyTorch's ``p`` is
``1 - p_keep``); :class:`GlobalAvgPool2d` has no ``torch.nn`` counterpart of its own; and a few
options of the built-ins that the course does not cover (grouped convolutions, ``ceil_mode``,
class weights in the loss, ...) are accepted only with their default value, any other raising a
:class:`ValueError` that names the option.
"""

from __future__ import annotations

import copy
import inspect
import math
import warnings

import torch
from torch import nn

from cnncourse import _checks
from cnncourse.nn import functional as CF

__all__ = [
    "Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
    "Sigmoid", "Tanh", "ReLU", "ReLU6", "Softplus",
    "Linear", "Flatten", "BatchNorm1d", "BatchNorm2d", "Dropout",
    "Softmax", "CrossEntropyLoss", "MSELoss",
    "to_builtin", "from_builtin",
]


def _only_default(value, name: str, default, layer: str):
    """Accept a built-in's option only at its default value (the course does not cover the rest)."""
    if value != default:
        raise ValueError(f"{name}={value!r} is not supported by cnncourse.nn.{layer}; only "
                         f"{name}={default!r} is")


def _kaiming_uniform_bound(fan_in: int) -> float:
    """PyTorch's default bound for the weights of Conv2d and Linear: ``kaiming_uniform_`` with
    ``a = sqrt(5)``, which is :math:`1/\\sqrt{\\text{fan\\_in}}` (computed with PyTorch's own
    sequence of operations, so that the same seed draws the same weights)."""
    a = math.sqrt(5)
    gain = math.sqrt(2.0 / (1 + a ** 2))
    return math.sqrt(3.0) * (gain / math.sqrt(fan_in))


def _reset_weight_and_bias(weight: nn.Parameter, bias: nn.Parameter | None, fan_in: int) -> None:
    """Uniform initial weights and biases, drawn in the order PyTorch draws them."""
    with torch.no_grad():
        weight.uniform_(-_kaiming_uniform_bound(fan_in), _kaiming_uniform_bound(fan_in))
        if bias is not None:
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            bias.uniform_(-bound, bound)


# --------------------------------------------------------------------------- convolution
class Conv2d(nn.Module):
    r"""2D convolutional layer over :func:`cnncourse.nn.functional.conv2d`.

    .. math:: y(n, o) = b(o) + \sum_{r=0}^{C-1} w(o, r) \star x(n, r)

    Parameters ``weight`` (F, C, KH, KW) and ``bias`` (F,), both uniform in
    :math:`[-1/\sqrt{C K_H K_W}, 1/\sqrt{C K_H K_W}]` at the start, as in
    :class:`torch.nn.Conv2d`.

    Args:
        in_channels, out_channels: C and F.
        kernel_size: an int or a pair.
        stride, padding, dilation: as in :func:`cnncourse.nn.functional.conv2d` (``padding`` may be
            ``"same"`` or ``"valid"``).
        groups: 1 only (grouped convolutions are not part of the course's layer).
        bias: whether the layer has a bias.
        padding_mode: ``"zeros"``; or ``"reflect"``, ``"replicate"``, ``"circular"``, for which
            the input is padded with :func:`torch.nn.functional.pad` before a convolution
            without padding, as PyTorch does.
        device, dtype: of the parameters.

    Shape:
        (N, C, H, W) or (C, H, W) -> (N, F, H_out, W_out) or (F, H_out, W_out).
    """

    PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        self.in_channels = _checks.integer(in_channels, "in_channels", minimum=1)
        self.out_channels = _checks.integer(out_channels, "out_channels", minimum=1)
        self.kernel_size = _checks.pair(kernel_size, "kernel_size", 1)
        self.stride = _checks.pair(stride, "stride", 1)
        self.dilation = _checks.pair(dilation, "dilation", 1)
        if isinstance(padding, str):
            self.padding = _checks.check_choice(padding, "padding", ("valid", "same"))
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride {stride!r}")
        else:
            self.padding = _checks.pair(padding, "padding", 0)
        self.groups = _checks.integer(groups, "groups", minimum=1)
        _only_default(self.groups, "groups", 1, "Conv2d")
        self.padding_mode = _checks.check_choice(padding_mode, "padding_mode", self.PADDING_MODES)
        has_bias = _checks.boolean(bias, "bias")
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty((self.out_channels, self.in_channels) + self.kernel_size,
                                               **factory))
        self.bias = nn.Parameter(torch.empty(self.out_channels, **factory)) if has_bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        _reset_weight_and_bias(self.weight, self.bias, fan_in)

    def _explicit_padding(self) -> tuple:
        """(left, right, top, bottom) for padding modes other than zeros."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            (top, bottom), (left, right) = [(t // 2, t - t // 2) for t in total]
            return (left, right, top, bottom)
        p1, p2 = self.padding
        return (p2, p2, p1, p1)

    def forward(self, x):
        if self.padding_mode == "zeros":
            return CF.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        x = nn.functional.pad(x, self._explicit_padding(), mode=self.padding_mode)
        return CF.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


# --------------------------------------------------------------------------- pooling
class MaxPool2d(nn.Module):
    """Max pooling over :func:`cnncourse.nn.functional.max_pool2d` (hand-written backward pass).

    Args:
        kernel_size, stride, padding: as in the functional version (``stride`` defaults to
            ``kernel_size``).
        dilation, return_indices, ceil_mode: PyTorch's options, accepted at their defaults only.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        _checks.pair(kernel_size, "kernel_size", 1)
        _checks.pair(self.stride, "stride", 1)
        _checks.pair(padding, "padding", 0)
        _only_default(_checks.pair(dilation, "dilation", 1), "dilation", (1, 1), "MaxPool2d")
        _only_default(_checks.boolean(return_indices, "return_indices"), "return_indices", False, "MaxPool2d")
        _only_default(_checks.boolean(ceil_mode, "ceil_mode"), "ceil_mode", False, "MaxPool2d")

    def forward(self, x):
        return CF.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(nn.Module):
    """Average pooling over :func:`cnncourse.nn.functional.avg_pool2d`.

    Args:
        kernel_size, stride, padding, count_include_pad, divisor_override: as in the functional
            version.
        ceil_mode: PyTorch's option, accepted at its default (False) only.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        _checks.pair(kernel_size, "kernel_size", 1)
        _checks.pair(self.stride, "stride", 1)
        _checks.pair(padding, "padding", 0)
        _checks.boolean(count_include_pad, "count_include_pad")
        _only_default(_checks.boolean(ceil_mode, "ceil_mode"), "ceil_mode", False, "AvgPool2d")
        if divisor_override is not None:
            _checks.integer(divisor_override, "divisor_override", minimum=1)

    def forward(self, x):
        return CF.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad,
                             self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class GlobalAvgPool2d(nn.Module):
    """Global average pooling, (N, C, H, W) -> (N, C), over :func:`~cnncourse.nn.functional.global_avg_pool2d`.

    PyTorch writes it ``nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())``.
    """

    def forward(self, x):
        return CF.global_avg_pool2d(x)


# --------------------------------------------------------------------------- activations
class Sigmoid(nn.Module):
    """The logistic sigmoid, :func:`cnncourse.nn.functional.sigmoid`."""

    def forward(self, x):
        return CF.sigmoid(x)


class Tanh(nn.Module):
    """The hyperbolic tangent, :func:`cnncourse.nn.functional.tanh`."""

    def forward(self, x):
        return CF.tanh(x)


class ReLU(nn.Module):
    """ReLU, :func:`cnncourse.nn.functional.relu`.

    ``inplace`` is accepted for compatibility with :class:`torch.nn.ReLU`; the result is always a
    new tensor (the input is never changed).
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = _checks.boolean(inplace, "inplace")

    def forward(self, x):
        return CF.relu(x)


class ReLU6(ReLU):
    """ReLU bounded by 6, :func:`cnncourse.nn.functional.relu6` (``inplace`` as in :class:`ReLU`)."""

    def forward(self, x):
        return CF.relu6(x)


class Softplus(nn.Module):
    r"""Softplus with PyTorch's options: :math:`\frac{1}{\beta}\log(1 + e^{\beta x})`.

    Over :func:`cnncourse.nn.functional.softplus`; where :math:`\beta x` exceeds ``threshold`` the
    input itself is returned, as :class:`torch.nn.Softplus` does (``threshold=None`` never does:
    the exact function).
    """

    def __init__(self, beta: float = 1.0, threshold: float | None = 20.0):
        super().__init__()
        self.beta = _checks.real(beta, "beta", minimum=0.0, open_minimum=True)
        self.threshold = None if threshold is None else _checks.real(threshold, "threshold")

    def forward(self, x):
        scaled = x * self.beta if self.beta != 1.0 else x
        y = CF.softplus(scaled)
        if self.beta != 1.0:
            y = y / self.beta
        if self.threshold is None:
            return y
        return torch.where(scaled > self.threshold, x, y)

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}, threshold={self.threshold}"


# --------------------------------------------------------------------------- fully connected
class Linear(nn.Module):
    r"""Fully connected layer, :math:`y = x W^\top + b`, over :func:`cnncourse.nn.functional.linear`.

    Parameters ``weight`` (out_features, in_features) and ``bias`` (out_features,), uniform in
    :math:`[-1/\sqrt{d_{in}}, 1/\sqrt{d_{in}}]` at the start, as in :class:`torch.nn.Linear`.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = _checks.integer(in_features, "in_features", minimum=0)
        self.out_features = _checks.integer(out_features, "out_features", minimum=0)
        has_bias = _checks.boolean(bias, "bias")
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty((self.out_features, self.in_features), **factory))
        self.bias = nn.Parameter(torch.empty(self.out_features, **factory)) if has_bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_weight_and_bias(self.weight, self.bias, self.in_features)

    def forward(self, x):
        return CF.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(nn.Module):
    """Flatten the axes ``start_dim .. end_dim`` into one (default: all but the batch axis).

    With the defaults it is :func:`cnncourse.nn.functional.flatten`.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = _checks.integer(start_dim, "start_dim")
        self.end_dim = _checks.integer(end_dim, "end_dim")

    def forward(self, x):
        if (self.start_dim, self.end_dim) == (1, -1):
            return CF.flatten(x)
        x = CF._tensor(x, "x")
        ndim = max(1, x.ndim)
        start, end = self.start_dim % ndim, self.end_dim % ndim
        if start > end:
            raise ValueError(f"start_dim ({self.start_dim}) must come before end_dim ({self.end_dim}) "
                             f"for an input of {x.ndim} dimensions")
        merged = math.prod(x.shape[start:end + 1])
        return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# --------------------------------------------------------------------------- batch normalisation
class _BatchNorm(nn.Module):
    """Batch normalisation per channel over :func:`cnncourse.nn.functional.batch_norm`."""

    allowed_ndim: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None, *,
                 bias: bool = True):
        super().__init__()
        self.num_features = _checks.integer(num_features, "num_features", minimum=1)
        self.eps = _checks.real(eps, "eps", minimum=0.0, open_minimum=True)
        self.momentum = None if momentum is None else _checks.real(momentum, "momentum", minimum=0.0,
                                                                   maximum=1.0)
        self.affine = _checks.boolean(affine, "affine")
        self.track_running_stats = _checks.boolean(track_running_stats, "track_running_stats")
        has_bias = _checks.boolean(bias, "bias")
        factory = {"device": device, "dtype": dtype}
        if self.affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory)) if has_bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked",
                                 torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def forward(self, x):
        x = CF._tensor(x, "x")
        if x.ndim not in self.allowed_ndim:
            wanted = " or ".join(f"{n}D" for n in self.allowed_ndim)
            raise ValueError(f"{type(self).__name__} expects a {wanted} input, got shape {tuple(x.shape)}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # the cumulative average of all batches, as in PyTorch
                momentum = 1.0 / float(self.num_batches_tracked)
        # batch statistics when training, and in evaluation mode when there are no running ones;
        # the running statistics are updated only when they are tracked
        batch_statistics = self.training or (self.running_mean is None and self.running_var is None)
        pass_running = not self.training or self.track_running_stats
        return CF.batch_norm(x, self.weight, self.bias,
                             self.running_mean if pass_running else None,
                             self.running_var if pass_running else None,
                             training=batch_statistics, momentum=momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation per channel of (N, C, H, W) feature maps, as :class:`torch.nn.BatchNorm2d`.

    Parameters ``weight`` (:math:`\\gamma`, ones) and ``bias`` (:math:`\\beta`, zeros); buffers
    ``running_mean``, ``running_var`` and ``num_batches_tracked``. ``momentum=None`` averages all
    batches seen so far (the cumulative average), as PyTorch does.
    """

    allowed_ndim = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features or (N, C, L) sequences, as :class:`torch.nn.BatchNorm1d`.

    See :class:`BatchNorm2d`.
    """

    allowed_ndim = (2, 3)


# --------------------------------------------------------------------------- dropout
class Dropout(nn.Module):
    """Inverted dropout with keep probability ``p_keep``, over :func:`cnncourse.nn.functional.dropout`.

    In training mode every entry is kept with probability ``p_keep`` (PyTorch's global random
    generator draws the mask) and divided by it; in evaluation mode the input passes unchanged.
    ``torch.nn.Dropout(p)`` is ``Dropout(p_keep=1 - p)``.
    """

    def __init__(self, p_keep: float = 0.5):
        super().__init__()
        self.p_keep = _checks.real(p_keep, "p_keep", minimum=0.0, maximum=1.0, open_minimum=True)

    def forward(self, x):
        return CF.dropout(x, self.p_keep, self.training)

    def extra_repr(self) -> str:
        return f"p_keep={self.p_keep:g}"


# --------------------------------------------------------------------------- softmax and losses
class Softmax(nn.Module):
    """Softmax along ``dim``, over :func:`cnncourse.nn.functional.softmax`.

    ``dim=None`` picks the axis as :class:`torch.nn.Softmax` does (0 for 0, 1 and 3 dimensions,
    else 1) and warns, as PyTorch does, that the axis should be given.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = None if dim is None else _checks.integer(dim, "dim")

    def forward(self, x):
        dim = self.dim
        if dim is None:
            warnings.warn("Softmax without dim picks the axis from the number of dimensions; "
                          "give dim explicitly", UserWarning, stacklevel=2)
            dim = 0 if x.ndim in (0, 1, 3) else 1
        return CF.softmax(x, axis=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy of (N, C) logits and (N,) class indices, over
    :func:`cnncourse.nn.functional.softmax_cross_entropy`.

    ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``; PyTorch's other options (``weight``,
    ``ignore_index``, ``label_smoothing``, and the deprecated ``size_average`` and ``reduce``)
    are accepted at their defaults only.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        if weight is not None:
            raise ValueError("weight is not supported by cnncourse.nn.CrossEntropyLoss; only weight=None is")
        _only_default(size_average, "size_average", None, "CrossEntropyLoss")
        _only_default(reduce, "reduce", None, "CrossEntropyLoss")
        _only_default(ignore_index, "ignore_index", -100, "CrossEntropyLoss")
        _only_default(label_smoothing, "label_smoothing", 0.0, "CrossEntropyLoss")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.reduction = _checks.check_choice(reduction, "reduction", CF.REDUCTIONS)

    def forward(self, logits, labels):
        return CF.softmax_cross_entropy(logits, labels, self.reduction)


class MSELoss(nn.Module):
    """Mean squared error over :func:`cnncourse.nn.functional.mse_loss` (``reduction`` as PyTorch's;
    the deprecated ``size_average`` and ``reduce`` at their defaults only)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        _only_default(size_average, "size_average", None, "MSELoss")
        _only_default(reduce, "reduce", None, "MSELoss")
        self.reduction = _checks.check_choice(reduction, "reduction", CF.REDUCTIONS)

    def forward(self, pred, target):
        return CF.mse_loss(pred, target, self.reduction)


# --------------------------------------------------------------------------- swapping layers
BUILTINS = {
    Conv2d: nn.Conv2d, MaxPool2d: nn.MaxPool2d, AvgPool2d: nn.AvgPool2d,
    Sigmoid: nn.Sigmoid, Tanh: nn.Tanh, ReLU: nn.ReLU, ReLU6: nn.ReLU6, Softplus: nn.Softplus,
    Linear: nn.Linear, Flatten: nn.Flatten, BatchNorm1d: nn.BatchNorm1d, BatchNorm2d: nn.BatchNorm2d,
    Dropout: nn.Dropout, Softmax: nn.Softmax, CrossEntropyLoss: nn.CrossEntropyLoss, MSELoss: nn.MSELoss,
}
"""Each course layer and the ``torch.nn`` module it replaces."""


def _constructor_arguments(module: nn.Module, target: type) -> dict:
    """The arguments that build a ``target`` like ``module``: every parameter of ``target``'s
    constructor that ``module`` keeps as an attribute, ``bias`` from the bias parameter, and the
    device and dtype of the parameters."""
    arguments = {}
    tensors = list(module.parameters(recurse=False)) + [b for b in module.buffers(recurse=False)
                                                         if b.is_floating_point()]
    for name in inspect.signature(target.__init__).parameters:
        if name == "bias":
            arguments["bias"] = getattr(module, "bias", None) is not None
        elif name in ("device", "dtype"):
            if tensors:
                arguments[name] = getattr(tensors[0], name)
        elif name not in ("self", "weight", "size_average", "reduce") and hasattr(module, name):
            arguments[name] = getattr(module, name)
    if isinstance(module, nn.Dropout):
        arguments = {"p_keep": 1.0 - module.p}
    elif isinstance(module, Dropout):
        arguments = {"p": 1.0 - module.p_keep}
    return arguments


def _swap(module: nn.Module, mapping: dict, extra) -> nn.Module:
    target = mapping.get(type(module))
    if target is not None:
        new = target(**_constructor_arguments(module, target))
        new.load_state_dict(module.state_dict())
        return new.train(module.training)
    replaced = extra(module)
    if replaced is not None:
        return replaced.train(module.training)
    for name, child in list(module.named_children()):
        setattr(module, name, _swap(child, mapping, extra))
    return module


def to_builtin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``cnncourse.nn`` layer replaced by its ``torch.nn`` module.

    Parameters and buffers are copied (``load_state_dict``), the training mode kept;
    :class:`GlobalAvgPool2d` becomes ``nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")

    def extra(module):
        if isinstance(module, GlobalAvgPool2d):
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return None

    return _swap(copy.deepcopy(model), BUILTINS, extra)


def from_builtin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``torch.nn`` layer that the course implements replaced by
    the ``cnncourse.nn`` one (state copied, training mode kept); other modules stay as they are."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    reverse = {builtin: ours for ours, builtin in BUILTINS.items()}
    return _swap(copy.deepcopy(model), reverse, lambda module: None)
