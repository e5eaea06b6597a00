"""Handwritten digits shipped inside scikit-learn, as image tensors (nothing is downloaded).

scikit-learn installs a copy of the UCI "optical recognition of handwritten digits" test set:
1797 grey-level images of 8 x 8 pixels, each pixel a count from 0 to 16 (the number of "on"
pixels in a 4 x 4 block of the original 32 x 32 bitmap), about 180 images of each digit.
:func:`load_digits_split` turns it into the ``(N, C, H, W)`` tensors a convolutional network
expects and splits it into a training and a test set.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from cnncourse._checks import boolean as _boolean
from cnncourse._checks import float_dtype as _float_dtype
from cnncourse._checks import integer as _integer
from cnncourse._checks import real as _real

DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
"""Class names of the digits data set: label ``k`` is the digit ``DIGIT_CLASSES[k]``."""

DIGITS_MAX_VALUE = 16.0
"""Largest pixel value of the raw scikit-learn digits (a pixel counts 0 to 16 "on" bits)."""


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float64)
    labels = bunch.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _test_count(test_size, total: int, n_classes: int) -> int:
    """Number of test images from a fraction in (0, 1) or a count."""
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        return _integer(test_size, "test_size", minimum=n_classes, maximum=total - n_classes)
    fraction = _real(test_size, "test_size", minimum=0.0, maximum=1.0, open_minimum=True,
                     open_maximum=True)
    count = int(round(fraction * total))
    if not n_classes <= count <= total - n_classes:
        raise ValueError(
            f"test_size={fraction!r} puts {count} of {total} images in the test set; a stratified "
            f"split needs at least {n_classes} images on each side"
        )
    return count


def load_digits_split(test_size=0.25, seed=0, dtype=np.float32, normalize: bool = True,
                      size: int | None = None):
    """The scikit-learn digits as ``(N, 1, H, W)`` image tensors, split into training and test set.

    The split is stratified (every digit has the same share in both sets, up to rounding) and
    depends only on ``seed``. With ``normalize=True`` the pixel counts 0..16 are divided by 16:

    .. math:: x = \\frac{\\text{count}}{16} \\in [0, 1].

    Parameters
    ----------
    test_size : float in (0, 1) or int
        Share of the 1797 images that goes into the test set, or their number.
    seed : int
        Seed of the shuffle that decides which image lands in which set.
    dtype : float dtype
        ``float32`` (the default, what networks train in) or ``float64``/``float16``.
    normalize : bool
        Scale the pixels to ``[0, 1]``; ``False`` keeps the raw counts ``0..16``.
    size : int, optional
        Resize the images to ``size x size`` pixels with bilinear interpolation (anti-aliased
        when shrinking), for networks that need larger inputs, e.g. 16 or 28. The value range is
        kept. ``None`` keeps the original 8 x 8.

    Shape
    -----
    - x_train: ``(N_train, 1, S, S)`` with ``S = 8`` or ``size``
    - y_train: ``(N_train,)`` int64 labels ``0..9`` (index into :data:`DIGIT_CLASSES`)
    - x_test, y_test: likewise with ``N_test`` images

    Returns
    -------
    tuple
        ``(x_train, y_train, x_test, y_test)``.
    """
    from sklearn.model_selection import train_test_split

    images, labels = _raw_digits()
    n_test = _test_count(test_size, len(labels), len(DIGIT_CLASSES))
    seed = _integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    dtype = _float_dtype(dtype)
    normalize = _boolean(normalize, "normalize")
    if size is not None:
        size = _integer(size, "size", minimum=2)
        images = _resize_stack(images, size)
    if normalize:
        images = images / DIGITS_MAX_VALUE
    x = images[:, None, :, :].astype(dtype)
    x_train, x_test, y_train, y_test = train_test_split(
        x, np.asarray(labels), test_size=n_test, random_state=seed, stratify=labels)
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def _resize_stack(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a stack ``(N, H, W)`` to ``(N, size, size)`` with bilinear interpolation."""
    from skimage.transform import resize

    stack = np.moveaxis(images, 0, -1)  # (H, W, N): resize treats the last axis as channels
    shrinking = size < images.shape[1]
    resized = resize(stack, (size, size), order=1, mode="edge", anti_aliasing=shrinking,
                     preserve_range=True)
    return np.clip(np.moveaxis(resized, -1, 0), 0.0, images.max())
