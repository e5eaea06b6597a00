"""Generated scenes with every label the CNN use cases need (nothing is downloaded).

A scene is a textured background with a few objects drawn over it, one after the other: shapes
(:data:`SHAPES`: circle, square, triangle, star) and stick-figure people. Each object has a
random size, position, rotation (or pose) and colour, and a later object covers what it
overlaps of the earlier ones. From one drawing the generator reads off the labels of four
tasks at once:

* **semantic segmentation**: the class of every pixel (``0`` is the background);
* **classification + localization** and **object detection**: the class and bounding box of
  every object;
* **instance segmentation**: one mask per object, holding the pixels where it is *visible*;
* **human pose estimation**: the 14 joints of every person (:data:`JOINTS`, the order of the
  Leeds Sports Pose data set), each with a flag that says whether it can be seen.

Coordinates
-----------
Positions are measured in pixels, ``x`` to the right and ``y`` down, with pixel ``(row r,
column c)`` covering the square ``[c, c + 1) x [r, r + 1)``; its centre is ``(c + 0.5, r +
0.5)``. A bounding box ``(x0, y0, x1, y1)`` encloses the visible pixels of its object:
``x0`` is the left edge of the leftmost pixel and ``x1`` the right edge of the rightmost one,
so its width ``x1 - x0`` counts pixels and a box never exceeds ``[0, W] x [0, H]``.

Drawing
-------
Every object is described by its signed distance ``d`` (in pixels, negative inside) from each
pixel centre to its outline. A pixel *belongs* to the object when ``d < 0``; the colour is
blended over what lies beneath with the anti-aliasing opacity

.. math:: \\alpha = \\operatorname{clip}\\left(\\tfrac12 - d,\\ 0,\\ 1\\right),
   \\qquad x \\leftarrow \\alpha\\, c_{\\text{object}} + (1 - \\alpha)\\, x,

object after object, and pixel noise is added at the end. The top object of a pixel is the
last one it belongs to, so the labels follow directly: the instance mask of object ``i`` is the
set of pixels whose top object is ``i``, and the semantic mask holds the class of the top
object. An object that ends up with no visible pixel is removed from the labels (it cannot be
seen in the image either).

A person is a union of thick line segments (the bones of :data:`SKELETON`) and a disc for the
head; every joint lies on the figure, so a joint that is inside the image and not covered by a
later object falls on a pixel of its person's mask (and inside its box).

:class:`SceneGenerator` makes the scenes of each use case (:meth:`~SceneGenerator.generate`,
:meth:`~SceneGenerator.generate_single`, :meth:`~SceneGenerator.generate_pose`) as a
:class:`SceneBatch`; :mod:`cnncourse.data.scene_datasets` serves them to PyTorch. The
shapes are those of :mod:`cnncourse.data.shapes` (their signed distances are imported, not
redefined).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from cnncourse._checks import check_choice as _check_choice
from cnncourse._checks import integer as _integer
from cnncourse._checks import real as _real
from cnncourse._checks import rng_from as _rng_from
from cnncourse.data.shapes import SHAPE_EXTENT, _background_gap, _bilinear_matrix, _signed_distance

SHAPES = ("circle", "square", "triangle", "star")
"""The shapes a scene can hold, besides people."""

PERSON = "person"
"""The class name of the stick-figure people."""

SCENE_CLASSES = SHAPES + (PERSON,)
"""All object classes, in their default order: object label ``k`` means ``classes[k]``."""

JOINTS = ("right_foot", "right_knee", "right_hip", "left_hip", "left_knee", "left_foot",
          "right_hand", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
          "left_hand", "neck", "head_top")
"""The 14 joints of a person, in the order of every joint array (the Leeds Sports Pose order).
"Right" and "left" are the person's own sides: the figures face the viewer, so a person's right
side is drawn on the left of the image unless the pose crosses the limbs over."""

SKELETON = ((0, 1), (1, 2), (5, 4), (4, 3), (2, 3), (6, 7), (7, 8), (11, 10), (10, 9), (8, 9),
            (12, 2), (12, 3), (12, 13))
"""The bones of a stick figure as pairs of indices into :data:`JOINTS`: shins, thighs, the hip
line, forearms, upper arms, the shoulder line, the torso (neck to each hip) and the neck to the
head top. The head is drawn as a disc besides."""

BACKGROUNDS = ("gradient", "stripes", "noise")
"""Kinds of background: a linear blend of two colours, soft stripes of two colours at a random
angle and frequency, or one colour with smooth colour noise. ``"random"`` draws one per scene."""

MIN_CONTRAST = 0.45
"""Smallest Euclidean RGB distance between an object's colour and any colour of its background."""

OBJECT_CONTRAST = 0.35
"""Smallest Euclidean RGB distance between the colours of two objects of the same scene (met
unless 100 draws fail, which is rare)."""

SEPARATION = 0.4
"""The centres of two objects of a scene lie at least ``SEPARATION * (r_a + r_b)`` apart
(``r`` the radii), so an object is seldom hidden entirely (met unless 30 draws fail)."""

NOISE_AMPLITUDE = 0.18
"""Largest change of a channel by the smooth colour noise of a ``"noise"`` background."""

