r"""Object detection with a single-stage, anchor-free detector: objects as centre points
(CenterNet, Zhou, Wang and Krähenbühl 2019, arXiv:1904.07850).

A detector must say *where* every object is (a box) and *what* it is (a class), for any number
of objects. A centre-point detector turns that into dense prediction on a grid of cells, each
``s`` pixels wide (``s`` the *stride* of the network's output, 4 here):

* a **heat map per class**, :math:`\hat Y \in [0, 1]^{K \times h \times w}`, which should be 1 at
  the cell holding the centre of an object of that class and fall off as a Gaussian around it;
* an **offset** :math:`(o_x, o_y) \in [0, 1)^2` per cell: where inside its cell the centre lies
  (the grid is coarse, the offset gives back the lost precision);
* a **size** per cell: the box's width and height, predicted as :math:`\log(w / s)` and
  :math:`\log(h / s)` so that small and large objects weigh alike.

The grid coding is that of :func:`cnncourse.metrics.encode_grid` and
:func:`cnncourse.metrics.decode_grid`; the Gaussian targets are drawn by
:func:`cnncourse.metrics.gaussian_heatmaps`.

**Training** (:class:`CenterNetLoss`). The heat maps are trained with the penalty-reduced focal
loss of the paper: with :math:`\hat Y` the predicted probability and :math:`Y` the Gaussian
target,

.. math::
    L_{\text{heat}} = \frac{-1}{N_{\text{obj}}} \sum_{c, i, j}
    \begin{cases} (1 - \hat Y_{cij})^{\alpha} \log \hat Y_{cij} & Y_{cij} = 1 \\
    (1 - Y_{cij})^{\beta} \hat Y_{cij}^{\alpha} \log(1 - \hat Y_{cij}) & \text{otherwise}
    \end{cases}

with :math:`\alpha = 2, \beta = 4`: the easy cells (far from every object, already near 0) count
little, and cells near a centre are punished less for a high score. Offsets and log-sizes are
trained with an L1 loss at the centre cells only:
:math:`L = L_{\text{heat}} + \lambda_{\text{size}} L_{\text{size}} + \lambda_{\text{off}} L_{\text{off}}`.

**Decoding** (:func:`decode_detections`). A cell is a *peak* when its score is the largest of
its ``3 x 3`` neighbourhood (:func:`find_peaks`, a max pooling that replaces the anchor
matching of two-stage detectors); the best peaks over all classes are turned into boxes with
their offsets and sizes, and a class-wise non-maximum suppression
(:func:`cnncourse.metrics.nms`) removes what duplicates remain. Detections are scored with
:func:`cnncourse.metrics.mean_average_precision` (:func:`evaluate_detector`).

The backbone is the U-Net trunk of :mod:`cnncourse.models.segmentation`
(:class:`~cnncourse.models.segmentation.EncoderDecoder`) with its decoder stopped at stride 4:
the paper's backbones (hourglass, DLA, ResNet with deconvolutions) are encoder–decoders too.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import int_tuple, integer, real
from cnncourse.metrics import decode_grid, encode_grid, gaussian_heatmaps, mean_average_precision, nms
from cnncourse.models.segmentation import EncoderDecoder, run_in_batches
from cnncourse.registry import register_model

CHAPTER = "book/15-detection"

HEAT_PRIOR = 0.1
"""The heat maps' starting probability: the bias of their last layer is
:math:`\\log(0.1 / 0.9)`, so that training does not start with a flood of false alarms."""

GAUSSIAN_SPREAD = 0.15
"""The spread of an object's Gaussian, in cells, is this share of :math:`\\sqrt{w h} / s`
(at least :data:`MIN_SIGMA`): larger objects get wider bumps."""

MIN_SIGMA = 0.5


def prediction_head(in_channels: int, out_channels: int, hidden: int) -> nn.Sequential:
    """A ``3 x 3`` convolution with a ReLU, then a ``1 x 1`` convolution: one head per output."""
    return nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(hidden, out_channels, 1))


class CenterNet(nn.Module):
    r"""A centre-point detector: heat map, offset and size heads on a shared trunk.

    Args:
        num_classes: object classes ``K`` (the background is not a class here).
        in_channels: channels of the input images.
        widths: channels of the trunk's levels (:class:`~cnncourse.models.segmentation.EncoderDecoder`).
        out_level: the level the heads work at; the stride is :math:`2^{\text{out\_level}}`.
        head_width: channels of the hidden layer of each head.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, sides multiples of :math:`2^{\text{len(widths)} - 1}`.
        - Output: a dict with ``"heatmap"`` logits :math:`(N, K, h, w)` (apply a sigmoid for
          probabilities), ``"offset"`` :math:`(N, 2, h, w)` in ``[0, 1]`` and ``"size"``
          :math:`(N, 2, h, w)` holding :math:`\log(w / s), \log(h / s)`; :math:`h = H / s`.
    """

    def __init__(self, num_classes: int = 5, in_channels: int = 3, widths: tuple = (8, 16, 32, 64, 128),
                 out_level: int = 2, head_width: int = 32):
        super().__init__()
        self.num_classes = integer(num_classes, "num_classes", minimum=1)
        head_width = integer(head_width, "head_width", minimum=1)
        self.trunk = EncoderDecoder(in_channels, int_tuple(widths, "widths", minimum=1), out_level)
        channels = self.trunk.out_channels
        self.heatmap = prediction_head(channels, self.num_classes, head_width)
        self.offset = prediction_head(channels, 2, head_width)
        self.size = prediction_head(channels, 2, head_width)
        if not self.heatmap[-1].bias.is_meta:
            nn.init.constant_(self.heatmap[-1].bias, math.log(HEAT_PRIOR / (1 - HEAT_PRIOR)))

    @property
    def stride(self) -> int:
        """Pixels per cell of the output grid."""
        return self.trunk.stride

    def heads(self, features: torch.Tensor) -> dict:
        """The three outputs from the trunk's features."""
        return {"heatmap": self.heatmap(features), "offset": torch.sigmoid(self.offset(features)),
                "size": self.size(features)}

    def forward(self, x: torch.Tensor) -> dict:
        return self.heads(self.trunk(x))

    def output_shapes(self, input_shape: tuple) -> dict:
        """The shape of every output for an input of shape ``(N, C, H, W)``."""
        n, _, h, w = input_shape
        h, w = h // self.stride, w // self.stride
        return {"heatmap": (n, self.num_classes, h, w), "offset": (n, 2, h, w), "size": (n, 2, h, w)}


