r"""Human pose estimation with one heat map per joint (Tompson et al. 2014, arXiv:1406.2984;
Newell, Yang and Deng 2016, arXiv:1603.06937).

A pose is the position of the 14 joints of a person (:data:`cnncourse.data.JOINTS`: feet,
knees, hips, hands, elbows, shoulders, neck and head top). Rather than regressing 28 numbers,
the network paints one map per joint on a grid of cells ``s`` pixels wide and is trained to
reproduce a Gaussian bump centred on the joint (:func:`cnncourse.metrics.gaussian_heatmaps`,
spread :math:`\sigma` cells) with the mean squared error

.. math:: J = \frac{1}{N J_{\text{joints}}} \sum_{n, j} \sum_{c} (\hat h_{njc} - h_{njc})^2

summed over the cells ``c`` (:func:`heatmap_loss`). A map keeps the convolutional structure to
the end (every cell is judged by the same filters), and it can say "here, or maybe there".

**Sub-pixel decoding.** The highest cell gives the joint only to within a cell. Around the
peak a Gaussian's logarithm is a parabola, so fitting a parabola to the log-values of the peak
and its two neighbours on each axis gives the centre exactly (:func:`decode_heatmaps`,
``method="quadratic"``, the refinement of Zhang et al. 2020, "DARK", reduced to one step):

.. math:: \delta_x = \frac{L_{i, j-1} - L_{i, j+1}}{2\,(L_{i, j-1} - 2 L_{ij} + L_{i, j+1})},
   \qquad x = (j + \tfrac12 + \delta_x)\, s

with :math:`L = \log h` and the same on the other axis. ``method="soft_argmax"`` takes the
mean position of the cells of a window around the peak weighted by their values, and
``method="quarter"`` the classic quarter-cell shift of :func:`cnncourse.metrics.heatmap_peaks`.

The network is the U-Net trunk (:class:`~cnncourse.models.segmentation.EncoderDecoder`) with its
decoder stopped at stride 2 and a ``1 x 1`` convolution giving the 14 maps; poses are scored
with :func:`cnncourse.metrics.pck` (PCK@0.2 of the torso length, :func:`evaluate_pose`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnncourse._checks import check_choice, int_tuple, integer, real
from cnncourse.data.scenes import JOINTS
from cnncourse.metrics import heatmap_peaks, pck
from cnncourse.models.segmentation import EncoderDecoder, run_in_batches
from cnncourse.registry import register_model

CHAPTER = "book/17-pose"

DECODINGS = ("quadratic", "soft_argmax", "quarter", "argmax")
"""Ways :func:`decode_heatmaps` reads a point off a heat map."""


class PoseNet(nn.Module):
    r"""Joint heat maps from an image: an encoder–decoder trunk and a ``1 x 1`` convolution.

    Args:
        num_joints: maps to predict (14 for :data:`cnncourse.data.JOINTS`).
        in_channels: channels of the input images.
        widths: channels of the trunk's levels.
        out_level: the level of the maps; the stride is :math:`2^{\text{out\_level}}`.
        output_scale: factor :math:`g` on the ``1 x 1`` convolution's output (default 0.1), so
            that the maps are :math:`g\,(W f + b)`. The Gaussian targets are small (one bump of
            height 1 in about a thousand cells: the all-zero map already costs only
            :math:`\pi\sigma^2 \approx 3` per map), and a head at full scale first learns to
            flatten its noisy maps to zero and then stays on that plateau. With :math:`g = 0.1`
            the fresh maps are nearly flat and each Adam step moves them ten times less, so the
            trunk learns where the joints are instead (the same as training on targets ten
            times higher).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`, sides multiples of :math:`2^{\text{len(widths)} - 1}`.
        - Output: heat maps :math:`(N, J, H / s, W / s)`.
    """

    def __init__(self, num_joints: int = len(JOINTS), in_channels: int = 3,
                 widths: tuple = (8, 16, 32, 64, 128), out_level: int = 1,
                 output_scale: float = 0.1):
        super().__init__()
        self.num_joints = integer(num_joints, "num_joints", minimum=1)
        self.output_scale = real(output_scale, "output_scale", minimum=0.0, open_minimum=True)
        self.trunk = EncoderDecoder(in_channels, int_tuple(widths, "widths", minimum=1), out_level)
        self.head = nn.Conv2d(self.trunk.out_channels, self.num_joints, 1)

    @property
    def stride(self) -> int:
        """Pixels per cell of the heat maps."""
        return self.trunk.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)) * self.output_scale

    def output_shapes(self, input_shape: tuple) -> tuple:
        """The shape of the output for an input of shape ``(N, C, H, W)``."""
        n, _, h, w = input_shape
        return (n, self.num_joints, h // self.stride, w // self.stride)


def heatmap_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Squared error of predicted and target heat maps, summed over the cells and averaged over
    the images and joints (float32).

    Shape:
        ``outputs`` and ``targets``: :math:`(N, J, h, w)`.
    """
    if outputs.shape != targets.shape:
        raise ValueError(f"outputs and targets must have the same shape, got {tuple(outputs.shape)} "
                         f"and {tuple(targets.shape)}")
    n, joints = outputs.shape[:2]
    return (outputs.float() - targets.float()).square().sum() / (n * joints)


def decode_heatmaps(heatmaps, stride: int = 1, method: str = "quadratic", window: int = 5):
    r"""The point each heat map marks, with sub-pixel precision, and its score.

    Cell ``(i, j)`` is centred on pixel position :math:`((j + \frac12) s, (i + \frac12) s)`, as in
    :func:`cnncourse.metrics.gaussian_heatmaps`. The highest cell is refined by ``method``:

    * ``"quadratic"``: the vertex of the parabola through the log-values of the peak and its two
      neighbours, on each axis (exact for a Gaussian bump); the shift is at most half a cell and
      none is made on an axis where the peak lies on the border or the values are not positive;
    * ``"soft_argmax"``: the mean cell position in a ``window x window`` neighbourhood of the
      peak, weighted by the positive values;
    * ``"quarter"``: a quarter cell towards the higher neighbour
      (:func:`cnncourse.metrics.heatmap_peaks`);
    * ``"argmax"``: the centre of the highest cell.

    Args:
        heatmaps: maps, a tensor (any device) or an array.
        stride: ``s``, pixels per cell.
        method: one of :data:`DECODINGS`.
        window: side of the soft-argmax window (odd).

    Shape:
        - heatmaps: :math:`(..., h, w)`
        - output: points :math:`(..., 2)` ``(x, y)`` in pixels and scores :math:`(...)`

    Returns:
        ``(points, scores)`` as float32 CPU tensors; the score is the value of the highest cell.
    """
    if isinstance(heatmaps, torch.Tensor):
        maps = heatmaps.detach().float()
    else:
        maps = torch.as_tensor(np.asarray(heatmaps, dtype=np.float32))
    if maps.dim() < 2 or maps.numel() == 0:
        raise ValueError(f"heatmaps must have shape (..., h, w), got {tuple(maps.shape)}")
    stride = integer(stride, "stride", minimum=1)
    method = check_choice(method, "method", DECODINGS)
    window = integer(window, "window", minimum=1)
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")
    if method == "quarter":
        points, scores = heatmap_peaks(maps.cpu().numpy(), stride)
        return torch.from_numpy(points.astype(np.float32)), torch.from_numpy(scores.astype(np.float32))
    rows, cols = maps.shape[-2:]
    flat = maps.reshape(-1, rows, cols)
    scores, best = flat.reshape(len(flat), -1).max(dim=1)
    i, j = best // cols, best % cols
    x, y = j.float() + 0.5, i.float() + 0.5
    k = torch.arange(len(flat), device=flat.device)
    if method == "quadratic":
        x = x + _parabola_vertex(flat, k, i, j, axis=1)
        y = y + _parabola_vertex(flat, k, i, j, axis=0)
    elif method == "soft_argmax":
        half = window // 2
        padded = F.pad(flat, (half, half, half, half))
        offsets = torch.arange(-half, half + 1, device=flat.device)
        rows_index = (i[:, None] + half + offsets[None]).clamp(0, rows + 2 * half - 1)
        cols_index = (j[:, None] + half + offsets[None]).clamp(0, cols + 2 * half - 1)
        patch = padded[k[:, None, None], rows_index[:, :, None], cols_index[:, None, :]].clamp(min=0)
        total = patch.sum(dim=(1, 2)).clamp(min=1e-12)
        shift = offsets.float()
        x = x + (patch.sum(dim=1) * shift).sum(dim=1) / total
        y = y + (patch.sum(dim=2) * shift).sum(dim=1) / total
    points = torch.stack([x, y], dim=-1) * stride
    shape = maps.shape[:-2]
    return points.reshape(*shape, 2).cpu(), scores.reshape(shape).cpu()


def _parabola_vertex(flat, k, i, j, axis: int) -> torch.Tensor:
    """Shift (in cells) of the vertex of the parabola through the log-values around each peak."""
    size = flat.shape[1 + axis]
    centre = i if axis == 0 else j
    inside = (centre > 0) & (centre < size - 1)
    before, after = (centre - 1).clamp(min=0), (centre + 1).clamp(max=size - 1)
    if axis == 0:
        values = torch.stack([flat[k, before, j], flat[k, i, j], flat[k, after, j]], dim=1)
    else:
        values = torch.stack([flat[k, i, before], flat[k, i, j], flat[k, i, after]], dim=1)
    positive = (values > 0).all(dim=1)
    logs = values.clamp(min=1e-12).log()
    curvature = logs[:, 0] - 2 * logs[:, 1] + logs[:, 2]
    valid = inside & positive & (curvature < 0)
    shift = (logs[:, 0] - logs[:, 2]) / (2 * torch.where(valid, curvature, torch.ones_like(curvature)))
    return torch.where(valid, shift.clamp(-0.5, 0.5), torch.zeros_like(shift))


@torch.no_grad()
def predict_pose(model: nn.Module, images, batch_size: int = 64, method: str = "quadratic"):
    """Joint positions ``(N, J, 2)`` in pixels and scores ``(N, J)`` predicted by a heat-map
    network (``model.stride``), in evaluation mode; see :func:`decode_heatmaps`."""
    method = check_choice(method, "method", DECODINGS)  # before any forward pass
    batches = run_in_batches(model, images, batch_size,
                             lambda maps, batch: [decode_heatmaps(maps, model.stride, method)])
    return torch.cat([p for p, _ in batches]), torch.cat([s for _, s in batches])


def evaluate_pose(model: nn.Module, dataset, batch_size: int = 64, method: str = "quadratic",
                  alpha: float = 0.2) -> dict:
    """PCK@``alpha`` (torso reference) of a heat-map network on a pose data set.

    Args:
        model: a :class:`PoseNet`.
        dataset: a :class:`cnncourse.data.PoseScenes` (``keypoints`` and ``visible`` are used).
        batch_size: images per forward pass.
        method: the decoding (:data:`DECODINGS`).
        alpha: the PCK tolerance as a share of the torso length.

    Returns:
        ``{"pck": float, "per_joint": {joint name: float}, "mean_error_px": float}``.
    """
    points, _ = predict_pose(model, dataset.images, batch_size, method)
    truth, visible = dataset.keypoints.numpy(), dataset.visible.numpy()
    per_joint = pck(points.numpy(), truth, visible, alpha=alpha, per_joint=True)
    error = np.linalg.norm(points.numpy() - truth, axis=-1)[visible]
    return {"pck": pck(points.numpy(), truth, visible, alpha=alpha),
            "per_joint": {name: float(v) for name, v in zip(JOINTS, per_joint)},
            "mean_error_px": float(error.mean())}


@register_model("pose_net", family="pose", input_size=(3, 64, 64), chapter=CHAPTER, task="pose",
                loss="cnncourse.models.pose.heatmap_loss",
                reference="heat-map regression as in Tompson et al. 2014 (arXiv:1406.2984) and "
                          "Newell et al. 2016 (arXiv:1603.06937), on a small U-Net trunk")
def pose_net(num_joints: int = len(JOINTS), in_channels: int = 3,
             widths: tuple = (8, 16, 32, 64, 128), out_level: int = 1,
             output_scale: float = 0.1) -> PoseNet:
    """A small heat-map pose network (see :class:`PoseNet`) for 64 x 64 scenes: maps at stride 2."""
    return PoseNet(num_joints=num_joints, in_channels=in_channels, widths=widths, out_level=out_level,
                   output_scale=output_scale)