# Proportions of a stick figure, in units of its standing height (feet to head top ~ 0.95).
TORSO = 0.30  # hips' midpoint to neck
HIP_HALF_WIDTH = 0.07
SHOULDER_HALF_WIDTH = 0.12
UPPER_ARM, FOREARM = 0.17, 0.16
THIGH, SHIN = 0.24, 0.23
NECK = 0.05  # neck to the lowest point of the head
HEAD_RADIUS = 0.08
LIMB_HALF_WIDTH = 0.035
"""Half the thickness of a bone, in units of the figure's height (at least one pixel)."""

# Ranges of the pose angles in degrees: limb angles are measured from "straight down" and grow
# away from the body (an arm at 90 degrees points sideways, at 180 up); a bend adds to the angle
# of the bone above it.
POSE_RANGES = {
    "lean": (-20.0, 20.0),  # the whole body turns about the hips' midpoint
    "upper_arm": (-10.0, 170.0),
    "elbow": (-20.0, 140.0),
    "thigh": (-10.0, 45.0),
    "knee": (-35.0, 35.0),
}
"""Ranges (degrees) from which the angles of a person's pose are drawn uniformly."""

PERSON_SCALE = 1.3
"""A person's radius (half the longer side of its box) is this many times a shape's radius."""

_STRIPE_SHARPNESS = 3.0
_NOISE_KNOTS = 6  # the colour noise is bilinear between 6 x 6 random knots
_PIXELS_PER_CHUNK = 1 << 18  # pixels rendered at once: keeps the working arrays in the CPU caches
_PERSON_OUTSIDE = 0.3  # share of a person's reach that may stick out of the image
_SHAPE_OUTSIDE = 0.15  # the same for a shape


# --------------------------------------------------------------------------- results
@dataclasses.dataclass
class Scene:
    """One scene and its labels; objects are listed in drawing order (later ones on top).

    Attributes:
        image: ``(3, H, W)`` float32 in ``[0, 1]``.
        semantic: ``(H, W)`` uint8; ``0`` is the background and ``k + 1`` the class ``classes[k]``.
        instances: ``(H, W)`` int8; the index of the object seen at each pixel, ``-1`` for none.
        labels: ``(k,)`` int64, the class of each object (an index into ``classes``).
        boxes: ``(k, 4)`` float32, ``(x0, y0, x1, y1)`` of each object's visible pixels.
        visibility: ``(k,)`` float32, visible pixels over the pixels the object would cover in
            the image if nothing were drawn over it.
        joints: ``(k, 14, 2)`` float32, ``(x, y)`` of the :data:`JOINTS` of each person (zeros
            for the other objects).
        joint_visible: ``(k, 14)`` bool, joints inside the image and not covered by a later
            object (always ``False`` for the objects that are not people).
        classes: the class names.
    """

    image: np.ndarray
    semantic: np.ndarray
    instances: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    visibility: np.ndarray
    joints: np.ndarray
    joint_visible: np.ndarray
    classes: tuple

    @property
    def masks(self) -> np.ndarray:
        """``(k, H, W)`` bool: the visible pixels of each object."""
        return self.instances[None] == np.arange(len(self.labels), dtype=np.int8)[:, None, None]

    @property
    def people(self) -> np.ndarray:
        """Indices of the objects that are people."""
        if PERSON not in self.classes:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.labels == self.classes.index(PERSON))

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass
class SceneBatch:
    """``n`` scenes with their labels; object arrays are padded to ``max_objects`` per scene.

    Object ``i`` of scene ``s`` exists when ``i < num_objects[s]``; the padding holds label
    ``-1``, zero boxes and joints and ``False`` flags. ``batch[s]`` is the :class:`Scene` ``s``
    with its real objects only, ``batch[a:b]`` a smaller batch.

    Attributes:
        images: ``(n, 3, H, W)`` float32 in ``[0, 1]``.
        semantic: ``(n, H, W)`` uint8, ``0`` the background, ``k + 1`` the class ``classes[k]``.
        instances: ``(n, H, W)`` int8, the object seen at each pixel (``-1`` for none).
        num_objects: ``(n,)`` int64.
        labels: ``(n, M)`` int64.
        boxes: ``(n, M, 4)`` float32, ``(x0, y0, x1, y1)`` in pixels.
        visibility: ``(n, M)`` float32.
        joints: ``(n, M, 14, 2)`` float32, ``(x, y)`` in pixels.
        joint_visible: ``(n, M, 14)`` bool.
        classes: object class names; ``class_names`` adds ``"background"`` in front.
    """

    images: np.ndarray
    semantic: np.ndarray
    instances: np.ndarray
    num_objects: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    visibility: np.ndarray
    joints: np.ndarray
    joint_visible: np.ndarray
    classes: tuple

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        """Height and width of the images."""
        return int(self.images.shape[-1])

    @property
    def max_objects(self) -> int:
        return int(self.labels.shape[1])

    @property
    def class_names(self) -> tuple:
        """Names of the values of the semantic masks: ``("background",) + classes``."""
        return ("background",) + tuple(self.classes)

    @property
    def masks(self) -> np.ndarray:
        """``(n, M, H, W)`` bool: the visible pixels of every object (made on demand)."""
        slots = np.arange(self.max_objects, dtype=np.int8)
        return self.instances[:, None] == slots[None, :, None, None]

    def __getitem__(self, index):
        if isinstance(index, slice):
            fields = {field.name: getattr(self, field.name)[index]
                      for field in dataclasses.fields(self) if field.name != "classes"}
            return SceneBatch(classes=self.classes, **fields)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"index must be an int or a slice, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} scenes")
        index = int(index) % len(self)
        k = int(self.num_objects[index])
        return Scene(image=self.images[index], semantic=self.semantic[index],
                     instances=self.instances[index], labels=self.labels[index, :k],
                     boxes=self.boxes[index, :k], visibility=self.visibility[index, :k],
                     joints=self.joints[index, :k], joint_visible=self.joint_visible[index, :k],
                     classes=self.classes)

    def __iter__(self):
        return (self[index] for index in range(len(self)))

    def __repr__(self) -> str:
        return (f"SceneBatch({len(self)} scenes {self.size}x{self.size}, "
                f"{int(self.num_objects.sum())} objects, classes={self.classes})")