# --------------------------------------------------------------------------- targets and loss
def _as_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _check_targets(targets, name: str = "targets") -> list:
    if isinstance(targets, dict) or not isinstance(targets, (list, tuple)):
        raise TypeError(f"{name} must be a list of dicts with 'boxes' and 'labels', one per image "
                        f"(DataLoader(..., collate_fn=collate_scenes)), got {type(targets).__name__}")
    for index, target in enumerate(targets):
        if not isinstance(target, dict) or "boxes" not in target or "labels" not in target:
            raise TypeError(f"{name}[{index}] must be a dict with 'boxes' and 'labels', got "
                            f"{type(target).__name__}")
    return list(targets)


def centre_targets(targets, num_classes: int, grid: tuple, stride: int) -> dict:
    r"""The training targets of a centre-point detector for a batch of images.

    For every object with box ``(x0, y0, x1, y1)``, :func:`cnncourse.metrics.encode_grid` gives
    the cell of its centre, the offset in the cell and the size; the heat map of its class gets a
    Gaussian bump (:func:`cnncourse.metrics.gaussian_heatmaps`) centred on that cell, exactly 1
    there, with a spread of ``max(MIN_SIGMA, GAUSSIAN_SPREAD * sqrt(w h) / s)`` cells. Bumps of
    the same class are merged by their maximum.

    Args:
        targets: one dict per image with ``"boxes"`` ``(k, 4)`` in pixels and ``"labels"`` ``(k,)``.
        num_classes: number of heat maps ``K``.
        grid: ``(h, w)`` cells of the output.
        stride: pixels per cell.

    Returns:
        A dict of NumPy arrays: ``"heatmap"`` ``(N, K, h, w)`` float32; and, one row per object,
        ``"image"`` ``(M,)``, ``"cell"`` ``(M, 2)`` (column, row), ``"offset"`` ``(M, 2)`` and
        ``"log_size"`` ``(M, 2)`` (:math:`\log(w / s), \log(h / s)`), ``"label"`` ``(M,)``.
        Objects whose centre falls outside the grid are left out.
    """
    targets = _check_targets(targets)
    num_classes = integer(num_classes, "num_classes", minimum=1)
    stride = integer(stride, "stride", minimum=1)
    rows, cols = (integer(v, "grid", minimum=1) for v in grid)
    heat = np.zeros((len(targets), num_classes, rows, cols), np.float32)
    images, cells, offsets, log_sizes, labels = [], [], [], [], []
    for index, target in enumerate(targets):
        boxes = _as_numpy(target["boxes"]).reshape(-1, 4).astype(np.float64)
        label = _as_numpy(target["labels"]).reshape(-1).astype(np.int64)
        if len(boxes) == 0:
            continue
        if label.min() < 0 or label.max() >= num_classes:
            raise ValueError(f"targets[{index}]['labels'] must be in 0 .. {num_classes - 1}, got "
                             f"{label.tolist()}")
        cell, offset, size = encode_grid(boxes, stride)
        size = np.maximum(size, 1.0)
        inside = (cell[:, 0] >= 0) & (cell[:, 0] < cols) & (cell[:, 1] >= 0) & (cell[:, 1] < rows)
        cell, offset, size, label = cell[inside], offset[inside], size[inside], label[inside]
        sigma = np.maximum(MIN_SIGMA, GAUSSIAN_SPREAD * np.sqrt(size.prod(axis=1)) / stride)
        bumps = gaussian_heatmaps((cell + 0.5) * stride, (rows * stride, cols * stride), stride, sigma)
        for bump, k in zip(bumps, label):
            np.maximum(heat[index, k], bump, out=heat[index, k])
        images.append(np.full(len(cell), index))
        cells.append(cell)
        offsets.append(offset)
        log_sizes.append(np.log(size / stride))
        labels.append(label)

    def joined(parts, width, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros((0,) + width, dtype)

    return {"heatmap": heat, "image": joined(images, (), np.int64), "cell": joined(cells, (2,), np.int64),
            "offset": joined(offsets, (2,), np.float32), "log_size": joined(log_sizes, (2,), np.float32),
            "label": joined(labels, (), np.int64)}


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0,
               beta: float = 4.0) -> torch.Tensor:
    r"""CenterNet's penalty-reduced focal loss of heat-map logits against Gaussian targets.

    Positives are the cells where the target is 1; the sum is divided by their number (at least
    1). Computed in float32 from the logits with ``logsigmoid`` (no ``log(0)``).

    Shape:
        ``logits`` and ``target``: the same shape, e.g. :math:`(N, K, h, w)`.
    """
    logits, target = logits.float(), target.float()
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    positive = target >= 1.0 - 1e-4
    positive_loss = ((1 - p) ** alpha * log_p)[positive].sum()
    negative_loss = ((1 - target) ** beta * p ** alpha * log_not_p)[~positive].sum()
    return -(positive_loss + negative_loss) / positive.sum().clamp(min=1)


