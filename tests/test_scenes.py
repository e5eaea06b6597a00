"""cnncourse.data.scenes and scene_datasets: generated scenes and their labels.

The strongest check redraws every object of a batch alone (from the generator's own random
choices, captured while it renders) and rebuilds from those whole-object masks what the labels
must be: the top object of every pixel, the visible masks, the visibility fractions, the
semantic mask and the boxes. The generator computes them in one pass over the scene, so the two
ways meet only if occlusion is handled right.
"""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import cnncourse.data.scenes as scenes
from cnncourse.data import (JOINTS, SCENE_CLASSES, SHAPES, SKELETON, DetectionScenes,
                            InstanceScenes, LocalizationScenes, PoseScenes, SceneGenerator,
                            SegmentationScenes, collate_scenes)
from cnncourse.metrics import heatmap_peaks

OBJECT_FIELDS = ("label", "centre", "radius", "reach", "angle", "colour", "joints", "head",
                 "head_radius", "half_width")


def _batch_fields(batch):
    return {field.name: getattr(batch, field.name) for field in dataclasses.fields(batch)}


def _capture_layouts(monkeypatch):
    """Record the layout and class names of every batch rendered from now on."""
    captured = []
    render = scenes._render

    def recording(layout, size, noise, rng, classes):
        captured.append((dataclasses.replace(layout), classes))
        return render(layout, size, noise, rng, classes)

    monkeypatch.setattr(scenes, "_render", recording)
    return captured


def _whole_masks(layout, classes, size):
    """``(n, M, H, W)``: the pixels each object covers when drawn alone on an empty scene."""
    n, slots = layout.label.shape
    whole = np.zeros((n, slots, size, size), bool)
    for slot in range(slots):
        rows = np.flatnonzero(layout.count > slot)
        if rows.size == 0:
            continue
        fields = {}
        for field in dataclasses.fields(layout):
            value = getattr(layout, field.name)
            if field.name == "count":
                fields[field.name] = np.ones(rows.size, np.int64)
            elif field.name in OBJECT_FIELDS:
                fields[field.name] = value[rows][:, [slot]]
            else:
                fields[field.name] = value[rows]
        alone = scenes._render(scenes._Layout(**fields), size, 0.0, np.random.default_rng(0), classes)
        whole[rows, slot] = alone.instances == 0
    return whole


# --------------------------------------------------------------------------- the generator
def test_batch_fields_have_the_promised_shapes_types_and_ranges():
    batch = SceneGenerator(size=48, max_objects=5, seed=1).generate(30)
    n, m = 30, 5
    assert batch.images.shape == (n, 3, 48, 48) and batch.images.dtype == np.float32
    assert batch.images.min() >= 0.0 and batch.images.max() <= 1.0
    assert batch.semantic.shape == (n, 48, 48) and batch.semantic.dtype == np.uint8
    assert batch.instances.shape == (n, 48, 48) and batch.instances.dtype == np.int8
    assert batch.labels.shape == (n, m) and batch.labels.dtype == np.int64
    assert batch.boxes.shape == (n, m, 4) and batch.boxes.dtype == np.float32
    assert batch.visibility.shape == (n, m) and batch.visibility.dtype == np.float32
    assert batch.joints.shape == (n, m, 14, 2) and batch.joints.dtype == np.float32
    assert batch.joint_visible.shape == (n, m, 14) and batch.joint_visible.dtype == bool
    assert batch.classes == SCENE_CLASSES and batch.class_names == ("background",) + SCENE_CLASSES
    assert batch.masks.shape == (n, m, 48, 48)
    assert ((batch.num_objects >= 1) & (batch.num_objects <= m)).all()
    padding = np.arange(m)[None] >= batch.num_objects[:, None]
    assert (batch.labels[padding] == -1).all() and (batch.labels[~padding] >= 0).all()
    assert (batch.boxes[padding] == 0).all() and not batch.joint_visible[padding].any()
    scene = batch[3]
    k = batch.num_objects[3]
    assert len(scene) == k and scene.masks.shape == (k, 48, 48) and scene.image.shape == (3, 48, 48)
    part = batch[5:9]
    assert len(part) == 4 and np.array_equal(part.images, batch.images[5:9])
    assert [len(s) for s in batch][:4] == batch.num_objects[:4].tolist()
    assert "30 scenes 48x48" in repr(batch)


