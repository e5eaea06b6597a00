"""VGG networks (Simonyan and Zisserman, ICLR 2015, arXiv:1409.1556) and small versions of them.

VGG builds a deep network from one kind of layer only: ``3 x 3`` convolutions with stride 1 and
padding 1 (they keep the size of the feature maps), each followed by a ReLU, grouped in five
*stages*; a ``2 x 2 / 2`` max pooling after each stage halves the feature maps and the next stage
doubles the number of filters, up to 512. Two stacked ``3 x 3`` layers see a ``5 x 5`` window,
three see ``7 x 7``, with fewer weights than one large filter and more non-linearities. The
classifier is AlexNet's: 4096, 4096 and ``num_classes`` fully connected units with dropout.

Configurations of Table 1 of the paper built here:

==========  ==============================================  ===============================
name        filters per stage                                parameters (1000 classes)
==========  ==============================================  ===============================
VGG-11 (A)  64 | 128 | 256 256 | 512 512 | 512 512           132,863,336
VGG-16 (D)  64 64 | 128 128 | 256 x3 | 512 x3 | 512 x3       138,357,544
==========  ==============================================  ===============================

The counts are those of the paper's Table 2 (133 and 138 million) given exactly by
``torchvision.models.vgg11`` / ``vgg16``, which build the same layers. ``batch_norm=True`` adds a
batch normalisation after every convolution (not in the paper) and drops the convolution's bias,
which the normalisation's shift makes redundant: 132,866,088 and 138,361,768 parameters
(torchvision's ``vgg11_bn``/``vgg16_bn`` keep the redundant biases and have 2,752 and 4,224
more).
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._checks import boolean, int_tuple, integer, real
from cnncourse.registry import register_model

CHAPTER = "book/09-architectures"

VGG_STAGES = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
}
"""Filters of every ``3 x 3`` convolution, stage by stage (Table 1 of the paper, A and D)."""

VGG11_PARAMETERS = 132_863_336
VGG16_PARAMETERS = 138_357_544


def vgg_stage(in_channels: int, widths: tuple, batch_norm: bool) -> nn.Sequential:
    r"""One VGG stage: ``3 x 3`` convolutions (stride 1, padding 1), each followed by a ReLU.

    With ``batch_norm=True`` every convolution is followed by batch normalisation before its
    ReLU and has no bias (the normalisation's shift plays its role).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \text{widths}[-1], H, W)`.
    """
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Conv2d(in_channels, width, kernel_size=3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU(inplace=True))
        in_channels = width
    return nn.Sequential(*layers)


def scale_widths(stages: tuple, width: float) -> tuple:
    """Multiply every filter count by ``width`` (rounded, at least 1)."""
    return tuple(tuple(max(1, int(round(w * width))) for w in stage) for stage in stages)


def init_vgg_weights(model: nn.Module) -> None:
    """He initialisation for convolutions, N(0, 0.01) for linear layers, zero biases.

    Nothing is drawn for a model on the ``meta`` device (shapes only, used to count parameters).
    """
    if any(p.is_meta for p in model.parameters()):
        return
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)


class VGG(nn.Module):
    r"""Stages of ``3 x 3`` convolutions with max pooling between them, then three dense layers.

    The features of the last stage are average-pooled to ``pooled_size x pooled_size`` (at
    224 x 224 the stages leave ``7 x 7`` maps, which the pooling keeps as they are), flattened
    and classified by ``hidden``, ``hidden`` and ``num_classes`` units with ReLU and dropout.

    Args:
        stages: filters of each convolution, stage by stage (see :data:`VGG_STAGES`).
        num_classes: number of scores.
        in_channels: channels of the input image.
        batch_norm: batch normalisation after every convolution.
        hidden: units of the two hidden fully connected layers.
        dropout: dropout probability after each of the two hidden layers.
        pooled_size: side of the feature maps the classifier sees.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)` with ``H, W`` at least 32.
        - Output: :math:`(N, \text{num\_classes})` scores.
    """

    def __init__(self, stages: tuple, num_classes: int = 1000, in_channels: int = 3,
                 batch_norm: bool = False, hidden: int = 4096, dropout: float = 0.5,
                 pooled_size: int = 7):
        super().__init__()
        num_classes = integer(num_classes, "num_classes", minimum=1)
        in_channels = integer(in_channels, "in_channels", minimum=1)
        batch_norm = boolean(batch_norm, "batch_norm")
        hidden = integer(hidden, "hidden", minimum=1)
        dropout = real(dropout, "dropout", minimum=0.0, maximum=1.0, open_maximum=True)
        pooled_size = integer(pooled_size, "pooled_size", minimum=1)
        if not isinstance(stages, (tuple, list)) or not stages:
            raise TypeError(f"stages must be a non-empty tuple of tuples of ints, got {stages!r}")
        stages = tuple(int_tuple(s, f"stages[{i}]", minimum=1) for i, s in enumerate(stages))
        layers: list[nn.Module] = []
        channels = in_channels
        for widths in stages:
            layers += [vgg_stage(channels, widths, batch_norm), nn.MaxPool2d(2, 2)]
            channels = widths[-1]
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((pooled_size, pooled_size))
        self.classifier = nn.Sequential(
            nn.Linear(channels * pooled_size * pooled_size, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        init_vgg_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _vgg(config: str, num_classes, in_channels, batch_norm, dropout) -> VGG:
    return VGG(VGG_STAGES[config], num_classes=num_classes, in_channels=in_channels,
               batch_norm=batch_norm, hidden=4096, dropout=dropout, pooled_size=7)


def _vgg_small(config: str, num_classes, in_channels, width, batch_norm, hidden, dropout) -> VGG:
    width = real(width, "width", minimum=0.0, open_minimum=True)
    return VGG(scale_widths(VGG_STAGES[config], width), num_classes=num_classes,
               in_channels=in_channels, batch_norm=batch_norm, hidden=hidden, dropout=dropout,
               pooled_size=1)


_SOURCE = ("Simonyan & Zisserman 2015, arXiv:1409.1556, Table 1 config {0}; exact count as in "
           "torchvision.models.{1}")


@register_model("vgg11", family="vgg", input_size=(3, 224, 224),
                reference_parameters=VGG11_PARAMETERS, reference=_SOURCE.format("A", "vgg11"),
                chapter=CHAPTER, task="classification")
def vgg11(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          dropout: float = 0.5) -> VGG:
    """VGG-11 (configuration A) for 224 x 224 images."""
    return _vgg("vgg11", num_classes, in_channels, batch_norm, dropout)


@register_model("vgg16", family="vgg", input_size=(3, 224, 224),
                reference_parameters=VGG16_PARAMETERS, reference=_SOURCE.format("D", "vgg16"),
                chapter=CHAPTER, task="classification")
def vgg16(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D) for 224 x 224 images."""
    return _vgg("vgg16", num_classes, in_channels, batch_norm, dropout)


@register_model("vgg11_small", family="vgg", input_size=(3, 32, 32), chapter=CHAPTER,
                task="classification")
def vgg11_small(num_classes: int = 10, in_channels: int = 3, width: float = 0.25,
                batch_norm: bool = True, hidden: int = 256, dropout: float = 0.5) -> VGG:
    """VGG-11's stages with ``width`` times the filters, for 32 x 32 images.

    Five poolings bring a 32 x 32 image to ``1 x 1``; the classifier has ``hidden`` units.
    Batch normalisation is on by default: it lets the network train from scratch on small data.
    """
    return _vgg_small("vgg11", num_classes, in_channels, width, batch_norm, hidden, dropout)


@register_model("vgg16_small", family="vgg", input_size=(3, 32, 32), chapter=CHAPTER,
                task="classification")
def vgg16_small(num_classes: int = 10, in_channels: int = 3, width: float = 0.25,
                batch_norm: bool = True, hidden: int = 256, dropout: float = 0.5) -> VGG:
    """VGG-16's stages with ``width`` times the filters, for 32 x 32 images (see vgg11_small)."""
    return _vgg_small("vgg16", num_classes, in_channels, width, batch_norm, hidden, dropout)
