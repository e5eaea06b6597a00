"""Sample photographs shipped inside scikit-image (nothing is downloaded)."""

from __future__ import annotations

import numpy as np

SAMPLE_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "coins", "moon", "rocket")
"""Photographs that scikit-image installs with the package itself."""


def sample_image(name: str = "camera", gray: bool = True, size: int | None = None) -> np.ndarray:
    """A sample photograph as float64 in [0, 1].

    Parameters
    ----------
    name : one of :data:`SAMPLE_IMAGES`
        ``camera`` is the classic 512 x 512 grey-scale photograph of a cameraman.
    gray : bool
        Convert a colour photograph to grey levels (luminance); a grey one stays as it is.
        With ``gray=False`` a colour photograph keeps its shape ``(H, W, 3)``.
    size : int, optional
        Shrink the photograph so that its longer side has ``size`` pixels (anti-aliased).
    """
    from skimage import color, data, transform

    if name not in SAMPLE_IMAGES:
        raise ValueError(f"name must be one of {', '.join(SAMPLE_IMAGES)}; got {name!r}")
    image = getattr(data, name)()
    image = image.astype(np.float64) / 255.0
    if gray and image.ndim == 3:
        image = color.rgb2gray(image)
    if size is not None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        scale = size / max(image.shape[:2])
        shape = tuple(max(1, round(n * scale)) for n in image.shape[:2]) + image.shape[2:]
        image = transform.resize(image, shape, anti_aliasing=scale < 1)
    return image
