"""Measures of how good a model's predictions are.

Every metric takes ``(outputs, targets)`` as the network produced and the data set holds them,
NumPy arrays or PyTorch tensors on any device, and returns a Python float, so that a training
loop can average it over batches and a chapter can print it.

:func:`accuracy` is the measure of the classification chapters. Later chapters add theirs here:
intersection over union for segmentation, mean average precision for detection and the
percentage of correct keypoints for pose estimation.
"""

from __future__ import annotations

import numpy as np

from cnncourse import _checks


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def accuracy(outputs, targets, k: int = 1) -> float:
    r"""Share of samples whose true class is among the ``k`` largest outputs.

    .. math::
        \text{accuracy} = \frac{1}{N} \sum_{n=1}^{N}
            \big[\, y_n \in \operatorname{top}_k(o_n) \,\big]

    With ``k = 1`` the prediction is :math:`\arg\max_c o_{n,c}`; ``k = 5`` gives the "top-5"
    accuracy of the ImageNet papers. The outputs may be logits, probabilities or any scores:
    only their order matters. Outputs with spatial axes (a segmentation network's
    ``(N, K, H, W)`` scores against ``(N, H, W)`` labels) give the share of correct pixels.

    Args:
        outputs: scores, class axis second.
        targets: class indices, or one score/one-hot row per sample (its argmax is the class).
        k: how many of the largest outputs count as a hit (``1 <= k <= K``).

    Shape:
        - outputs: ``(N, K)`` or ``(N, K, d1, ...)``
        - targets: ``(N,)`` or ``(N, d1, ...)`` integer labels, or the shape of ``outputs``

    Returns:
        The accuracy in ``[0, 1]``, a float.
    """
    k = _checks.integer(k, "k", minimum=1)
    if _is_tensor(outputs) or _is_tensor(targets):
        return _accuracy_torch(outputs, targets, k)
    outputs = _checks.as_array(outputs, "outputs")
    targets = _checks.as_array(targets, "targets")
    labels = _labels(outputs.shape, targets.shape, k)
    if labels == "argmax":
        targets = targets.argmax(axis=1)
    elif targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class labels, got dtype {targets.dtype}")
    if k == 1:
        hits = outputs.argmax(axis=1) == targets
    else:
        top = np.argpartition(-outputs, k - 1, axis=1)[:, :k]
        hits = (top == np.expand_dims(targets, 1)).any(axis=1)
    return int(hits.sum()) / hits.size


def _labels(outputs_shape: tuple, targets_shape: tuple, k: int) -> str:
    """Check the shapes; ``"argmax"`` when the targets are rows of scores, else ``"labels"``."""
    if len(outputs_shape) < 2:
        raise ValueError(f"outputs must have a class axis: shape (N, K, ...), got {outputs_shape}")
    if k > outputs_shape[1]:
        raise ValueError(f"k must be at most the number of classes {outputs_shape[1]}, got {k}")
    if tuple(targets_shape) == tuple(outputs_shape):
        return "argmax"
    expected = (outputs_shape[0],) + tuple(outputs_shape[2:])
    if tuple(targets_shape) != expected:
        raise ValueError(f"targets must have shape {expected} (labels) or {tuple(outputs_shape)} "
                         f"(scores) for outputs of shape {tuple(outputs_shape)}, got {tuple(targets_shape)}")
    return "labels"


def _accuracy_torch(outputs, targets, k: int) -> float:
    import torch

    outputs = torch.as_tensor(outputs)
    targets = torch.as_tensor(targets, device=outputs.device)
    labels = _labels(tuple(outputs.shape), tuple(targets.shape), k)
    if labels == "argmax":
        targets = targets.argmax(dim=1)
    elif targets.dtype.is_floating_point or targets.dtype.is_complex or targets.dtype == torch.bool:
        raise TypeError(f"targets must be integer class labels, got dtype {targets.dtype}")
    if k == 1:
        hits = outputs.argmax(dim=1) == targets
    else:
        top = outputs.topk(k, dim=1).indices
        hits = (top == targets.unsqueeze(1)).any(dim=1)
    return hits.sum().item() / hits.numel()  # exact: a count over a count


# =========================================================================== dense prediction,
# detection and pose. These measures work on NumPy arrays; PyTorch tensors (any device) are
# copied to NumPy first. Boxes are ``(x0, y0, x1, y1)`` in pixels ("xyxy"), with pixel
# ``(row r, column c)`` covering ``[c, c + 1) x [r, r + 1)`` as in :mod:`cnncourse.data.scenes`.

COCO_IOU_THRESHOLDS = tuple(np.linspace(0.5, 0.95, 10).tolist())
"""The ten IoU thresholds ``0.5, 0.55, ..., 0.95`` of the COCO mAP (written mAP@[.5:.95]),
computed as ``pycocotools`` computes them, rounding included (the ninth is
``0.8999999999999999``, which an IoU of exactly 0.9 passes, there as here)."""

