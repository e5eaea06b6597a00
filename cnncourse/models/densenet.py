r"""Densely connected networks (Huang, Liu, van der Maaten and Weinberger, CVPR 2017,
arXiv:1608.06993).

Inside a *dense block* every layer receives the feature maps of all the layers before it,
concatenated along the channels, and passes its own to all the layers after it:

.. math:: x_\ell = H_\ell\big([x_0, x_1, \dots, x_{\ell-1}]\big)

where :math:`[\cdot]` is concatenation and :math:`H_\ell` is batch normalisation, ReLU and a
``3 x 3`` convolution producing :math:`k` maps, the *growth rate*. A ResNet adds a module's input
to its output; a DenseNet keeps both side by side, so features are reused rather than
re-learned, and each layer can be thin (``k = 12`` or ``32`` filters). The block's output has
:math:`k_0 + \ell k` channels after :math:`\ell` layers.

Two refinements make the network compact (DenseNet-BC):

* **bottleneck** (B): a ``1 x 1`` convolution to :math:`4k` maps before each ``3 x 3`` one, so
  the expensive layer sees few channels whatever the block's width;
* **compression** (C): between blocks, a *transition layer* (batch normalisation, ReLU, ``1 x 1``
  convolution, ``2 x 2`` average pooling) halves the feature maps and keeps only a fraction
  :math:`\theta` of the channels (:math:`\theta = 0.5`).

DenseNet-121 (ImageNet, ``k = 32``, blocks of 6, 12, 24, 16 layers, Table 1 of the paper) has
7,978,856 parameters (the count of ``torchvision.models.densenet121``, which builds the same
layers; the paper prints no exact total). The
CIFAR networks of Sec. 4 have three blocks on 32 x 32, 16 x 16 and 8 x 8 maps; Table 2 lists their
parameters (e.g. DenseNet ``L = 40, k = 12``: 1.0M; DenseNet-BC ``L = 100, k = 12``: 0.8M).
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._checks import boolean, check_choice, int_tuple, integer, real
from cnncourse.registry import register_model

CHAPTER = "book/09-architectures"

DENSENET121_PARAMETERS = 7_978_856

CIFAR_TABLE2_PARAMETERS = {
    # (depth, growth_rate, bottleneck and compression): parameters as printed in Table 2
    (40, 12, False): 1.0e6, (100, 12, False): 7.0e6, (100, 24, False): 27.2e6,
    (100, 12, True): 0.8e6, (250, 24, True): 15.3e6, (190, 40, True): 25.6e6,
}
"""Parameters of the CIFAR DenseNets (C10, 10 classes) as printed in Table 2 of the paper."""


class DenseLayer(nn.Module):
    r"""BN-ReLU-conv ``3 x 3`` producing ``growth_rate`` maps, with an optional bottleneck
    BN-ReLU-conv ``1 x 1`` to ``bn_size * growth_rate`` maps before it.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)` (the concatenation of all earlier maps).
        - Output: :math:`(N, k, H, W)`, only the new maps.
    """

    def __init__(self, in_channels: int, growth_rate: int, bottleneck: bool = True,
                 bn_size: int = 4, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        if bottleneck:
            inner = bn_size * growth_rate
            layers += [nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                       nn.Conv2d(in_channels, inner, 1, bias=False)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_channels = inner
        layers += [nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                   nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DenseBlock(nn.Module):
    r"""``num_layers`` dense layers, each fed with the concatenation of the block's input and
    every earlier layer's output.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, C_{in} + \text{num\_layers} \cdot k, H, W)`.
    """

    def __init__(self, in_channels: int, num_layers: int, growth_rate: int,
                 bottleneck: bool = True, bn_size: int = 4, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck, bn_size, dropout)
            for i in range(num_layers))
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN, ReLU, ``1 x 1`` convolution to ``out_channels``, ``2 x 2`` average pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False),
                         nn.AvgPool2d(2, stride=2))


class DenseNet(nn.Module):
    r"""A stem, dense blocks with transition layers between them, BN-ReLU, global average
    pooling and a linear layer.

    Args:
        blocks: dense layers per block.
        growth_rate: :math:`k`, maps added by every dense layer.
        num_classes: number of scores.
        in_channels: channels of the input image.
        stem_channels: channels after the stem (:math:`k_0`).
        stem: ``"imagenet"`` (``7 x 7 / 2`` convolution, BN, ReLU, ``3 x 3 / 2`` max pooling) or
            ``"cifar"`` (one ``3 x 3`` convolution).
        bottleneck: ``1 x 1`` bottleneck of ``bn_size * k`` maps before every ``3 x 3``.
        compression: :math:`\theta \in (0, 1]`, fraction of channels a transition keeps
            (``floor(theta * C)``).
        bn_size: bottleneck width in multiples of :math:`k`.
        dropout: dropout after every convolution of the dense layers.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \text{num\_classes})` scores.
    """

    def __init__(self, blocks: tuple, growth_rate: int, num_classes: int = 1000,
                 in_channels: int = 3, stem_channels: int = 64, stem: str = "imagenet",
                 bottleneck: bool = True, compression: float = 0.5, bn_size: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        blocks = int_tuple(blocks, "blocks", minimum=1)
        growth_rate = integer(growth_rate, "growth_rate", minimum=1)
        num_classes = integer(num_classes, "num_classes", minimum=1)
        in_channels = integer(in_channels, "in_channels", minimum=1)
        stem_channels = integer(stem_channels, "stem_channels", minimum=1)
        bottleneck = boolean(bottleneck, "bottleneck")
        compression = real(compression, "compression", minimum=0.0, maximum=1.0, open_minimum=True)
        bn_size = integer(bn_size, "bn_size", minimum=1)
        dropout = real(dropout, "dropout", minimum=0.0, maximum=1.0, open_maximum=True)
        stem = check_choice(stem, "stem", ("imagenet", "cifar"))
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(stem_channels), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        channels = stem_channels
        for index, num_layers in enumerate(blocks):
            block = DenseBlock(channels, num_layers, growth_rate, bottleneck, bn_size, dropout)
            stages.append(block)
            channels = block.out_channels
            if index < len(blocks) - 1:
                reduced = int(compression * channels)
                stages.append(Transition(channels, reduced))
                channels = reduced
        stages += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        if not self.classifier.weight.is_meta:  # meta device: shapes only
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight)
                elif isinstance(module, nn.BatchNorm2d):
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
                elif isinstance(module, nn.Linear):
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(x))
        return self.classifier(torch.flatten(self.avgpool(x), 1))


@register_model("densenet121", family="densenet", input_size=(3, 224, 224),
                reference_parameters=DENSENET121_PARAMETERS,
                reference="Huang et al. 2017, arXiv:1608.06993, Table 1 (DenseNet-121, k=32); "
                          "exact count as in torchvision.models.densenet121",
                chapter=CHAPTER, task="classification")
def densenet121(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.0) -> DenseNet:
    """DenseNet-121 for 224 x 224 images: ``k = 32``, blocks of 6, 12, 24 and 16 layers, BC."""
    return DenseNet((6, 12, 24, 16), 32, num_classes=num_classes, in_channels=in_channels,
                    stem_channels=64, stem="imagenet", bottleneck=True, compression=0.5,
                    dropout=dropout)


@register_model("densenet_cifar", family="densenet", input_size=(3, 32, 32), chapter=CHAPTER,
                reference="Huang et al. 2017, arXiv:1608.06993, Sec. 3-4 and Table 2",
                task="classification")
def densenet_cifar(depth: int = 40, growth_rate: int = 12, num_classes: int = 10,
                   in_channels: int = 3, bottleneck: bool = True, compression: float = 0.5,
                   dropout: float = 0.0) -> DenseNet:
    """The CIFAR DenseNet of depth ``L``: three dense blocks, a ``3 x 3`` stem.

    Without bottleneck every block has ``(L - 4) / 3`` layers and the stem 16 maps; with it
    (DenseNet-BC) ``(L - 4) / 6`` bottleneck layers (two convolutions each) and ``2k`` maps. The
    paper's DenseNet-BC uses ``compression=0.5``, its plain DenseNet ``compression=1``. The
    default (``L = 40``, ``k = 12``, BC) has 176,122 parameters and trains on a CPU.
    """
    depth = integer(depth, "depth", minimum=7)
    bottleneck = boolean(bottleneck, "bottleneck")
    growth_rate = integer(growth_rate, "growth_rate", minimum=1)
    per_layer = 6 if bottleneck else 3
    if (depth - 4) % per_layer:
        raise ValueError(f"depth must be {per_layer}n + 4 with bottleneck={bottleneck}, got {depth}")
    n = (depth - 4) // per_layer
    stem_channels = 2 * growth_rate if bottleneck else 16
    return DenseNet((n, n, n), growth_rate, num_classes=num_classes, in_channels=in_channels,
                    stem_channels=stem_channels, stem="cifar", bottleneck=bottleneck,
                    compression=compression, dropout=dropout)
