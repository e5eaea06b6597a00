"""Data augmentation in NumPy: random, label-preserving changes of training images.

A network that sees every training image in many versions (moved, cropped, recoloured, scaled,
rotated, mirrored, noisy) overfits less, and the new versions cost only a little computation
while the training runs. Every augmentation here

* is a small class whose constructor takes the parameters (checked at once) and whose call
  ``transform(images, rng=None)`` changes an image ``(C, H, W)`` or a batch ``(N, C, H, W)``,
  drawing new random parameters for every image of a batch;
* returns a new array of the same dtype (and, except for :class:`RandomCrop` with a smaller
  ``size``, of the same shape) and never modifies its input;
* is deterministic given ``rng``: an int seed or a :class:`numpy.random.Generator` (pass one
  generator through a whole epoch: each call then draws fresh parameters).

The deterministic operation behind each random one is a plain function (:func:`translate`,
:func:`rotate`, :func:`scale`, :func:`flip`, :func:`photometric_distortion`), so that a chapter
can show exactly what one parameter does. :class:`Compose` chains augmentations and
:class:`RandomApply` applies one to a random share of the images.

Geometric transformations need the value of pixels that come from outside the image; ``fill``
gives it: a number (a constant such as 0, black), ``"edge"`` (repeat the border pixel) or
``"reflect"`` (mirror the image at its border, ``dcb|abcd|cba``).
"""

from __future__ import annotations

import abc

import numpy as np

from cnncourse._checks import as_array as _as_array
from cnncourse._checks import boolean as _boolean
from cnncourse._checks import check_choice as _check_choice
from cnncourse._checks import integer as _integer
from cnncourse._checks import pair as _pair
from cnncourse._checks import real as _real
from cnncourse._checks import rng_from as _rng_from

FILL_MODES = ("edge", "reflect")
"""Named ways to fill pixels that come from outside the image (besides a constant number)."""

FLIP_DIRECTIONS = ("horizontal", "vertical")
"""``"horizontal"`` mirrors left and right (the mirror image), ``"vertical"`` top and bottom."""

_NUMPY_PAD = {"edge": "edge", "reflect": "reflect"}
_SCIPY_MODE = {"edge": "nearest", "reflect": "mirror"}


# --------------------------------------------------------------------------- argument checks
def _as_batch(images, name: str = "images") -> tuple[np.ndarray, bool]:
    """``images`` as a batch ``(N, C, H, W)`` and whether it was a single image ``(C, H, W)``."""
    array = _as_array(images, name, ndim=(3, 4))
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array (values in [0, 1]), got dtype {array.dtype}")
    if array.ndim == 3:
        return array[None], True
    return array, False


def _fill(fill):
    """Check ``fill``: a real number or one of :data:`FILL_MODES`."""
    if isinstance(fill, str):
        return _check_choice(fill, "fill", FILL_MODES)
    return _real(fill, "fill")


