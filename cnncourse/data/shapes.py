"""A generated data set of coloured shapes on varied backgrounds (nothing is downloaded).

Every image shows one shape of a random size, position, rotation and colour on a random
background: a flat colour, a linear colour gradient or a smooth colour texture. The class is
the kind of shape, so a classifier must learn the *form* and ignore colour, place, size and
orientation: the invariances a convolutional network is built for.

A shape is described in its own coordinate frame ``(u, v)``: centred on the shape, rotated
with it and measured in units of its radius ``r``. For every pixel the generator computes the
signed distance ``d`` (in pixels, negative inside) from the pixel centre to the outline, and
covers the pixel with the opacity

.. math:: \\alpha = \\operatorname{clip}\\left(\\tfrac12 - d,\\ 0,\\ 1\\right),

which draws the outline anti-aliased over one pixel. The image is then

.. math:: x = \\alpha\\, c_{\\text{shape}} + (1 - \\alpha)\\, b + \\varepsilon,
   \\qquad \\varepsilon \\sim \\mathcal N(0, \\sigma^2),

clipped to ``[0, 1]``, with ``b`` the background and ``sigma`` the ``noise`` argument. Every
step works on whole batches of images at once.
"""

from __future__ import annotations

import numpy as np

from cnncourse._checks import boolean as _boolean
from cnncourse._checks import check_choice as _check_choice
from cnncourse._checks import float_dtype as _float_dtype
from cnncourse._checks import integer as _integer
from cnncourse._checks import real as _real
from cnncourse._checks import rng_from as _rng_from

SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "star", "ring")
"""Class names of the shapes data set: label ``k`` of :func:`make_shapes` is ``classes[k]``."""

BACKGROUNDS = ("flat", "gradient", "texture")
"""Kinds of background: one colour, a linear blend of two colours, or a smooth colour texture.
``"random"`` in :func:`make_shapes` draws one of them for every image."""

# Proportions of the shapes, in units of the radius r; chosen so that all have similar areas.
CIRCLE_RADIUS = 0.8
SQUARE_HALF_SIDE = 0.72
TRIANGLE_RADIUS = 1.1  # centre to vertex
CROSS_ARM = (1.0, 0.3)  # half length, half width
STAR_RADII = (1.1, 0.45)  # tips, notches
STAR_POINTS = 5
RING_RADII = (0.95, 0.55)  # outer, inner

SHAPE_EXTENT = {
    "circle": CIRCLE_RADIUS,
    "square": SQUARE_HALF_SIDE * np.sqrt(2.0),
    "triangle": TRIANGLE_RADIUS,
    "cross": float(np.hypot(*CROSS_ARM)),
    "star": STAR_RADII[0],
    "ring": RING_RADII[0],
}
"""Distance from the centre of each shape to its farthest point, in units of its radius."""

MIN_CONTRAST = 0.45
"""Smallest Euclidean RGB distance between the shape colour and any colour of its background."""

TEXTURE_AMPLITUDE = 0.18
"""Largest change of a channel by the smooth texture of a ``"texture"`` background."""

_TEXTURE_KNOTS = 5  # the texture is bilinear between 5 x 5 random knots
_CHUNK = 256  # images rendered at once: keeps the working arrays in the CPU caches


# --------------------------------------------------------------------------- signed distances
def _regular_polygon(u, v, sides: int, radius: float):
    """Signed distance (units of r) to a regular polygon with one vertex on the +u axis."""
    apothem = radius * np.cos(np.pi / sides)
    distance = None
    for k in range(sides):
        angle = np.pi / sides + 2.0 * np.pi * k / sides  # outward normal of edge k
        edge = u * np.cos(angle) + v * np.sin(angle) - apothem
        distance = edge if distance is None else np.maximum(distance, edge)
    return distance


def _box(u, v, half_u: float, half_v: float):
    return np.maximum(np.abs(u) - half_u, np.abs(v) - half_v)