class CenterNetLoss:
    r"""The detector's loss ``loss(outputs, targets)`` for :func:`cnncourse.train.fit`.

    .. math:: L = L_{\text{heat}} + \lambda_{\text{size}} L_{\text{size}}
              + \lambda_{\text{off}} L_{\text{off}}

    Args:
        stride: pixels per cell of the detector's output (``model.stride``).
        size_weight: :math:`\lambda_{\text{size}}`, weight of the L1 loss of the log-sizes.
        offset_weight: :math:`\lambda_{\text{off}}`, weight of the L1 loss of the offsets.

    Call:
        ``loss(outputs, targets)`` with the model's output dict and a list of target dicts
        (``"boxes"`` in pixels, ``"labels"``); returns a scalar tensor.
    """

    def __init__(self, stride: int = 4, size_weight: float = 1.0, offset_weight: float = 1.0):
        self.stride = integer(stride, "stride", minimum=1)
        self.size_weight = real(size_weight, "size_weight", minimum=0.0)
        self.offset_weight = real(offset_weight, "offset_weight", minimum=0.0)

    def __repr__(self) -> str:
        return (f"CenterNetLoss(stride={self.stride}, size_weight={self.size_weight}, "
                f"offset_weight={self.offset_weight})")

    def targets(self, outputs: dict, targets) -> dict:
        """:func:`centre_targets` for the grid of ``outputs``, as tensors on its device."""
        heat = outputs["heatmap"]
        encoded = centre_targets(targets, heat.shape[1], tuple(heat.shape[-2:]), self.stride)
        return {key: torch.from_numpy(value).to(heat.device) for key, value in encoded.items()}

    def parts(self, outputs: dict, targets) -> dict:
        """The three terms of the loss, unweighted: ``{"heat", "size", "offset"}``."""
        if not isinstance(outputs, dict) or not {"heatmap", "offset", "size"} <= set(outputs):
            raise TypeError("outputs must be the detector's dict with 'heatmap', 'offset' and 'size'")
        encoded = self.targets(outputs, targets)
        image, column, row = encoded["image"], encoded["cell"][:, 0], encoded["cell"][:, 1]
        offset = outputs["offset"].float()[image, :, row, column]  # (M, 2)
        log_size = outputs["size"].float()[image, :, row, column]
        count = max(len(image), 1)
        return {"heat": focal_loss(outputs["heatmap"], encoded["heatmap"]),
                "size": (log_size - encoded["log_size"]).abs().sum() / count,
                "offset": (offset - encoded["offset"]).abs().sum() / count}

    def __call__(self, outputs: dict, targets) -> torch.Tensor:
        parts = self.parts(outputs, targets)
        return parts["heat"] + self.size_weight * parts["size"] + self.offset_weight * parts["offset"]