# --------------------------------------------------------------------------- stick figures
def _direction(angle, side):
    """Unit vector at ``angle`` (radians) from straight down, turned away from the body on ``side``
    (``-1``: the person's right, drawn on the image's left; ``+1``: the left)."""
    return np.stack([side * np.sin(angle), np.cos(angle)], axis=-1)


def _unit_poses(rng, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random poses of figures of height 1 with the hips' midpoint at the origin.

    Returns the joints ``shape + (14, 2)``, the head centres ``shape + (2,)`` and the unit
    vectors pointing "up" the body ``shape + (2,)``.
    """
    def draw(name, count=()):
        low, high = np.radians(POSE_RANGES[name])
        return rng.uniform(low, high, shape + count)

    lean = draw("lean")
    upper_arm, elbow = draw("upper_arm", (2,)), draw("elbow", (2,))
    thigh, knee = draw("thigh", (2,)), draw("knee", (2,))
    forearm = np.minimum(upper_arm + elbow, np.radians(200.0))
    joints = np.zeros(shape + (14, 2))
    head = np.zeros(shape + (2,))
    neck = np.array([0.0, -TORSO])
    joints[..., 12, :] = neck
    head[...] = neck + [0.0, -(NECK + HEAD_RADIUS)]
    joints[..., 13, :] = neck + [0.0, -(NECK + 2 * HEAD_RADIUS)]
    # (side, hip, knee, foot, shoulder, elbow, hand) indices; side -1 is the person's right
    for column, (side, hip, kn, foot, shoulder, el, hand) in enumerate(
            ((-1.0, 2, 1, 0, 8, 7, 6), (1.0, 3, 4, 5, 9, 10, 11))):
        joints[..., hip, :] = [side * HIP_HALF_WIDTH, 0.0]
        joints[..., kn, :] = joints[..., hip, :] + THIGH * _direction(thigh[..., column], side)
        joints[..., foot, :] = joints[..., kn, :] + SHIN * _direction(
            thigh[..., column] + knee[..., column], side)
        joints[..., shoulder, :] = neck + [side * SHOULDER_HALF_WIDTH, 0.0]
        joints[..., el, :] = joints[..., shoulder, :] + UPPER_ARM * _direction(
            upper_arm[..., column], side)
        joints[..., hand, :] = joints[..., el, :] + FOREARM * _direction(forearm[..., column], side)
    cos, sin = np.cos(lean)[..., None], np.sin(lean)[..., None]

    def turn(points):  # rotate about the origin by the lean angle
        x, y = points[..., 0], points[..., 1]
        return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)

    joints = turn(joints)
    head = turn(head[..., None, :])[..., 0, :]
    up = np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    return joints, head, up


def _unit_extent(joints, head):
    """Box ``(x0, y0, x1, y1)`` of a unit figure, bones' thickness and head included."""
    low = np.minimum(joints.min(axis=-2) - LIMB_HALF_WIDTH, head - HEAD_RADIUS)
    high = np.maximum(joints.max(axis=-2) + LIMB_HALF_WIDTH, head + HEAD_RADIUS)
    return np.concatenate([low, high], axis=-1)


# --------------------------------------------------------------------------- arguments
def _check_classes(classes) -> tuple[str, ...]:
    if isinstance(classes, str) or not hasattr(classes, "__iter__"):
        raise TypeError(f"classes must be a sequence of shape names, got {classes!r}")
    classes = tuple(classes)
    for name in classes:
        _check_choice(name, "classes", SHAPES)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat a shape, got {classes!r}")
    return classes


def _check_range(value, name: str, low: float, high: float) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high) of numbers, got {value!r}")
    a = _real(value[0], f"{name}[0]", minimum=low, maximum=high)
    b = _real(value[1], f"{name}[1]", minimum=low, maximum=high)
    if a > b:
        raise ValueError(f"{name} must be a pair (low, high) with low <= high, got {value!r}")
    return a, b


def _person_probability(people, shape_count: int) -> float:
    if isinstance(people, (bool, np.bool_)):
        return 1.0 / (shape_count + 1) if people else 0.0
    return _real(people, "people", minimum=0.0, maximum=1.0)


