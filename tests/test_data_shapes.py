"""cnncourse.data.shapes: the generated shapes data set (and the grid that shows it)."""


import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.ndimage import binary_fill_holes
from skimage.morphology import convex_hull_image
from sklearn.linear_model import LogisticRegression

import cnncourse.data.shapes as shapes_module
from cnncourse.data import SHAPE_CLASSES, load_shapes_split, make_shapes
from cnncourse.data.shapes import BACKGROUNDS, MIN_CONTRAST
from cnncourse.viz import show_image_grid


def test_images_labels_and_masks_have_the_promised_shapes_types_and_ranges():
    images, labels, masks = make_shapes(60, seed=1, return_masks=True)
    assert images.shape == (60, 3, 32, 32) and images.dtype == np.float32
    assert labels.shape == (60,) and labels.dtype == np.int64
    assert masks.shape == (60, 32, 32) and masks.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert masks.min() == 0.0 and masks.max() == 1.0
    assert len(SHAPE_CLASSES) >= 5 and len(set(SHAPE_CLASSES)) == len(SHAPE_CLASSES)
    wide, _ = make_shapes(4, size=20, dtype=np.float64)
    assert wide.shape == (4, 3, 20, 20) and wide.dtype == np.float64


@pytest.mark.parametrize("n", [6, 61, 600])
def test_classes_are_balanced_and_shuffled(n):
    _, labels = make_shapes(n, seed=2)
    counts = np.bincount(labels, minlength=len(SHAPE_CLASSES))
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    if n >= 60:
        assert not np.array_equal(labels, np.sort(labels))


def test_output_depends_only_on_the_seed_and_not_on_the_chunking(monkeypatch):
    first = make_shapes(300, seed=5)
    again = make_shapes(300, seed=np.random.default_rng(5))
    other = make_shapes(300, seed=6)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    monkeypatch.setattr(shapes_module, "_CHUNK", 7)
    chunked = make_shapes(300, seed=5)
    np.testing.assert_array_equal(chunked[0], first[0])
    np.testing.assert_array_equal(chunked[1], first[1])


def _hole_area(mask):
    """Pixels enclosed by the shape but not covered by it."""
    inside = mask > 0.5
    return int(binary_fill_holes(inside).sum() - inside.sum())


def test_a_subset_of_classes_is_labelled_by_its_own_order():
    _, labels, masks = make_shapes(40, seed=3, classes=("ring", "circle"), noise=0.0,
                                   return_masks=True)
    assert set(labels) == {0, 1}
    # a ring (label 0 here) has a hole, a disc (label 1) has none
    assert all((_hole_area(m) > 0) == (label == 0) for m, label in zip(masks, labels))


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_the_shape_is_one_colour_that_stands_out_from_every_background_pixel(background):
    images, _, masks = make_shapes(120, seed=4, noise=0.0, background=background, return_masks=True)
    pixels = np.moveaxis(images, 1, -1)  # (N, H, W, 3)
    for image, mask in zip(pixels, masks):
        inside, outside = image[mask == 1.0], image[mask == 0.0]
        assert len(inside) >= 10 and len(outside) >= 10
        colour = inside.mean(axis=0)
        np.testing.assert_allclose(inside, np.broadcast_to(colour, inside.shape), atol=1e-5)
        gap = np.linalg.norm(outside - colour, axis=1).min()
        assert gap >= MIN_CONTRAST - 1e-5
        if background == "flat":
            assert np.ptp(outside, axis=0).max() < 1e-6
        else:
            assert np.ptp(outside, axis=0).max() > 0.01


def test_backgrounds_differ_in_kind():
    flat, _, masks_flat = make_shapes(60, seed=8, noise=0.0, background="flat", return_masks=True)
    texture, _, masks_texture = make_shapes(60, seed=8, noise=0.0, background="texture",
                                            return_masks=True)

    def second_differences(images, masks):
        # a gradient is linear (second differences vanish), a texture is not
        rows = np.abs(np.diff(images, n=2, axis=-1))
        keep = (masks[:, :, :-2] + masks[:, :, 1:-1] + masks[:, :, 2:]) == 0
        return rows.max(axis=1)[keep]

    gradient, _, masks_gradient = make_shapes(60, seed=8, noise=0.0, background="gradient",
                                              return_masks=True)
    assert second_differences(flat, masks_flat).max() < 1e-6
    assert np.percentile(second_differences(gradient, masks_gradient), 99) < 1e-3 + 1e-6
    assert np.percentile(second_differences(texture, masks_texture), 99) > 2e-3


def test_shapes_have_their_own_geometry():
    _, labels, masks = make_shapes(240, seed=9, noise=0.0, return_masks=True)
    for label, mask in zip(labels, masks):
        name = SHAPE_CLASSES[label]
        assert (_hole_area(mask) > 0) == (name == "ring"), name
        filled = binary_fill_holes(mask > 0.5)
        solidity = filled.sum() / convex_hull_image(filled).sum()
        # pixelation makes small convex shapes look a little dented (0.83 at worst in 1200);
        # the cross and the star are far from convex (0.74 at most in 1200)
        if name in ("circle", "square", "triangle", "ring"):
            assert solidity > 0.78, name
        else:
            assert solidity < 0.78, name


