"""Data sets and images that need no download."""

from cnncourse.data.digits import DIGIT_CLASSES, load_digits_split
from cnncourse.data.images import SAMPLE_IMAGES, sample_image
from cnncourse.data.scenes import (JOINTS, SCENE_CLASSES, SHAPES, SKELETON, Scene, SceneBatch,
                                   SceneGenerator)
from cnncourse.data.shapes import SHAPE_CLASSES, load_shapes_split, make_shapes
from cnncourse.data.transforms import (Compose, RandomApply, RandomCrop, RandomFlip,
                                       RandomPhotometric, RandomRotation, RandomScale,
                                       RandomTranslate, SaltAndPepper, Transform, flip,
                                       photometric_distortion, rotate, scale, translate)

__all__ = [
    "SAMPLE_IMAGES", "sample_image",
    "DIGIT_CLASSES", "load_digits_split",
    "SHAPE_CLASSES", "make_shapes", "load_shapes_split",
    "SceneGenerator", "SceneBatch", "Scene", "SHAPES", "SCENE_CLASSES", "JOINTS", "SKELETON",
    "Transform", "Compose", "RandomApply", "RandomCrop", "RandomFlip", "RandomPhotometric",
    "RandomRotation", "RandomScale", "RandomTranslate", "SaltAndPepper",
    "flip", "photometric_distortion", "rotate", "scale", "translate",
]

# The PyTorch data sets need torch: they are imported on first use, so that `import
# cnncourse.data` stays light. The PyTorch augmentations live in cnncourse.data.torch_transforms.
_DATASET_NAMES = ("ArrayDataset", "DigitsDataset", "ShapesDataset", "PatchesDataset", "DATASETS",
                  "make_dataset", "make_loader", "make_loaders")
_SCENE_DATASET_NAMES = ("SceneDataset", "SegmentationScenes", "LocalizationScenes",
                        "DetectionScenes", "InstanceScenes", "PoseScenes", "SCENE_DATASETS",
                        "collate_scenes")


def __getattr__(name):
    if name in _SCENE_DATASET_NAMES:
        from cnncourse.data import scene_datasets

        return getattr(scene_datasets, name)
    if name in _DATASET_NAMES:
        from cnncourse.data import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'cnncourse.data' has no attribute {name!r}")