def test_joints_and_classes_follow_the_slides():
    # the 14 joints of the slides: feet, knees, hips, shoulders, elbows, hands, neck, head top
    assert len(JOINTS) == 14 and len(set(JOINTS)) == 14
    for part in ("foot", "knee", "hip", "shoulder", "elbow", "hand"):
        assert f"left_{part}" in JOINTS and f"right_{part}" in JOINTS
    assert "neck" in JOINTS and "head_top" in JOINTS
    assert all(0 <= a < 14 and 0 <= b < 14 for a, b in SKELETON)
    assert set(SHAPES) == {"circle", "square", "triangle", "star"} and SCENE_CLASSES[-1] == "person"


def test_scenes_depend_only_on_the_seed():
    first = SceneGenerator(seed=5).generate(40)
    again = SceneGenerator(seed=np.random.default_rng(5)).generate(40)
    for name, value in _batch_fields(first).items():
        if name != "classes":
            np.testing.assert_array_equal(value, getattr(again, name), err_msg=name)
    other = SceneGenerator(seed=6).generate(40)
    assert not np.array_equal(first.images, other.images)
    generator = SceneGenerator(seed=5)
    generator.generate(40)
    assert not np.array_equal(generator.generate(40).images, first.images)  # a new draw
    for method in ("generate_single", "generate_pose"):
        a = getattr(SceneGenerator(seed=2, size=32), method)(12)
        b = getattr(SceneGenerator(seed=2, size=32), method)(12)
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.joints, b.joints)


@pytest.mark.parametrize("size, seed", [(64, 0), (40, 1)])
def test_labels_agree_with_the_objects_drawn_one_by_one(monkeypatch, size, seed):
    captured = _capture_layouts(monkeypatch)
    batch = SceneGenerator(size=size, max_objects=5, seed=seed).generate(120)
    (layout, classes), = captured
    whole = _whole_masks(layout, classes, size)
    n, slots = layout.label.shape
    occluded = 0
    for s in range(n):
        top = np.full((size, size), -1)
        for slot in range(layout.count[s]):
            top[whole[s, slot]] = slot  # later objects cover earlier ones
        kept = [slot for slot in range(layout.count[s]) if (top == slot).any()]
        assert batch.num_objects[s] == len(kept)
        expected = np.full((size, size), -1)
        for index, slot in enumerate(kept):
            expected[top == slot] = index
        np.testing.assert_array_equal(batch.instances[s], expected)
        assert batch.labels[s, :len(kept)].tolist() == layout.label[s, kept].tolist()
        visibility = [(top == slot).sum() / whole[s, slot].sum() for slot in kept]
        np.testing.assert_allclose(batch.visibility[s, :len(kept)], visibility, rtol=1e-6)
        occluded += sum(v < 1 for v in visibility)
    assert occluded > 10  # the batch does exercise occlusion
    # the semantic mask is the union of the instance masks, class by class
    masks = batch.masks
    for s in range(n):
        semantic = np.zeros((size, size), np.uint8)
        for index in range(batch.num_objects[s]):
            assert masks[s, index].any()  # no invisible object is listed
            semantic[masks[s, index]] = batch.labels[s, index] + 1
        np.testing.assert_array_equal(batch.semantic[s], semantic)


def test_boxes_are_the_tight_boxes_of_the_visible_masks():
    batch = SceneGenerator(size=50, max_objects=6, seed=3).generate(80)
    masks = batch.masks
    for s in range(len(batch)):
        for index in range(batch.num_objects[s]):
            rows, cols = np.nonzero(masks[s, index])
            expected = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            np.testing.assert_array_equal(batch.boxes[s, index], expected)
    assert (batch.boxes[..., 2] <= 50).all() and (batch.boxes[..., 0] >= 0).all()