# --------------------------------------------------------------------------- colours
def _object_colours(rng, start, end, half_width, previous):
    """Colours ``(m, 3)`` that contrast with the background and with the ``previous`` objects
    ``(m, j, 3)`` of each scene (NaN rows for slots without an object are ignored)."""
    colours = rng.random(start.shape)
    todo = np.arange(len(start))
    for _ in range(100):
        gap = _background_gap(colours[todo], start[todo], end[todo], half_width[todo])
        bad = gap < MIN_CONTRAST
        if previous.shape[1]:
            near = np.linalg.norm(previous[todo] - colours[todo, None], axis=-1)
            bad |= np.where(np.isnan(near), np.inf, near).min(axis=1) < OBJECT_CONTRAST
        todo = todo[bad]
        if todo.size == 0:
            return colours
        colours[todo] = rng.random((todo.size, 3))
    # Not met after 100 draws: take the corner of the RGB cube farthest from the background.
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    gaps = np.stack([_background_gap(np.broadcast_to(c, (todo.size, 3)), start[todo], end[todo],
                                     half_width[todo]) for c in corners], axis=1)
    colours[todo] = corners[gaps.argmax(axis=1)]
    return colours


# --------------------------------------------------------------------------- layouts
@dataclasses.dataclass
class _Layout:
    """Every random choice of ``n`` scenes, drawn before anything is rendered."""

    count: np.ndarray  # (n,) objects drawn
    label: np.ndarray  # (n, M), -1 where no object
    centre: np.ndarray  # (n, M, 2) x, y of a shape's centre
    radius: np.ndarray  # (n, M)
    reach: np.ndarray  # (n, M) distance from the centre beyond which the object has no pixel
    angle: np.ndarray  # (n, M)
    colour: np.ndarray  # (n, M, 3)
    joints: np.ndarray  # (n, M, 14, 2) pixels, zeros for shapes
    head: np.ndarray  # (n, M, 2) head centre
    head_radius: np.ndarray  # (n, M)
    half_width: np.ndarray  # (n, M) half thickness of the bones
    kind: np.ndarray  # (n,) background kind
    start: np.ndarray  # (n, 3) background colours
    end: np.ndarray
    direction: np.ndarray  # (n,) angle of the gradient or stripes
    frequency: np.ndarray  # (n,) stripes per image
    phase: np.ndarray  # (n,)
    texture: np.ndarray  # (n, 3, knots, knots)


def _backgrounds(rng, n: int, background: str):
    kind = (rng.integers(0, len(BACKGROUNDS), n) if background == "random"
            else np.full(n, BACKGROUNDS.index(background)))
    start = rng.random((n, 3))
    end = rng.random((n, 3))
    stripes = kind == 1
    end[stripes] = np.clip(start[stripes] + rng.normal(0.0, 0.3, (int(stripes.sum()), 3)), 0, 1)
    end[kind == 2] = start[kind == 2]
    direction = rng.uniform(0.0, 2.0 * np.pi, n)
    frequency = rng.uniform(1.5, 5.0, n)
    phase = rng.uniform(0.0, 2.0 * np.pi, n)
    texture = rng.uniform(-NOISE_AMPLITUDE, NOISE_AMPLITUDE, (n, 3, _NOISE_KNOTS, _NOISE_KNOTS))
    return kind, start, end, direction, frequency, phase, texture.astype(np.float32)


def _place(rng, low, high, radius, count):
    """Centres ``(n, M, 2)`` uniform in ``[low, high]`` per object, redrawn (30 times at most)
    while closer than :data:`SEPARATION` times the summed radii to an earlier object."""
    n, slots = radius.shape
    centre = rng.uniform(low[..., None], high[..., None], (n, slots, 2))
    for j in range(1, slots):
        todo = np.flatnonzero(count > j)
        for _ in range(30):
            if todo.size == 0:
                break
            gap = np.linalg.norm(centre[todo, :j] - centre[todo, j, None], axis=-1)
            bad = (gap < SEPARATION * (radius[todo, :j] + radius[todo, j, None])).any(axis=1)
            todo = todo[bad]
            if todo.size:
                centre[todo, j] = rng.uniform(low[todo, j, None], high[todo, j, None], (todo.size, 2))
    return centre