COCO_RECALL_POINTS = 101
"""COCO averages the interpolated precision at the 101 recalls ``0, 0.01, ..., 1``."""


def _numpy(value, name: str, ndim=None, kinds: str = _checks.NUMERIC_KINDS,
           allow_empty: bool = True) -> np.ndarray:
    """``value`` (array, list or tensor on any device) as a NumPy array, checked."""
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
    elif isinstance(value, (list, tuple)) and len(value) == 0:  # [] reads as float64
        value = np.zeros(0, dtype=np.float64 if "f" in kinds else np.int64)
    return _checks.as_array(value, name, ndim, kinds=kinds, allow_empty=allow_empty)


def _boxes(value, name: str) -> np.ndarray:
    boxes = _numpy(value, name, ndim=(1, 2)).astype(np.float64)
    if boxes.ndim == 1 and boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) holding (x0, y0, x1, y1), got {boxes.shape}")
    return boxes


# --------------------------------------------------------------------------- segmentation
def _class_predictions(predictions, targets, name: str = "predictions"):
    """Predicted labels and targets as flat int arrays; scores ``(N, K, ...)`` become argmax."""
    predictions = _numpy(predictions, name, allow_empty=False)
    targets = _numpy(targets, "targets", allow_empty=False)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class labels, got dtype {targets.dtype}")
    scores = None
    if predictions.ndim == targets.ndim + 1:
        expected = (targets.shape[0],) + (predictions.shape[1],) + targets.shape[1:]
        if predictions.shape != expected:
            raise ValueError(f"{name} of scores must have shape {expected} (class axis second) for "
                             f"targets of shape {targets.shape}, got {predictions.shape}")
        scores = predictions.shape[1]
        predictions = predictions.argmax(axis=1)
    elif predictions.shape != targets.shape:
        raise ValueError(f"{name} must be labels of the targets' shape {targets.shape} or scores "
                         f"with a class axis second, got {predictions.shape}")
    elif predictions.dtype.kind not in "iu":
        raise TypeError(f"{name} of the targets' shape must be integer labels, got dtype "
                        f"{predictions.dtype}")
    return predictions.reshape(-1).astype(np.int64), targets.reshape(-1).astype(np.int64), scores


def confusion_matrix(predictions, targets, num_classes: int | None = None,
                     ignore_index: int | None = None) -> np.ndarray:
    r"""Counts :math:`C_{ij}` of the pixels (or samples) of true class ``i`` predicted as ``j``.

    .. math:: C_{ij} = \#\{\, p : y_p = i,\ \hat y_p = j \,\}

    Confusion matrices of several batches add up to the matrix of the whole data set, which is
    how :func:`mean_iou` over a data set is computed (one mean per batch would be wrong).

    Args:
        predictions: predicted labels (the targets' shape) or scores with the class axis second.
        targets: true labels.
        num_classes: ``K``; by default the number of score channels, else the largest label + 1.
        ignore_index: a target value whose pixels are left out (e.g. 255 for "unlabelled").

    Shape:
        - predictions: ``(N, ...)`` labels or ``(N, K, ...)`` scores
        - targets: ``(N, ...)`` integers in ``0 .. K - 1`` (or ``ignore_index``)

    Returns:
        ``(K, K)`` int64 array, rows the true classes, columns the predicted ones.
    """
    predicted, truth, scores = _class_predictions(predictions, targets)
    if ignore_index is not None:
        ignore_index = _checks.integer(ignore_index, "ignore_index")
        keep = truth != ignore_index
        predicted, truth = predicted[keep], truth[keep]
    if num_classes is None:
        num_classes = scores if scores is not None else int(max(predicted.max(initial=0),
                                                                 truth.max(initial=0))) + 1
    num_classes = _checks.integer(num_classes, "num_classes", minimum=1)
    for values, name in ((truth, "targets"), (predicted, "predictions")):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must hold labels in 0 .. {num_classes - 1}, got values from "
                             f"{values.min()} to {values.max()}")
    counts = np.bincount(truth * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _confusion(confusion) -> np.ndarray:
    confusion = _numpy(confusion, "confusion", ndim=2, allow_empty=False)
    if confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square (K, K) matrix, got shape {confusion.shape}")
    if (confusion < 0).any():
        raise ValueError("confusion must hold counts (no negative entries)")
    return confusion.astype(np.float64)


def iou_per_class(confusion) -> np.ndarray:
    r"""Intersection over union of every class from a confusion matrix.

    .. math:: \mathrm{IoU}_c = \frac{C_{cc}}{\sum_j C_{cj} + \sum_i C_{ic} - C_{cc}}
       = \frac{TP_c}{TP_c + FP_c + FN_c}

    Args:
        confusion: ``(K, K)`` counts, rows the true classes (:func:`confusion_matrix`).

    Returns:
        ``(K,)`` float64; NaN for a class absent from both the targets and the predictions.
    """
    confusion = _confusion(confusion)
    hits = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / np.where(union > 0, union, 1), np.nan)


