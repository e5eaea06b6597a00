r"""Residual networks (He, Zhang, Ren and Sun, CVPR 2016, arXiv:1512.03385) and their plain twins.

The residual module adds its input to the output of two convolutional layers before the last
activation:

.. math::
    A^{(l+2)} = f\Big(A^{(l)} + \mathrm{BN}_{l+2}\big(W^{(l+2)} * f(\mathrm{BN}_{l+1}(W^{(l+1)} * A^{(l)}))\big)\Big)

with :math:`f` the ReLU and batch normalisation before each activation. The layers only have to
learn the *difference* between their output and their input; if the identity is best, pushing the
weights to zero gives it. The convolutions carry no bias: the normalisation subtracts the mean
over the batch, which would cancel any bias, and its shift :math:`\beta` takes the bias's place.

When a module halves the feature maps and doubles the filters, the shortcut cannot be the
identity. The paper offers two shortcuts: (A) take every second pixel and pad the new channels
with zeros (no parameters, used for CIFAR-10), (B) a ``1 x 1`` convolution with stride 2 and batch
normalisation, a *projection* (used for ImageNet). Both are here (``shortcut="pad"`` or
``"projection"``).

ResNet-50 replaces the pair of ``3 x 3`` layers by a *bottleneck*: ``1 x 1`` to reduce the
channels four times, ``3 x 3``, ``1 x 1`` to expand them again. The stride-2 convolution of a
bottleneck is its ``3 x 3`` one (as in torchvision, "ResNet v1.5"; the paper strides the first
``1 x 1``: same parameters, slightly more accurate).

Parameter counts for 1000 classes of the layers of Table 1 of the paper (the paper prints
operations, not parameters; these are the counts of ``torchvision.models``, which builds the
same layers): ResNet-18 11,689,512; ResNet-34 21,797,672; ResNet-50 25,557,032.

The CIFAR-10 networks of Sec. 4.2 have ``6n + 2`` layers: a ``3 x 3`` convolution with 16 filters,
three stages of ``n`` modules with 16, 32 and 64 filters on 32 x 32, 16 x 16 and 8 x 8 maps, global
average pooling and one fully connected layer; Table 6 gives 0.27M, 0.46M, 0.66M, 0.85M and 1.7M
parameters for 20, 32, 44, 56 and 110 layers (shortcut A). :func:`plain_cifar` builds the same
network with no shortcut at all, the "plain" network of the paper's degradation experiment
(Fig. 6): deeper plain networks train *worse*, deeper residual ones better.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import boolean, check_choice, int_tuple, integer
from cnncourse.registry import register_model

CHAPTER = "book/09-architectures"

SHORTCUTS = ("pad", "projection")

RESNET18_PARAMETERS = 11_689_512
RESNET34_PARAMETERS = 21_797_672
RESNET50_PARAMETERS = 25_557_032

CIFAR_TABLE6_PARAMETERS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}
"""Parameters of the CIFAR-10 ResNets as printed (rounded) in Table 6 of the paper."""


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class PadShortcut(nn.Module):
    r"""Shortcut A: keep every ``stride``-th pixel and append zero channels.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, C_{out}, \lceil H/s \rceil, \lceil W/s \rceil)`.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"out_channels must be at least in_channels={in_channels} for a "
                             f"zero-padding shortcut, got {out_channels}")
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


def _shortcut(kind: str, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """The identity when shapes agree, otherwise shortcut A (``"pad"``) or B (``"projection"``)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if kind == "pad":
        return PadShortcut(in_channels, out_channels, stride)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    r"""Two ``3 x 3`` convolutions with batch normalisation before each ReLU, plus a shortcut.

    .. math:: y = \mathrm{ReLU}\big(s(x) + \mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x)))\big)

    where :math:`s` is the shortcut; with ``residual=False`` the :math:`s(x)` term is dropped
    (the plain network's layer pair).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, C_{out}, \lceil H/s \rceil, \lceil W/s \rceil)`.
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1, shortcut: str = "projection",
                 residual: bool = True):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(shortcut, in_channels, width, stride) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    r"""``1 x 1`` reduce, ``3 x 3``, ``1 x 1`` expand (x4), each with BN before the ReLU, plus a
    shortcut.

    .. math:: y = \mathrm{ReLU}\big(s(x) + \mathrm{BN}(W_3 * \mathrm{ReLU}(\mathrm{BN}(W_2 *
              \mathrm{ReLU}(\mathrm{BN}(W_1 * x))))))\big)

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, 4\,\text{width}, \lceil H/s \rceil, \lceil W/s \rceil)`.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, shortcut: str = "projection",
                 residual: bool = True):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(shortcut, in_channels, out_channels, stride) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class ResNet(nn.Module):
    r"""A stem, stages of residual modules, global average pooling and one linear layer.

    Stage ``i`` has ``blocks[i]`` modules with ``widths[i]`` filters (times the block's
    expansion); every stage after the first starts with a stride-2 module that halves the maps.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        blocks: modules per stage.
        widths: filters per stage.
        num_classes: number of scores.
        in_channels: channels of the input image.
        stem: ``"imagenet"`` (``7 x 7 / 2`` convolution with 64 filters and a ``3 x 3 / 2`` max
            pooling: a 224 x 224 image becomes 56 x 56) or ``"cifar"`` (one ``3 x 3`` convolution
            with ``widths[0]`` filters, no downsampling).
        shortcut: ``"projection"`` (B) or ``"pad"`` (A), used where a module changes the shape.
        residual: ``False`` drops every shortcut: the plain twin of the same network.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \text{num\_classes})` scores.
    """

    def __init__(self, block: type, blocks: tuple, widths: tuple, num_classes: int = 1000,
                 in_channels: int = 3, stem: str = "imagenet", shortcut: str = "projection",
                 residual: bool = True):
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise TypeError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        blocks = int_tuple(blocks, "blocks", minimum=1)
        widths = int_tuple(widths, "widths", length=len(blocks), minimum=1)
        num_classes = integer(num_classes, "num_classes", minimum=1)
        in_channels = integer(in_channels, "in_channels", minimum=1)
        stem = check_choice(stem, "stem", ("imagenet", "cifar"))
        shortcut = check_choice(shortcut, "shortcut", SHORTCUTS)
        residual = boolean(residual, "residual")
        if stem == "imagenet":
            channels = 64
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1))
        else:
            channels = widths[0]
            self.stem = nn.Sequential(_conv3x3(in_channels, channels), nn.BatchNorm2d(channels),
                                      nn.ReLU(inplace=True))
        stages = []
        for index, (count, width) in enumerate(zip(blocks, widths)):
            modules = []
            for position in range(count):
                stride = 2 if index > 0 and position == 0 else 1
                modules.append(block(channels, width, stride, shortcut, residual))
                channels = width * block.expansion
            stages.append(nn.Sequential(*modules))
        self.stages = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        if not self.fc.weight.is_meta:  # meta device: shapes only
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(module, nn.BatchNorm2d):
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


_SOURCE = ("He et al. 2016, arXiv:1512.03385, Table 1 ({0}-layer, projection shortcuts where the "
           "shape changes); exact count as in torchvision.models.resnet{0}")


def _imagenet(block, blocks, num_classes, in_channels, shortcut) -> ResNet:
    return ResNet(block, blocks, (64, 128, 256, 512), num_classes=num_classes,
                  in_channels=in_channels, stem="imagenet", shortcut=shortcut)


@register_model("resnet18", family="resnet", input_size=(3, 224, 224),
                reference_parameters=RESNET18_PARAMETERS, reference=_SOURCE.format(18),
                chapter=CHAPTER, task="classification")
def resnet18(num_classes: int = 1000, in_channels: int = 3, shortcut: str = "projection") -> ResNet:
    """ResNet-18: basic modules, (2, 2, 2, 2) per stage, for 224 x 224 images."""
    return _imagenet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, shortcut)


@register_model("resnet34", family="resnet", input_size=(3, 224, 224),
                reference_parameters=RESNET34_PARAMETERS, reference=_SOURCE.format(34),
                chapter=CHAPTER, task="classification")
def resnet34(num_classes: int = 1000, in_channels: int = 3, shortcut: str = "projection") -> ResNet:
    """ResNet-34: basic modules, (3, 4, 6, 3) per stage, for 224 x 224 images."""
    return _imagenet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, shortcut)


@register_model("resnet50", family="resnet", input_size=(3, 224, 224),
                reference_parameters=RESNET50_PARAMETERS, reference=_SOURCE.format(50),
                chapter=CHAPTER, task="classification")
def resnet50(num_classes: int = 1000, in_channels: int = 3, shortcut: str = "projection") -> ResNet:
    """ResNet-50: bottleneck modules, (3, 4, 6, 3) per stage, for 224 x 224 images."""
    return _imagenet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, shortcut)


def _cifar(depth, num_classes, in_channels, width, shortcut, residual) -> ResNet:
    depth = integer(depth, "depth", minimum=8)
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
    width = integer(width, "width", minimum=1)
    n = (depth - 2) // 6
    return ResNet(BasicBlock, (n, n, n), (width, 2 * width, 4 * width), num_classes=num_classes,
                  in_channels=in_channels, stem="cifar", shortcut=shortcut, residual=residual)


@register_model("resnet_cifar", family="resnet", input_size=(3, 32, 32), chapter=CHAPTER,
                reference="He et al. 2016, arXiv:1512.03385, Sec. 4.2 and Table 6",
                task="classification")
def resnet_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16,
                 shortcut: str = "pad") -> ResNet:
    """The CIFAR-10 ResNet with ``depth = 6n + 2`` layers (20 gives ResNet-20, 0.27M parameters).

    ``width`` is the number of filters of the first stage (16 in the paper; the others have
    twice and four times as many).
    """
    return _cifar(depth, num_classes, in_channels, width, shortcut, residual=True)


@register_model("plain_cifar", family="resnet", input_size=(3, 32, 32), chapter=CHAPTER,
                reference="He et al. 2016, arXiv:1512.03385, Sec. 4.2 (plain networks, Fig. 6)",
                task="classification")
def plain_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                width: int = 16) -> ResNet:
    """:func:`resnet_cifar` without shortcuts: the same layers, for the degradation experiment."""
    return _cifar(depth, num_classes, in_channels, width, "pad", residual=False)
