"""GoogLeNet / Inception v1 (Szegedy et al., "Going deeper with convolutions", CVPR 2015,
arXiv:1409.4842), with its two auxiliary classifiers, and a small version for 32 x 32 images.

An *inception module* looks at its input through four parallel branches and stacks their outputs
along the channels: a ``1 x 1`` convolution; a ``1 x 1`` reduction then ``3 x 3``; a ``1 x 1``
reduction then ``5 x 5``; a ``3 x 3 / 1`` max pooling then a ``1 x 1`` projection. The ``1 x 1``
reductions keep the large filters cheap. Every convolution is followed by a ReLU.

The output classifier averages each of the 1024 final feature maps over the whole image (global
average pooling), drops 40 % of them during training and maps them to the classes with one
linear layer, before the softmax. It replaces AlexNet's two fully connected layers of 4096 units
and their tens of millions of weights (:func:`classifier_parameters` counts both).

Two auxiliary classifiers, on the outputs of modules 4a and 4d, give the middle of the network
its own gradient during training; their losses are added with weight 0.3
(:func:`googlenet_loss`) and they are dropped at test time. In training mode a model with
``aux_logits=True`` returns ``(main, aux1, aux2)``; in evaluation mode only ``main``.

What is built: the network of the paper's Table 1 with ``5 x 5`` convolutions in the third
branch, biases in every convolution, local response normalisation in the stem and no batch
normalisation (``batch_norm=False``, the default of :func:`googlenet`). Its parameters, computed
from Table 1 (weights and biases of every convolution and linear layer), are 6,998,552 without the
auxiliary classifiers and 13,378,280 with them (:func:`googlenet_table_parameters`). The count
comes from the table's filter columns, not from its "params" column: that column counts weights
only, in units of 1024, and disagrees with the filters for several modules (4c is printed as 463K,
its filters give 497.5K; 5a as 1072K for 1018K). ``torchvision.models.googlenet`` has 6,624,904
parameters: it adds batch normalisation and, for compatibility with its weights, uses ``3 x 3``
filters in the "5 x 5" branch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import boolean, check_choice, integer, real
from cnncourse.registry import register_model

CHAPTER = "book/09-architectures"


class InceptionRow(NamedTuple):
    """One inception module of Table 1: the filters of each branch."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int


GOOGLENET_TABLE = (
    InceptionRow("3a", 64, 96, 128, 16, 32, 32),
    InceptionRow("3b", 128, 128, 192, 32, 96, 64),
    InceptionRow("4a", 192, 96, 208, 16, 48, 64),
    InceptionRow("4b", 160, 112, 224, 24, 64, 64),
    InceptionRow("4c", 128, 128, 256, 24, 64, 64),
    InceptionRow("4d", 112, 144, 288, 32, 64, 64),
    InceptionRow("4e", 256, 160, 320, 32, 128, 128),
    InceptionRow("5a", 256, 160, 320, 32, 128, 128),
    InceptionRow("5b", 384, 192, 384, 48, 128, 128),
)
"""The inception modules of Table 1 of arXiv:1409.4842 (filters per branch)."""

POOL_AFTER = ("3b", "4e")
"""Modules followed by a ``3 x 3 / 2`` max pooling."""

GOOGLENET_PARAMETERS = 6_998_552
"""Parameters without auxiliary classifiers, 1000 classes (weights and biases from Table 1)."""

GOOGLENET_AUX_PARAMETERS = 13_378_280
"""Parameters with both auxiliary classifiers (Sec. 5 of the paper), 1000 classes."""

