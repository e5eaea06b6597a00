"""AlexNet, ZFNet and a small AlexNet for 32 x 32 images, built from ``torch.nn`` layers.

AlexNet (Krizhevsky, Sutskever and Hinton, 2012) is the reference classifier of the course: five
convolutional layers with ReLU activations and three max-pooling layers extract features, then
three fully connected layers (4096, 4096, number of classes) classify them, and a softmax turns
the last layer's scores into class probabilities. Like every classifier of
:mod:`cnncourse.models`, the modules here return the *scores* (logits); the softmax belongs to
the loss (:func:`torch.nn.functional.cross_entropy`) or to the prediction
(``logits.softmax(dim=1)``).

Two published configurations exist:

* the single-tower network of Krizhevsky's "One weird trick for parallelizing convolutional
  neural networks" (arXiv:1404.5997, 2014), the one ``torchvision.models.alexnet`` builds:
  64, 192, 384, 256, 256 filters, every filter sees every input channel, 61,100,840 parameters
  for 1000 classes. :func:`alexnet` builds it by default and the registry gives its count;
* the two-GPU network of the 2012 paper: 96, 256, 384, 384, 256 filters where layers 2, 4 and 5
  only see the channels on their own GPU (``groups=2``), local response normalisation after
  layers 1 and 2, 60,965,224 parameters. ``alexnet(grouped=True)`` builds it.

ZFNet (Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
arXiv:1311.2901) keeps AlexNet's plan but looks at the image through a finer first layer,
``[7 x 7 / 2 | 3 -> 96]`` instead of ``[11 x 11 / 4]``, uses stride 2 in layer 2 and dense
connections in layers 3-5 (Fig. 3 of the paper). The paper gives no parameter total; the count
registered here, 62,357,608, is the sum over the layers of its Fig. 3
(``k*k*C_in*C_out + C_out`` for each convolution, ``n_in*n_out + n_out`` for each fully
connected layer), which :func:`zfnet_layer_parameters` lists.
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._checks import boolean, int_tuple, integer, real
from cnncourse.registry import register_model

CHAPTER = "book/09-architectures"

ALEXNET_PARAMETERS = 61_100_840
"""Parameters of the single-tower AlexNet for 1000 classes (arXiv:1404.5997; torchvision)."""

ALEXNET_GROUPED_PARAMETERS = 60_965_224
"""Parameters of the two-GPU AlexNet of the 2012 paper for 1000 classes (``groups=2``)."""

ZFNET_PARAMETERS = 62_357_608
"""Parameters of ZFNet for 1000 classes, summed over the layers of Fig. 3 of arXiv:1311.2901."""


def _paper_lrn() -> nn.LocalResponseNorm:
    """The local response normalisation of AlexNet (k=2, n=5, alpha=1e-4, beta=0.75).

    The paper writes :math:`b = a / (k + \\alpha \\sum a^2)^\\beta`; PyTorch divides ``alpha``
    by the window size ``n``, so the paper's ``alpha = 1e-4`` is PyTorch's ``alpha = 5e-4``.
    """
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


def _classifier(in_features: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Three fully connected layers with dropout before the first two (AlexNet's classifier)."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def _check_classifier_args(num_classes, in_channels, dropout) -> tuple[int, int, float]:
    num_classes = integer(num_classes, "num_classes", minimum=1)
    in_channels = integer(in_channels, "in_channels", minimum=1)
    dropout = real(dropout, "dropout", minimum=0.0, maximum=1.0, open_maximum=True)
    return num_classes, in_channels, dropout


class AlexNet(nn.Module):
    r"""Five convolutional layers, then three fully connected layers.

    Every convolution is followed by a ReLU, :math:`\max(u, 0)`; max pooling ``[3 x 3 / 2]``
    (overlapping windows) follows layers 1, 2 and 5. An adaptive average pooling brings the last
    feature maps to ``6 x 6`` so that the classifier sees ``256 * 6 * 6 = 9216`` features for any
    input of at least 63 x 63 pixels (at 224 x 224 it changes nothing).

    Args:
        num_classes: number of scores the last layer returns.
        in_channels: channels of the input image.
        dropout: dropout probability before the first two fully connected layers.
        grouped: build the two-GPU network of the 2012 paper (96, 256, 384, 384, 256 filters,
            ``groups=2`` in layers 2, 4, 5, local response normalisation) instead of the
            single-tower one (64, 192, 384, 256, 256 filters).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, e.g. ``(N, 3, 224, 224)``.
        - Output: :math:`(N, \text{num\_classes})` scores (apply a softmax for probabilities).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 grouped: bool = False):
        super().__init__()
        num_classes, in_channels, dropout = _check_classifier_args(num_classes, in_channels, dropout)
        grouped = boolean(grouped, "grouped")
        widths, groups = ((96, 256, 384, 384, 256), (1, 2, 1, 2, 2)) if grouped else \
            ((64, 192, 384, 256, 256), (1, 1, 1, 1, 1))
        norm = [_paper_lrn] if grouped else []
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=2, groups=groups[0]),
            nn.ReLU(inplace=True),
            *(make() for make in norm),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups[1]),
            nn.ReLU(inplace=True),
            *(make() for make in norm),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1, groups=groups[2]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups[3]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups[4]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(c5 * 6 * 6, 4096, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class ZFNet(nn.Module):
    r"""ZFNet: AlexNet with a ``[7 x 7 / 2 | 3 -> 96]`` first layer (Zeiler and Fergus, Fig. 3).

    Layer sizes at a 224 x 224 input: conv ``7x7/2`` 96 -> 110 x 110, max pool ``3x3/2`` ->
    55 x 55, contrast normalisation; conv ``5x5/2`` 256 -> 26 x 26, max pool -> 13 x 13,
    contrast normalisation; conv ``3x3`` 384, 384, 256 -> 13 x 13, max pool -> 6 x 6; fully
    connected 4096, 4096, ``num_classes``. The contrast normalisation is the same local response
    normalisation as in AlexNet.

    Args:
        num_classes: number of scores the last layer returns.
        in_channels: channels of the input image.
        dropout: dropout probability before the first two fully connected layers.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, e.g. ``(N, 3, 224, 224)``.
        - Output: :math:`(N, \text{num\_classes})` scores.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        num_classes, in_channels, dropout = _check_classifier_args(num_classes, in_channels, dropout)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, kernel_size=7, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            _paper_lrn(),
            nn.Conv2d(96, 256, kernel_size=5, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            _paper_lrn(),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(256 * 6 * 6, 4096, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def zfnet_layer_parameters(num_classes: int = 1000, in_channels: int = 3) -> dict[str, int]:
    """Parameters of each layer of ZFNet, computed from the layer table (Fig. 3 of the paper).

    A convolution with ``C_in`` input channels, ``C_out`` filters of ``k x k`` has
    ``k*k*C_in*C_out`` weights and ``C_out`` biases; a fully connected layer from ``n_in`` to
    ``n_out`` units has ``n_in*n_out + n_out``. Written from the paper's table, independently
    of :class:`ZFNet`, so that the two can be compared.
    """
    num_classes = integer(num_classes, "num_classes", minimum=1)
    in_channels = integer(in_channels, "in_channels", minimum=1)
    convolutions = {"conv1": (7, in_channels, 96), "conv2": (5, 96, 256), "conv3": (3, 256, 384),
                    "conv4": (3, 384, 384), "conv5": (3, 384, 256)}
    dense = {"fc6": (6 * 6 * 256, 4096), "fc7": (4096, 4096), "fc8": (4096, num_classes)}
    counts = {name: k * k * c_in * c_out + c_out for name, (k, c_in, c_out) in convolutions.items()}
    counts.update({name: n_in * n_out + n_out for name, (n_in, n_out) in dense.items()})
    return counts


class SmallAlexNet(nn.Module):
    r"""AlexNet's plan for 32 x 32 images: five 3 x 3 convolutions, three fully connected layers.

    ``conv(w1) - pool - conv(w2) - pool - conv(w3) - conv(w4) - conv(w5) - pool`` brings a
    32 x 32 image to ``4 x 4`` feature maps (an adaptive average pooling makes that size exact
    for other inputs), then ``hidden``, ``hidden`` and ``num_classes`` units with dropout before
    the first two, as in AlexNet. Every convolution is followed by a ReLU; pooling is
    ``[2 x 2 / 2]``.

    Args:
        num_classes: number of scores.
        in_channels: channels of the input image.
        widths: filters of the five convolutional layers.
        hidden: units of the two hidden fully connected layers.
        dropout: dropout probability.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, e.g. ``(N, 3, 32, 32)``.
        - Output: :math:`(N, \text{num\_classes})` scores.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3,
                 widths: tuple = (64, 128, 256, 256, 128), hidden: int = 512, dropout: float = 0.5):
        super().__init__()
        num_classes, in_channels, dropout = _check_classifier_args(num_classes, in_channels, dropout)
        widths = int_tuple(widths, "widths", length=5, minimum=1)
        hidden = integer(hidden, "hidden", minimum=1)
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.classifier = _classifier(c5 * 4 * 4, hidden, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@register_model("alexnet", family="alexnet", input_size=(3, 224, 224),
                reference_parameters=ALEXNET_PARAMETERS,
                reference="Krizhevsky 2014, 'One weird trick...', arXiv:1404.5997 (single tower; "
                          "torchvision.models.alexnet: 61,100,840)",
                chapter=CHAPTER, task="classification")
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
            grouped: bool = False) -> AlexNet:
    """AlexNet for 224 x 224 images (see :class:`AlexNet`); ``grouped=True`` for the 2012 paper."""
    return AlexNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout, grouped=grouped)


@register_model("zfnet", family="alexnet", input_size=(3, 224, 224),
                reference_parameters=ZFNET_PARAMETERS,
                reference="Zeiler & Fergus 2014, arXiv:1311.2901, Fig. 3 (count summed over its "
                          "layers: no total is printed in the paper)",
                chapter=CHAPTER, task="classification")
def zfnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> ZFNet:
    """ZFNet for 224 x 224 images (see :class:`ZFNet`)."""
    return ZFNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout)


@register_model("alexnet_small", family="alexnet", input_size=(3, 32, 32), chapter=CHAPTER,
                task="classification")
def alexnet_small(num_classes: int = 10, in_channels: int = 3,
                  widths: tuple = (64, 128, 256, 256, 128), hidden: int = 512,
                  dropout: float = 0.5) -> SmallAlexNet:
    """AlexNet's plan for 32 x 32 images (see :class:`SmallAlexNet`)."""
    return SmallAlexNet(num_classes=num_classes, in_channels=in_channels, widths=widths,
                        hidden=hidden, dropout=dropout)