def _signed_pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints of any sign."""
    return _pair(value, name, minimum=-(2**62))


def _probability(p, name: str = "p") -> float:
    return _real(p, name, minimum=0.0, maximum=1.0)


def _per_image(value, name: str, count: int, dtype) -> np.ndarray:
    """A scalar or a length-``count`` vector as a column ``(count or 1, 1, 1, 1)``."""
    array = np.asarray(_as_array(value, name, ndim=(0, 1)), dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if array.ndim == 1 and array.shape[0] != count:
        raise ValueError(f"{name} must be a number or one value per image ({count}), got "
                         f"{array.shape[0]} values")
    return array.reshape(-1, 1, 1, 1).astype(dtype)


def _finish(batch: np.ndarray, single: bool) -> np.ndarray:
    return batch[0] if single else batch


# --------------------------------------------------------------------------- resampling cores
def _pad(batch: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], fill) -> np.ndarray:
    widths = [(0, 0), (0, 0), rows, cols]
    if isinstance(fill, str):
        return np.pad(batch, widths, mode=_NUMPY_PAD[fill])
    return np.pad(batch, widths, mode="constant", constant_values=fill)


def _windows(padded: np.ndarray, tops, lefts, height: int, width: int) -> np.ndarray:
    """Cut a ``height x width`` window at ``(tops[n], lefts[n])`` out of every padded image."""
    n, c = padded.shape[:2]
    rows = np.asarray(tops)[:, None] + np.arange(height)  # (N, height)
    cols = np.asarray(lefts)[:, None] + np.arange(width)  # (N, width)
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def _shift(batch: np.ndarray, dy, dx, fill) -> np.ndarray:
    """Move image ``n`` by ``dy[n]`` rows down and ``dx[n]`` columns right."""
    h, w = batch.shape[-2:]
    my, mx = int(np.abs(dy).max()), int(np.abs(dx).max())
    if fill == "reflect":
        if my >= h or mx >= w:
            raise ValueError(f"fill='reflect' needs shifts smaller than the image ({h} x {w}), "
                             f"got up to ({my}, {mx})")
    else:  # a shift by the image size or more leaves only fill: no need to pad any further
        dy, dx = np.clip(dy, -h, h), np.clip(dx, -w, w)
        my, mx = min(my, h), min(mx, w)
    padded = _pad(batch, (my, my), (mx, mx), fill)
    return _windows(padded, my - np.asarray(dy), mx - np.asarray(dx), h, w)


def _rotate_and_scale(batch: np.ndarray, degrees, factors, fill, order: int) -> np.ndarray:
    """Rotate image ``n`` by ``degrees[n]`` (counterclockwise) and scale it by ``factors[n]``.

    Both happen about the image centre ``c`` and keep the image size: output pixel ``p`` takes
    the (interpolated) input value at ``c + R(theta) (p - c) / s``.
    """
    from scipy.ndimage import affine_transform

    n, c, h, w = batch.shape
    work = batch.astype(np.float32) if batch.dtype == np.float16 else batch  # scipy has no float16
    out = np.empty_like(work)
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    if isinstance(fill, str):
        mode, cval = _SCIPY_MODE[fill], 0.0
    else:
        mode, cval = "grid-constant", fill
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    # a quarter turn must be exact (cos 90 degrees is 6e-17 in floating point, not 0)
    cos[np.abs(cos) < 1e-12], sin[np.abs(sin) < 1e-12] = 0.0, 0.0
    for index in range(n):
        matrix = np.array([[cos[index], sin[index]], [-sin[index], cos[index]]]) / factors[index]
        offset = centre - matrix @ centre
        for channel in range(c):
            affine_transform(work[index, channel], matrix, offset=offset, order=order, mode=mode,
                             cval=cval, output=out[index, channel])
    return out.astype(batch.dtype, copy=False)


# --------------------------------------------------------------------------- plain operations
def translate(images, shift, fill=0.0) -> np.ndarray:
    """Move the content of ``images`` by ``shift = (dy, dx)`` pixels (down and right).

    .. math:: y(i, j) = x(i - d_y,\\ j - d_x),

    with ``fill`` where ``(i - dy, j - dx)`` lies outside the image.

    Shape
    -----
    ``(C, H, W)`` or ``(N, C, H, W)`` in and out.
    """
    batch, single = _as_batch(images)
    dy, dx = _signed_pair(shift, "shift")
    fill = _fill(fill)
    n = batch.shape[0]
    return _finish(_shift(batch, np.full(n, dy), np.full(n, dx), fill), single)


def rotate(images, degrees, fill=0.0, order: int = 1) -> np.ndarray:
    """Rotate ``images`` counterclockwise by ``degrees`` about their centre, keeping their size.

    .. math:: y(\\mathbf p) = x\\big(\\mathbf c + R(\\theta)\\,(\\mathbf p - \\mathbf c)\\big),
       \\qquad R(\\theta) = \\begin{pmatrix}\\cos\\theta & \\sin\\theta \\\\
       -\\sin\\theta & \\cos\\theta\\end{pmatrix},

    with ``p = (row, column)`` and ``c`` the centre. A rotation by 90 degrees of a square image
    equals :func:`numpy.rot90` on its last two axes.

    Parameters
    ----------
    degrees : float or array of N floats
        The angle, one for all images or one per image of a batch.
    fill : float, "edge" or "reflect"
        Value of the pixels that come from outside the image.
    order : {0, 1}
        Interpolation: 0 nearest neighbour, 1 bilinear.
    """
    batch, single = _as_batch(images)
    fill = _fill(fill)
    order = _integer(order, "order", minimum=0, maximum=1)
    angle = _per_image(degrees, "degrees", batch.shape[0], np.float64).reshape(-1)
    angle = np.broadcast_to(angle, (batch.shape[0],))
    return _finish(_rotate_and_scale(batch, angle, np.ones_like(angle), fill, order), single)


def scale(images, factor, fill=0.0, order: int = 1) -> np.ndarray:
    """Scale the content of ``images`` by ``factor`` about their centre, keeping their size.

    .. math:: y(\\mathbf p) = x\\big(\\mathbf c + (\\mathbf p - \\mathbf c) / s\\big):

    ``factor > 1`` enlarges the content (its border leaves the image), ``factor < 1`` shrinks
    it (``fill`` surrounds it).

    Parameters
    ----------
    factor : float or array of N floats, > 0
        The scale factor ``s``, one for all images or one per image of a batch.
    fill, order
        As in :func:`rotate`.
    """
    batch, single = _as_batch(images)
    fill = _fill(fill)
    order = _integer(order, "order", minimum=0, maximum=1)
    factors = _per_image(factor, "factor", batch.shape[0], np.float64).reshape(-1)
    if np.any(factors <= 0):
        raise ValueError(f"factor must be > 0, got {factor!r}")
    factors = np.broadcast_to(factors, (batch.shape[0],))
    return _finish(_rotate_and_scale(batch, np.zeros_like(factors), factors, fill, order), single)


def flip(images, direction: str = "horizontal") -> np.ndarray:
    """Mirror ``images``: ``"horizontal"`` reverses the columns (left <-> right, the mirror
    image), ``"vertical"`` reverses the rows (top <-> bottom).

    .. math:: y(i, j) = x(i,\\ W - 1 - j) \\quad\\text{(horizontal)}.
    """
    batch, single = _as_batch(images)
    _check_choice(direction, "direction", FLIP_DIRECTIONS)
    axis = -1 if direction == "horizontal" else -2
    return _finish(np.flip(batch, axis=axis).copy(), single)


def photometric_distortion(images, brightness=0.0, contrast=1.0, channel_scale=1.0,
                           clip: bool = True) -> np.ndarray:
    """Change the intensities of the colour channels, keeping the image's structure.

    Every channel ``k`` is multiplied by ``channel_scale[k]`` (a colour cast), the contrast
    is stretched by ``contrast`` about the image's mean ``m`` and ``brightness`` is added:

    .. math:: y_k(i, j) = \\gamma\\,\\big(a_k\\, x_k(i, j) - m\\big) + m + \\beta,
       \\qquad m = \\operatorname{mean}_{k, i, j}\\, a_k\\, x_k(i, j),

    then, with ``clip=True``, the result is clipped to ``[0, 1]``.

    Parameters
    ----------
    brightness : float or N floats
        The offset ``beta`` (0: unchanged).
    contrast : float or N floats, >= 0
        The factor ``gamma`` (1: unchanged, 0: a flat grey of the mean).
    channel_scale : float, C floats or an (N, C) array, >= 0
        The factors ``a_k`` (1: unchanged).
    clip : bool
        Clip to the range ``[0, 1]`` of the images.
    """
    batch, single = _as_batch(images)
    n, c = batch.shape[:2]
    beta = _per_image(brightness, "brightness", n, batch.dtype)
    gamma = _per_image(contrast, "contrast", n, batch.dtype)
    if np.any(gamma < 0):
        raise ValueError(f"contrast must be >= 0, got {contrast!r}")
    scales = np.asarray(_as_array(channel_scale, "channel_scale", ndim=(0, 1, 2)), dtype=np.float64)
    if not np.all(np.isfinite(scales)) or np.any(scales < 0):
        raise ValueError(f"channel_scale must be finite and >= 0, got {channel_scale!r}")
    allowed = {(), (c,), (1, c), (n, c)}
    if scales.shape not in allowed:
        raise ValueError(f"channel_scale must be a number, {c} values (one per channel) or an "
                         f"array ({n}, {c}), got shape {scales.shape}")
    scales = scales.reshape(-1, c if scales.ndim else 1, 1, 1).astype(batch.dtype)
    clip = _boolean(clip, "clip")
    coloured = batch * scales
    mean = coloured.mean(axis=(1, 2, 3), keepdims=True)
    out = gamma * (coloured - mean) + mean + beta
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return _finish(out.astype(batch.dtype, copy=False), single)


# --------------------------------------------------------------------------- random augmentations
class Transform(abc.ABC):
    """A random augmentation: ``transform(images, rng=None)`` on ``(C, H, W)`` or ``(N, C, H, W)``.

    Subclasses implement :meth:`apply` on a batch; the call checks ``images``, makes the random
    generator from ``rng`` (None, an int seed or a Generator) and returns a single image when
    it got one.
    """

    def __call__(self, images, rng=None) -> np.ndarray:
        batch, single = _as_batch(images)
        generator = _rng_from(rng, "rng")
        return _finish(self.apply(batch, generator), single)

    @abc.abstractmethod
    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transform a batch ``(N, C, H, W)`` with parameters drawn from ``rng``."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


class RandomTranslate(Transform):
    """Move every image by a random whole number of pixels.

    The shift ``(dy, dx)`` is drawn uniformly from the integers of
    ``[-max_shift_y, max_shift_y] x [-max_shift_x, max_shift_x]`` (see :func:`translate`).

    Parameters
    ----------
    max_shift : int or (int, int), >= 0
        The largest shift, the same or separately for rows and columns.
    fill : float, "edge" or "reflect"
        Value of the pixels moved in from outside.
    """

    def __init__(self, max_shift=4, fill=0.0):
        self.max_shift = _pair(max_shift, "max_shift", minimum=0)
        self.fill = _fill(fill)

    def apply(self, batch, rng):
        n = batch.shape[0]
        my, mx = self.max_shift
        dy = rng.integers(-my, my + 1, n)
        dx = rng.integers(-mx, mx + 1, n)
        return _shift(batch, dy, dx, self.fill)


class RandomCrop(Transform):
    """Pad every image by ``padding`` pixels, then cut a random ``size`` window out of it.

    With ``size`` equal to the image size this is the classic pad-and-crop augmentation (the
    content moves by up to ``padding`` pixels); with a smaller ``size`` it returns smaller
    images (random crops).

    Parameters
    ----------
    size : int, (int, int) or None
        Height and width of the crop; None keeps the input size.
    padding : int or (int, int), >= 0
        Rows added at top and bottom, columns at left and right.
    fill : float, "edge" or "reflect"
        Value of the padding.
    """

    def __init__(self, size=None, padding=4, fill=0.0):
        self.size = None if size is None else _pair(size, "size", minimum=1)
        self.padding = _pair(padding, "padding", minimum=0)
        self.fill = _fill(fill)

    def apply(self, batch, rng):
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
        tops = rng.integers(0, h + 2 * py - height + 1, n)
        lefts = rng.integers(0, w + 2 * px - width + 1, n)
        return _windows(padded, tops, lefts, height, width)


class RandomRotation(Transform):
    """Rotate every image by an angle drawn uniformly from ``[-degrees, degrees]``.

    See :func:`rotate`. ``degrees`` may be up to 180 (any orientation); 0 leaves the images as
    they are.
    """

    def __init__(self, degrees=90.0, fill=0.0, order: int = 1):
        self.degrees = _real(degrees, "degrees", minimum=0.0, maximum=180.0)
        self.fill = _fill(fill)
        self.order = _integer(order, "order", minimum=0, maximum=1)

    def apply(self, batch, rng):
        n = batch.shape[0]
        angles = rng.uniform(-self.degrees, self.degrees, n)
        return _rotate_and_scale(batch, angles, np.ones(n), self.fill, self.order)


class RandomScale(Transform):
    """Scale every image about its centre by a factor drawn from ``[min_factor, max_factor]``.

    The factor is log-uniform: enlarging by ``s`` is as likely as shrinking by ``1/s``. See
    :func:`scale`.
    """

    def __init__(self, min_factor=0.8, max_factor=1.25, fill=0.0, order: int = 1):
        self.min_factor = _real(min_factor, "min_factor", minimum=0.0, open_minimum=True)
        self.max_factor = _real(max_factor, "max_factor", minimum=0.0, open_minimum=True)
        if self.max_factor < self.min_factor:
            raise ValueError(f"max_factor must be >= min_factor, got max_factor={max_factor!r} "
                             f"and min_factor={min_factor!r}")
        self.fill = _fill(fill)
        self.order = _integer(order, "order", minimum=0, maximum=1)

    def apply(self, batch, rng):
        n = batch.shape[0]
        factors = np.exp(rng.uniform(np.log(self.min_factor), np.log(self.max_factor), n))
        return _rotate_and_scale(batch, np.zeros(n), factors, self.fill, self.order)


class RandomFlip(Transform):
    """Mirror every image with probability ``p`` (see :func:`flip`).

    ``direction="horizontal"`` (left <-> right) suits natural images and most objects;
    ``"vertical"`` (top <-> bottom) suits images without an "up", such as shapes or cells.
    """

    def __init__(self, p=0.5, direction: str = "horizontal"):
        self.p = _probability(p)
        self.direction = _check_choice(direction, "direction", FLIP_DIRECTIONS)

    def apply(self, batch, rng):
        chosen = rng.random(batch.shape[0]) < self.p
        out = batch.copy()
        axis = -1 if self.direction == "horizontal" else -2
        out[chosen] = np.flip(batch[chosen], axis=axis)
        return out


class RandomPhotometric(Transform):
    """Random photometric distortion: brightness, contrast and colour cast of every image.

    Draws, for every image, ``beta ~ U[-brightness, brightness]``,
    ``gamma ~ U[1 - contrast, 1 + contrast]`` and, for every channel,
    ``a_k ~ U[1 - channel_scale, 1 + channel_scale]``, and applies
    :func:`photometric_distortion`. The structure of the image (where its edges are) stays;
    its channel means change.
    """

    def __init__(self, brightness=0.1, contrast=0.2, channel_scale=0.1, clip: bool = True):
        self.brightness = _real(brightness, "brightness", minimum=0.0, maximum=1.0)
        self.contrast = _real(contrast, "contrast", minimum=0.0, maximum=1.0)
        self.channel_scale = _real(channel_scale, "channel_scale", minimum=0.0, maximum=1.0)
        self.clip = _boolean(clip, "clip")

    def apply(self, batch, rng):
        n, c = batch.shape[:2]
        beta = rng.uniform(-self.brightness, self.brightness, n)
        gamma = rng.uniform(1.0 - self.contrast, 1.0 + self.contrast, n)
        scales = rng.uniform(1.0 - self.channel_scale, 1.0 + self.channel_scale, (n, c))
        return photometric_distortion(batch, beta, gamma, scales, self.clip)


class SaltAndPepper(Transform):
    """Salt-and-pepper noise: set a random share ``amount`` of the pixels to white or black.

    Every pixel (all its channels together) is hit with probability ``amount``; a hit pixel
    becomes ``high`` (salt) with probability ``salt_ratio`` and ``low`` (pepper) otherwise.
    """

    def __init__(self, amount=0.05, salt_ratio=0.5, low=0.0, high=1.0):
        self.amount = _probability(amount, "amount")
        self.salt_ratio = _probability(salt_ratio, "salt_ratio")
        self.low = _real(low, "low")
        self.high = _real(high, "high")

    def apply(self, batch, rng):
        n, _, h, w = batch.shape
        hit = rng.random((n, 1, h, w)) < self.amount
        salt = rng.random((n, 1, h, w)) < self.salt_ratio
        value = np.where(salt, self.high, self.low).astype(batch.dtype)
        return np.where(hit, value, batch)


class Compose(Transform):
    """Apply ``transforms`` one after the other, all drawing from the same generator."""

    def __init__(self, transforms):
        if isinstance(transforms, (str, bytes)) or not hasattr(transforms, "__iter__"):
            raise TypeError(f"transforms must be a sequence of callables, got {transforms!r}")
        self.transforms = list(transforms)
        for index, transform in enumerate(self.transforms):
            if not callable(transform):
                raise TypeError(f"transforms[{index}] must be callable, got {transform!r}")

    def apply(self, batch, rng):
        for transform in self.transforms:
            batch = transform(batch, rng)
        return batch


class RandomApply(Transform):
    """Apply ``transform`` to each image with probability ``p`` and leave the others as they are.

    ``transform`` must keep the image shape (a crop to a smaller size cannot be mixed with
    uncropped images).
    """

    def __init__(self, transform, p=0.5):
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {transform!r}")
        self.transform = transform
        self.p = _probability(p)

    def apply(self, batch, rng):
        chosen = rng.random(batch.shape[0]) < self.p
        out = batch.copy()
        if chosen.any():
            changed = np.asarray(self.transform(batch[chosen], rng))
            if changed.shape != batch[chosen].shape:
                raise ValueError(f"transform must keep the shape of the images, it turned "
                                 f"{batch[chosen].shape} into {changed.shape}")
            out[chosen] = changed
        return out


AUGMENTATIONS = (RandomTranslate, RandomCrop, RandomPhotometric, RandomScale, RandomRotation,
                 RandomFlip, SaltAndPepper)
"""The label-preserving augmentations of this module, in the order the course presents them."""