centernet_loss = CenterNetLoss()
"""The loss of the registered ``centernet`` (stride 4, unit weights)."""


# --------------------------------------------------------------------------- decoding
def find_peaks(heatmap: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    r"""Where a heat map is a local maximum: equal to the largest value of its
    ``kernel x kernel`` neighbourhood (a max pooling with stride 1, "same" padding).

    Shape:
        - heatmap: :math:`(..., h, w)`
        - output: bool, the same shape.
    """
    if not isinstance(heatmap, torch.Tensor):
        raise TypeError(f"heatmap must be a torch.Tensor, got {type(heatmap).__name__}")
    if heatmap.dim() < 2:
        raise ValueError(f"heatmap must have shape (..., h, w), got {tuple(heatmap.shape)}")
    kernel = integer(kernel, "kernel", minimum=1)
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd (the neighbourhood is centred on the cell), got {kernel}")
    shape = heatmap.shape
    flat = heatmap.reshape(-1, 1, *shape[-2:])
    pooled = F.max_pool2d(flat, kernel, stride=1, padding=kernel // 2)
    return (flat == pooled).reshape(shape)


def decode_detections(outputs: dict, stride: int, image_size=None, max_detections: int = 100,
                      score_threshold: float = 0.05, nms_threshold: float = 0.5,
                      return_indices: bool = False) -> list:
    r"""Boxes, scores and classes from a centre-point detector's outputs.

    For every image: probabilities :math:`\sigma(\text{heatmap})`; keep the peaks
    (:func:`find_peaks`, ``3 x 3``); take the ``max_detections`` best of all classes with a score
    of at least ``score_threshold``; decode each with the offset and size of its cell
    (:func:`cnncourse.metrics.decode_grid`); clip the boxes to the image and apply a class-wise
    non-maximum suppression (:func:`cnncourse.metrics.nms`, ``nms_threshold``).

    Args:
        outputs: the model's dict (``"heatmap"``, ``"offset"``, ``"size"``), a batch.
        stride: pixels per cell (``model.stride``).
        image_size: ``(H, W)`` to clip the boxes to (default: the grid times the stride).
        max_detections: most detections kept per image.
        score_threshold: lowest score kept.
        nms_threshold: IoU above which a box of the same class with a lower score is dropped.
        return_indices: also give, per image, the ``(class, row, column)`` of every detection's
            peak (``"peaks"``), for heads that read more at the peaks (instance masks).

    Returns:
        One dict per image with ``"boxes"`` ``(D, 4)`` float32 xyxy in pixels, ``"scores"``
        ``(D,)`` float32 and ``"labels"`` ``(D,)`` int64 (CPU tensors), by decreasing score.
    """
    if not isinstance(outputs, dict) or not {"heatmap", "offset", "size"} <= set(outputs):
        raise TypeError("outputs must be the detector's dict with 'heatmap', 'offset' and 'size'")
    stride = integer(stride, "stride", minimum=1)
    max_detections = integer(max_detections, "max_detections", minimum=1)
    score_threshold = real(score_threshold, "score_threshold", minimum=0.0, maximum=1.0)
    nms_threshold = real(nms_threshold, "nms_threshold", minimum=0.0, maximum=1.0)
    heat = torch.sigmoid(outputs["heatmap"].detach().float())
    n, classes, rows, cols = heat.shape
    if image_size is None:
        image_size = (rows * stride, cols * stride)
    height, width = (integer(v, "image_size", minimum=1) for v in image_size)
    heat = torch.where(find_peaks(heat), heat, torch.zeros_like(heat))
    k = min(max_detections, classes * rows * cols)
    scores, index = heat.reshape(n, -1).topk(k, dim=1)
    scores, index = scores.cpu().numpy(), index.cpu().numpy()
    offsets = outputs["offset"].detach().float().cpu().numpy()
    sizes = np.exp(outputs["size"].detach().float().cpu().numpy()) * stride
    results = []
    for b in range(n):
        keep = scores[b] >= score_threshold
        score, flat = scores[b][keep], index[b][keep]
        label, cell = np.divmod(flat, rows * cols)
        row, column = np.divmod(cell, cols)
        boxes = decode_grid(np.stack([column, row], axis=1), offsets[b][:, row, column].T,
                            sizes[b][:, row, column].T, stride)
        boxes = np.clip(boxes, 0, [width, height, width, height])
        kept = nms(boxes, score, nms_threshold, labels=label) if len(score) else np.zeros(0, np.int64)
        result = {"boxes": torch.from_numpy(boxes[kept].astype(np.float32)),
                  "scores": torch.from_numpy(score[kept].astype(np.float32)),
                  "labels": torch.from_numpy(label[kept].astype(np.int64))}
        if return_indices:
            result["peaks"] = torch.from_numpy(np.stack([label, row, column], axis=1)[kept].astype(np.int64))
        results.append(result)
    return results


@torch.no_grad()
def detect(model: nn.Module, images, batch_size: int = 64, **options) -> list:
    """Run a centre-point detector on images in evaluation mode and decode its detections.

    Args:
        model: a :class:`CenterNet` (or any model with ``stride`` and the same outputs).
        images: ``(N, C, H, W)`` float tensor or array (moved to the model's device).
        batch_size: images per forward pass.
        options: passed to :func:`decode_detections` (``score_threshold``, ``nms_threshold``, ...).

    Returns:
        One dict per image (see :func:`decode_detections`).
    """
    return decode_in_batches(model, images, batch_size, decode_detections, **options)


def decode_in_batches(model: nn.Module, images, batch_size: int, decode, **options) -> list:
    """Run a dense-prediction model in evaluation mode on ``images`` in batches and return
    ``decode(outputs, stride, image_size, **options)`` of every batch, concatenated (the model's
    training mode is restored afterwards)."""
    return run_in_batches(model, images, batch_size,
                          lambda outputs, batch: decode(outputs, model.stride, tuple(batch.shape[-2:]), **options))


def evaluate_detector(model: nn.Module, dataset, batch_size: int = 64, **options) -> dict:
    """mAP@0.5 and mAP@[.5:.95] (COCO) of a detector on a detection data set.

    Args:
        model: a :class:`CenterNet`.
        dataset: a :class:`cnncourse.data.DetectionScenes` (boxes in pixels).
        batch_size: images per forward pass.
        options: passed to :func:`decode_detections`.

    Returns:
        ``{"map_50": float, "map": float}``.
    """
    predictions = detect(model, dataset.images, batch_size, **options)
    targets = [dataset[i][1] for i in range(len(dataset))]
    return {"map_50": mean_average_precision(predictions, targets, iou_thresholds=0.5),
            "map": mean_average_precision(predictions, targets, iou_thresholds="coco")}


@register_model("centernet", family="detection", input_size=(3, 64, 64), chapter=CHAPTER,
                task="detection", loss="cnncourse.models.detection.centernet_loss",
                reference="Zhou, Wang and Krähenbühl 2019, 'Objects as Points', arXiv:1904.07850 "
                          "(a small U-Net trunk at stride 4 instead of hourglass/DLA)")
def centernet(num_classes: int = 5, in_channels: int = 3, widths: tuple = (8, 16, 32, 64, 128),
              out_level: int = 2, head_width: int = 32) -> CenterNet:
    """A small centre-point detector (see :class:`CenterNet`) for the 64 x 64 scenes: stride 4."""
    return CenterNet(num_classes=num_classes, in_channels=in_channels, widths=widths,
                     out_level=out_level, head_width=head_width)