def _layout(rng, n: int, size: int, count, label, radius, person: int, background: str,
            fill=None) -> _Layout:
    """Draw the positions, angles, poses and colours of objects whose class and radius are given.

    While laying out, a label indexes :data:`SHAPES`, and ``person`` (``len(SHAPES)``) marks a
    person. ``fill`` (a pair) scales the last object of every scene, a person, so that the longer
    side of its box is a share in that range of the image's side, and puts the box at a random
    place wholly inside the image (the pose scenes).
    """
    slots = label.shape[1]
    is_person = label == person
    unit_joints, unit_head, up = _unit_poses(rng, (n, slots))
    box = _unit_extent(unit_joints, unit_head)
    extent = np.ones((n, slots))
    for k, name in enumerate(SHAPES):
        extent[label == k] = SHAPE_EXTENT[name]
    reach = np.where(is_person, radius, radius * extent)
    outside = np.where(is_person, _PERSON_OUTSIDE, _SHAPE_OUTSIDE)
    low = np.minimum((1 - outside) * reach, size / 2)
    centre = _place(rng, low, size - low, radius, count)
    angle = rng.uniform(0.0, 2.0 * np.pi, (n, slots))

    # a person: scale the unit figure so that the longer side of its box is 2 r, box centred
    side = np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])
    scale = 2.0 * radius / side
    middle = (box[..., :2] + box[..., 2:]) / 2
    if fill is not None:
        last = count - 1
        rows = np.arange(n)
        scale[rows, last] = rng.uniform(fill[0], fill[1], n) * size / side[rows, last]
        width = (box[rows, last, 2:] - box[rows, last, :2]) * scale[rows, last, None]
        corner = rng.uniform(0.0, 1.0, (n, 2)) * (size - width)
        centre[rows, last] = corner + width / 2
    shift = centre - scale[..., None] * middle
    joints = unit_joints * scale[..., None, None] + shift[..., None, :]
    head = unit_head * scale[..., None] + shift
    half_width = np.maximum(1.0, LIMB_HALF_WIDTH * scale)
    head_radius = np.maximum(1.5, HEAD_RADIUS * scale)
    # the head top one pixel inside the head's outline, so that it lies on the figure
    joints[..., 13, :] = head + (head_radius - 1.0)[..., None] * up
    joints[~is_person] = 0.0
    reach = np.where(is_person, scale * side / 2, reach)

    kind, start, end, direction, frequency, phase, texture = _backgrounds(rng, n, background)
    half_noise = NOISE_AMPLITUDE * (kind == 2)
    colour = np.full((n, slots, 3), np.nan)
    for j in range(slots):
        todo = np.flatnonzero(count > j)
        colour[todo, j] = _object_colours(rng, start[todo], end[todo], half_noise[todo],
                                          colour[todo, :j])
    return _Layout(count=count, label=label, centre=centre, radius=radius, reach=reach, angle=angle,
                   colour=colour, joints=joints, head=head, head_radius=head_radius,
                   half_width=half_width, kind=kind, start=start, end=end, direction=direction,
                   frequency=frequency, phase=phase, texture=texture)


# --------------------------------------------------------------------------- rendering
# An object is rendered in a square window of the image that holds it (its reach plus a margin
# for the anti-aliasing and the one-pixel minimum thickness of the bones): with the default
# sizes a window holds at most about half of the image's pixels, and most hold far fewer.
_WINDOW_MARGIN = 3.0


def _shape_distance(name: str, layout: _Layout, rows, slot: int, xs, ys):
    """Signed distance in pixels ``(m, w, w)`` from the pixel centres ``xs (m, 1, w)``, ``ys (m,
    w, 1)`` to the shape of each scene ``rows``."""
    r = layout.radius[rows, slot].astype(np.float32)[:, None, None]
    dx = xs - layout.centre[rows, slot, 0].astype(np.float32)[:, None, None]
    dy = ys - layout.centre[rows, slot, 1].astype(np.float32)[:, None, None]
    if name == "circle":  # no rotation needed
        return _signed_distance(name, dx / r, dy / r) * r
    cos = np.cos(layout.angle[rows, slot]).astype(np.float32)[:, None, None]
    sin = np.sin(layout.angle[rows, slot]).astype(np.float32)[:, None, None]
    u = (dx * cos + dy * sin) / r
    v = (dy * cos - dx * sin) / r
    return _signed_distance(name, u, v) * r


def _person_distance(layout: _Layout, rows, slot: int, xs, ys):
    """Signed distance in pixels ``(m, w, w)`` from the pixel centres to the stick figures."""
    joints = layout.joints[rows, slot].astype(np.float32)  # (m, 14, 2)
    nearest = None  # squared distance to the nearest bone's axis
    for a, b in SKELETON:
        ax, ay = joints[:, a, 0, None, None], joints[:, a, 1, None, None]
        ex = joints[:, b, 0, None, None] - ax
        ey = joints[:, b, 1, None, None] - ay
        inverse = 1.0 / np.maximum(ex * ex + ey * ey, 1e-6)
        px, py = xs - ax, ys - ay  # (m, 1, w) and (m, w, 1)
        t = (px * (ex * inverse)) + (py * (ey * inverse))  # position along the bone
        np.clip(t, 0.0, 1.0, out=t)
        qx = px - t * ex
        qx *= qx
        qy = py - t * ey
        qy *= qy
        qx += qy
        nearest = qx if nearest is None else np.minimum(nearest, qx, out=nearest)
    half = layout.half_width[rows, slot].astype(np.float32)[:, None, None]
    distance = np.sqrt(nearest, out=nearest)
    distance -= half
    head = layout.head[rows, slot].astype(np.float32)
    to_head = np.hypot(xs - head[:, 0, None, None], ys - head[:, 1, None, None])
    to_head -= layout.head_radius[rows, slot].astype(np.float32)[:, None, None]
    return np.minimum(distance, to_head, out=distance)