def mean_iou(predictions, targets, num_classes: int | None = None,
             ignore_index: int | None = None) -> float:
    r"""Mean intersection over union of the classes (the segmentation measure).

    .. math:: \mathrm{mIoU} = \frac{1}{|\mathcal C|} \sum_{c \in \mathcal C} \mathrm{IoU}_c

    over the classes :math:`\mathcal C` present in the targets or in the predictions (a class
    absent from both has no IoU and is left out). The counts are pooled over all pixels of all
    images, then divided: to score a data set batch by batch, add up the batches'
    :func:`confusion_matrix` and call :func:`iou_per_class` on the sum.

    Args:
        predictions: labels (the targets' shape) or scores with the class axis second.
        targets: true labels.
        num_classes: see :func:`confusion_matrix`.
        ignore_index: a target value whose pixels are left out.

    Shape:
        - predictions: ``(N, H, W)`` labels or ``(N, K, H, W)`` scores (any number of axes)
        - targets: ``(N, H, W)``

    Returns:
        The mean IoU in ``[0, 1]``, a float.
    """
    per_class = iou_per_class(confusion_matrix(predictions, targets, num_classes, ignore_index))
    if np.isnan(per_class).all():
        raise ValueError("mean_iou needs at least one pixel to score (all were ignored)")
    return float(np.nanmean(per_class))


def pixel_accuracy(predictions, targets, ignore_index: int | None = None) -> float:
    r"""Share of the pixels whose class is predicted right.

    .. math:: \text{pixel accuracy} = \frac{\sum_c C_{cc}}{\sum_{i,j} C_{ij}}

    Unlike :func:`mean_iou` it weighs classes by their area, so a model that calls everything
    background scores high on scenes that are mostly background.

    Args:
        predictions: labels (the targets' shape) or scores with the class axis second.
        targets: true labels.
        ignore_index: a target value whose pixels are left out.

    Returns:
        The accuracy in ``[0, 1]``, a float.
    """
    confusion = confusion_matrix(predictions, targets, ignore_index=ignore_index)
    total = confusion.sum()
    if total == 0:
        raise ValueError("pixel_accuracy needs at least one pixel to score (all were ignored)")
    return float(np.trace(confusion) / total)


# --------------------------------------------------------------------------- boxes
def box_area(boxes) -> np.ndarray:
    r"""Areas :math:`(x_1 - x_0)(y_1 - y_0)` of boxes ``(N, 4)`` (zero for an empty box)."""
    boxes = _boxes(boxes, "boxes")
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(boxes1, boxes2) -> np.ndarray:
    r"""Intersection over union of every box of ``boxes1`` with every box of ``boxes2``.

    .. math:: \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}

    Two empty boxes have IoU 0.

    Shape:
        - boxes1: ``(N, 4)``, boxes2: ``(M, 4)``, as ``(x0, y0, x1, y1)``
        - output: ``(N, M)`` float64 in ``[0, 1]``
    """
    a, b = _boxes(boxes1, "boxes1"), _boxes(boxes2, "boxes2")
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def mask_iou(masks1, masks2) -> np.ndarray:
    r"""Intersection over union of every mask of ``masks1`` with every mask of ``masks2``.

    Shape:
        - masks1: ``(N, H, W)``, masks2: ``(M, H, W)``, booleans (non-zero is "in")
        - output: ``(N, M)`` float64; two empty masks have IoU 0
    """
    a = _numpy(masks1, "masks1", ndim=3, kinds="biuf")
    b = _numpy(masks2, "masks2", ndim=3, kinds="biuf")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"masks1 and masks2 must have the same (H, W), got {a.shape[1:]} and "
                         f"{b.shape[1:]}")
    a = (a != 0).reshape(len(a), -1).astype(np.float64)
    b = (b != 0).reshape(len(b), -1).astype(np.float64)
    inter = a @ b.T
    union = a.sum(axis=1)[:, None] + b.sum(axis=1)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def boxes_to_centres(boxes) -> np.ndarray:
    """``(x0, y0, x1, y1)`` to ``(cx, cy, w, h)``: centre, width and height. Shape ``(N, 4)``."""
    boxes = _boxes(boxes, "boxes")
    size = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] + size / 2, size], axis=1)


def centres_to_boxes(centres) -> np.ndarray:
    """``(cx, cy, w, h)`` to ``(x0, y0, x1, y1)``, the inverse of :func:`boxes_to_centres`."""
    centres = _boxes(centres, "centres")
    half = centres[:, 2:] / 2
    return np.concatenate([centres[:, :2] - half, centres[:, :2] + half], axis=1)