def _star(u, v):
    """Signed distance to a star: fold the angle into one half spike and test its edge."""
    outer, inner = STAR_RADII
    wedge = np.pi / STAR_POINTS
    angle = np.mod(np.arctan2(v, u), 2.0 * wedge)
    angle = np.minimum(angle, 2.0 * wedge - angle)  # in [0, wedge]
    rho = np.hypot(u, v)
    pu, pv = rho * np.cos(angle), rho * np.sin(angle)
    au, av = outer, 0.0  # a spike's tip
    bu, bv = inner * np.cos(wedge), inner * np.sin(wedge)  # the notch beside it
    eu, ev = bu - au, bv - av
    # (ev, -eu) / |e| is the edge's normal pointing away from the centre
    return ((pu - au) * ev - (pv - av) * eu) / np.hypot(eu, ev)


def _signed_distance(name: str, u, v):
    """Signed distance (units of r, negative inside) from ``(u, v)`` to the outline of ``name``."""
    if name == "circle":
        return np.hypot(u, v) - CIRCLE_RADIUS
    if name == "square":
        return _box(u, v, SQUARE_HALF_SIDE, SQUARE_HALF_SIDE)
    if name == "triangle":
        return _regular_polygon(u, v, 3, TRIANGLE_RADIUS)
    if name == "cross":
        length, width = CROSS_ARM
        return np.minimum(_box(u, v, length, width), _box(u, v, width, length))
    if name == "star":
        return _star(u, v)
    if name == "ring":
        rho = np.hypot(u, v)
        return np.maximum(rho - RING_RADII[0], RING_RADII[1] - rho)
    raise ValueError(f"unknown shape {name!r}")  # pragma: no cover - names are checked before


# --------------------------------------------------------------------------- arguments
def _check_classes(classes) -> tuple[str, ...]:
    if isinstance(classes, str) or not hasattr(classes, "__iter__"):
        raise TypeError(f"classes must be a sequence of shape names, got {classes!r}")
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes must name at least one shape, got an empty sequence")
    for name in classes:
        _check_choice(name, "classes", SHAPE_CLASSES)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat a shape, got {classes!r}")
    return classes


# --------------------------------------------------------------------------- colours
def _background_gap(colours, start, end, half_width):
    """Euclidean distance from ``colours`` (m, 3) to the colours a background can take.

    The background runs along the segment ``start -> end`` (a flat one has ``start == end``)
    and a texture moves every channel by at most ``half_width`` (m,), inside the RGB cube.
    """
    direction = end - start
    length2 = np.maximum((direction**2).sum(axis=1, keepdims=True), 1e-12)
    t = np.clip(((colours - start) * direction).sum(axis=1, keepdims=True) / length2, 0.0, 1.0)
    nearest = start + t * direction
    low = np.clip(nearest - half_width[:, None], 0.0, 1.0)
    high = np.clip(nearest + half_width[:, None], 0.0, 1.0)
    gap = np.maximum(np.maximum(low - colours, colours - high), 0.0)
    return np.linalg.norm(gap, axis=1)


def _contrasting_colours(rng, start, end, half_width):
    """Shape colours (m, 3) at least :data:`MIN_CONTRAST` away from their backgrounds."""
    colours = rng.random(start.shape)
    todo = np.arange(len(start))
    for _ in range(100):
        todo = todo[_background_gap(colours[todo], start[todo], end[todo], half_width[todo])
                    < MIN_CONTRAST]
        if todo.size == 0:
            return colours
        colours[todo] = rng.random((todo.size, 3))
    # Not met after 100 draws (a gradient through the middle of the cube): take the corner of
    # the RGB cube that lies farthest from the background.
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    gaps = np.stack([_background_gap(np.broadcast_to(c, (todo.size, 3)), start[todo], end[todo],
                                     half_width[todo]) for c in corners], axis=1)
    colours[todo] = corners[gaps.argmax(axis=1)]
    return colours


