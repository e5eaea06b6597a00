r"""Instance segmentation: the centre-point detector plus one mask per detected object.

Semantic segmentation says which *class* each pixel shows; instance segmentation also tells
two objects of the same class apart: its answer is a list of objects, each with a class, a
score, a box and a mask of its *visible* pixels.

The model here is the detector of :mod:`cnncourse.models.detection` with a mask branch in the
spirit of YOLACT (Bolya et al. 2019, arXiv:1904.02689), which keeps everything dense and
simple:

* a **prototype head** paints :math:`P` masks for the whole image at stride 2, shared by all
  objects: :math:`M \in \mathbb R^{P \times H/2 \times W/2}` (after a ReLU);
* a **coefficient head** gives, at every cell of the detector's grid, :math:`P` coefficients in
  :math:`(-1, 1)` (a tanh);
* the mask of the object detected at cell :math:`(i, j)` is a mix of the prototypes with the
  coefficients read at that cell,

  .. math:: m = \sigma\Big(\operatorname{up}\big(\textstyle\sum_{p} c_{p, ij}\, M_p\big)\Big),

  upsampled bilinearly to the image, cut to the object's box and thresholded at 0.5.

Training (:class:`InstanceLoss`) adds to the detector's loss the binary cross-entropy of each
true object's mask, assembled from the coefficients at its true centre cell, against its true
visible mask, averaged over the pixels of its box (the pixels outside are cut away anyway).
Results are scored with the mask mAP (:func:`cnncourse.metrics.mean_average_precision` with
``iou_type="mask"``, :func:`evaluate_instances`).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import int_tuple, integer, real
from cnncourse.metrics import mean_average_precision
from cnncourse.models.detection import (decode_in_batches, HEAT_PRIOR, CenterNetLoss, _check_targets,
                                        decode_detections, prediction_head)
from cnncourse.models.segmentation import EncoderDecoder
from cnncourse.registry import register_model

CHAPTER = "book/16-instance-segmentation"


class InstanceSegmenter(nn.Module):
    r"""A centre-point detector with prototype masks and per-object mask coefficients.

    Args:
        num_classes: object classes ``K``.
        in_channels: channels of the input images.
        widths: channels of the trunk's levels (its decoder runs to level 1, stride 2).
        head_level: level of the detection heads (stride :math:`2^{\text{head\_level}}`, at least 2).
        head_width: channels of the hidden layer of each head.
        num_prototypes: :math:`P`, the shared masks.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, sides multiples of :math:`2^{\text{len(widths)} - 1}`.
        - Output: a dict with the detector's ``"heatmap"`` :math:`(N, K, h, w)`, ``"offset"`` and
          ``"size"`` :math:`(N, 2, h, w)` (see :class:`~cnncourse.models.detection.CenterNet`),
          ``"coefficients"`` :math:`(N, P, h, w)` and ``"prototypes"`` :math:`(N, P, H/2, W/2)`.
    """

    def __init__(self, num_classes: int = 5, in_channels: int = 3, widths: tuple = (8, 16, 32, 64, 128),
                 head_level: int = 2, head_width: int = 32, num_prototypes: int = 16):
        super().__init__()
        self.num_classes = integer(num_classes, "num_classes", minimum=1)
        widths = int_tuple(widths, "widths", minimum=1)
        self.head_level = integer(head_level, "head_level", minimum=2, maximum=len(widths) - 1)
        head_width = integer(head_width, "head_width", minimum=1)
        self.num_prototypes = integer(num_prototypes, "num_prototypes", minimum=1)
        self.trunk = EncoderDecoder(in_channels, widths, out_level=1)
        channels = widths[self.head_level]
        self.heatmap = prediction_head(channels, self.num_classes, head_width)
        self.offset = prediction_head(channels, 2, head_width)
        self.size = prediction_head(channels, 2, head_width)
        self.coefficients = prediction_head(channels, self.num_prototypes, head_width)
        self.prototypes = prediction_head(widths[1], self.num_prototypes, head_width)
        if not self.heatmap[-1].bias.is_meta:
            nn.init.constant_(self.heatmap[-1].bias, math.log(HEAT_PRIOR / (1 - HEAT_PRIOR)))

    @property
    def stride(self) -> int:
        """Pixels per cell of the detection grid."""
        return 2 ** self.head_level

    @property
    def prototype_stride(self) -> int:
        return 2

    def forward(self, x: torch.Tensor) -> dict:
        levels = self.trunk.levels(x)  # deepest first; the last is at stride 2
        features = levels[len(levels) - self.head_level]  # the level at stride 2 ** head_level
        return {"heatmap": self.heatmap(features), "offset": torch.sigmoid(self.offset(features)),
                "size": self.size(features), "coefficients": torch.tanh(self.coefficients(features)),
                "prototypes": F.relu(self.prototypes(levels[-1]))}

    def output_shapes(self, input_shape: tuple) -> dict:
        """The shape of every output for an input of shape ``(N, C, H, W)``."""
        n, _, h, w = input_shape
        cells = (h // self.stride, w // self.stride)
        return {"heatmap": (n, self.num_classes) + cells, "offset": (n, 2) + cells,
                "size": (n, 2) + cells, "coefficients": (n, self.num_prototypes) + cells,
                "prototypes": (n, self.num_prototypes, h // 2, w // 2)}


def assemble_masks(coefficients: torch.Tensor, prototypes: torch.Tensor, image_size: tuple) -> torch.Tensor:
    r"""Mask logits of objects: their coefficients times the prototypes of their image,
    upsampled bilinearly to the image.

    Shape:
        - coefficients: :math:`(M, P)`; prototypes: :math:`(M, P, h, w)` (the prototypes of the
          image of each object).
        - output: :math:`(M, H, W)` logits.
    """
    if coefficients.dim() != 2 or prototypes.dim() != 4 or prototypes.shape[:2] != coefficients.shape:
        raise ValueError(f"coefficients must be (M, P) and prototypes (M, P, h, w), got "
                         f"{tuple(coefficients.shape)} and {tuple(prototypes.shape)}")
    logits = torch.einsum("mp,mphw->mhw", coefficients, prototypes)
    if logits.shape[0] == 0:
        return logits.new_zeros((0,) + tuple(image_size))
    return F.interpolate(logits[:, None], size=tuple(image_size), mode="bilinear",
                         align_corners=False)[:, 0]


def box_masks(boxes: torch.Tensor, image_size: tuple, margin: float = 0.0) -> torch.Tensor:
    """``(M, H, W)`` bool: the pixels whose centres lie inside each box ``(M, 4)`` (pixels),
    grown by ``margin`` pixels on every side."""
    height, width = image_size
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32) + 0.5
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32) + 0.5
    boxes = boxes.float()
    inside_x = (xs[None] >= boxes[:, 0, None] - margin) & (xs[None] < boxes[:, 2, None] + margin)
    inside_y = (ys[None] >= boxes[:, 1, None] - margin) & (ys[None] < boxes[:, 3, None] + margin)
    return inside_y[:, :, None] & inside_x[:, None, :]


class InstanceLoss(CenterNetLoss):
    r"""The detector's loss plus the mask loss: ``L_det + mask_weight * L_mask``.

    :math:`L_{\text{mask}}` is the binary cross-entropy of every true object's assembled mask
    (coefficients read at its true centre cell) against its visible mask, averaged over the
    pixels of its box grown by ``margin`` pixels, then over the objects.

    Args:
        stride: pixels per cell of the detection grid (``model.stride``).
        size_weight, offset_weight: as in :class:`~cnncourse.models.detection.CenterNetLoss`.
        mask_weight: weight of the mask loss.
        margin: pixels added around each box for the mask loss.

    Call:
        ``loss(outputs, targets)``; targets are dicts with ``"boxes"``, ``"labels"`` and ``"masks"``.
    """

    def __init__(self, stride: int = 4, size_weight: float = 1.0, offset_weight: float = 1.0,
                 mask_weight: float = 1.0, margin: float = 2.0):
        super().__init__(stride, size_weight, offset_weight)
        self.mask_weight = real(mask_weight, "mask_weight", minimum=0.0)
        self.margin = real(margin, "margin", minimum=0.0)

    def __repr__(self) -> str:
        return (f"InstanceLoss(stride={self.stride}, size_weight={self.size_weight}, "
                f"offset_weight={self.offset_weight}, mask_weight={self.mask_weight}, "
                f"margin={self.margin})")

    def parts(self, outputs: dict, targets) -> dict:
        """The unweighted terms ``{"heat", "size", "offset", "mask"}``."""
        parts = super().parts(outputs, targets)
        if "coefficients" not in outputs or "prototypes" not in outputs:
            raise TypeError("outputs must hold 'coefficients' and 'prototypes' (an InstanceSegmenter)")
        targets = _check_targets(targets)
        prototypes = outputs["prototypes"].float()
        image, column, row, boxes, masks = [], [], [], [], []
        for index, target in enumerate(targets):
            if "masks" not in target:
                raise TypeError(f"targets[{index}] must hold 'masks' (InstanceScenes)")
            count = len(target["labels"])
            if count == 0:
                continue
            box = target["boxes"].reshape(-1, 4).float()
            centre = (box[:, :2] + box[:, 2:]) / 2
            cell = torch.floor(centre / self.stride).long()
            image.append(torch.full((count,), index, dtype=torch.long, device=box.device))
            column.append(cell[:, 0])
            row.append(cell[:, 1])
            boxes.append(box)
            masks.append(target["masks"].reshape(count, *target["masks"].shape[-2:]))
        if not image:
            parts["mask"] = prototypes.sum() * 0.0
            return parts
        image, column, row = torch.cat(image), torch.cat(column), torch.cat(row)
        coefficients = outputs["coefficients"].float()
        column = column.clamp(0, coefficients.shape[-1] - 1)
        row = row.clamp(0, coefficients.shape[-2] - 1)
        coefficients = coefficients[image, :, row, column]  # (M, P)
        masks = torch.cat(masks).float()
        logits = assemble_masks(coefficients, prototypes[image], masks.shape[-2:])
        weight = box_masks(torch.cat(boxes), masks.shape[-2:], self.margin).float()
        bce = F.binary_cross_entropy_with_logits(logits, masks, reduction="none")
        per_object = (bce * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2)).clamp(min=1)
        parts["mask"] = per_object.mean()
        return parts

    def __call__(self, outputs: dict, targets) -> torch.Tensor:
        parts = self.parts(outputs, targets)
        return (parts["heat"] + self.size_weight * parts["size"]
                + self.offset_weight * parts["offset"] + self.mask_weight * parts["mask"])


instance_loss = InstanceLoss()
"""The loss of the registered ``instance_segmenter`` (stride 4, unit weights)."""


def decode_instances(outputs: dict, stride: int, image_size=None, mask_threshold: float = 0.5,
                     **options) -> list:
    """Detections with masks from an :class:`InstanceSegmenter`'s outputs.

    The boxes, scores and labels come from
    :func:`~cnncourse.models.detection.decode_detections` (``options`` go to it); each detection's
    mask assembles the prototypes with the coefficients at its peak (:func:`assemble_masks`), is
    cut to its box and thresholded at ``mask_threshold``.

    Returns:
        One dict per image with ``"boxes"``, ``"scores"``, ``"labels"`` and ``"masks"``
        ``(D, H, W)`` bool (CPU tensors).
    """
    mask_threshold = real(mask_threshold, "mask_threshold", minimum=0.0, maximum=1.0)
    if not isinstance(outputs, dict) or "coefficients" not in outputs or "prototypes" not in outputs:
        raise TypeError("outputs must be an InstanceSegmenter's dict with 'coefficients' and "
                        "'prototypes'")
    stride = integer(stride, "stride", minimum=1)
    prototypes = outputs["prototypes"].detach().float()
    if image_size is None:
        image_size = tuple(s * 2 for s in prototypes.shape[-2:])
    detections = decode_detections(outputs, stride, image_size, return_indices=True, **options)
    coefficients = outputs["coefficients"].detach().float()
    logit_threshold = math.log(mask_threshold / (1 - mask_threshold)) if 0 < mask_threshold < 1 else (
        -math.inf if mask_threshold == 0 else math.inf)
    for b, detection in enumerate(detections):
        peaks = detection.pop("peaks").to(coefficients.device)
        row, column = peaks[:, 1], peaks[:, 2]
        mixed = coefficients[b][:, row, column].T  # (D, P)
        logits = assemble_masks(mixed, prototypes[b:b + 1].expand(len(mixed), -1, -1, -1), image_size)
        inside = box_masks(detection["boxes"].to(logits.device), image_size)
        detection["masks"] = ((logits > logit_threshold) & inside).cpu()
    return detections


@torch.no_grad()
def segment_instances(model: nn.Module, images, batch_size: int = 64, **options) -> list:
    """Run an :class:`InstanceSegmenter` in evaluation mode and decode its instances
    (:func:`decode_instances`; ``options`` go to it)."""
    return decode_in_batches(model, images, batch_size, decode_instances, **options)


def evaluate_instances(model: nn.Module, dataset, batch_size: int = 64, **options) -> dict:
    """Mask mAP@0.5, mask mAP@[.5:.95] and box mAP@0.5 on an instance data set.

    Args:
        model: an :class:`InstanceSegmenter`.
        dataset: a :class:`cnncourse.data.InstanceScenes`.
        options: passed to :func:`decode_instances`.

    Returns:
        ``{"mask_map_50", "mask_map", "box_map_50"}`` floats.
    """
    predictions = segment_instances(model, dataset.images, batch_size, **options)
    targets = [dataset[i][1] for i in range(len(dataset))]
    return {"mask_map_50": mean_average_precision(predictions, targets, 0.5, iou_type="mask"),
            "mask_map": mean_average_precision(predictions, targets, "coco", iou_type="mask"),
            "box_map_50": mean_average_precision(predictions, targets, 0.5, iou_type="box")}


@register_model("instance_segmenter", family="instance_segmentation", input_size=(3, 64, 64),
                chapter=CHAPTER, task="instance_segmentation",
                loss="cnncourse.models.instance.instance_loss",
                reference="CenterNet (arXiv:1904.07850) with YOLACT-style prototype masks and "
                          "coefficients (arXiv:1904.02689), on a small U-Net trunk")
def instance_segmenter(num_classes: int = 5, in_channels: int = 3,
                       widths: tuple = (8, 16, 32, 64, 128), head_level: int = 2,
                       head_width: int = 32, num_prototypes: int = 16) -> InstanceSegmenter:
    """A small instance segmenter (see :class:`InstanceSegmenter`) for 64 x 64 scenes."""
    return InstanceSegmenter(num_classes=num_classes, in_channels=in_channels, widths=widths,
                             head_level=head_level, head_width=head_width,
                             num_prototypes=num_prototypes)
