"""Exercise 10-segmentation: the reference of every task, built on the package.

The confusion matrix, per-class IoU and mean IoU are those of :mod:`cnncourse.metrics`; the
segmentation network is :class:`cnncourse.models.segmentation.UNet` with small widths, trained
by :func:`cnncourse.train.fit`. :func:`exercise_scenes` makes the exercise's data.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from cnncourse import metrics
from cnncourse.data import SegmentationScenes
from cnncourse.models.segmentation import UNet
from cnncourse.train import fit

__all__ = ["confusion_matrix", "iou_per_class", "mean_iou", "train_segmenter"]

SCENE_OPTIONS = dict(size=32, classes=("circle",), people=False, background="gradient")
"""The exercise's scenes: 32 x 32 images of 1 to 4 circles over a colour gradient."""


def exercise_scenes(train: bool, n: int, seed: int = 10):
    """``(images (n, 3, 32, 32) float32, masks (n, 32, 32) int64)`` of the exercise's scenes."""
    scenes = SegmentationScenes(train=train, n=n, seed=seed, **SCENE_OPTIONS)
    return scenes.images.numpy(), scenes.masks.numpy().astype(np.int64)


def confusion_matrix(predictions, targets, num_classes):
    predictions, targets = np.asarray(predictions), np.asarray(targets)
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions and targets must have the same shape, got {predictions.shape} "
                         f"and {targets.shape}")
    return metrics.confusion_matrix(predictions, targets, num_classes)


def iou_per_class(confusion):
    return metrics.iou_per_class(confusion)


def mean_iou(predictions, targets, num_classes):
    return float(np.nanmean(iou_per_class(confusion_matrix(predictions, targets, num_classes))))


def train_segmenter(x_train, y_train):
    model = UNet(num_classes=2, widths=(8, 16, 32))
    fit(model, (x_train, y_train), loss=nn.CrossEntropyLoss(), epochs=8, lr=5e-3, optimizer="adam",
        batch_size=32, seed=0, device="cpu", progress=False)
    return model.eval()
