r"""Semantic segmentation with an encoder–decoder network (U-Net, Ronneberger et al., MICCAI 2015,
arXiv:1505.04597).

A segmentation network gives a class to every *pixel*: its output has the image's height and
width and one score per class, :math:`s \in \mathbb R^{N \times K \times H \times W}`, and it is
trained with the cross-entropy of every pixel,

.. math:: J = -\frac{1}{N H W} \sum_{n, i, j} \log \operatorname{softmax}(s_{n, :, i, j})_{y_{nij}}.

To name a pixel the network must see the whole object around it (a pixel of a star's edge
looks like a pixel of a triangle's), which takes downsampling; to draw the object's outline it
needs the full resolution. The encoder–decoder does both:

* the **encoder** halves the feature maps at every level (``2 x 2`` max pooling) and doubles
  the channels, so that the deepest level sees a large part of the image;
* the **decoder** doubles the maps again at every level (a ``2 x 2`` transposed convolution
  with stride 2, or bilinear upsampling followed by a ``3 x 3`` convolution) and
* **skip connections** concatenate the encoder's maps of the same size to the upsampled ones,
  bringing back the sharp detail that the pooling threw away.

Every level is a :class:`DoubleConv`: two ``3 x 3`` convolutions, each followed by batch
normalisation and a ReLU. :class:`EncoderDecoder` is the trunk without a classifier; it can stop
its decoder at a coarser level (``out_level``) and is shared by the other dense-prediction models
of the course (:mod:`cnncourse.models.detection`, :mod:`cnncourse.models.instance`,
:mod:`cnncourse.models.pose`). :class:`UNet` adds a ``1 x 1`` convolution that turns the
full-resolution features into class scores.

The scenes of :class:`cnncourse.data.SegmentationScenes` have 6 classes (the background, four
shapes and people); they are scored with :func:`cnncourse.metrics.pixel_accuracy` and
:func:`cnncourse.metrics.mean_iou`, pooled over the whole test set
(:func:`evaluate_segmentation`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import check_choice, int_tuple, integer
from cnncourse.registry import register_model

CHAPTER = "book/13-segmentation"

UPSAMPLINGS = ("transposed", "bilinear")
"""How the decoder doubles its maps: a ``2 x 2`` transposed convolution with stride 2, or
bilinear interpolation followed by a ``3 x 3`` convolution."""


def check_images(x, name: str = "x", multiple: int = 1, channels: int | None = None) -> None:
    """Check that ``x`` is a float tensor ``(N, C, H, W)`` whose sides are multiples of ``multiple``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: wrong number of axes or channels, or sides that are not multiples.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor (N, C, H, W), got "
                        f"{type(x).__name__}" + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got shape {tuple(x.shape)}")
    if x.shape[-1] % multiple or x.shape[-2] % multiple:
        raise ValueError(f"{name} must have a height and width that are multiples of {multiple} "
                         f"(the network halves its maps that often), got {tuple(x.shape[-2:])}")