AUX_WEIGHT = 0.3
"""Weight of each auxiliary loss in the training loss (Sec. 5 of the paper)."""


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
          batch_norm: bool = False) -> nn.Sequential:
    """Convolution with "same" padding, optional batch normalisation, ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                         padding=kernel_size // 2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class Inception(nn.Module):
    r"""Four parallel branches whose outputs are concatenated along the channels.

    .. math::
        y = \big[\, c_1(x) \;\|\; c_3(r_3(x)) \;\|\; c_5(r_5(x)) \;\|\; p(\mathrm{maxpool}(x)) \,\big]

    with :math:`c_k` a ``k x k`` convolution, :math:`r_k` its ``1 x 1`` reduction and :math:`p` the
    pooling branch's ``1 x 1`` projection, each followed by a ReLU.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, n_{1\times1} + n_{3\times3} + n_{5\times5} + n_{pool}, H, W)`.
    """

    def __init__(self, in_channels: int, n1x1: int, n3x3_reduce: int, n3x3: int,
                 n5x5_reduce: int, n5x5: int, pool_proj: int, batch_norm: bool = False):
        super().__init__()
        self.branch1 = _conv(in_channels, n1x1, 1, batch_norm=batch_norm)
        self.branch3 = nn.Sequential(_conv(in_channels, n3x3_reduce, 1, batch_norm=batch_norm),
                                     _conv(n3x3_reduce, n3x3, 3, batch_norm=batch_norm))
        self.branch5 = nn.Sequential(_conv(in_channels, n5x5_reduce, 1, batch_norm=batch_norm),
                                     _conv(n5x5_reduce, n5x5, 5, batch_norm=batch_norm))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         _conv(in_channels, pool_proj, 1, batch_norm=batch_norm))
        self.out_channels = n1x1 + n3x3 + n5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


class AuxiliaryClassifier(nn.Module):
    r"""Average pooling to ``4 x 4``, ``1 x 1`` convolution (128), dense 1024 + ReLU, 70 % dropout,
    linear layer to the classes (Sec. 5 of the paper).

    The paper pools with ``5 x 5 / 3`` windows, which turn the ``14 x 14`` maps of a 224 x 224 input
    into ``4 x 4``; an adaptive pooling gives the same ``4 x 4`` output for any input size.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \text{num\_classes})` scores.
    """

    def __init__(self, in_channels: int, num_classes: int, width: float = 1.0,
                 batch_norm: bool = False, dropout: float = 0.7):
        super().__init__()
        reduced, hidden = _scaled(128, width), _scaled(1024, width)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = _conv(in_channels, reduced, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(reduced * 4 * 4, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    r"""Inception v1: a stem, nine inception modules, global average pooling, dropout, linear.

    Args:
        num_classes: number of scores.
        in_channels: channels of the input image.
        aux_logits: build the two auxiliary classifiers (on modules 4a and 4d).
        width: multiplier of every filter count (1.0 is the paper's network).
        batch_norm: batch normalisation after every convolution (no bias, no LRN) instead of the
            paper's biases and local response normalisation.
        stem: ``"imagenet"`` (``7 x 7 / 2`` convolution, max pooling, ``1 x 1`` and ``3 x 3``
            convolutions, max pooling: 224 -> 28) or ``"cifar"`` (one ``3 x 3`` convolution, no
            downsampling: 32 -> 32).
        dropout: dropout probability of the output classifier (0.4 in the paper).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \text{num\_classes})` scores in evaluation mode (or without
          auxiliary classifiers); in training mode with them, a tuple ``(main, aux1, aux2)`` of
          three such tensors.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 width: float = 1.0, batch_norm: bool = False, stem: str = "imagenet",
                 dropout: float = 0.4):
        super().__init__()
        num_classes = integer(num_classes, "num_classes", minimum=1)
        in_channels = integer(in_channels, "in_channels", minimum=1)
        self.aux_logits = boolean(aux_logits, "aux_logits")
        width = real(width, "width", minimum=0.0, open_minimum=True)
        batch_norm = boolean(batch_norm, "batch_norm")
        dropout = real(dropout, "dropout", minimum=0.0, maximum=1.0, open_maximum=True)
        stem = check_choice(stem, "stem", ("imagenet", "cifar"))
        c64, c192 = _scaled(64, width), _scaled(192, width)
        if stem == "imagenet":
            # local response normalisation as in AlexNet (PyTorch's alpha is the paper's times n)
            def lrn():
                return [] if batch_norm else [nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)]

            self.stem = nn.Sequential(
                _conv(in_channels, c64, 7, stride=2, batch_norm=batch_norm),
                nn.MaxPool2d(3, stride=2, ceil_mode=True), *lrn(),
                _conv(c64, c64, 1, batch_norm=batch_norm),
                _conv(c64, c192, 3, batch_norm=batch_norm), *lrn(),
                nn.MaxPool2d(3, stride=2, ceil_mode=True))
        else:
            self.stem = _conv(in_channels, c192, 3, batch_norm=batch_norm)
        channels = c192
        self.inception = nn.ModuleDict()
        for row in GOOGLENET_TABLE:
            filters = [_scaled(c, width) for c in row[1:7]]
            module = Inception(channels, *filters, batch_norm=batch_norm)
            self.inception[row.name] = module
            channels = module.out_channels
            if row.name == "4a":
                aux1_channels = channels
            if row.name == "4d":
                aux2_channels = channels
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        if self.aux_logits:
            self.aux1 = AuxiliaryClassifier(aux1_channels, num_classes, width, batch_norm)
            self.aux2 = AuxiliaryClassifier(aux2_channels, num_classes, width, batch_norm)
        else:
            self.aux1 = self.aux2 = None
        if not self.fc.weight.is_meta:  # meta device: shapes only
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        aux = []
        for name, module in self.inception.items():
            x = module(x)
            if self.aux_logits and self.training and name in ("4a", "4d"):
                aux.append((self.aux1 if name == "4a" else self.aux2)(x))
            if name in POOL_AFTER:
                x = self.pool(x)
        main = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if aux:
            return main, aux[0], aux[1]
        return main