def test_joints_are_visible_exactly_when_in_the_image_and_not_covered():
    batch = SceneGenerator(size=48, max_objects=5, people=0.5, seed=4).generate(200)
    person = batch.classes.index("person")
    masks = batch.masks
    counts = {"visible": 0, "covered": 0, "outside": 0}
    for s in range(len(batch)):
        for index in range(batch.num_objects[s]):
            joints, visible = batch.joints[s, index], batch.joint_visible[s, index]
            if batch.labels[s, index] != person:
                assert (joints == 0).all() and not visible.any()
                continue
            x0, y0, x1, y1 = batch.boxes[s, index]
            column, row = np.floor(joints).astype(int).T
            inside = (column >= 0) & (column < 48) & (row >= 0) & (row < 48)
            assert not visible[~inside].any()
            for j in np.flatnonzero(visible):  # on its own person's visible pixels, in its box
                assert masks[s, index, row[j], column[j]]
                assert x0 <= joints[j, 0] <= x1 and y0 <= joints[j, 1] <= y1
            for j in np.flatnonzero(inside & ~visible):  # covered by an object drawn later
                assert batch.instances[s, row[j], column[j]] > index
            counts["visible"] += visible.sum()
            counts["covered"] += (inside & ~visible).sum()
            counts["outside"] += (~inside).sum()
    assert min(counts.values()) > 0, counts


def test_single_object_scenes_are_balanced_and_whole():
    batch = SceneGenerator(size=48, seed=7).generate_single(103)
    assert (batch.num_objects == 1).all()
    counts = np.bincount(batch.labels[:, 0], minlength=len(SCENE_CLASSES))
    assert counts.max() - counts.min() <= 1
    assert (batch.visibility[:, 0] == 1).all()
    shapes_only = SceneGenerator(size=32, people=False, classes=("star", "circle"), seed=0)
    single = shapes_only.generate_single(10)
    assert single.classes == ("star", "circle") and set(single.labels[:, 0]) == {0, 1}


def test_pose_scenes_hold_one_large_person_in_full_view():
    batch = SceneGenerator(size=64, seed=8).generate_pose(60, distractors=3)
    person = batch.classes.index("person")
    last = batch.num_objects - 1
    rows = np.arange(60)
    assert (batch.labels[rows, last] == person).all()
    assert ((batch.labels == person).sum(axis=1) == 1).all()  # the distractors are shapes
    assert batch.joint_visible[rows, last].all()
    sides = (batch.boxes[rows, last, 2:] - batch.boxes[rows, last, :2]).max(axis=1)
    assert (sides <= 0.9 * 64 + 1).all() and (sides >= 0.6 * 64).all()
    assert (batch.num_objects <= 4).all() and (batch.num_objects > 1).any()


def test_people_can_be_left_out_or_be_all_there_is():
    none = SceneGenerator(size=32, people=False, seed=0).generate(30)
    assert "person" not in none.classes and not none.joint_visible.any()
    only = SceneGenerator(size=32, classes=(), people=1.0, seed=0).generate(10)
    assert only.classes == ("person",) and (only.labels[only.labels >= 0] == 0).all()


def test_generator_arguments_are_checked():
    with pytest.raises(ValueError, match="size"):
        SceneGenerator(size=8)
    with pytest.raises(ValueError, match="classes"):
        SceneGenerator(classes=("hexagon",))
    with pytest.raises(TypeError, match="classes"):
        SceneGenerator(classes="circle")
    with pytest.raises(ValueError, match="people"):
        SceneGenerator(people=1.5)
    with pytest.raises(TypeError, match="people"):
        SceneGenerator(people="yes")
    with pytest.raises(ValueError, match="object_size"):
        SceneGenerator(object_size=(0.3, 0.1))
    with pytest.raises(ValueError, match="min_objects"):
        SceneGenerator(max_objects=2, min_objects=3)
    with pytest.raises(ValueError, match="background"):
        SceneGenerator(background="checkerboard")
    with pytest.raises(ValueError, match="at least one shape"):
        SceneGenerator(classes=(), people=0.5)
    with pytest.raises(ValueError, match="people"):
        SceneGenerator(people=False).generate_pose(3)
    with pytest.raises(ValueError, match="n must be at least 1"):
        SceneGenerator().generate(0)
    batch = SceneGenerator(size=16, seed=0).generate(2)
    with pytest.raises(IndexError, match="out of range"):
        batch[2]
    with pytest.raises(TypeError, match="index"):
        batch["first"]