def encode_boxes(boxes, anchors) -> np.ndarray:
    r"""Boxes relative to reference boxes ("anchors"), the regression target of R-CNN detectors.

    .. math:: t_x = \frac{c_x - a_x}{a_w},\quad t_y = \frac{c_y - a_y}{a_h},\quad
       t_w = \log\frac{w}{a_w},\quad t_h = \log\frac{h}{a_h}

    with :math:`(c_x, c_y, w, h)` the box's centre and size and :math:`(a_x, a_y, a_w, a_h)`
    the anchor's. A shift is measured in anchor sizes and a size as a log ratio, so the targets
    have similar ranges for small and large objects.

    Shape:
        - boxes, anchors: ``(N, 4)`` xyxy with positive widths and heights
        - output: ``(N, 4)`` ``(t_x, t_y, t_w, t_h)``
    """
    box, anchor = boxes_to_centres(boxes), boxes_to_centres(anchors)
    if box.shape != anchor.shape:
        raise ValueError(f"boxes and anchors must have the same shape, got {box.shape} and {anchor.shape}")
    if (box[:, 2:] <= 0).any() or (anchor[:, 2:] <= 0).any():
        raise ValueError("boxes and anchors must have positive widths and heights")
    return np.concatenate([(box[:, :2] - anchor[:, :2]) / anchor[:, 2:],
                           np.log(box[:, 2:] / anchor[:, 2:])], axis=1)


def decode_boxes(deltas, anchors) -> np.ndarray:
    """Boxes ``(N, 4)`` xyxy from the :func:`encode_boxes` coding ``deltas`` of ``anchors``."""
    deltas = _boxes(deltas, "deltas")
    anchor = boxes_to_centres(anchors)
    if deltas.shape != anchor.shape:
        raise ValueError(f"deltas and anchors must have the same shape, got {deltas.shape} and "
                         f"{anchor.shape}")
    centre = anchor[:, :2] + deltas[:, :2] * anchor[:, 2:]
    size = anchor[:, 2:] * np.exp(deltas[:, 2:])
    return centres_to_boxes(np.concatenate([centre, size], axis=1))


def encode_grid(boxes, stride: int):
    r"""Boxes as a centre-heat-map detector (CenterNet) predicts them on a grid of cells.

    The output grid of a network with total stride ``s`` has one cell per ``s x s`` pixels; cell
    ``(row i, column j)`` covers ``[j s, (j + 1) s) x [i s, (i + 1) s)``. A box with centre
    :math:`(c_x, c_y)` and size :math:`(w, h)` is coded by the cell holding its centre, the
    centre's position inside that cell and the size:

    .. math:: j = \lfloor c_x / s \rfloor,\quad i = \lfloor c_y / s \rfloor,\qquad
       (o_x, o_y) = (c_x / s - j,\ c_y / s - i) \in [0, 1)^2,\qquad (w, h)

    The detector predicts a heat map that peaks at the cell (:func:`gaussian_heatmaps`), the
    offset and the size there; :func:`decode_grid` turns the three back into a box.

    Args:
        boxes: ``(N, 4)`` xyxy in pixels.
        stride: ``s``, pixels per cell.

    Returns:
        ``(cells, offsets, sizes)``: ``(N, 2)`` int64 ``(column, row)``, ``(N, 2)`` float64
        ``(o_x, o_y)`` and ``(N, 2)`` float64 ``(w, h)`` in pixels.
    """
    stride = _checks.integer(stride, "stride", minimum=1)
    centres = boxes_to_centres(boxes)
    position = centres[:, :2] / stride
    cells = np.floor(position)
    return cells.astype(np.int64), position - cells, centres[:, 2:].copy()


def decode_grid(cells, offsets, sizes, stride: int) -> np.ndarray:
    r"""Boxes ``(N, 4)`` xyxy from a grid coding (:func:`encode_grid`): the centre is
    :math:`((j + o_x) s, (i + o_y) s)`."""
    stride = _checks.integer(stride, "stride", minimum=1)
    cells = _numpy(cells, "cells", ndim=2)
    offsets = _numpy(offsets, "offsets", ndim=2)
    sizes = _numpy(sizes, "sizes", ndim=2)
    if not cells.shape == offsets.shape == sizes.shape or cells.shape[1:] != (2,):
        raise ValueError(f"cells, offsets and sizes must all have shape (N, 2), got {cells.shape}, "
                         f"{offsets.shape} and {sizes.shape}")
    centres = (cells + offsets.astype(np.float64)) * stride
    return centres_to_boxes(np.concatenate([centres, sizes.astype(np.float64)], axis=1))