def googlenet_loss(outputs, target: torch.Tensor, aux_weight: float = AUX_WEIGHT) -> torch.Tensor:
    r"""Cross-entropy of the main classifier plus ``aux_weight`` times each auxiliary one.

    .. math:: J = J_{CE}(\hat y, y) + w\,\big(J_{CE}(\hat y_{aux1}, y) + J_{CE}(\hat y_{aux2}, y)\big)

    Args:
        outputs: the model's output: the scores ``(N, K)`` (evaluation mode, or a model without
            auxiliary classifiers) or the tuple ``(main, aux1, aux2)`` of training mode.
        target: class indices ``(N,)``.
        aux_weight: weight :math:`w` of each auxiliary loss (0.3 in the paper).

    Returns:
        The scalar loss (the mean over the batch).
    """
    aux_weight = real(aux_weight, "aux_weight", minimum=0.0)
    if isinstance(outputs, torch.Tensor):
        return F.cross_entropy(outputs, target)
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 3 or \
            not all(isinstance(o, torch.Tensor) for o in outputs):
        raise TypeError("outputs must be a tensor of scores or a tuple (main, aux1, aux2) of "
                        f"tensors, got {type(outputs).__name__}")
    main, aux1, aux2 = outputs
    return F.cross_entropy(main, target) + aux_weight * (F.cross_entropy(aux1, target)
                                                         + F.cross_entropy(aux2, target))