def test_import_of_cnncourse_data_does_not_import_torch():
    code = "import sys, cnncourse.data; assert 'torch' not in sys.modules; cnncourse.data.SceneGenerator"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- the data sets
def test_segmentation_scenes_serve_the_semantic_masks():
    train = SegmentationScenes(n=24, size=32, seed=3)
    image, mask = train[5]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert mask.shape == (32, 32) and mask.dtype == torch.int64
    np.testing.assert_array_equal(mask.numpy(), train.scenes.semantic[5])
    assert train.classes[0] == "background" and train.num_classes == len(SCENE_CLASSES) + 1
    again = SegmentationScenes(n=24, size=32, seed=3)
    test = SegmentationScenes(train=False, n=24, size=32, seed=3)
    assert torch.equal(again[5][0], image) and not torch.equal(test[5][0], image)
    assert not torch.equal(SegmentationScenes(n=24, size=32, seed=4)[5][0], image)


def test_localization_scenes_serve_one_class_and_one_box():
    data = LocalizationScenes(n=20, size=32, seed=0)
    image, target = data[3]
    assert target["label"].dtype == torch.int64 and target["box"].shape == (4,)
    assert int(target["label"]) == data.scenes.labels[3, 0]
    np.testing.assert_array_equal(target["box"].numpy(), data.scenes.boxes[3, 0])
    images, targets = next(iter(DataLoader(data, batch_size=8)))
    assert images.shape == (8, 3, 32, 32) and targets["box"].shape == (8, 4)
    normalized = LocalizationScenes(n=20, size=32, seed=0, normalize_boxes=True)
    np.testing.assert_allclose(normalized[3][1]["box"].numpy(), data.scenes.boxes[3, 0] / 32)
    with pytest.raises(ValueError, match="exactly one object"):
        LocalizationScenes(n=4, max_objects=3)


def test_detection_and_instance_scenes_batch_with_their_collate_function():
    data = InstanceScenes(n=20, size=32, seed=1)
    image, target = data[2]
    k = data.scenes.num_objects[2]
    assert target["boxes"].shape == (k, 4) and target["labels"].shape == (k,)
    assert target["masks"].shape == (k, 32, 32) and target["masks"].dtype == torch.bool
    np.testing.assert_array_equal(target["masks"].numpy(), data.scenes[2].masks)
    loader = DataLoader(data, batch_size=6, collate_fn=data.collate_fn)
    images, targets = next(iter(loader))
    assert images.shape == (6, 3, 32, 32) and len(targets) == 6
    assert [len(t["labels"]) for t in targets] == data.scenes.num_objects[:6].tolist()
    detection = DetectionScenes(n=20, size=32, seed=1)
    assert set(detection[2][1]) == {"boxes", "labels"}
    assert torch.equal(detection[2][1]["boxes"], target["boxes"])
    assert collate_scenes([data[0], data[1]])[0].shape == (2, 3, 32, 32)


@pytest.mark.parametrize("stride", [1, 4])
def test_pose_heatmaps_decode_back_to_the_joints(stride):
    data = PoseScenes(n=16, size=64, seed=2, stride=stride, sigma=1.5)
    image, maps = data[4]
    side = 64 // stride
    assert maps.shape == (14, side, side) and maps.dtype == torch.float32
    assert data.classes == JOINTS and data.heatmap_size == (side, side)
    found, scores = heatmap_peaks(maps.numpy(), stride)
    error = np.abs(found - data.keypoints[4].numpy())
    assert error.max() <= 0.75 * stride  # within the peak's cell and its quarter-cell refinement
    assert (scores > 0.5).all()
    keypoints = PoseScenes(n=16, size=64, seed=2, target="keypoints")[4][1]
    assert keypoints.shape == (14, 3)
    assert torch.equal(keypoints[:, :2], data.keypoints[4]) and (keypoints[:, 2] == 1).all()
    with pytest.raises(ValueError, match="distractors"):
        PoseScenes(n=4, max_objects=2)
    with pytest.raises(ValueError, match="target"):
        PoseScenes(n=4, target="boxes")
