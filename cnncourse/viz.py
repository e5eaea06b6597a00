"""Plotting helpers shared by the chapters."""

from __future__ import annotations

import numpy as np


def show_images(images, titles=None, cmap="gray", ncols=None, size=3.2, symmetric=()):
    """Show images side by side and return the matplotlib figure.

    ``symmetric`` lists the indices of images with signed values (filter responses): they are
    drawn with a diverging colour map centred on zero, with a colour bar.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    titles = list(titles) if titles is not None else [""] * len(images)
    if len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        image = np.asarray(images[index])
        if index in symmetric:
            limit = float(np.abs(image).max()) or 1.0
            shown = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        elif image.ndim == 3:
            ax.imshow(np.clip(image, 0, 1))
        else:
            ax.imshow(image, cmap=cmap, vmin=min(0.0, image.min()), vmax=max(1.0, image.max()))
        ax.set_title(titles[index])
    fig.tight_layout()
    return fig


def show_matrix(matrix, title="", ax=None, fmt="{:g}", cmap="Blues"):
    """Draw a small matrix as a grid of coloured cells with its numbers written in them."""
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2D, got shape {matrix.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * matrix.shape[1] + 0.6, 0.5 * matrix.shape[0] + 0.6))
    ax.imshow(matrix, cmap=cmap)
    middle = (matrix.max() + matrix.min()) / 2
    for (i, j), value in np.ndenumerate(matrix):
        colour = "white" if value > middle and matrix.max() != matrix.min() else "black"
        ax.text(j, i, fmt.format(value), ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return ax


def show_image_grid(images, titles=None, ncols=8, size=1.4, title=None, channels_first=True):
    """Show a batch of images on a grid and return the matplotlib figure.

    ``images`` is a batch ``(N, C, H, W)`` as networks take it (``C`` = 1 grey or 3 RGB), a
    stack ``(N, H, W)`` of grey images, or a list of single images. With
    ``channels_first=False`` colour images are ``(H, W, 3)`` as matplotlib draws them.
    ``titles`` (one per image, e.g. class names) go above the panels, ``title`` above the grid.
    """
    panels = [_drawable(image, index, channels_first) for index, image in enumerate(images)]
    if not panels:
        raise ValueError("images must hold at least one image, got none")
    if not isinstance(ncols, int) or isinstance(ncols, bool) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    fig = show_images(panels, titles, ncols=min(ncols, len(panels)), size=size)
    for ax in fig.axes:
        ax.title.set_fontsize(9)
    if title:
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def _drawable(image, index, channels_first):
    """One image as matplotlib draws it: (H, W) grey or (H, W, 3) colour."""
    image = np.asarray(image)
    shape = image.shape
    if image.ndim == 3 and channels_first:
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        layout = "(C, H, W)" if channels_first else "(H, W, C)"
        raise ValueError(f"image {index} must be (H, W) or {layout} with C = 1 or 3, got shape {shape}")
    return image