def _bilinear_matrix(size: int, knots: int) -> np.ndarray:
    """(size, knots) matrix that interpolates ``knots`` values linearly onto ``size`` pixels."""
    position = np.linspace(0.0, knots - 1.0, size)
    low = np.minimum(np.floor(position).astype(int), knots - 2)
    weight = position - low
    matrix = np.zeros((size, knots))
    matrix[np.arange(size), low] = 1.0 - weight
    matrix[np.arange(size), low + 1] = weight
    return matrix


# --------------------------------------------------------------------------- the generator
def make_shapes(n: int, size: int = 32, seed=0, classes=SHAPE_CLASSES, noise: float = 0.02,
                background: str = "random", dtype=np.float32, return_masks: bool = False):
    """Generate ``n`` RGB images of coloured shapes and their class labels.

    Each image holds one shape (:data:`SHAPE_CLASSES`, or the subset ``classes``) with

    * a radius ``r`` drawn uniformly from ``[0.2, 0.4] * size`` (a circle is ``0.8 r`` wide
      in radius, a star reaches ``1.1 r``; see :data:`SHAPE_EXTENT`),
    * a centre drawn so that at most 15 % of the shape's reach sticks out of the image,
    * a rotation drawn uniformly from the full turn (it matters for all but circle and ring),
    * a colour at least :data:`MIN_CONTRAST` (Euclidean RGB distance) away from every colour of
      the background, so that the shape is always visible.

    The classes are balanced (their counts differ by at most one) and shuffled. The output
    depends only on the arguments: the same ``seed`` gives the same images.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Height and width of the images in pixels (at least 8).
    seed : int, numpy Generator or None
        Source of randomness (``None``: fresh entropy, not reproducible).
    classes : sequence of str
        The shapes to draw, a subset of :data:`SHAPE_CLASSES`; label ``k`` means ``classes[k]``.
    noise : float
        Standard deviation of the Gaussian pixel noise added at the end (0 for none).
    background : {"random", "flat", "gradient", "texture"}
        The kind of background (:data:`BACKGROUNDS`); ``"random"`` draws one per image.
    dtype : float dtype
        dtype of the images (float32 by default).
    return_masks : bool
        Also return the coverage ``alpha`` of each pixel by the shape (1 inside, 0 outside,
        in between on the anti-aliased outline).

    Shape
    -----
    - images: ``(n, 3, size, size)`` in ``[0, 1]``
    - labels: ``(n,)`` int64 in ``0 .. len(classes) - 1``
    - masks (optional): ``(n, size, size)`` in ``[0, 1]``, same dtype as the images

    Returns
    -------
    tuple
        ``(images, labels)`` or ``(images, labels, masks)``.
    """
    n = _integer(n, "n", minimum=1)
    size = _integer(size, "size", minimum=8)
    rng = _rng_from(seed, "seed")
    classes = _check_classes(classes)
    noise = _real(noise, "noise", minimum=0.0, maximum=1.0)
    _check_choice(background, "background", ("random",) + BACKGROUNDS)
    dtype = _float_dtype(dtype)
    return_masks = _boolean(return_masks, "return_masks")

    # Every random parameter is drawn up front, so the images do not depend on the chunking.
    labels = rng.permutation(np.arange(n) % len(classes)).astype(np.int64)
    extent = np.array([SHAPE_EXTENT[name] for name in classes])[labels]
    radius = rng.uniform(0.2, 0.4, n) * size
    reach = 0.85 * extent * radius
    centre = rng.uniform(reach[:, None] - 0.5, size - 0.5 - reach[:, None], (n, 2))  # (y, x)
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    kinds = (rng.integers(0, len(BACKGROUNDS), n) if background == "random"
             else np.full(n, BACKGROUNDS.index(background)))
    start, end = rng.random((n, 3)), rng.random((n, 3))  # a gradient runs from start to end
    end[kinds != 1] = start[kinds != 1]
    direction = rng.uniform(0.0, 2.0 * np.pi, n)
    textured = kinds == 2
    knots = _TEXTURE_KNOTS
    texture = rng.uniform(-TEXTURE_AMPLITUDE, TEXTURE_AMPLITUDE, (n, 3, knots, knots))
    texture = texture.astype(np.float32)
    shape_colours = _contrasting_colours(rng, start, end, TEXTURE_AMPLITUDE * textured)

    grid = np.arange(size, dtype=np.float32)  # pixel centres; float32 halves the memory traffic
    ramp = np.linspace(-1.0, 1.0, size)
    smooth = _bilinear_matrix(size, knots).astype(np.float32)
    images = np.empty((n, 3, size, size), dtype=dtype)
    masks = np.empty((n, size, size), dtype=dtype) if return_masks else None
    for first in range(0, n, _CHUNK):
        part = slice(first, min(first + _CHUNK, n))
        m = part.stop - part.start
        # signed distance to the outline, in pixels
        dy = grid[None, :, None] - centre[part, 0, None, None].astype(np.float32)
        dx = grid[None, None, :] - centre[part, 1, None, None].astype(np.float32)
        cos = np.cos(angle[part]).astype(np.float32)[:, None, None]
        sin = np.sin(angle[part]).astype(np.float32)[:, None, None]
        r = radius[part].astype(np.float32)[:, None, None]
        u = (dx * cos + dy * sin) / r
        v = (-dx * sin + dy * cos) / r
        distance = np.empty((m, size, size), dtype=np.float32)
        for k, name in enumerate(classes):
            chosen = labels[part] == k
            if chosen.any():
                distance[chosen] = _signed_distance(name, u[chosen], v[chosen]) * r[chosen]
        alpha = np.clip(0.5 - distance, 0.0, 1.0)[:, None]  # (m, 1, H, W)

        # background: a blend of its two colours along a random direction, plus the texture
        t = (np.cos(direction[part])[:, None, None] * ramp[None, None, :]
             + np.sin(direction[part])[:, None, None] * ramp[None, :, None])
        t = ((t - t.min(axis=(1, 2), keepdims=True))
             / np.ptp(t, axis=(1, 2), keepdims=True)).astype(np.float32)
        low = start[part, :, None, None].astype(np.float32)
        image = low + (end[part, :, None, None].astype(np.float32) - low) * t[:, None]
        rough = np.flatnonzero(textured[part])
        if rough.size:
            image[rough] += smooth @ texture[part][rough] @ smooth.T
        # composite: image = alpha * colour + (1 - alpha) * background
        image += alpha * (shape_colours[part, :, None, None].astype(np.float32) - image)
        if noise > 0:
            image += noise * rng.standard_normal(image.shape, dtype=np.float32)
        np.clip(image, 0.0, 1.0, out=image)
        images[part] = image
        if return_masks:
            masks[part] = alpha[:, 0]
    if return_masks:
        return images, labels, masks
    return images, labels


def load_shapes_split(n_train: int, n_test: int, seed=0, size: int = 32, classes=SHAPE_CLASSES,
                      noise: float = 0.02, background: str = "random", dtype=np.float32):
    """A training and a test set of :func:`make_shapes` images, both balanced.

    The two sets are drawn one after the other from one random generator made from ``seed``,
    so they never share an image and the pair depends only on the arguments.

    Shape
    -----
    - x_train: ``(n_train, 3, size, size)``, y_train: ``(n_train,)``
    - x_test: ``(n_test, 3, size, size)``, y_test: ``(n_test,)``

    Returns
    -------
    tuple
        ``(x_train, y_train, x_test, y_test)``, the order of
        :func:`cnncourse.data.digits.load_digits_split`.
    """
    n_train = _integer(n_train, "n_train", minimum=1)
    n_test = _integer(n_test, "n_test", minimum=1)
    rng = _rng_from(seed, "seed")
    options = dict(size=size, classes=classes, noise=noise, background=background, dtype=dtype)
    x_train, y_train = make_shapes(n_train, seed=rng, **options)
    x_test, y_test = make_shapes(n_test, seed=rng, **options)
    return x_train, y_train, x_test, y_test