def _background_images(layout: _Layout, part: slice, size: int, grid, smooth):
    """Background images ``(m, 3, H, W)`` float32 of the scenes ``part``."""
    kind = layout.kind[part]
    image = np.empty((len(kind), 3, size, size), np.float32)
    low = layout.start[part].astype(np.float32)
    step = (layout.end[part] - layout.start[part]).astype(np.float32)
    cos = np.cos(layout.direction[part]).astype(np.float32)
    sin = np.sin(layout.direction[part]).astype(np.float32)
    ramp = grid / size
    gradient = np.flatnonzero(kind == 0)
    if gradient.size:  # t runs from 0 to 1 between the extreme pixel centres
        c, s = cos[gradient, None, None], sin[gradient, None, None]
        t = c * ramp[None, None, :] + s * ramp[None, :, None]
        first, last = ramp[0], ramp[-1]
        lowest = np.minimum(c * first, c * last) + np.minimum(s * first, s * last)
        highest = np.maximum(c * first, c * last) + np.maximum(s * first, s * last)
        t -= lowest
        t /= np.maximum(highest - lowest, 1e-6)
        image[gradient] = low[gradient, :, None, None] + step[gradient, :, None, None] * t[:, None]
    stripes = np.flatnonzero(kind == 1)
    if stripes.size:  # soft square waves: a sine steepened and clipped
        c, s = cos[stripes, None, None], sin[stripes, None, None]
        f = (2.0 * np.pi * layout.frequency[part][stripes]).astype(np.float32)[:, None, None]
        phase = layout.phase[part][stripes].astype(np.float32)[:, None, None]
        t = np.sin(f * c * ramp[None, None, :] + (f * s * ramp[None, :, None] + phase))
        t *= 0.5 * _STRIPE_SHARPNESS
        t += 0.5
        np.clip(t, 0.0, 1.0, out=t)
        image[stripes] = low[stripes, :, None, None] + step[stripes, :, None, None] * t[:, None]
    noisy = np.flatnonzero(kind == 2)
    if noisy.size:
        image[noisy] = low[noisy, :, None, None] + smooth @ layout.texture[part][noisy] @ smooth.T
    return image


