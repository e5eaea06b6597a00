"""The generated scenes (:mod:`cnncourse.data.scenes`) as PyTorch data sets, one per use case.

* :class:`SegmentationScenes`: 1 to 4 objects (:meth:`~cnncourse.data.scenes.SceneGenerator.generate`);
  the target is the ``(H, W)`` int64 class of every pixel.
* :class:`LocalizationScenes`: exactly one object (``generate_single``); the target is a dict
  with the ``label`` ``()`` int64 and the ``box`` ``(4,)`` float32.
* :class:`DetectionScenes`: 1 to 4 objects; a dict with ``boxes`` ``(k, 4)`` and ``labels`` ``(k,)``.
* :class:`InstanceScenes`: the same, with the visible ``masks`` ``(k, H, W)`` bool besides.
* :class:`PoseScenes`: one large person (``generate_pose``); the target is ``(14, h, w)`` joint
  heat maps or ``(14, 3)`` rows ``(x, y, visible)``.

Every item is ``(image, target)`` with the image ``(3, H, W)`` float32 in ``[0, 1]``; boxes are
``(x0, y0, x1, y1)`` in pixels (or shares of the image side with ``normalize_boxes=True``) and
labels index ``dataset.classes``. Detection and instance targets differ in length from image
to image, so their batches are made by :func:`collate_scenes` (a list of target dicts, as
torchvision's detectors take them), which the data sets offer as ``dataset.collate_fn``.

A data set is made once, in memory, from its seed: the training split (``train=True``) and the
test split come from two independent random streams of the same ``seed``, so the test scenes
are fixed and never seen in training. The scenes are cached, so that building the same split
twice (or the segmentation and instance views of it) costs nothing.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch.utils.data import Dataset

from cnncourse import _checks
from cnncourse.data.scenes import JOINTS, SceneBatch, SceneGenerator
from cnncourse.metrics import gaussian_heatmaps

DEFAULT_SIZES = {True: 2000, False: 500}
"""Scenes in a split when ``n`` is not given: 2000 for training, 500 for testing."""


@functools.lru_cache(maxsize=8)
def _scene_split(method: str, seed: int, train: bool, n: int, options: tuple,
                 extra: tuple) -> SceneBatch:
    generator = SceneGenerator(seed=np.random.default_rng([seed, 0 if train else 1]),
                               **dict(options))
    return getattr(generator, method)(n, **dict(extra))


def collate_scenes(batch):
    """Stack the images of a batch and keep the targets as a list (their lengths differ).

    Returns:
        ``(images, targets)``: ``(B, 3, H, W)`` and a list of ``B`` target dicts.
    """
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)


class SceneDataset(Dataset):
    """Generated scenes held in memory; the base of the use-case data sets.

    Args:
        train: the training split (``True``) or the test split.
        n: scenes in the split (default :data:`DEFAULT_SIZES`).
        size: height and width of the images.
        seed: seed of both splits (they use different random streams).
        options: other arguments of :class:`~cnncourse.data.scenes.SceneGenerator`
            (``max_objects``, ``classes``, ``people``, ``object_size``, ``background``, ``noise``).

    Attributes:
        scenes: the :class:`~cnncourse.data.scenes.SceneBatch` with every label.
        classes: the names of the target's classes.
    """

    TASK = "scenes"
    METHOD = "generate"

    def __init__(self, train: bool = True, n: int | None = None, size: int = 64, seed: int = 0,
                 **options):
        train = _checks.boolean(train, "train")
        n = DEFAULT_SIZES[train] if n is None else _checks.integer(n, "n", minimum=1)
        seed = _checks.integer(seed, "seed", minimum=0)
        extra = self._extra(options)
        options = dict(options, size=size)
        for key in ("classes", "object_size"):
            if key in options and isinstance(options[key], list):
                options[key] = tuple(options[key])
        SceneGenerator(**options)  # check the options before caching anything
        self.scenes = _scene_split(self.METHOD, seed, train, n, tuple(sorted(options.items())),
                                   tuple(sorted(extra.items())))
        self.train = train
        self.images = torch.from_numpy(self.scenes.images)

    def _extra(self, options: dict) -> dict:
        """Take the options of the generating method (not of the generator) out of ``options``."""
        return {}

    @property
    def classes(self) -> tuple:
        return self.scenes.classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.scenes.size, self.scenes.size

    def __len__(self) -> int:
        return len(self.scenes)

    def _objects(self, index: int) -> int:
        return int(self.scenes.num_objects[index])

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return (f"{type(self).__name__}({len(self)} {split} scenes {self.scenes.size}x"
                f"{self.scenes.size}, {self.num_classes} classes)")


class SegmentationScenes(SceneDataset):
    """Scenes for semantic segmentation: the target is the class of every pixel.

    ``classes`` starts with ``"background"`` (value 0); value ``k`` is ``classes[k]``.

    Shape:
        Items ``(image (3, H, W) float32, mask (H, W) int64)``.
    """

    TASK = "semantic segmentation"

    def __init__(self, train: bool = True, n: int | None = None, size: int = 64, seed: int = 0,
                 **options):
        super().__init__(train, n, size, seed, **options)
        self.masks = torch.from_numpy(self.scenes.semantic)

    @property
    def classes(self) -> tuple:
        return self.scenes.class_names

    def __getitem__(self, index):
        return self.images[index], self.masks[index].long()


class LocalizationScenes(SceneDataset):
    """Scenes of exactly one object, balanced over the classes: classification + localization.

    Args:
        object_size: range of the objects' radii as a share of the image (default 0.2 to 0.35).
        normalize_boxes: give boxes as shares of the image side (in ``[0, 1]``) not pixels.
        (others as :class:`SceneDataset`)

    Shape:
        Items ``(image (3, H, W), {"label": () int64, "box": (4,) float32})``; the default
        ``collate`` stacks them into ``label (B,)`` and ``box (B, 4)``.
    """

    TASK = "classification + localization"
    METHOD = "generate_single"

    def __init__(self, train: bool = True, n: int | None = None, size: int = 64, seed: int = 0,
                 normalize_boxes: bool = False, **options):
        super().__init__(train, n, size, seed, **options)
        self.normalize_boxes = _checks.boolean(normalize_boxes, "normalize_boxes")
        boxes = self.scenes.boxes[:, 0] / (self.scenes.size if self.normalize_boxes else 1)
        self.labels = torch.from_numpy(self.scenes.labels[:, 0].copy())
        self.boxes = torch.from_numpy(boxes.astype(np.float32))

    def _extra(self, options: dict) -> dict:
        extra = {"object_size": tuple(options.pop("object_size", (0.2, 0.35)))}
        if "max_objects" in options or "min_objects" in options:
            raise ValueError("LocalizationScenes draws exactly one object per scene: do not pass "
                             "max_objects or min_objects")
        return extra

    def __getitem__(self, index):
        return self.images[index], {"label": self.labels[index], "box": self.boxes[index]}


class DetectionScenes(SceneDataset):
    """Scenes of several objects for object detection; targets are lists of boxes and labels.

    Use ``DataLoader(dataset, collate_fn=dataset.collate_fn)``.

    Args:
        normalize_boxes: give boxes as shares of the image side, not pixels.
        (others as :class:`SceneDataset`)

    Shape:
        Items ``(image (3, H, W), {"boxes": (k, 4) float32, "labels": (k,) int64})``.
    """

    TASK = "object detection"
    collate_fn = staticmethod(collate_scenes)

    def __init__(self, train: bool = True, n: int | None = None, size: int = 64, seed: int = 0,
                 normalize_boxes: bool = False, **options):
        super().__init__(train, n, size, seed, **options)
        self.normalize_boxes = _checks.boolean(normalize_boxes, "normalize_boxes")
        scale = self.scenes.size if self.normalize_boxes else 1
        self.boxes = torch.from_numpy((self.scenes.boxes / scale).astype(np.float32))
        self.labels = torch.from_numpy(self.scenes.labels)

    def __getitem__(self, index):
        k = self._objects(index)
        return self.images[index], {"boxes": self.boxes[index, :k], "labels": self.labels[index, :k]}


class InstanceScenes(DetectionScenes):
    """Scenes of several objects for instance segmentation: boxes, labels and visible masks.

    Shape:
        Items ``(image (3, H, W), {"boxes": (k, 4), "labels": (k,), "masks": (k, H, W) bool})``.
    """

    TASK = "instance segmentation"

    def __init__(self, train: bool = True, n: int | None = None, size: int = 64, seed: int = 0,
                 normalize_boxes: bool = False, **options):
        super().__init__(train, n, size, seed, normalize_boxes, **options)
        self.instances = torch.from_numpy(self.scenes.instances)

    def __getitem__(self, index):
        image, target = super().__getitem__(index)
        k = self._objects(index)
        target["masks"] = self.instances[index][None] == torch.arange(k, dtype=torch.int8)[:, None, None]
        return image, target


class PoseScenes(SceneDataset):
    """Scenes of one large person for pose estimation: the 14 :data:`~cnncourse.data.scenes.JOINTS`.

    With ``target="heatmaps"`` a joint is a Gaussian bump on its own map
    (:func:`cnncourse.metrics.gaussian_heatmaps`, maps ``stride`` times smaller than the image,
    spread ``sigma`` cells); a joint out of view gets an empty map. With
    ``target="keypoints"`` it is its ``(x, y)`` in pixels (divided by the image side with
    ``normalize=True``) and a 0/1 visibility flag. The true joints and flags of all scenes are
    kept in ``keypoints`` and ``visible`` for scoring (:func:`cnncourse.metrics.pck`).

    Args:
        target: ``"heatmaps"`` or ``"keypoints"``.
        stride: pixels per heat-map cell.
        sigma: spread of a bump in cells.
        normalize: keypoints as shares of the image side.
        distractors: most shapes drawn behind the person (0 to ``distractors``).
        fill: range of the share of the image side the person's box fills.
        (others as :class:`SceneDataset`)

    Shape:
        Items ``(image (3, H, W), heatmaps (14, H / stride, W / stride) float32)`` or
        ``(image, keypoints (14, 3) float32)``.
    """

    TASK = "pose estimation"
    METHOD = "generate_pose"

    def __init__(self, train: bool = True, n: int | None = None, size: int = 64, seed: int = 0,
                 target: str = "heatmaps", stride: int = 4, sigma: float = 1.0,
                 normalize: bool = False, **options):
        self.target = _checks.check_choice(target, "target", ("heatmaps", "keypoints"))
        self.stride = _checks.integer(stride, "stride", minimum=1)
        self.sigma = _checks.real(sigma, "sigma", minimum=0.0, open_minimum=True)
        self.normalize = _checks.boolean(normalize, "normalize")
        super().__init__(train, n, size, seed, **options)
        person = self.scenes.num_objects - 1  # the person is drawn last
        rows = np.arange(len(self.scenes))
        self.keypoints = torch.from_numpy(self.scenes.joints[rows, person].copy())
        self.visible = torch.from_numpy(self.scenes.joint_visible[rows, person].copy())

    def _extra(self, options: dict) -> dict:
        extra = {"distractors": options.pop("distractors", 2),
                 "fill": tuple(options.pop("fill", (0.7, 0.9)))}
        if "max_objects" in options or "min_objects" in options:
            raise ValueError("PoseScenes draws one person and 0 to `distractors` shapes: pass "
                             "distractors, not max_objects or min_objects")
        if options.get("people", True) is False:
            raise ValueError("PoseScenes needs people; do not pass people=False")
        options.setdefault("people", True)
        return extra

    @property
    def classes(self) -> tuple:
        """The joint names: channel ``j`` of a target is ``JOINTS[j]``."""
        return JOINTS

    @property
    def heatmap_size(self) -> tuple[int, int]:
        side = -(-self.scenes.size // self.stride)
        return side, side

    def __getitem__(self, index):
        points, visible = self.keypoints[index], self.visible[index]
        if self.target == "heatmaps":
            maps = gaussian_heatmaps(points.numpy(), self.scenes.size, self.stride, self.sigma,
                                     visible.numpy())
            return self.images[index], torch.from_numpy(maps)
        scale = self.scenes.size if self.normalize else 1.0
        return self.images[index], torch.cat([points / scale, visible[:, None].float()], dim=1)


SCENE_DATASETS = {"segmentation": SegmentationScenes, "localization": LocalizationScenes,
                  "detection": DetectionScenes, "instances": InstanceScenes, "pose": PoseScenes}
"""The scene data sets by use case."""

__all__ = ["SceneDataset", "SegmentationScenes", "LocalizationScenes", "DetectionScenes",
           "InstanceScenes", "PoseScenes", "SCENE_DATASETS", "collate_scenes", "DEFAULT_SIZES"]