def gaussian_heatmaps(points, size, stride: int = 1, sigma=1.0, visible=None) -> np.ndarray:
    r"""One heat map per point: a Gaussian bump centred on the point (pose and centre targets).

    Cell ``(i, j)`` of a map has its centre at :math:`p_{ij} = ((j + \tfrac12) s,
    (i + \tfrac12) s)` in pixels and the value

    .. math:: h_{ij} = \exp\left(-\frac{\lVert p_{ij} - q \rVert^2}{2 (\sigma s)^2}\right)

    for the point :math:`q`: 1 at the point, with ``sigma`` measured in cells. An invisible
    point gets a map of zeros (nothing to find). :func:`heatmap_peaks` reads points back.

    Args:
        points: ``(x, y)`` in pixels.
        size: the image's ``(H, W)`` in pixels, or one int for a square image.
        stride: ``s``, pixels per cell; a map has ``ceil(H / s) x ceil(W / s)`` cells.
        sigma: the spread in cells, one number or one per point (e.g. from the box size).
        visible: which points to draw (all by default).

    Shape:
        - points: ``(..., P, 2)``; visible, sigma: ``(..., P)`` (sigma may be a number)
        - output: ``(..., P, ceil(H / s), ceil(W / s))`` float32 in ``[0, 1]``
    """
    points = _numpy(points, "points", kinds="iuf").astype(np.float64)
    if points.ndim < 1 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., P, 2) holding (x, y), got {points.shape}")
    height, width = _checks.pair(size, "size", minimum=1)
    stride = _checks.integer(stride, "stride", minimum=1)
    if isinstance(sigma, (int, float)) and not isinstance(sigma, bool):
        sigma = np.full(points.shape[:-1], _checks.real(sigma, "sigma", minimum=0.0, open_minimum=True))
    sigma = np.broadcast_to(_numpy(sigma, "sigma", kinds="iuf").astype(np.float64), points.shape[:-1])
    if (sigma <= 0).any():
        raise ValueError("sigma must be positive")
    rows, cols = -(-height // stride), -(-width // stride)
    xs = (np.arange(cols) + 0.5) * stride
    ys = (np.arange(rows) + 0.5) * stride
    spread = 2.0 * (sigma * stride) ** 2
    dx2 = (xs - points[..., 0, None]) ** 2 / spread[..., None]  # (..., P, cols)
    dy2 = (ys - points[..., 1, None]) ** 2 / spread[..., None]  # (..., P, rows)
    maps = np.exp(-(dy2[..., :, None] + dx2[..., None, :])).astype(np.float32)
    if visible is not None:
        visible = _numpy(visible, "visible", kinds="biu")
        if visible.shape != points.shape[:-1]:
            raise ValueError(f"visible must have shape {points.shape[:-1]}, got {visible.shape}")
        maps *= (visible != 0)[..., None, None]
    return maps


def heatmap_peaks(heatmaps, stride: int = 1):
    r"""The point each heat map marks: its highest cell, refined a quarter cell towards the higher
    neighbour on each axis (the usual pose-estimation decoding).

    Args:
        heatmaps: maps whose last two axes are the cells.
        stride: pixels per cell, as given to :func:`gaussian_heatmaps`.

    Shape:
        - heatmaps: ``(..., h, w)``
        - output: points ``(..., 2)`` ``(x, y)`` in pixels and their scores ``(...)``

    Returns:
        ``(points, scores)``, float64 arrays; the score is the highest value of the map.
    """
    maps = _numpy(heatmaps, "heatmaps", kinds="iuf", allow_empty=False).astype(np.float64)
    if maps.ndim < 2:
        raise ValueError(f"heatmaps must have shape (..., h, w), got {maps.shape}")
    stride = _checks.integer(stride, "stride", minimum=1)
    rows, cols = maps.shape[-2:]
    flat = maps.reshape(-1, rows, cols)
    best = flat.reshape(len(flat), -1).argmax(axis=1)
    i, j = np.divmod(best, cols)
    k = np.arange(len(flat))
    scores = flat[k, i, j]
    x, y = j + 0.5, i + 0.5
    right = np.where(j + 1 < cols, flat[k, i, np.minimum(j + 1, cols - 1)], -np.inf)
    left = np.where(j > 0, flat[k, i, np.maximum(j - 1, 0)], -np.inf)
    below = np.where(i + 1 < rows, flat[k, np.minimum(i + 1, rows - 1), j], -np.inf)
    above = np.where(i > 0, flat[k, np.maximum(i - 1, 0), j], -np.inf)
    x = x + 0.25 * np.sign(right - left) * np.isfinite(right - left)
    y = y + 0.25 * np.sign(below - above) * np.isfinite(below - above)
    points = np.stack([x, y], axis=-1) * stride
    return points.reshape(maps.shape[:-2] + (2,)), scores.reshape(maps.shape[:-2])


# --------------------------------------------------------------------------- detection
def nms(boxes, scores, iou_threshold: float = 0.5, labels=None) -> np.ndarray:
    r"""Greedy non-maximum suppression: keep the best box, drop those that overlap it, repeat.

    Boxes are visited by decreasing score (ties: the earlier index first); a box is kept unless
    its IoU with a box kept before it is *above* ``iou_threshold``. With ``labels`` the
    suppression works within each class only (boxes of different classes never suppress each
    other); without, it is class-agnostic.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)`` confidences.
        iou_threshold: overlaps above it suppress, in ``[0, 1]``.
        labels: ``(N,)`` integer classes, or ``None``.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, by decreasing score.
    """
    boxes = _boxes(boxes, "boxes")
    scores = _numpy(scores, "scores", ndim=1, kinds="iuf").astype(np.float64)
    iou_threshold = _checks.real(iou_threshold, "iou_threshold", minimum=0.0, maximum=1.0)
    if len(scores) != len(boxes):
        raise ValueError(f"scores must hold one score per box ({len(boxes)}), got {len(scores)}")
    if labels is not None:
        labels = _numpy(labels, "labels", ndim=1, kinds="iu")
        if len(labels) != len(boxes):
            raise ValueError(f"labels must hold one label per box ({len(boxes)}), got {len(labels)}")
    order = np.argsort(-scores, kind="stable")
    overlaps = box_iou(boxes, boxes)
    if labels is not None:
        overlaps = np.where(labels[:, None] == labels[None, :], overlaps, 0.0)
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for index in order:
        if suppressed[index]:
            continue
        keep.append(index)
        suppressed |= overlaps[index] > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def average_precision(scores, correct, num_truth: int) -> float:
    r"""Area under the interpolated precision-recall curve of one class, the COCO way.

    Detections are ranked by decreasing score (ties keep their order). After the first ``k``
    of them, recall and precision are

    .. math:: R_k = \frac{TP_k}{n_{\text{truth}}}, \qquad P_k = \frac{TP_k}{k},

    the precision is made non-increasing from the right, :math:`\tilde P_k = \max_{k' \ge k}
    P_{k'}`, and averaged at the 101 recalls :math:`r = 0, 0.01, \dots, 1`:

    .. math:: \mathrm{AP} = \frac{1}{101} \sum_{r} \tilde P_{k(r)}, \qquad
       k(r) = \min\{k : R_k \ge r\}

    (0 for a recall that is never reached).

    Args:
        scores: ``(D,)`` the detections' confidences.
        correct: ``(D,)`` bool, whether each detection matches a true object
            (:func:`match_detections`).
        num_truth: number of true objects of the class (at least 1).

    Returns:
        AP in ``[0, 1]``, a float.
    """
    scores = _numpy(scores, "scores", ndim=1, kinds="iuf").astype(np.float64)
    correct = _numpy(correct, "correct", ndim=1, kinds="biu") != 0
    if len(correct) != len(scores):
        raise ValueError(f"correct must hold one flag per score ({len(scores)}), got {len(correct)}")
    num_truth = _checks.integer(num_truth, "num_truth", minimum=1)
    if correct.sum() > num_truth:
        raise ValueError(f"correct marks {int(correct.sum())} true positives but num_truth is {num_truth}")
    return float(_interpolated_precision(scores, correct, num_truth).mean())


def _interpolated_precision(scores, correct, num_truth) -> np.ndarray:
    """The 101 interpolated precisions of :func:`average_precision` (COCO's ``accumulate``)."""
    order = np.argsort(-scores, kind="mergesort")
    hits = np.cumsum(correct[order])
    recall = hits / num_truth
    precision = hits / np.arange(1, len(hits) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    thresholds = np.linspace(0.0, 1.0, COCO_RECALL_POINTS)
    at = np.searchsorted(recall, thresholds, side="left")
    values = np.zeros(COCO_RECALL_POINTS)
    reached = at < len(precision)
    values[reached] = precision[at[reached]]
    return values


def match_detections(overlaps, iou_threshold: float) -> np.ndarray:
    r"""Which detections are true positives, by COCO's greedy matching in one image and class.

    Detections are taken in the order of the rows (sort them by decreasing score first); each
    is matched to the not yet matched true object it overlaps most, if that overlap is at least
    ``iou_threshold`` (on a tie, the later true object). A matched object cannot be matched
    again, so a second detection of it is a false positive.

    Args:
        overlaps: ``(D, T)`` IoU of every detection with every true object (:func:`box_iou`,
            :func:`mask_iou`).
        iou_threshold: least IoU of a match.

    Returns:
        ``(D,)`` bool.
    """
    overlaps = _numpy(overlaps, "overlaps", ndim=2, kinds="iuf").astype(np.float64)
    iou_threshold = _checks.real(iou_threshold, "iou_threshold", minimum=0.0, maximum=1.0)
    threshold = min(iou_threshold, 1 - 1e-10)
    taken = np.zeros(overlaps.shape[1], bool)
    correct = np.zeros(overlaps.shape[0], bool)
    for d, row in enumerate(overlaps):
        candidates = np.where(taken, -1.0, row)
        best = candidates.max(initial=-1.0)
        if best >= threshold:
            t = np.flatnonzero(candidates == best)[-1]
            taken[t] = True
            correct[d] = True
    return correct


def _iou_thresholds(value) -> np.ndarray:
    if isinstance(value, str):
        _checks.check_choice(value, "iou_thresholds", ("coco",))
        return np.asarray(COCO_IOU_THRESHOLDS)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    thresholds = _numpy(value, "iou_thresholds", ndim=1, kinds="iuf", allow_empty=False)
    for t in thresholds:
        _checks.real(float(t), "iou_thresholds", minimum=0.0, maximum=1.0)
    return thresholds.astype(np.float64)


def _detections(items, name: str, with_scores: bool, iou_type: str) -> list:
    if isinstance(items, dict) or not hasattr(items, "__len__"):
        raise TypeError(f"{name} must be a sequence of dicts, one per image, got {type(items).__name__}")
    keys = ("boxes", "labels") if iou_type == "box" else ("masks", "labels")
    if with_scores:
        keys += ("scores",)
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"{name}[{index}] must be a dict with keys {keys}, got {type(item).__name__}")
        missing = [key for key in keys if key not in item]
        if missing:
            raise ValueError(f"{name}[{index}] lacks the key(s) {missing}; needs {keys}")
        entry = {"labels": _numpy(item["labels"], f"{name}[{index}]['labels']", ndim=1, kinds="iu")}
        if iou_type == "box":
            entry["regions"] = _boxes(item["boxes"], f"{name}[{index}]['boxes']")
        else:
            masks = _numpy(item["masks"], f"{name}[{index}]['masks']", kinds="biuf")
            if masks.ndim != 3:
                raise ValueError(f"{name}[{index}]['masks'] must have shape (N, H, W), got {masks.shape}")
            entry["regions"] = masks
        count = len(entry["labels"])
        if with_scores:
            entry["scores"] = _numpy(item["scores"], f"{name}[{index}]['scores']", ndim=1,
                                     kinds="iuf").astype(np.float64)
        for key in ("regions", "scores"):
            if key in entry and len(entry[key]) != count:
                raise ValueError(f"{name}[{index}] holds {count} labels but {len(entry[key])} "
                                 f"{'boxes' if key == 'regions' and iou_type == 'box' else key}")
        result.append(entry)
    return result


def average_precision_table(predictions, targets, iou_thresholds="coco", iou_type: str = "box",
                            max_detections: int = 100):
    r"""AP of every class at every IoU threshold, over a set of images (COCO's evaluation).

    For every image and class the detections (the ``max_detections`` best of the class in the
    image) are matched to the true objects by :func:`match_detections`; the matches of all
    images are then pooled and ranked by score, and :func:`average_precision` is taken per class
    and threshold. This is what ``pycocotools``' ``COCOeval`` computes for the area range "all"
    with no crowd regions.

    Args:
        predictions: one dict per image with ``"boxes"`` ``(D, 4)`` xyxy (or ``"masks"``
            ``(D, H, W)`` when ``iou_type="mask"``), ``"scores"`` ``(D,)`` and ``"labels"`` ``(D,)``.
        targets: one dict per image with ``"boxes"`` (or ``"masks"``) and ``"labels"``.
        iou_thresholds: ``"coco"`` (:data:`COCO_IOU_THRESHOLDS`), one threshold or a sequence.
        iou_type: ``"box"`` (:func:`box_iou`) or ``"mask"`` (:func:`mask_iou`).
        max_detections: the most detections of one class kept per image.

    Returns:
        ``(table, classes)``: ``table`` ``(T, C)`` float64 with the AP of class ``classes[c]``
        at threshold ``t``, NaN for a class with no true object (it has no AP); ``classes`` the
        sorted labels found in the targets or the predictions.
    """
    _checks.check_choice(iou_type, "iou_type", ("box", "mask"))
    thresholds = _iou_thresholds(iou_thresholds)
    max_detections = _checks.integer(max_detections, "max_detections", minimum=1)
    predictions = _detections(predictions, "predictions", True, iou_type)
    targets = _detections(targets, "targets", False, iou_type)
    if len(predictions) != len(targets):
        raise ValueError(f"predictions and targets must describe the same images, got "
                         f"{len(predictions)} and {len(targets)}")
    overlap = box_iou if iou_type == "box" else mask_iou
    classes = np.unique(np.concatenate([e["labels"] for e in predictions + targets] + [np.zeros(0, np.int64)]))
    table = np.full((len(thresholds), len(classes)), np.nan)
    for c, label in enumerate(classes):
        scores, correct, num_truth = [], [[] for _ in thresholds], 0
        for prediction, target in zip(predictions, targets):
            truth = target["regions"][target["labels"] == label]
            mine = np.flatnonzero(prediction["labels"] == label)
            mine = mine[np.argsort(-prediction["scores"][mine], kind="mergesort")][:max_detections]
            num_truth += len(truth)
            if len(mine) == 0:
                continue
            scores.append(prediction["scores"][mine])
            overlaps = overlap(prediction["regions"][mine], truth) if len(truth) else \
                np.zeros((len(mine), 0))
            for t, threshold in enumerate(thresholds):
                correct[t].append(match_detections(overlaps, threshold))
        if num_truth == 0:
            continue
        scores = np.concatenate(scores) if scores else np.zeros(0)
        for t in range(len(thresholds)):
            hits = np.concatenate(correct[t]) if correct[t] else np.zeros(0, bool)
            table[t, c] = _interpolated_precision(scores, hits, num_truth).mean()
    return table, classes


def mean_average_precision(predictions, targets, iou_thresholds="coco", iou_type: str = "box",
                           max_detections: int = 100) -> float:
    r"""Mean average precision of a detector (boxes) or an instance segmenter (masks).

    .. math:: \mathrm{mAP} = \frac{1}{|T|\,|\mathcal C|} \sum_{t \in T} \sum_{c \in \mathcal C}
       \mathrm{AP}_c(t)

    over the IoU thresholds ``T`` and the classes :math:`\mathcal C` that have true objects
    (see :func:`average_precision_table` for the arguments). ``iou_thresholds=0.5`` gives
    mAP@0.5 (the PASCAL VOC measure, with COCO's 101-point interpolation); the default
    ``"coco"`` gives mAP@[.5:.95], which also rewards precise boxes.

    Returns:
        mAP in ``[0, 1]``, a float.
    """
    table, _ = average_precision_table(predictions, targets, iou_thresholds, iou_type, max_detections)
    if np.isnan(table).all():
        raise ValueError("mean_average_precision needs at least one true object in the targets")
    return float(np.nanmean(table))


# --------------------------------------------------------------------------- pose
def pck(predicted, truth, visible=None, alpha: float = 0.2, reference="torso",
        per_joint: bool = False):
    r"""Percentage of correct keypoints: the share of visible joints found close enough.

    A joint counts as correct when its predicted position lies within :math:`\alpha` times the
    person's reference size :math:`L` of the truth:

    .. math:: \mathrm{PCK}@\alpha = \frac{\sum_{n, j} v_{nj}\,
       [\lVert \hat q_{nj} - q_{nj} \rVert \le \alpha L_n]}{\sum_{n, j} v_{nj}}

    Only visible joints (:math:`v_{nj} = 1`) count. The reference size is, by default, the
    length of the torso, from the neck to the midpoint of the hips (joints in the order of
    :data:`cnncourse.data.scenes.JOINTS`): unlike the bounding box it does not change when the
    person raises an arm. ``reference="box"`` uses the longer side of the box around the true
    joints instead, and an array gives one size per person.

    Args:
        predicted: predicted joints ``(x, y)``.
        truth: true joints.
        visible: which true joints count (all by default).
        alpha: the tolerance as a share of the reference size.
        reference: ``"torso"`` (needs the 14 :data:`~cnncourse.data.scenes.JOINTS`), ``"box"``,
            or sizes ``(N,)`` in pixels.
        per_joint: return one PCK per joint (NaN for a joint never visible) instead of one.

    Shape:
        - predicted, truth: ``(N, J, 2)``; visible: ``(N, J)``

    Returns:
        PCK in ``[0, 1]``, a float, or ``(J,)`` float64 with ``per_joint=True``.
    """
    predicted = _numpy(predicted, "predicted", ndim=3, kinds="iuf", allow_empty=False).astype(np.float64)
    truth = _numpy(truth, "truth", ndim=3, kinds="iuf", allow_empty=False).astype(np.float64)
    if predicted.shape != truth.shape or truth.shape[-1] != 2:
        raise ValueError(f"predicted and truth must both have shape (N, J, 2), got {predicted.shape} "
                         f"and {truth.shape}")
    n, joints = truth.shape[:2]
    if visible is None:
        visible = np.ones((n, joints), bool)
    else:
        visible = _numpy(visible, "visible", kinds="biu") != 0
        if visible.shape != (n, joints):
            raise ValueError(f"visible must have shape {(n, joints)}, got {visible.shape}")
    alpha = _checks.real(alpha, "alpha", minimum=0.0, open_minimum=True)
    per_joint = _checks.boolean(per_joint, "per_joint")
    if isinstance(reference, str):
        _checks.check_choice(reference, "reference", ("torso", "box"))
        if reference == "torso":
            from cnncourse.data.scenes import JOINTS

            if joints != len(JOINTS):
                raise ValueError(f"reference='torso' needs the {len(JOINTS)} joints of JOINTS, got "
                                 f"{joints} joints; pass reference='box' or sizes")
            neck, hips = JOINTS.index("neck"), [JOINTS.index("left_hip"), JOINTS.index("right_hip")]
            size = np.linalg.norm(truth[:, neck] - truth[:, hips].mean(axis=1), axis=1)
        else:
            size = (truth.max(axis=1) - truth.min(axis=1)).max(axis=1)
    else:
        size = _numpy(reference, "reference", ndim=1, kinds="iuf").astype(np.float64)
        if size.shape != (n,):
            raise ValueError(f"reference sizes must have shape ({n},), got {size.shape}")
    if (size <= 0).any():
        raise ValueError("every person's reference size must be positive")
    correct = np.linalg.norm(predicted - truth, axis=2) <= alpha * size[:, None]
    if per_joint:
        counts = visible.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, (correct & visible).sum(axis=0) / np.maximum(counts, 1), np.nan)
    if not visible.any():
        raise ValueError("pck needs at least one visible joint")
    return float((correct & visible).sum() / visible.sum())