class DoubleConv(nn.Sequential):
    r"""Two ``3 x 3`` convolutions (padding 1), each followed by batch normalisation and a ReLU.

    The convolutions have no bias: the normalisation's shift takes its place.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, C_{out}, H, W)`.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Upsample2x(nn.Module):
    r"""Double the height and width of feature maps and change their channels.

    ``"transposed"``: a ``2 x 2`` transposed convolution with stride 2 (every input cell paints
    its own ``2 x 2`` block of the output with learnt weights). ``"bilinear"``: bilinear
    interpolation, then a ``3 x 3`` convolution.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`.
        - Output: :math:`(N, C_{out}, 2H, 2W)`.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transposed"):
        super().__init__()
        self.mode = check_choice(mode, "upsampling", UPSAMPLINGS)
        if self.mode == "transposed":
            self.layer = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        else:
            self.layer = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "bilinear":
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.layer(x)


class EncoderDecoder(nn.Module):
    r"""The U-Net trunk: an encoder of ``len(widths)`` levels and a decoder with skip connections.

    Level ``l`` works on maps :math:`2^l` times smaller than the image with ``widths[l]``
    channels. The encoder computes :math:`e_0 = \mathrm{DoubleConv}(x)` and
    :math:`e_l = \mathrm{DoubleConv}(\mathrm{maxpool}(e_{l-1}))`; the decoder starts from the
    deepest level :math:`d_L = e_L` and climbs back,

    .. math:: d_l = \mathrm{DoubleConv}\big([\,\mathrm{up}(d_{l+1}),\ e_l\,]\big),

    with :math:`[\cdot, \cdot]` the concatenation of channels, down to ``out_level``. The
    decoder's output at ``out_level`` has ``widths[out_level]`` channels and a stride of
    :math:`2^{\text{out\_level}}` pixels.

    Args:
        in_channels: channels of the input images.
        widths: channels of every level, from the finest to the deepest (at least 2 levels).
        out_level: the level where the decoder stops (0: full resolution).
        upsampling: one of :data:`UPSAMPLINGS`.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, ``H`` and ``W`` multiples of :math:`2^{L}` with
          :math:`L` = ``len(widths) - 1``.
        - Output: :math:`(N, \text{widths[out\_level]}, H / 2^{o}, W / 2^{o})`,
          :math:`o` = ``out_level``.
    """

    def __init__(self, in_channels: int = 3, widths: tuple = (16, 32, 64, 128), out_level: int = 0,
                 upsampling: str = "transposed"):
        super().__init__()
        in_channels = integer(in_channels, "in_channels", minimum=1)
        widths = int_tuple(widths, "widths", minimum=1)
        if len(widths) < 2:
            raise ValueError(f"widths must name at least 2 levels, got {widths!r}")
        self.widths = widths
        self.out_level = integer(out_level, "out_level", minimum=0, maximum=len(widths) - 1)
        self.upsampling = check_choice(upsampling, "upsampling", UPSAMPLINGS)
        self.encoder = nn.ModuleList([DoubleConv(in_channels, widths[0])] + [
            DoubleConv(widths[level - 1], widths[level]) for level in range(1, len(widths))])
        levels = range(len(widths) - 2, self.out_level - 1, -1)  # the decoder's levels, deep first
        self.up = nn.ModuleList([Upsample2x(widths[level + 1], widths[level], self.upsampling)
                                 for level in levels])
        self.decoder = nn.ModuleList([DoubleConv(2 * widths[level], widths[level]) for level in levels])

    @property
    def out_channels(self) -> int:
        return self.widths[self.out_level]

    @property
    def stride(self) -> int:
        """Pixels per cell of the output maps."""
        return 2 ** self.out_level

    @property
    def multiple(self) -> int:
        """The image sides must be multiples of this."""
        return 2 ** (len(self.widths) - 1)

    def levels(self, x: torch.Tensor) -> list:
        """The decoder's maps from the deepest level to ``out_level``: ``[d_L, ..., d_out]``."""
        check_images(x, multiple=self.multiple)
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        outputs = [x]
        for up, block, skip in zip(self.up, self.decoder, reversed(skips[:-1])):
            x = block(torch.cat([up(x), skip], dim=1))
            outputs.append(x)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.levels(x)[-1]


class UNet(nn.Module):
    r"""A U-Net for semantic segmentation: :class:`EncoderDecoder` plus a ``1 x 1`` classifier.

    Args:
        num_classes: classes of the pixels, the background included.
        in_channels: channels of the input images.
        widths: channels of every level (see :class:`EncoderDecoder`).
        upsampling: one of :data:`UPSAMPLINGS`.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, sides multiples of :math:`2^{\text{len(widths)} - 1}`.
        - Output: class scores (logits) :math:`(N, K, H, W)`.
    """

    def __init__(self, num_classes: int = 6, in_channels: int = 3, widths: tuple = (16, 32, 64, 128),
                 upsampling: str = "transposed"):
        super().__init__()
        self.num_classes = integer(num_classes, "num_classes", minimum=2)
        self.trunk = EncoderDecoder(in_channels, widths, out_level=0, upsampling=upsampling)
        self.classifier = nn.Conv2d(self.trunk.out_channels, self.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.trunk(x))

    def output_shapes(self, input_shape: tuple) -> tuple:
        """The shape of the output for an input of shape ``(N, C, H, W)``."""
        n, _, h, w = input_shape
        return (n, self.num_classes, h, w)


def dice_loss(outputs: torch.Tensor, targets: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    r"""Soft Dice loss, averaged over the classes present in the batch's targets.

    With :math:`p_{ck}` the softmax probability of class :math:`c` at pixel :math:`k` and
    :math:`t_{ck}` the one-hot target, over all pixels of the batch,

    .. math:: L_{\text{Dice}} = 1 - \frac{1}{|\mathcal C|} \sum_{c}
       \frac{2 \sum_k p_{ck} t_{ck} + \epsilon}{\sum_k p_{ck} + \sum_k t_{ck} + \epsilon}.

    Every class counts the same however few pixels it has, as in the mean IoU (to which the
    Dice coefficient is closely related), whereas the cross-entropy weighs pixels alike and is
    dominated by the background.

    Shape:
        ``outputs`` :math:`(N, K, H, W)` scores, ``targets`` :math:`(N, H, W)` labels.
    """
    probabilities = outputs.float().softmax(dim=1)
    one_hot = F.one_hot(targets, outputs.shape[1]).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    overlap = (probabilities * one_hot).sum(dims)
    total = probabilities.sum(dims) + one_hot.sum(dims)
    present = one_hot.sum(dims) > 0
    dice = (2 * overlap + eps) / (total + eps)
    return 1 - dice[present].mean()


def segmentation_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Mean pixel-wise cross-entropy plus the soft Dice loss (:func:`dice_loss`) of the scores
    ``(N, K, H, W)`` and labels ``(N, H, W)``, computed in float32 (safe under mixed precision).

    .. math:: L = \mathrm{CE} + L_{\text{Dice}}
    """
    return F.cross_entropy(outputs.float(), targets) + dice_loss(outputs, targets)


@torch.no_grad()
def predict_segmentation(model: nn.Module, images, batch_size: int = 64) -> torch.Tensor:
    """The class of every pixel, ``(N, H, W)`` int64 on the CPU, in evaluation mode.

    Args:
        model: a segmentation network returning scores ``(N, K, H, W)``.
        images: ``(N, 3, H, W)`` float tensor or array (moved to the model's device).
        batch_size: images per forward pass.
    """
    return torch.cat(run_in_batches(model, images, batch_size, lambda scores, batch: [scores.argmax(1).cpu()]))


@torch.no_grad()
def run_in_batches(model: nn.Module, images, batch_size: int, step) -> list:
    """Run ``model`` in evaluation mode on ``images``, ``batch_size`` at a time, and return the
    concatenated lists ``step(outputs, batch)`` of every batch (``batch`` is on the model's device).
    The model's training mode is restored afterwards. Every ``predict_*``, ``detect`` and
    ``segment_instances`` of the use cases is this loop with its own ``step``.

    Args:
        model: a network on any device.
        images: ``(N, C, H, W)`` float tensor or array.
        batch_size: images per forward pass.
        step: ``(outputs, batch) -> list`` of results for the batch.
    """
    images = _as_images(images)
    batch_size = integer(batch_size, "batch_size", minimum=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    try:
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(device)
            results += step(model(batch), batch)
    finally:
        model.train(was_training)
    return results


def evaluate_segmentation(model: nn.Module, dataset, batch_size: int = 64) -> dict:
    """Pixel accuracy, mean IoU and the IoU of every class over a whole segmentation data set.

    The confusion matrices of all images are added up before dividing
    (:func:`cnncourse.metrics.confusion_matrix`), so the result is the measure of the data set,
    not a mean of per-batch measures.

    Args:
        model: a segmentation network.
        dataset: a :class:`cnncourse.data.SegmentationScenes` (``images`` and ``masks``).
        batch_size: images per forward pass.

    Returns:
        ``{"pixel_accuracy": float, "mean_iou": float, "iou": {class name: float}}``.
    """
    from cnncourse.metrics import confusion_matrix, iou_per_class

    predicted = predict_segmentation(model, dataset.images, batch_size)
    confusion = confusion_matrix(predicted.numpy(), dataset.masks.numpy(),
                                 num_classes=len(dataset.classes))
    per_class = iou_per_class(confusion)
    return {"pixel_accuracy": float(np.trace(confusion) / confusion.sum()),
            "mean_iou": float(np.nanmean(per_class)),
            "iou": {name: float(v) for name, v in zip(dataset.classes, per_class)}}


def _as_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    check_images(images, "images")
    return images


@register_model("unet", family="segmentation", input_size=(3, 64, 64), chapter=CHAPTER,
                task="segmentation", loss="cnncourse.models.segmentation.segmentation_loss",
                reference="Ronneberger, Fischer and Brox 2015, arXiv:1505.04597 (narrower and "
                          "shallower, with batch normalisation and padded convolutions)")
def unet(num_classes: int = 6, in_channels: int = 3, widths: tuple = (16, 32, 64, 128),
         upsampling: str = "transposed") -> UNet:
    """A small U-Net (see :class:`UNet`) for the 64 x 64 scenes: 4 levels, 16 to 128 channels."""
    return UNet(num_classes=num_classes, in_channels=in_channels, widths=widths,
                upsampling=upsampling)