def _radial_profile(images, bins=8):
    """How much of each ring about the shape's centroid the shape covers; the rings grow with
    the shape's size, so the profile ignores position, size, rotation and colour."""
    n, _, h, w = images.shape
    border = np.concatenate([images[:, :, 0, :], images[:, :, -1, :]], axis=2)
    background = np.median(border, axis=2)[:, :, None, None]
    mask = (np.linalg.norm(images - background, axis=1) > MIN_CONTRAST / 2).astype(float)
    area = mask.sum(axis=(1, 2))
    yy, xx = np.mgrid[:h, :w]
    cy = (mask * yy).sum(axis=(1, 2)) / area
    cx = (mask * xx).sum(axis=(1, 2)) / area
    rho = np.hypot(yy - cy[:, None, None], xx - cx[:, None, None]) / np.sqrt(area)[:, None, None]
    edges = np.linspace(0.0, 1.2, bins + 1)
    features = []
    for low, high in zip(edges[:-1], edges[1:]):
        ring = (rho >= low) & (rho < high)
        features.append((mask * ring).sum(axis=(1, 2)) / np.maximum(ring.sum(axis=(1, 2)), 1))
    return np.stack(features, axis=1)


def test_the_classes_can_be_told_apart_by_their_form():
    x_train, y_train, x_test, y_test = load_shapes_split(900, 300, seed=0, background="flat")
    classifier = LogisticRegression(max_iter=2000).fit(_radial_profile(x_train), y_train)
    accuracy = classifier.score(_radial_profile(x_test), y_test)
    assert accuracy > 0.8, accuracy  # chance is 1/6


def test_load_shapes_split_gives_two_balanced_disjoint_sets():
    x_train, y_train, x_test, y_test = load_shapes_split(120, 60, seed=11, size=16)
    assert x_train.shape == (120, 3, 16, 16) and x_test.shape == (60, 3, 16, 16)
    assert np.bincount(y_train).tolist() == [20] * 6 and np.bincount(y_test).tolist() == [10] * 6
    flat_train = x_train.reshape(120, -1)
    flat_test = x_test.reshape(60, -1)
    distances = np.abs(flat_train[:, None, :] - flat_test[None, :, :]).max(axis=2)
    assert distances.min() > 0.05
    again = load_shapes_split(120, 60, seed=11, size=16)
    for a, b in zip((x_train, y_train, x_test, y_test), again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, ValueError, "n must be at least 1"),
    ({"n": 2.0}, TypeError, "n must be an int"),
    ({"size": 4}, ValueError, "size must be at least 8"),
    ({"classes": "circle"}, TypeError, "classes must be a sequence of shape names"),
    ({"classes": ()}, ValueError, "classes must name at least one shape"),
    ({"classes": ("circle", "hexagon")}, ValueError, "classes must be one of"),
    ({"classes": ("ring", "ring")}, ValueError, "classes must not repeat a shape"),
    ({"noise": -0.1}, ValueError, "noise must be >= 0.0"),
    ({"background": "stripes"}, ValueError, "background must be one of 'random', 'flat'"),
    ({"dtype": np.uint8}, ValueError, "dtype must be one of float16, float32, float64"),
    ({"seed": "zero"}, TypeError, "seed must be None, an int or a numpy Generator"),
    ({"return_masks": 1}, TypeError, "return_masks must be a bool"),
])
def test_arguments_are_checked(kwargs, error, match):
    arguments = {"n": 6, **kwargs}
    with pytest.raises(error, match=match):
        make_shapes(**arguments)


def test_load_shapes_split_checks_its_sizes():
    with pytest.raises(ValueError, match="n_train must be at least 1"):
        load_shapes_split(0, 10)
    with pytest.raises(ValueError, match="n_test must be at least 1"):
        load_shapes_split(10, 0)


# ------------------------------------------------------------------------------ viz
def test_show_image_grid_draws_channels_first_batches():
    images, labels = make_shapes(10, seed=0)
    titles = [SHAPE_CLASSES[k] for k in labels]
    fig = show_image_grid(images, titles, ncols=4, title="shapes")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 12 and len(panels) == 10
    assert [ax.get_title() for ax in panels] == titles
    np.testing.assert_allclose(panels[0].images[0].get_array(), np.moveaxis(images[0], 0, -1))
    assert fig._suptitle.get_text() == "shapes"
    plt.close(fig)
    grey = show_image_grid(np.zeros((3, 1, 8, 8)), ncols=8)
    assert len(grey.axes) == 3 and grey.axes[0].images[0].get_array().shape == (8, 8)
    plt.close(grey)
    with pytest.raises(ValueError, match=r"image 0 must be \(H, W\) or \(C, H, W\) with C = 1 or 3"):
        show_image_grid(np.zeros((2, 4, 8, 8)))
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        show_image_grid(images, ncols=0)
    with pytest.raises(ValueError, match="at least one image"):
        show_image_grid([])