def _render(layout: _Layout, size: int, noise: float, rng, classes: tuple) -> SceneBatch:
    n, slots = layout.label.shape
    grid = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    smooth = _bilinear_matrix(size, _NOISE_KNOTS).astype(np.float32)
    images = np.empty((n, 3, size, size), np.float32)
    instances = np.full((n, size, size), -1, np.int8)
    semantic = np.zeros((n, size, size), np.uint8)
    full_area = np.zeros((n, slots), np.int64)
    chunk = max(1, _PIXELS_PER_CHUNK // (size * size))
    # uniform noise of standard deviation `noise` on 256 levels: drawing bytes is much faster
    # than drawing normal numbers, and the eye (or a network) cannot tell the two apart
    levels = ((np.arange(256) - 127.5) * (noise * np.sqrt(12.0) / 256.0)).astype(np.float32)
    for first in range(0, n, chunk):
        part = slice(first, min(first + chunk, n))
        image = _background_images(layout, part, size, grid, smooth)
        owner = instances[part]
        classes_seen = semantic[part]
        views = {}  # window size -> windowed views of image, owner and classes_seen
        for slot in range(slots):
            active = np.flatnonzero(layout.count[part] > slot)
            if active.size == 0:
                break
            rows = active + first
            for k, name in enumerate(classes):
                chosen = layout.label[rows, slot] == k
                if not chosen.any():
                    continue
                local, rows_k = active[chosen], rows[chosen]
                reach = layout.reach[rows_k, slot]
                w = int(min(size, 4 * np.ceil((reach.max() + _WINDOW_MARGIN) / 2)))
                if w not in views:
                    views[w] = tuple(np.lib.stride_tricks.sliding_window_view(
                        array, (w, w), axis=(-2, -1), writeable=True)
                        for array in (image, owner, classes_seen))
                image_windows, owner_windows, class_windows = views[w]
                offsets = np.arange(w, dtype=np.float32)
                centre = layout.centre[rows_k, slot]
                ox = np.clip(np.floor(centre[:, 0] - w / 2), 0, size - w).astype(np.intp)
                oy = np.clip(np.floor(centre[:, 1] - w / 2), 0, size - w).astype(np.intp)
                xs = (ox.astype(np.float32)[:, None, None] + offsets[None, None, :]) + 0.5
                ys = (oy.astype(np.float32)[:, None, None] + offsets[None, :, None]) + 0.5
                if name == PERSON:
                    distance = _person_distance(layout, rows_k, slot, xs, ys)
                else:
                    distance = _shape_distance(name, layout, rows_k, slot, xs, ys)
                inside = distance < 0
                full_area[rows_k, slot] = np.count_nonzero(inside, axis=(1, 2))
                seen = owner_windows[local, oy, ox]
                seen[inside] = slot
                owner_windows[local, oy, ox] = seen
                seen = class_windows[local, oy, ox]
                seen[inside] = k + 1
                class_windows[local, oy, ox] = seen
                np.subtract(0.5, distance, out=distance)  # the opacity alpha
                np.clip(distance, 0.0, 1.0, out=distance)
                below = image_windows[local, :, oy, ox]  # (m, 3, w, w)
                colour = layout.colour[rows_k, slot].astype(np.float32)[:, :, None, None]
                below += distance[:, None] * (colour - below)
                image_windows[local, :, oy, ox] = below
        if noise > 0:
            image += levels[rng.integers(0, 256, image.shape, dtype=np.uint8)]
        np.clip(image, 0.0, 1.0, out=image)
        images[part] = image
    return _labels(layout, images, instances, semantic, full_area, classes)


def _labels(layout: _Layout, images, instances, semantic, full_area, classes) -> SceneBatch:
    """Read every label off the instance map; drop the objects that cannot be seen."""
    n, slots = layout.label.shape
    size = images.shape[-1]
    flat = instances.reshape(n, -1)
    visible_area = np.stack([np.count_nonzero(flat == j, axis=1) for j in range(slots)], axis=1)
    keep = (np.arange(slots)[None] < layout.count[:, None]) & (visible_area > 0)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept objects first, in drawing order
    kept = np.take_along_axis(keep, order, 1)
    dropped = (np.arange(slots)[None] < layout.count[:, None]) & ~keep
    if dropped.any():  # renumber the instance map of the scenes that lost an object
        renumber = np.full((n, slots + 1), -1, np.int8)  # old index + 1 -> new index
        renumber[np.arange(n)[:, None], order + 1] = np.where(
            kept, np.arange(slots, dtype=np.int8)[None], -1)
        lost = np.flatnonzero(dropped.any(axis=1))
        instances[lost] = renumber[lost[:, None, None], instances[lost].astype(np.intp) + 1]
    num_objects = kept.sum(axis=1).astype(np.int64)

    labels = np.where(kept, np.take_along_axis(layout.label, order, 1), -1).astype(np.int64)
    share = visible_area / np.maximum(full_area, 1)
    visibility = np.where(kept, np.take_along_axis(share, order, 1), 0.0).astype(np.float32)
    joints = np.take_along_axis(layout.joints, order[..., None, None], 1)
    joints[~kept] = 0.0

    boxes = np.zeros((n, slots, 4), np.float32)
    for j in range(slots):
        present = np.flatnonzero(kept[:, j])
        if present.size == 0:
            continue
        mine = instances[present] == j
        cols, lines = mine.any(axis=1), mine.any(axis=2)  # (m, W), (m, H)
        boxes[present, j, 0] = cols.argmax(axis=1)
        boxes[present, j, 1] = lines.argmax(axis=1)
        boxes[present, j, 2] = size - cols[:, ::-1].argmax(axis=1)
        boxes[present, j, 3] = size - lines[:, ::-1].argmax(axis=1)

    # a joint is visible when its pixel is in the image and shows its own person
    person = classes.index(PERSON) if PERSON in classes else -2
    column = np.floor(joints[..., 0]).astype(np.intp)
    line = np.floor(joints[..., 1]).astype(np.intp)
    inside = (column >= 0) & (column < size) & (line >= 0) & (line < size)
    seen = instances[np.arange(n)[:, None, None], np.clip(line, 0, size - 1),
                     np.clip(column, 0, size - 1)]
    joint_visible = inside & (seen == np.arange(slots)[None, :, None]) & (labels == person)[..., None]
    return SceneBatch(images=images, semantic=semantic, instances=instances,
                      num_objects=num_objects, labels=labels, boxes=boxes, visibility=visibility,
                      joints=joints.astype(np.float32), joint_visible=joint_visible,
                      classes=tuple(classes))


# --------------------------------------------------------------------------- the generator
class SceneGenerator:
    """Makes batches of scenes; the same arguments and seed give the same scenes.

    Three kinds of scenes, one per family of tasks:

    * :meth:`generate`: ``min_objects`` to ``max_objects`` objects (uniform), each a person with
      probability ``people`` and otherwise a shape drawn uniformly from ``classes``; for
      semantic segmentation, detection and instance segmentation.
    * :meth:`generate_single`: exactly one, larger object per scene, the classes balanced; for
      classification + localization.
    * :meth:`generate_pose`: one large person wholly inside the image, all its joints in view (the ``distractors`` shapes are drawn behind it); for pose estimation.

    Each call draws from the generator's own random stream, so successive calls give new
    scenes; a new generator with the same seed repeats them.

    Args:
        size: height and width of the images in pixels (at least 16).
        max_objects: most objects in a scene of :meth:`generate` (1 to 16).
        min_objects: fewest objects in a scene of :meth:`generate` (0 to ``max_objects``).
        classes: the shapes to draw, a subset of :data:`SHAPES` (may be empty if people are
            drawn); ``"person"`` is appended as the last class when people are drawn.
        people: ``True`` (a person as likely as each shape), ``False`` (no people), or the
            probability that an object is a person.
        object_size: range of the objects' radii as a share of ``size``; a person's radius (half
            the longer side of its box) is :data:`PERSON_SCALE` times larger.
        background: one of :data:`BACKGROUNDS` or ``"random"`` (one drawn per scene).
        noise: standard deviation of the pixel noise (uniform on 256 levels, independent per
            pixel and channel); the image is clipped to ``[0, 1]`` after it.
        seed: int, NumPy ``Generator`` or ``None`` (fresh entropy, not reproducible).

    Attributes:
        classes: the object class names; object label ``k`` means ``classes[k]`` and the value
            ``k + 1`` of a semantic mask means the same class (``0`` is the background).
    """

    def __init__(self, size: int = 64, max_objects: int = 4, classes=SHAPES, people=True,
                 min_objects: int = 1, object_size=(0.1, 0.22), background: str = "random",
                 noise: float = 0.02, seed=0):
        self.size = _integer(size, "size", minimum=16)
        self.max_objects = _integer(max_objects, "max_objects", minimum=1, maximum=16)
        self.min_objects = _integer(min_objects, "min_objects", minimum=0, maximum=self.max_objects)
        shapes = _check_classes(classes)
        self.person_probability = _person_probability(people, len(shapes))
        if not shapes and self.person_probability < 1.0:
            raise ValueError("classes must name at least one shape unless people=1.0 (only people)")
        self.classes = shapes + ((PERSON,) if self.person_probability > 0 else ())
        self.object_size = _check_range(object_size, "object_size", 0.01, 0.5)
        self.background = _check_choice(background, "background", ("random",) + BACKGROUNDS)
        self.noise = _real(noise, "noise", minimum=0.0, maximum=1.0)
        self._rng = _rng_from(seed, "seed")

    def __repr__(self) -> str:
        return (f"SceneGenerator(size={self.size}, objects={self.min_objects}..{self.max_objects}, "
                f"classes={self.classes}, people={self.person_probability:.3g})")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _finish(self, n, count, shape_label, is_person, radius, fill=None) -> SceneBatch:
        """Render scenes whose counts, classes and radii are chosen."""
        rng = self._rng
        # While laying out, a label indexes SHAPES (len(SHAPES) for a person); then `classes`.
        shapes = [name for name in self.classes if name != PERSON]
        in_shapes = np.array([SHAPES.index(name) for name in shapes] or [0])
        label = np.where(is_person, len(SHAPES),
                         in_shapes[np.minimum(shape_label, len(in_shapes) - 1)])
        label[np.arange(label.shape[1])[None] >= count[:, None]] = -1
        layout = _layout(rng, n, self.size, count, label, radius, len(SHAPES), self.background, fill)
        in_classes = np.full(len(SHAPES) + 1, -1)
        for k, name in enumerate(self.classes):
            in_classes[len(SHAPES) if name == PERSON else SHAPES.index(name)] = k
        layout.label = np.where(layout.label >= 0, in_classes[layout.label], -1)
        return _render(layout, self.size, self.noise, rng, self.classes)

    def _radii(self, shape):
        low, high = self.object_size
        return self._rng.uniform(low, high, shape) * self.size

    def generate(self, n: int) -> SceneBatch:
        """``n`` scenes of ``min_objects`` to ``max_objects`` objects (see the class)."""
        n = _integer(n, "n", minimum=1)
        rng = self._rng
        slots = self.max_objects
        count = rng.integers(self.min_objects, slots + 1, n)
        is_person = rng.random((n, slots)) < self.person_probability
        shape_count = max(1, self.num_classes - (PERSON in self.classes))
        shape_label = rng.integers(0, shape_count, (n, slots))
        radius = self._radii((n, slots))
        radius[is_person] *= PERSON_SCALE
        return self._finish(n, count, shape_label, is_person, radius)

    def generate_single(self, n: int, object_size=(0.2, 0.35)) -> SceneBatch:
        """``n`` scenes of exactly one object, the classes balanced (counts differ by at most
        one) and shuffled; ``object_size`` is the range of radii as a share of the image."""
        n = _integer(n, "n", minimum=1)
        low, high = _check_range(object_size, "object_size", 0.01, 0.5)
        rng = self._rng
        label = rng.permutation(np.arange(n) % self.num_classes)[:, None]
        is_person = (label == self.classes.index(PERSON)) if PERSON in self.classes else \
            np.zeros((n, 1), bool)
        radius = rng.uniform(low, high, (n, 1)) * self.size
        radius[is_person] = np.minimum(radius[is_person] * PERSON_SCALE, 0.45 * self.size)
        return self._finish(n, np.ones(n, np.int64), label, is_person, radius)

    def generate_pose(self, n: int, distractors: int = 2, fill=(0.7, 0.9)) -> SceneBatch:
        """``n`` scenes of one person whose box fills ``fill`` (a range) of the image's side,
        drawn last and whole inside the image, over 0 to ``distractors`` shapes."""
        n = _integer(n, "n", minimum=1)
        distractors = _integer(distractors, "distractors", minimum=0, maximum=15)
        fill = _check_range(fill, "fill", 0.1, 0.98)
        if PERSON not in self.classes:
            raise ValueError("generate_pose needs people: make the generator with people=True")
        shape_count = self.num_classes - 1
        if shape_count == 0:
            distractors = 0
        rng = self._rng
        slots = distractors + 1
        count = rng.integers(0, distractors + 1, n) + 1
        shape_label = rng.integers(0, max(shape_count, 1), (n, slots))
        is_person = np.zeros((n, slots), bool)
        is_person[np.arange(n), count - 1] = True
        radius = self._radii((n, slots))
        return self._finish(n, count, shape_label, is_person, radius, fill=fill)
