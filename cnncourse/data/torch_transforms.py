"""Data augmentation in PyTorch: the augmentations of :mod:`cnncourse.data.transforms` on tensors.

The same operations with the same names and parameters as the NumPy module, working on a batch
``(N, C, H, W)`` (or one image ``(C, H, W)``) on whatever device it lives, so that a training
loop can augment each batch on the GPU right before the forward pass
(``cnncourse.train.fit(..., augment=transform)``). Flips, whole-pixel translations and crops
give exactly the numbers of the NumPy version and photometric changes the same up to the last
bit; rotations and scalings resample with ``affine_grid`` and ``grid_sample`` instead of SciPy
and agree with it up to float32 rounding (about 1e-6), quarter turns included.

Every random augmentation is called as ``transform(images, generator=None)``; ``generator`` is
a ``torch.Generator`` (best on the images' device: the random parameters are drawn on the
generator's device and moved to the images), an int seed (a new generator on the images'
device) or ``None`` (PyTorch's global generator of that device). Pass one generator through a
whole training run: each call draws fresh parameters. Inputs are never modified.

``fill`` gives the value of pixels that come from outside the image: a number, ``"edge"``
(repeat the border pixel) or ``"reflect"`` (mirror at the border, ``dcb|abcd|cba``).
"""

from __future__ import annotations

import abc
import math
import numbers

import torch
import torch.nn.functional as F

from cnncourse._checks import boolean as _boolean
from cnncourse._checks import check_choice as _check_choice
from cnncourse._checks import integer as _integer
from cnncourse._checks import pair as _pair
from cnncourse._checks import real as _real
from cnncourse.data.transforms import FILL_MODES, FLIP_DIRECTIONS

_PAD_MODE = {"edge": "replicate", "reflect": "reflect"}
_GRID_PADDING = {"edge": "border", "reflect": "reflection"}

__all__ = [
    "FILL_MODES", "FLIP_DIRECTIONS",
    "translate", "rotate", "scale", "flip", "photometric_distortion",
    "Transform", "RandomTranslate", "RandomCrop", "RandomRotation", "RandomScale", "RandomFlip",
    "RandomPhotometric", "SaltAndPepper", "Compose", "RandomApply", "AUGMENTATIONS",
]


# --------------------------------------------------------------------------- argument checks
def _as_batch(images, name: str = "images") -> tuple[torch.Tensor, bool]:
    """``images`` as a batch ``(N, C, H, W)`` and whether it was a single image ``(C, H, W)``."""
    if not torch.is_tensor(images):
        raise TypeError(f"{name} must be a torch tensor, got {type(images).__name__}")
    if not images.dtype.is_floating_point:
        raise TypeError(f"{name} must be a float tensor (values in [0, 1]), got dtype {images.dtype}")
    if images.ndim not in (3, 4):
        raise ValueError(f"{name} must be a 3D (C, H, W) or 4D (N, C, H, W) tensor, got shape "
                         f"{tuple(images.shape)}")
    if images.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(images.shape)}")
    return (images[None], True) if images.ndim == 3 else (images, False)


def _finish(batch: torch.Tensor, single: bool) -> torch.Tensor:
    return batch[0] if single else batch


def _fill(fill):
    if isinstance(fill, str):
        return _check_choice(fill, "fill", FILL_MODES)
    return _real(fill, "fill")


def _probability(p, name: str = "p") -> float:
    return _real(p, name, minimum=0.0, maximum=1.0)


def _per_image(value, name: str, count: int) -> torch.Tensor:
    """A number or ``count`` numbers as a float64 CPU column ``(count or 1, 1, 1, 1)``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor of numbers, got bool {value!r}")
    try:
        tensor = (value.detach() if torch.is_tensor(value) else torch.as_tensor(value))
        tensor = tensor.to("cpu", torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a number or a tensor of numbers, got {type(value).__name__} "
                        f"{value!r}") from None
    if tensor.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1D tensor, got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    if tensor.ndim == 1 and tensor.shape[0] != count:
        raise ValueError(f"{name} must be a number or one value per image ({count}), got "
                         f"{tensor.shape[0]} values")
    return tensor.reshape(-1, 1, 1, 1)


def _generator_for(generator, device: torch.device):
    """A ``torch.Generator`` (or None for the global one) from None, an int seed or a Generator."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, numbers.Integral):
        raise TypeError(f"generator must be None, an int seed or a torch.Generator, got "
                        f"{type(generator).__name__} {generator!r}")
    seed = _integer(generator, "generator", minimum=0)
    made = torch.Generator(device=device)
    made.manual_seed(seed)
    return made


