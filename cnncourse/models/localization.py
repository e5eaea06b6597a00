r"""Classification + localization: the class *and* the bounding box of the one object in an image.

A classifier already summarises the image into features; localization adds a second head
that *regresses* the four numbers of the box from the same features (Sermanet et al.,
OverFeat, 2014, arXiv:1312.6229). The network has

* a **VGG-like backbone** (:class:`ConvFeatures`): stages of ``3 x 3`` convolutions with batch
  normalisation and ReLU, each closed by a ``2 x 2`` max pooling;
* a **class head**: global average pooling and a linear layer giving the class scores;
* a **box head**: the flattened feature maps (which still know *where* things are; a global
  pooling would forget it), a hidden layer and four outputs. A sigmoid maps them to the box's
  centre and size as shares of the image side, :math:`(c_x, c_y, w, h) \in (0, 1)^4`, and the
  model returns the corners :math:`(x_0, y_0, x_1, y_1) = (c_x - w/2, c_y - h/2, c_x + w/2,
  c_y + h/2)` (train on :class:`cnncourse.data.LocalizationScenes` with ``normalize_boxes=True``;
  multiply by the image side for pixels).

The loss adds the two tasks (:class:`LocalizationLoss`):

.. math:: L = \mathrm{CE}(s, y) + \lambda_{1} \lVert \hat b - b \rVert_1
          + \lambda_{\text{IoU}} \big(1 - \mathrm{GIoU}(\hat b, b)\big)

with the generalized IoU of Rezatofighi et al. (2019, arXiv:1902.09630,
:func:`generalized_box_iou`), which, unlike the L1 distance, is measured relative to the box's
size and still has a gradient when the boxes do not overlap. Results are the class accuracy
and the mean IoU of the predicted and true boxes (:func:`evaluate_localization`).

The backbone is trained in the course, on the scenes: :mod:`cnncourse.models.style` uses its
features for style transfer (no downloaded weights anywhere).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import int_tuple, integer, real
from cnncourse.metrics import box_iou
from cnncourse.models.segmentation import check_images, run_in_batches
from cnncourse.registry import register_model

CHAPTER = "book/14-localization"


class ConvFeatures(nn.Sequential):
    r"""A VGG-like backbone: for every stage, ``convs`` ``3 x 3`` convolutions (each with batch
    normalisation and a ReLU), then a ``2 x 2`` max pooling.

    Args:
        in_channels: channels of the input images.
        widths: channels of every stage.
        convs: convolutions per stage (one number per stage).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, \text{widths}[-1], H / 2^S, W / 2^S)`, :math:`S` stages.
    """

    def __init__(self, in_channels: int = 3, widths: tuple = (16, 32, 64, 128),
                 convs: tuple = (1, 1, 2, 2)):
        in_channels = integer(in_channels, "in_channels", minimum=1)
        widths = int_tuple(widths, "widths", minimum=1)
        convs = int_tuple(convs, "convs", minimum=1)
        if len(convs) != len(widths):
            raise ValueError(f"convs must give one count per stage ({len(widths)}), got {convs!r}")
        layers: list[nn.Module] = []
        for width, count in zip(widths, convs):
            for _ in range(count):
                layers += [nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                in_channels = width
            layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)
        self.widths, self.convs = widths, convs

    @property
    def out_channels(self) -> int:
        return self.widths[-1]

    @property
    def stride(self) -> int:
        return 2 ** len(self.widths)


class LocalizationNet(nn.Module):
    r"""A classifier with a box-regression head (see the module's description).

    Args:
        num_classes: object classes.
        in_channels: channels of the input images.
        image_size: side of the (square) input images; the box head's input size depends on it.
        widths, convs: the backbone's stages (:class:`ConvFeatures`).
        hidden: units of the box head's hidden layer.

    Shape:
        - Input: :math:`(N, C_{in}, S, S)` with :math:`S` = ``image_size``.
        - Output: a dict with ``"logits"`` :math:`(N, K)` and ``"box"`` :math:`(N, 4)`, the box
          ``(x0, y0, x1, y1)`` as shares of the image side.
    """

    def __init__(self, num_classes: int = 5, in_channels: int = 3, image_size: int = 64,
                 widths: tuple = (16, 32, 64, 128), convs: tuple = (1, 1, 2, 2), hidden: int = 128):
        super().__init__()
        self.num_classes = integer(num_classes, "num_classes", minimum=2)
        self.image_size = integer(image_size, "image_size", minimum=1)
        hidden = integer(hidden, "hidden", minimum=1)
        self.features = ConvFeatures(in_channels, widths, convs)
        if self.image_size % self.features.stride:
            raise ValueError(f"image_size must be a multiple of 2 ** len(widths) = "
                             f"{self.features.stride}, got {self.image_size}")
        side = self.image_size // self.features.stride
        channels = self.features.out_channels
        self.classifier = nn.Linear(channels, self.num_classes)
        self.box_head = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, hidden),
                                      nn.ReLU(inplace=True), nn.Linear(hidden, 4))

    def forward(self, x: torch.Tensor) -> dict:
        check_images(x)
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"x must have {self.image_size} x {self.image_size} images (the "
                             f"model's image_size), got {tuple(x.shape[-2:])}")
        features = self.features(x)
        logits = self.classifier(features.mean(dim=(2, 3)))
        centre_x, centre_y, width, height = torch.sigmoid(self.box_head(features)).unbind(dim=1)
        box = torch.stack([centre_x - width / 2, centre_y - height / 2,
                           centre_x + width / 2, centre_y + height / 2], dim=1)
        return {"logits": logits, "box": box}

    def output_shapes(self, input_shape: tuple) -> dict:
        """The shape of every output for an input of shape ``(N, C, H, W)``."""
        return {"logits": (input_shape[0], self.num_classes), "box": (input_shape[0], 4)}


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    r"""IoU and generalized IoU of pairs of boxes (row ``i`` with row ``i``), differentiable.

    .. math:: \mathrm{GIoU}(A, B) = \mathrm{IoU}(A, B) - \frac{|C \setminus (A \cup B)|}{|C|}

    with :math:`C` the smallest box enclosing both; :math:`\mathrm{GIoU} \in (-1, 1]`. For the
    IoU of every box with every other, see :func:`cnncourse.metrics.box_iou`.

    Shape:
        - boxes1, boxes2: :math:`(N, 4)` ``(x0, y0, x1, y1)``.
        - output: ``(iou, giou)``, each :math:`(N,)`.
    """
    if boxes1.shape != boxes2.shape or boxes1.shape[-1:] != (4,):
        raise ValueError(f"boxes1 and boxes2 must both have shape (N, 4), got {tuple(boxes1.shape)} "
                         f"and {tuple(boxes2.shape)}")
    area1 = (boxes1[:, 2] - boxes1[:, 0]).clamp(min=0) * (boxes1[:, 3] - boxes1[:, 1]).clamp(min=0)
    area2 = (boxes2[:, 2] - boxes2[:, 0]).clamp(min=0) * (boxes2[:, 3] - boxes2[:, 1]).clamp(min=0)
    low = torch.maximum(boxes1[:, :2], boxes2[:, :2])
    high = torch.minimum(boxes1[:, 2:], boxes2[:, 2:])
    inter = (high - low).clamp(min=0).prod(dim=1)
    union = area1 + area2 - inter
    iou = inter / union.clamp(min=1e-12)
    enclosing = (torch.maximum(boxes1[:, 2:], boxes2[:, 2:])
                 - torch.minimum(boxes1[:, :2], boxes2[:, :2])).clamp(min=0).prod(dim=1)
    return iou, iou - (enclosing - union) / enclosing.clamp(min=1e-12)


class LocalizationLoss:
    r"""Cross-entropy of the class plus a weighted L1 and GIoU loss of the box.

    .. math:: L = \mathrm{CE} + \lambda_1 \tfrac14 \lVert \hat b - b \rVert_1
              + \lambda_{\text{IoU}} (1 - \mathrm{GIoU})

    averaged over the batch.

    Args:
        box_weight: :math:`\lambda_1`, weight of the L1 distance of the corners (in shares of
            the image side).
        iou_weight: :math:`\lambda_{\text{IoU}}`, weight of the GIoU loss.

    Call:
        ``loss(outputs, targets)`` with the model's dict (``"logits"``, ``"box"``) and the
        batch's targets ``{"label": (N,), "box": (N, 4)}`` (boxes as shares of the image side).
    """

    def __init__(self, box_weight: float = 5.0, iou_weight: float = 2.0):
        self.box_weight = real(box_weight, "box_weight", minimum=0.0)
        self.iou_weight = real(iou_weight, "iou_weight", minimum=0.0)

    def __repr__(self) -> str:
        return f"LocalizationLoss(box_weight={self.box_weight}, iou_weight={self.iou_weight})"

    def parts(self, outputs: dict, targets: dict) -> dict:
        """The unweighted terms ``{"class", "l1", "giou"}``."""
        if not isinstance(outputs, dict) or not {"logits", "box"} <= set(outputs):
            raise TypeError("outputs must be the model's dict with 'logits' and 'box'")
        if not isinstance(targets, dict) or not {"label", "box"} <= set(targets):
            raise TypeError("targets must be a dict with 'label' and 'box' (LocalizationScenes "
                            "batches)")
        box, true_box = outputs["box"].float(), targets["box"].float()
        _, giou = generalized_box_iou(box, true_box)
        return {"class": F.cross_entropy(outputs["logits"].float(), targets["label"]),
                "l1": (box - true_box).abs().mean(), "giou": (1 - giou).mean()}

    def __call__(self, outputs: dict, targets: dict) -> torch.Tensor:
        parts = self.parts(outputs, targets)
        return parts["class"] + self.box_weight * parts["l1"] + self.iou_weight * parts["giou"]


localization_loss = LocalizationLoss()
"""The loss of the registered ``localization_net`` (L1 weight 5, GIoU weight 2)."""


def class_accuracy(outputs, targets) -> float:
    """Share of images whose class is right: a metric for :func:`cnncourse.train.fit`, which
    passes it the logits (the model's first output) and the target dict."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs
    return (logits.argmax(dim=1) == targets["label"]).float().mean().item()


@torch.no_grad()
def predict_localization(model: nn.Module, images, batch_size: int = 128):
    """Predicted classes ``(N,)`` int64, class probabilities ``(N, K)`` and boxes ``(N, 4)`` as
    shares of the image side (CPU tensors), in evaluation mode."""
    batches = run_in_batches(model, images, batch_size, lambda out, batch: [
        (out["logits"].float().softmax(dim=1).cpu(), out["box"].float().cpu())])
    probabilities = torch.cat([p for p, _ in batches])
    return probabilities.argmax(dim=1), probabilities, torch.cat([b for _, b in batches])


def evaluate_localization(model: nn.Module, dataset, batch_size: int = 128) -> dict:
    """Class accuracy, mean box IoU and the share of boxes with IoU >= 0.5 on a data set.

    Args:
        model: a :class:`LocalizationNet`.
        dataset: a :class:`cnncourse.data.LocalizationScenes`; its boxes may be in pixels or
            shares (the predictions are scaled to match).

    Returns:
        ``{"accuracy", "mean_iou", "iou_50"}`` floats (``iou_50``: correct class *and*
        IoU >= 0.5, the classic "localization accuracy").
    """
    labels, _, boxes = predict_localization(model, dataset.images, batch_size)
    if not dataset.normalize_boxes:
        boxes = boxes * dataset.scenes.size
    overlap = np.diag(box_iou(boxes.numpy(), dataset.boxes.numpy()))
    correct = (labels == dataset.labels).numpy()
    return {"accuracy": float(correct.mean()), "mean_iou": float(overlap.mean()),
            "iou_50": float((correct & (overlap >= 0.5)).mean())}


@register_model("localization_net", family="localization", input_size=(3, 64, 64),
                chapter=CHAPTER, task="localization",
                loss="cnncourse.models.localization.localization_loss",
                reference="classification + box regression as in OverFeat (Sermanet et al. 2014, "
                          "arXiv:1312.6229), VGG-like backbone, GIoU loss (arXiv:1902.09630)")
def localization_net(num_classes: int = 5, in_channels: int = 3, image_size: int = 64,
                     widths: tuple = (16, 32, 64, 128), convs: tuple = (1, 1, 2, 2),
                     hidden: int = 128) -> LocalizationNet:
    """A small classifier with a box head (see :class:`LocalizationNet`) for 64 x 64 scenes."""
    return LocalizationNet(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                           widths=widths, convs=convs, hidden=hidden)