def googlenet_table_parameters(num_classes: int = 1000, in_channels: int = 3,
                               aux_logits: bool = False) -> int:
    """Parameters of the paper's GoogLeNet, computed from Table 1 alone (weights and biases).

    A ``k x k`` convolution from ``C_in`` to ``C_out`` channels has ``k*k*C_in*C_out + C_out``
    parameters, a linear layer ``n_in*n_out + n_out``. Written from the table independently of
    :class:`GoogLeNet`, so that the two can be compared.
    """
    num_classes = integer(num_classes, "num_classes", minimum=1)
    in_channels = integer(in_channels, "in_channels", minimum=1)
    aux_logits = boolean(aux_logits, "aux_logits")

    def conv(k, c_in, c_out):
        return k * k * c_in * c_out + c_out

    def dense(n_in, n_out):
        return n_in * n_out + n_out

    total = conv(7, in_channels, 64) + conv(1, 64, 64) + conv(3, 64, 192)
    channels, inputs = 192, {}
    for row in GOOGLENET_TABLE:
        inputs[row.name] = channels
        total += (conv(1, channels, row.n1x1) + conv(1, channels, row.n3x3_reduce)
                  + conv(3, row.n3x3_reduce, row.n3x3) + conv(1, channels, row.n5x5_reduce)
                  + conv(5, row.n5x5_reduce, row.n5x5) + conv(1, channels, row.pool_proj))
        channels = row.n1x1 + row.n3x3 + row.n5x5 + row.pool_proj
    total += dense(channels, num_classes)
    if aux_logits:
        for source in ("4b", "4e"):  # the inputs of 4b and 4e are the outputs of 4a and 4d
            total += conv(1, inputs[source], 128) + dense(128 * 4 * 4, 1024) + dense(1024, num_classes)
    return total


def classifier_parameters(num_classes: int = 1000) -> dict[str, int | float]:
    """Parameters of GoogLeNet's output classifier against AlexNet's fully connected layers.

    Both networks are built on PyTorch's ``meta`` device (shapes only, no memory) and their
    layers counted.

    Returns:
        A dict with ``googlenet`` (the linear layer after global average pooling),
        ``alexnet_4096`` (AlexNet's two hidden layers of 4096 units), ``alexnet`` (its three
        fully connected layers) and ``ratio`` (``alexnet / googlenet``).
    """
    from cnncourse.models.alexnet import AlexNet
    from cnncourse.models.profile import count_parameters

    num_classes = integer(num_classes, "num_classes", minimum=1)
    with torch.device("meta"):
        google = GoogLeNet(num_classes=num_classes, aux_logits=False)
        alex = AlexNet(num_classes=num_classes)
    dense = [m for m in alex.classifier if isinstance(m, nn.Linear)]
    result = {"googlenet": count_parameters(google.fc),
              "alexnet_4096": sum(count_parameters(m) for m in dense[:2]),
              "alexnet": sum(count_parameters(m) for m in dense)}
    result["ratio"] = result["alexnet"] / result["googlenet"]
    return result


_SOURCE = ("Szegedy et al. 2015, arXiv:1409.4842, Table 1 (5x5 branches, biases, no BN), "
           "weights + biases computed from the table{0}; torchvision's BN variant has 6,624,904")


@register_model("googlenet", family="googlenet", input_size=(3, 224, 224),
                reference_parameters=GOOGLENET_AUX_PARAMETERS,
                reference=_SOURCE.format(" and the auxiliary classifiers of Sec. 5 "
                                         f"({GOOGLENET_PARAMETERS:,} without them)"),
                chapter=CHAPTER, task="classification", loss="cnncourse.models.googlenet.googlenet_loss")
def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
              batch_norm: bool = False, dropout: float = 0.4) -> GoogLeNet:
    """GoogLeNet for 224 x 224 images (see :class:`GoogLeNet`)."""
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits,
                     batch_norm=batch_norm, stem="imagenet", dropout=dropout)


@register_model("googlenet_small", family="googlenet", input_size=(3, 32, 32), chapter=CHAPTER,
                task="classification", loss="cnncourse.models.googlenet.googlenet_loss")
def googlenet_small(num_classes: int = 10, in_channels: int = 3, width: float = 0.25,
                    aux_logits: bool = True, batch_norm: bool = True,
                    dropout: float = 0.4) -> GoogLeNet:
    """GoogLeNet's inception modules with ``width`` times the filters, for 32 x 32 images.

    A single ``3 x 3`` convolution replaces the stem; the two max poolings between module groups
    bring 32 x 32 maps to 16 x 16 (modules 4a-4e, where the auxiliary classifiers sit) and 8 x 8
    (5a, 5b). Batch normalisation is on by default.
    """
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits,
                     width=width, batch_norm=batch_norm, stem="cifar", dropout=dropout)
