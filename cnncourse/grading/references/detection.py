"""Exercise 09-detection: the reference of every task, built on :mod:`cnncourse.metrics`."""

import numpy as np

from cnncourse import metrics

__all__ = ["box_iou", "nms", "average_precision", "map50"]


def box_iou(boxes1, boxes2):
    return metrics.box_iou(boxes1, boxes2)


def nms(boxes, scores, iou_threshold=0.5):
    return metrics.nms(boxes, scores, iou_threshold)


def average_precision(scores, correct, num_truth):
    return metrics.average_precision(scores, correct, num_truth)


def map50(predictions, targets):
    return metrics.mean_average_precision(predictions, targets, iou_thresholds=0.5)


def unclipped_iou(boxes1, boxes2):
    """The IoU of a common mistake: the overlap's width and height not clipped at zero."""
    a, b = np.asarray(boxes1, float).reshape(-1, 4), np.asarray(boxes2, float).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = width * height
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union != 0, inter / np.where(union != 0, union, 1), 0.0)


def raw_average_precision(scores, correct, num_truth):
    """AP of a common mistake: the precision at each recall point not made non-increasing."""
    scores = np.asarray(scores, float)
    correct = np.asarray(correct, bool)[np.argsort(-scores, kind="stable")]
    hits = np.cumsum(correct)
    recall = hits / num_truth
    precision = hits / np.arange(1, len(hits) + 1)
    at = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0).mean()) \
        if len(precision) else 0.0