def _random(shape, generator, device) -> torch.Tensor:
    """Uniform numbers in [0, 1) (float32) drawn from ``generator`` and moved to ``device``."""
    where = device if generator is None else generator.device
    return torch.rand(shape, generator=generator, device=where).to(device)


def _uniform(low: float, high: float, shape, generator, device) -> torch.Tensor:
    """Uniform numbers in ``[low, high)`` (float32) of ``shape`` on ``device``."""
    return low + (high - low) * _random(shape, generator, device)


def _random_integers(low: int, high: int, count: int, generator, device) -> torch.Tensor:
    """``count`` integers uniform in ``[low, high]`` (both included)."""
    where = device if generator is None else generator.device
    return torch.randint(low, high + 1, (count,), generator=generator, device=where).to(device)


# --------------------------------------------------------------------------- resampling cores
def _pad(batch, rows: tuple[int, int], cols: tuple[int, int], fill):
    widths = (cols[0], cols[1], rows[0], rows[1])
    if isinstance(fill, str):
        return F.pad(batch, widths, mode=_PAD_MODE[fill])
    return F.pad(batch, widths, mode="constant", value=fill)


def _windows(padded, tops, lefts, height: int, width: int):
    """Cut a ``height x width`` window at ``(tops[n], lefts[n])`` out of every padded image."""
    n, c = padded.shape[:2]
    device = padded.device
    rows = tops.to(device)[:, None] + torch.arange(height, device=device)  # (N, height)
    cols = lefts.to(device)[:, None] + torch.arange(width, device=device)  # (N, width)
    return padded[torch.arange(n, device=device)[:, None, None, None],
                  torch.arange(c, device=device)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def _shift(batch, dy, dx, fill):
    """Move image ``n`` by ``dy[n]`` rows down and ``dx[n]`` columns right (integer tensors)."""
    h, w = batch.shape[-2:]
    my, mx = int(dy.abs().max()), int(dx.abs().max())
    if fill == "reflect":
        if my >= h or mx >= w:
            raise ValueError(f"fill='reflect' needs shifts smaller than the image ({h} x {w}), "
                             f"got up to ({my}, {mx})")
    else:  # a shift by the image size or more leaves only fill
        dy, dx = dy.clamp(-h, h), dx.clamp(-w, w)
        my, mx = min(my, h), min(mx, w)
    padded = _pad(batch, (my, my), (mx, mx), fill)
    return _windows(padded, my - dy, mx - dx, h, w)


def _rotate_and_scale(batch, degrees, factors, fill, order: int):
    """Rotate image ``n`` by ``degrees[n]`` (counterclockwise) and scale it by ``factors[n]``.

    Output pixel ``p = (row, column)`` takes the input value at ``c + R(theta) (p - c) / s``,
    ``c`` the centre, as in :func:`cnncourse.data.transforms.rotate`. ``affine_grid`` works in
    coordinates normalised to ``[-1, 1]`` per axis (``align_corners=True``: -1 and 1 are the
    centres of the border pixels), so the rotation is rescaled by the aspect ratio.
    """
    n, c, h, w = batch.shape
    work = batch if batch.dtype in (torch.float32, torch.float64) else batch.float()
    # the matrices are made in float64 on the CPU (MPS has no float64), then moved
    theta_angle = torch.deg2rad(degrees.detach().to("cpu", torch.float64))
    cos, sin = torch.cos(theta_angle), torch.sin(theta_angle)
    # a quarter turn must be exact (cos 90 degrees is 6e-17 in floating point, not 0)
    cos = torch.where(cos.abs() < 1e-12, torch.zeros_like(cos), cos)
    sin = torch.where(sin.abs() < 1e-12, torch.zeros_like(sin), sin)
    half_h, half_w = (h - 1) / 2.0, (w - 1) / 2.0
    ratio = half_w / half_h if half_h > 0 and half_w > 0 else 1.0  # b / a
    s = factors.detach().to("cpu", torch.float64)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = cos / s
    theta[:, 0, 1] = -sin / ratio / s
    theta[:, 1, 0] = sin * ratio / s
    theta[:, 1, 1] = cos / s
    grid = F.affine_grid(theta.to(device=batch.device, dtype=work.dtype), [n, c, h, w],
                         align_corners=True)
    mode = "nearest" if order == 0 else "bilinear"
    if isinstance(fill, str):
        out = F.grid_sample(work, grid, mode=mode, padding_mode=_GRID_PADDING[fill], align_corners=True)
    else:  # a constant: sample (x - fill) with zeros outside, then add fill back
        out = F.grid_sample(work - fill, grid, mode=mode, padding_mode="zeros", align_corners=True) + fill
    return out.to(batch.dtype)


# --------------------------------------------------------------------------- plain operations
def translate(images, shift, fill=0.0) -> torch.Tensor:
    """Move the content of ``images`` by ``shift = (dy, dx)`` whole pixels (down and right).

    .. math:: y(i, j) = x(i - d_y,\\ j - d_x),

    with ``fill`` where ``(i - dy, j - dx)`` lies outside the image. Equals
    :func:`cnncourse.data.transforms.translate`.

    Shape:
        ``(C, H, W)`` or ``(N, C, H, W)`` in and out.
    """
    batch, single = _as_batch(images)
    dy, dx = _pair(shift, "shift", minimum=-(2**62))
    fill = _fill(fill)
    n = batch.shape[0]
    dy = torch.full((n,), dy, dtype=torch.int64, device=batch.device)
    dx = torch.full((n,), dx, dtype=torch.int64, device=batch.device)
    return _finish(_shift(batch, dy, dx, fill), single)


def rotate(images, degrees, fill=0.0, order: int = 1) -> torch.Tensor:
    """Rotate ``images`` counterclockwise by ``degrees`` about their centre, keeping their size.

    .. math:: y(\\mathbf p) = x\\big(\\mathbf c + R(\\theta)\\,(\\mathbf p - \\mathbf c)\\big),
       \\qquad R(\\theta) = \\begin{pmatrix}\\cos\\theta & \\sin\\theta \\\\
       -\\sin\\theta & \\cos\\theta\\end{pmatrix},

    with ``p = (row, column)`` and ``c`` the centre, through ``affine_grid`` and
    ``grid_sample``. A quarter turn of a square image equals ``torch.rot90`` up to rounding.

    Args:
        degrees: the angle, a number or one per image (a tensor of N numbers).
        fill: value of the pixels that come from outside the image (number, "edge", "reflect").
        order: interpolation, 0 nearest neighbour or 1 bilinear.
    """
    batch, single = _as_batch(images)
    fill = _fill(fill)
    order = _integer(order, "order", minimum=0, maximum=1)
    angles = _per_image(degrees, "degrees", batch.shape[0]).reshape(-1).expand(batch.shape[0])
    return _finish(_rotate_and_scale(batch, angles, torch.ones_like(angles), fill, order), single)


def scale(images, factor, fill=0.0, order: int = 1) -> torch.Tensor:
    """Scale the content of ``images`` by ``factor`` about their centre, keeping their size.

    .. math:: y(\\mathbf p) = x\\big(\\mathbf c + (\\mathbf p - \\mathbf c) / s\\big):

    ``factor > 1`` enlarges the content, ``factor < 1`` shrinks it (``fill`` surrounds it).

    Args:
        factor: the scale ``s > 0``, a number or one per image.
        fill, order: as in :func:`rotate`.
    """
    batch, single = _as_batch(images)
    fill = _fill(fill)
    order = _integer(order, "order", minimum=0, maximum=1)
    factors = _per_image(factor, "factor", batch.shape[0])
    if (factors <= 0).any():
        raise ValueError(f"factor must be > 0, got {factor!r}")
    factors = factors.reshape(-1).expand(batch.shape[0])
    return _finish(_rotate_and_scale(batch, torch.zeros_like(factors), factors, fill, order), single)


def flip(images, direction: str = "horizontal") -> torch.Tensor:
    """Mirror ``images``: ``"horizontal"`` reverses the columns (left <-> right), ``"vertical"``
    the rows (top <-> bottom).

    .. math:: y(i, j) = x(i,\\ W - 1 - j) \\quad\\text{(horizontal)}.
    """
    batch, single = _as_batch(images)
    _check_choice(direction, "direction", FLIP_DIRECTIONS)
    return _finish(torch.flip(batch, dims=(-1 if direction == "horizontal" else -2,)), single)


def photometric_distortion(images, brightness=0.0, contrast=1.0, channel_scale=1.0,
                           clip: bool = True) -> torch.Tensor:
    """Change the intensities of the colour channels, keeping the image's structure.

    .. math:: y_k(i, j) = \\gamma\\,\\big(a_k\\, x_k(i, j) - m\\big) + m + \\beta,
       \\qquad m = \\operatorname{mean}_{k, i, j}\\, a_k\\, x_k(i, j),

    then, with ``clip=True``, clipped to ``[0, 1]`` (see
    :func:`cnncourse.data.transforms.photometric_distortion`).

    Args:
        brightness: the offset ``beta``, a number or one per image.
        contrast: the factor ``gamma >= 0``, a number or one per image.
        channel_scale: the factors ``a_k >= 0``: a number, C numbers or an (N, C) tensor.
        clip: clip the result to ``[0, 1]``.
    """
    batch, single = _as_batch(images)
    n, c = batch.shape[:2]
    beta = _per_image(brightness, "brightness", n)
    gamma = _per_image(contrast, "contrast", n)
    if (gamma < 0).any():
        raise ValueError(f"contrast must be >= 0, got {contrast!r}")
    if isinstance(channel_scale, bool):
        raise TypeError(f"channel_scale must be a number or a tensor of numbers, got {channel_scale!r}")
    try:
        scales = (channel_scale.detach() if torch.is_tensor(channel_scale)
                  else torch.as_tensor(channel_scale)).to("cpu", torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"channel_scale must be a number or a tensor of numbers, got "
                        f"{type(channel_scale).__name__}") from None
    if not torch.isfinite(scales).all() or (scales < 0).any():
        raise ValueError(f"channel_scale must be finite and >= 0, got {channel_scale!r}")
    if tuple(scales.shape) not in {(), (c,), (1, c), (n, c)}:
        raise ValueError(f"channel_scale must be a number, {c} values (one per channel) or a "
                         f"tensor ({n}, {c}), got shape {tuple(scales.shape)}")
    scales = scales.reshape(-1, c if scales.ndim else 1, 1, 1)
    clip = _boolean(clip, "clip")
    return _finish(_photometric(batch, beta, gamma, scales, clip), single)


def _photometric(batch, beta, gamma, scales, clip: bool):
    """The formula of :func:`photometric_distortion`; parameters broadcast to ``(N, C, 1, 1)``."""
    beta, gamma, scales = (t.to(device=batch.device, dtype=batch.dtype) for t in (beta, gamma, scales))
    coloured = batch * scales
    mean = coloured.mean(dim=(1, 2, 3), keepdim=True)
    out = gamma * (coloured - mean) + mean + beta
    return out.clamp(0.0, 1.0) if clip else out


# --------------------------------------------------------------------------- random augmentations
class Transform(abc.ABC):
    """A random augmentation: ``transform(images, generator=None)`` on ``(C, H, W)`` or
    ``(N, C, H, W)`` tensors.

    Subclasses implement :meth:`apply` on a batch; the call checks ``images``, turns
    ``generator`` (None, an int seed or a ``torch.Generator``) into a generator and returns a
    single image when it got one.
    """

    def __call__(self, images, generator=None) -> torch.Tensor:
        batch, single = _as_batch(images)
        return _finish(self.apply(batch, _generator_for(generator, batch.device)), single)

    @abc.abstractmethod
    def apply(self, batch: torch.Tensor, generator) -> torch.Tensor:
        """Transform a batch ``(N, C, H, W)`` with parameters drawn from ``generator``."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


class RandomTranslate(Transform):
    """Move every image by a random whole number of pixels, ``dy`` uniform in
    ``[-max_shift_y, max_shift_y]`` and ``dx`` in ``[-max_shift_x, max_shift_x]``
    (see :func:`translate`).

    Args:
        max_shift: the largest shift, an int or ``(rows, columns)``, >= 0.
        fill: value of the pixels moved in from outside.
    """

    def __init__(self, max_shift=4, fill=0.0):
        self.max_shift = _pair(max_shift, "max_shift", minimum=0)
        self.fill = _fill(fill)

    def apply(self, batch, generator):
        n = batch.shape[0]
        my, mx = self.max_shift
        dy = _random_integers(-my, my, n, generator, batch.device)
        dx = _random_integers(-mx, mx, n, generator, batch.device)
        return _shift(batch, dy, dx, self.fill)


class RandomCrop(Transform):
    """Pad every image by ``padding`` pixels, then cut a random ``size`` window out of it.

    With ``size`` equal to the image size (``None``) this is the pad-and-crop augmentation;
    with a smaller ``size`` it returns smaller images.

    Args:
        size: height and width of the crop, an int, a pair or ``None`` (the input size).
        padding: rows added at top and bottom, columns at left and right.
        fill: value of the padding.
    """

    def __init__(self, size=None, padding=4, fill=0.0):
        self.size = None if size is None else _pair(size, "size", minimum=1)
        self.padding = _pair(padding, "padding", minimum=0)
        self.fill = _fill(fill)

    def apply(self, batch, generator):
        n, _, h, w = batch.shape
        py, px = self.padding
        height, width = self.size or (h, w)
        if height > h + 2 * py or width > w + 2 * px:
            raise ValueError(f"size {(height, width)} is larger than the padded image "
                             f"{(h + 2 * py, w + 2 * px)}")
        if self.fill == "reflect" and (py >= h or px >= w):
            raise ValueError(f"fill='reflect' needs padding smaller than the image ({h} x {w}), "
                             f"got {self.padding}")
        padded = _pad(batch, (py, py), (px, px), self.fill)
        tops = _random_integers(0, h + 2 * py - height, n, generator, batch.device)
        lefts = _random_integers(0, w + 2 * px - width, n, generator, batch.device)
        return _windows(padded, tops, lefts, height, width)


class RandomRotation(Transform):
    """Rotate every image by an angle drawn uniformly from ``[-degrees, degrees]``
    (``degrees`` up to 180; see :func:`rotate`)."""

    def __init__(self, degrees=90.0, fill=0.0, order: int = 1):
        self.degrees = _real(degrees, "degrees", minimum=0.0, maximum=180.0)
        self.fill = _fill(fill)
        self.order = _integer(order, "order", minimum=0, maximum=1)

    def apply(self, batch, generator):
        n = batch.shape[0]
        angles = _uniform(-self.degrees, self.degrees, n, generator, batch.device)
        return _rotate_and_scale(batch, angles, torch.ones_like(angles), self.fill, self.order)


class RandomScale(Transform):
    """Scale every image about its centre by a factor drawn log-uniformly from
    ``[min_factor, max_factor]`` (see :func:`scale`)."""

    def __init__(self, min_factor=0.8, max_factor=1.25, fill=0.0, order: int = 1):
        self.min_factor = _real(min_factor, "min_factor", minimum=0.0, open_minimum=True)
        self.max_factor = _real(max_factor, "max_factor", minimum=0.0, open_minimum=True)
        if self.max_factor < self.min_factor:
            raise ValueError(f"max_factor must be >= min_factor, got max_factor={max_factor!r} "
                             f"and min_factor={min_factor!r}")
        self.fill = _fill(fill)
        self.order = _integer(order, "order", minimum=0, maximum=1)

    def apply(self, batch, generator):
        n = batch.shape[0]
        low, high = math.log(self.min_factor), math.log(self.max_factor)
        factors = torch.exp(_uniform(low, high, n, generator, batch.device))
        return _rotate_and_scale(batch, torch.zeros_like(factors), factors, self.fill, self.order)


class RandomFlip(Transform):
    """Mirror every image with probability ``p`` (see :func:`flip`)."""

    def __init__(self, p=0.5, direction: str = "horizontal"):
        self.p = _probability(p)
        self.direction = _check_choice(direction, "direction", FLIP_DIRECTIONS)

    def apply(self, batch, generator):
        chosen = _random(batch.shape[0], generator, batch.device) < self.p
        flipped = torch.flip(batch, dims=(-1 if self.direction == "horizontal" else -2,))
        return torch.where(chosen[:, None, None, None], flipped, batch)


class RandomPhotometric(Transform):
    """Random brightness, contrast and colour cast: for every image
    ``beta ~ U[-brightness, brightness]``, ``gamma ~ U[1 - contrast, 1 + contrast]`` and, per
    channel, ``a_k ~ U[1 - channel_scale, 1 + channel_scale]`` (see
    :func:`photometric_distortion`)."""

    def __init__(self, brightness=0.1, contrast=0.2, channel_scale=0.1, clip: bool = True):
        self.brightness = _real(brightness, "brightness", minimum=0.0, maximum=1.0)
        self.contrast = _real(contrast, "contrast", minimum=0.0, maximum=1.0)
        self.channel_scale = _real(channel_scale, "channel_scale", minimum=0.0, maximum=1.0)
        self.clip = _boolean(clip, "clip")

    def apply(self, batch, generator):
        n, c = batch.shape[:2]
        beta = _uniform(-self.brightness, self.brightness, (n, 1, 1, 1), generator, batch.device)
        gamma = _uniform(1.0 - self.contrast, 1.0 + self.contrast, (n, 1, 1, 1), generator,
                         batch.device)
        scales = _uniform(1.0 - self.channel_scale, 1.0 + self.channel_scale, (n, c, 1, 1),
                          generator, batch.device)
        return _photometric(batch, beta, gamma, scales, self.clip)


class SaltAndPepper(Transform):
    """Set a random share ``amount`` of the pixels (all channels together) to ``high`` (salt,
    with probability ``salt_ratio``) or ``low`` (pepper)."""

    def __init__(self, amount=0.05, salt_ratio=0.5, low=0.0, high=1.0):
        self.amount = _probability(amount, "amount")
        self.salt_ratio = _probability(salt_ratio, "salt_ratio")
        self.low = _real(low, "low")
        self.high = _real(high, "high")

    def apply(self, batch, generator):
        n, _, h, w = batch.shape
        hit = _random((n, 1, h, w), generator, batch.device) < self.amount
        salt = _random((n, 1, h, w), generator, batch.device) < self.salt_ratio
        value = torch.where(salt, self.high, self.low).to(batch.dtype)
        return torch.where(hit, value, batch)


class Compose(Transform):
    """Apply ``transforms`` one after the other, all drawing from the same generator."""

    def __init__(self, transforms):
        if isinstance(transforms, (str, bytes)) or not hasattr(transforms, "__iter__"):
            raise TypeError(f"transforms must be a sequence of callables, got {transforms!r}")
        self.transforms = list(transforms)
        for index, transform in enumerate(self.transforms):
            if not callable(transform):
                raise TypeError(f"transforms[{index}] must be callable, got {transform!r}")

    def apply(self, batch, generator):
        for transform in self.transforms:
            batch = transform(batch, generator)
        return batch


class RandomApply(Transform):
    """Apply ``transform`` to each image with probability ``p``, leave the others unchanged
    (``transform`` must keep the image shape)."""

    def __init__(self, transform, p=0.5):
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {transform!r}")
        self.transform = transform
        self.p = _probability(p)

    def apply(self, batch, generator):
        chosen = _random(batch.shape[0], generator, batch.device) < self.p
        out = batch.clone()
        if chosen.any():
            changed = self.transform(batch[chosen], generator)
            if changed.shape != batch[chosen].shape:
                raise ValueError(f"transform must keep the shape of the images, it turned "
                                 f"{tuple(batch[chosen].shape)} into {tuple(changed.shape)}")
            out[chosen] = changed
        return out


AUGMENTATIONS = (RandomTranslate, RandomCrop, RandomPhotometric, RandomScale, RandomRotation,
                 RandomFlip, SaltAndPepper)
"""The label-preserving augmentations of this module, in the order the course presents them."""
