r"""VGG-16 with trainable visual attention, after Jetley, Lord, Lee and Torr, "Learn to Pay
Attention", ICLR 2018 (arXiv:1804.02391).

A plain classifier decides from one global feature vector :math:`g` computed at the end of the
network. Here the network also looks back at *local* features :math:`l_i` (the feature vector at
pixel :math:`i` of an intermediate layer) and asks how well each of them agrees with :math:`g`.
For every chosen layer:

.. math::
    c_i = \langle u,\, l_i + g \rangle \quad\text{("pc", parametrised compatibility)}
    \qquad\text{or}\qquad c_i = \langle l_i, g \rangle \quad\text{("dp", dot product)}

.. math::
    a_i = \frac{e^{c_i}}{\sum_j e^{c_j}}, \qquad g_a = \sum_i a_i\, l_i

The *attention map* :math:`a` is a softmax over the pixels (it sums to 1 over the image), and
:math:`g_a` the attention-weighted average of the local features. Local features whose number of
channels differs from :math:`g`'s are first mapped to it by a ``1 x 1`` convolution (a linear
projection, as in the paper). The classifier sees only the attended descriptors of the chosen
layers, concatenated, so the gradient forces the maps onto the pixels that decide the class;
the maps can be returned (``return_attention=True``) and drawn over the image.

The backbone is VGG-16's five stages (:data:`cnncourse.models.vgg.VGG_STAGES`), with batch
normalisation by default. The local features are the outputs of stages 3, 4 and 5 (before their
max pooling), as in the paper's VGG-att. ``early_pools`` says how many of the first two stages
are followed by max pooling: 2 for 224 x 224 images (maps of 56, 28 and 14 pixels), 0 for
32 x 32 images (32, 16 and 8 pixels), which keeps the maps fine enough to look at. The global
feature is the output of a linear layer on the average-pooled last feature maps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import boolean, check_choice, int_tuple, integer, real
from cnncourse.models.vgg import VGG_STAGES, init_vgg_weights, scale_widths, vgg_stage
from cnncourse.registry import register_model

CHAPTER = "book/09-architectures"

COMPATIBILITIES = ("pc", "dp")


class AttentionBlock(nn.Module):
    r"""Attention over one layer's local features, guided by the global feature.

    Args:
        local_channels: channels of the local features :math:`l`.
        global_channels: dimension of :math:`g`; a ``1 x 1`` convolution projects :math:`l` to it
            when the two differ.
        compatibility: ``"pc"`` (:math:`\langle u, l_i + g\rangle`, :math:`u` learnt) or ``"dp"``
            (:math:`\langle l_i, g\rangle`).

    Shape:
        - local: :math:`(N, C_l, H, W)`; g: :math:`(N, C_g)`.
        - Output: the attended descriptor :math:`(N, C_g)` and the attention map
          :math:`(N, 1, H, W)`, which sums to 1 over :math:`H, W`.
    """

    def __init__(self, local_channels: int, global_channels: int, compatibility: str = "pc"):
        super().__init__()
        self.compatibility = check_choice(compatibility, "compatibility", COMPATIBILITIES)
        if local_channels != global_channels:
            self.project = nn.Conv2d(local_channels, global_channels, 1, bias=False)
        else:
            self.project = nn.Identity()
        self.score = nn.Conv2d(global_channels, 1, 1, bias=False) if compatibility == "pc" else None

    def forward(self, local: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        local = self.project(local)
        n, c, h, w = local.shape
        g_map = g.view(n, c, 1, 1)
        if self.score is not None:
            scores = self.score(local + g_map)
        else:
            scores = (local * g_map).sum(dim=1, keepdim=True)
        attention = F.softmax(scores.view(n, 1, h * w), dim=2).view(n, 1, h, w)
        attended = (attention * local).sum(dim=(2, 3))
        return attended, attention


class AttentionVGG(nn.Module):
    r"""VGG-16 whose classifier reads attention-weighted local features of several stages.

    Args:
        num_classes: number of scores.
        in_channels: channels of the input image.
        width: multiplier of every filter count (1.0 is VGG-16).
        batch_norm: batch normalisation after every convolution.
        early_pools: 0, 1 or 2 max poolings after stages 1 and 2 (see the module docstring).
        attention_stages: the stages (1-5) whose outputs are attended.
        compatibility: ``"pc"`` or ``"dp"``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: scores :math:`(N, \text{num\_classes})`; with ``return_attention=True`` the
          pair ``(scores, maps)``, ``maps`` a list with one :math:`(N, 1, H_s, W_s)` tensor per
          attended stage.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
                 batch_norm: bool = True, early_pools: int = 2, attention_stages: tuple = (3, 4, 5),
                 compatibility: str = "pc"):
        super().__init__()
        num_classes = integer(num_classes, "num_classes", minimum=1)
        in_channels = integer(in_channels, "in_channels", minimum=1)
        width = real(width, "width", minimum=0.0, open_minimum=True)
        batch_norm = boolean(batch_norm, "batch_norm")
        self.early_pools = integer(early_pools, "early_pools", minimum=0, maximum=2)
        stages = int_tuple(attention_stages, "attention_stages", minimum=1)
        if any(s > 5 for s in stages) or len(set(stages)) != len(stages):
            raise ValueError(f"attention_stages must be distinct stage numbers in 1..5, got {stages}")
        self.attention_stages = tuple(sorted(stages))
        check_choice(compatibility, "compatibility", COMPATIBILITIES)
        self.stages = nn.ModuleList()
        channels, stage_channels = in_channels, []
        for widths in scale_widths(VGG_STAGES["vgg16"], width):
            self.stages.append(vgg_stage(channels, widths, batch_norm))
            channels = widths[-1]
            stage_channels.append(channels)
        self.pool = nn.MaxPool2d(2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.global_feature = nn.Linear(channels, channels)
        self.attention = nn.ModuleDict({
            str(s): AttentionBlock(stage_channels[s - 1], channels, compatibility)
            for s in self.attention_stages})
        self.classifier = nn.Linear(channels * len(self.attention_stages), num_classes)
        init_vgg_weights(self)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        return_attention = boolean(return_attention, "return_attention")
        local = {}
        for index, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if index in self.attention_stages:
                local[index] = x
            if index > 2 or index <= self.early_pools:
                x = self.pool(x)
        g = self.global_feature(torch.flatten(self.avgpool(x), 1))
        descriptors, maps = [], []
        for index in self.attention_stages:
            attended, attention = self.attention[str(index)](local[index], g)
            descriptors.append(attended)
            maps.append(attention)
        scores = self.classifier(torch.cat(descriptors, dim=1))
        return (scores, maps) if return_attention else scores


@register_model("attention_vgg16", family="attention", input_size=(3, 224, 224), chapter=CHAPTER,
                reference="Jetley et al. 2018, arXiv:1804.02391 (VGG-att, concatenation of the "
                          "attended descriptors); the paper prints no ImageNet-size count",
                task="classification")
def attention_vgg16(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = True,
                    attention_stages: tuple = (3, 4, 5), compatibility: str = "pc") -> AttentionVGG:
    """VGG-16 with attention at stages 3-5 for 224 x 224 images (maps of 56, 28, 14 pixels)."""
    return AttentionVGG(num_classes=num_classes, in_channels=in_channels, width=1.0,
                        batch_norm=batch_norm, early_pools=2, attention_stages=attention_stages,
                        compatibility=compatibility)


@register_model("attention_vgg16_small", family="attention", input_size=(3, 32, 32),
                chapter=CHAPTER, reference="Jetley et al. 2018, arXiv:1804.02391 (CIFAR setting)",
                task="classification")
def attention_vgg16_small(num_classes: int = 10, in_channels: int = 3, width: float = 0.25,
                          batch_norm: bool = True, attention_stages: tuple = (3, 4, 5),
                          compatibility: str = "pc") -> AttentionVGG:
    """VGG-16 with attention for 32 x 32 images: no pooling after stages 1-2, so the maps of
    stages 3, 4 and 5 have 32, 16 and 8 pixels; ``width`` times VGG-16's filters."""
    return AttentionVGG(num_classes=num_classes, in_channels=in_channels, width=width,
                        batch_norm=batch_norm, early_pools=0, attention_stages=attention_stages,
                        compatibility=compatibility)
