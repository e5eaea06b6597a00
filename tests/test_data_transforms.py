"""cnncourse.data.transforms: every augmentation does what it says, keeps shape and dtype,
leaves its input alone and is reproducible from its seed."""

import numpy as np
import pytest
from scipy import ndimage

from cnncourse.data import make_shapes
from cnncourse.data.transforms import (AUGMENTATIONS, Compose, RandomApply, RandomCrop,
                                       RandomFlip, RandomPhotometric, RandomRotation, RandomScale,
                                       RandomTranslate, SaltAndPepper, flip,
                                       photometric_distortion, rotate, scale, translate)

RNG = np.random.default_rng(1234)
BATCH = RNG.random((6, 3, 12, 12))  # float64, random: every pixel distinct


def _point(shape=(1, 9, 9), where=(4, 4), channels_value=1.0):
    image = np.zeros(shape)
    image[:, where[0], where[1]] = channels_value
    return image


def _every(**overrides):
    """One instance of each augmentation, with settings that surely change an image."""
    made = [RandomTranslate(3), RandomCrop(padding=3), RandomPhotometric(0.2, 0.3, 0.2),
            RandomScale(0.7, 1.4), RandomRotation(60), RandomFlip(0.5), SaltAndPepper(0.1)]
    assert [type(t) for t in made] == list(AUGMENTATIONS)
    return made + [Compose([RandomFlip(), RandomTranslate(2)]), RandomApply(RandomRotation(30), 0.5)]


EVERY = _every()
IDS = [type(t).__name__ for t in EVERY]


# ------------------------------------------------------------------------------ common contract
@pytest.mark.parametrize("transform", EVERY, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_shape_dtype_and_input_are_kept(transform, dtype):
    batch = BATCH.astype(dtype)
    before = batch.copy()
    out = transform(batch, rng=0)
    assert out.shape == batch.shape and out.dtype == dtype
    np.testing.assert_array_equal(batch, before)
    single = transform(batch[0], rng=0)
    assert single.shape == batch[0].shape and single.dtype == dtype


@pytest.mark.parametrize("transform", EVERY, ids=IDS)
def test_same_seed_same_output_other_seed_other_output(transform):
    first = transform(BATCH, rng=3)
    np.testing.assert_array_equal(first, transform(BATCH, rng=3))
    np.testing.assert_array_equal(first, transform(BATCH, rng=np.random.default_rng(3)))
    assert not np.array_equal(first, transform(BATCH, rng=4))
    assert transform(BATCH).shape == BATCH.shape  # rng=None: fresh randomness


@pytest.mark.parametrize("transform", EVERY, ids=IDS)
def test_a_single_image_is_treated_like_a_batch_of_one(transform):
    np.testing.assert_array_equal(transform(BATCH[2], rng=9), transform(BATCH[2:3], rng=9)[0])


@pytest.mark.parametrize("transform", EVERY[:5] + [EVERY[-2]], ids=IDS[:5] + [IDS[-2]])
def test_images_of_a_batch_get_their_own_parameters(transform):
    same = np.broadcast_to(BATCH[0], BATCH.shape).copy()
    out = transform(same, rng=0)
    assert any(not np.array_equal(out[0], out[k]) for k in range(1, len(out)))


# ------------------------------------------------------------------------------ translations, crops
@pytest.mark.parametrize("shift", [(2, -3), (-4, 1), (0, 0), (8, 8)])
def test_translate_moves_a_point_by_exactly_the_shift(shift):
    image = _point()
    out = translate(image, shift, fill=0.0)
    moved = np.argwhere(out[0] == 1.0)
    target = (4 + shift[0], 4 + shift[1])
    if 0 <= target[0] < 9 and 0 <= target[1] < 9:
        assert moved.tolist() == [list(target)]
        assert out.sum() == 1.0
    else:
        assert moved.size == 0


def test_translate_fills_what_comes_from_outside():
    image = BATCH[0]
    out = translate(image, (2, -1), fill=0.5)
    np.testing.assert_array_equal(out[:, 2:, :-1], image[:, :-2, 1:])
    assert np.all(out[:, :2, :] == 0.5) and np.all(out[:, :, -1] == 0.5)
    edge = translate(image, (3, 0), fill="edge")
    np.testing.assert_array_equal(edge[:, :3, :], np.repeat(image[:, :1, :], 3, axis=1))
    reflect = translate(image, (0, 2), fill="reflect")
    np.testing.assert_array_equal(reflect[:, :, :2], image[:, :, 2:0:-1])
    assert np.all(translate(image, (-50, 0), fill=0.25) == 0.25)


def test_random_translate_is_a_translation_within_the_limit():
    out = RandomTranslate((2, 3), fill=-1.0)(BATCH, rng=5)
    for image, moved in zip(BATCH, out):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-3, 4)
                   if np.array_equal(translate(image, (dy, dx), fill=-1.0), moved)]
        assert len(matches) == 1


@pytest.mark.parametrize("size, padding", [(None, 3), (8, 0), ((10, 6), (1, 2))])
def test_random_crop_cuts_a_window_out_of_the_padded_image(size, padding):
    crop = RandomCrop(size, padding=padding, fill=0.5)
    out = crop(BATCH, rng=2)
    py, px = (padding, padding) if isinstance(padding, int) else padding
    height, width = (12, 12) if size is None else ((size, size) if isinstance(size, int) else size)
    assert out.shape == (6, 3, height, width)
    padded = np.pad(BATCH, [(0, 0), (0, 0), (py, py), (px, px)], constant_values=0.5)
    offsets = set()
    for image, window in zip(padded, out):
        found = [(i, j) for i in range(image.shape[1] - height + 1)
                 for j in range(image.shape[2] - width + 1)
                 if np.array_equal(image[:, i:i + height, j:j + width], window)]
        assert len(found) == 1
        offsets.add(found[0])
    assert len(offsets) > 1


def test_random_crop_checks_its_size_against_the_image():
    with pytest.raises(ValueError, match=r"size \(20, 20\) is larger than the padded image \(18, 18\)"):
        RandomCrop(20, padding=3)(BATCH, rng=0)
    with pytest.raises(ValueError, match="fill='reflect' needs padding smaller than the image"):
        RandomCrop(padding=12, fill="reflect")(BATCH, rng=0)


# ------------------------------------------------------------------------------ flips
def test_flip_reverses_columns_or_rows():
    np.testing.assert_array_equal(flip(BATCH), BATCH[..., ::-1])
    np.testing.assert_array_equal(flip(BATCH, "vertical"), BATCH[..., ::-1, :])
    np.testing.assert_array_equal(flip(flip(BATCH[0])), BATCH[0])
    out = flip(BATCH)
    out[...] = 0  # a new array, not a view of the input
    assert BATCH.any()


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_random_flip_flips_a_share_p_of_the_images(direction):
    axis = -1 if direction == "horizontal" else -2
    assert np.array_equal(RandomFlip(1.0, direction)(BATCH, 0), np.flip(BATCH, axis))
    assert np.array_equal(RandomFlip(0.0, direction)(BATCH, 0), BATCH)
    many = np.repeat(BATCH[:1], 400, axis=0)
    out = RandomFlip(0.3, direction)(many, rng=1)
    flipped = np.array([np.array_equal(o, np.flip(BATCH[0], axis)) for o in out])
    kept = np.array([np.array_equal(o, BATCH[0]) for o in out])
    assert np.all(flipped ^ kept)
    assert abs(flipped.mean() - 0.3) < 0.07


# ------------------------------------------------------------------------------ rotation, scaling
@pytest.mark.parametrize("degrees, quarter_turns", [(90, 1), (-90, -1), (180, 2), (270, 3), (0, 0)])
def test_rotating_by_quarter_turns_equals_rot90(degrees, quarter_turns):
    out = rotate(BATCH, degrees)
    np.testing.assert_array_equal(out, np.rot90(BATCH, quarter_turns, axes=(-2, -1)))


@pytest.mark.parametrize("degrees", [17.0, -63.5])
@pytest.mark.parametrize("fill, mode, cval", [(0.25, "grid-constant", 0.25), ("edge", "nearest", 0.0),
                                              ("reflect", "mirror", 0.0)])
def test_rotate_agrees_with_scipy(degrees, fill, mode, cval):
    image = RNG.random((2, 9, 11))
    expected = ndimage.rotate(image, degrees, axes=(1, 2), reshape=False, order=1, mode=mode,
                              cval=cval)
    np.testing.assert_allclose(rotate(image, degrees, fill=fill), expected, atol=1e-12)
    nearest = ndimage.rotate(image, degrees, axes=(1, 2), reshape=False, order=0, mode=mode, cval=cval)
    np.testing.assert_allclose(rotate(image, degrees, fill=fill, order=0), nearest, atol=1e-12)


def test_rotate_turns_counterclockwise_and_takes_one_angle_per_image():
    image = _point((1, 9, 9), (4, 7))  # right of the centre (4, 4)
    out = rotate(np.stack([image, image]), np.array([90.0, -90.0]))
    assert np.argwhere(out[0, 0] == 1.0).tolist() == [[1, 4]]  # above the centre
    assert np.argwhere(out[1, 0] == 1.0).tolist() == [[7, 4]]  # below it


def _angle_of_bright_spot(images):
    """Counterclockwise angle (degrees) of the bright spot's centroid seen from the centre."""
    h, w = images.shape[-2:]
    weights = images[:, 0]
    rows, cols = np.mgrid[:h, :w]
    cy = (weights * rows).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    cx = (weights * cols).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    return np.degrees(np.arctan2((h - 1) / 2 - cy, cx - (w - 1) / 2))


def test_random_rotation_draws_angles_up_to_the_limit():
    spot = np.zeros((200, 1, 33, 33))
    spot[:, :, 15:18, 27:30] = 1.0  # right of the centre: angle 0
    angles = _angle_of_bright_spot(RandomRotation(40)(spot, rng=0))
    assert np.all(np.abs(angles) <= 40.5)
    assert angles.min() < -30 and angles.max() > 30
    assert np.all(RandomRotation(0)(BATCH, rng=0) == BATCH)


def test_scale_moves_points_away_from_the_centre_by_the_factor():
    image = _point((1, 17, 17), (8 + 3, 8 - 2))
    np.testing.assert_array_equal(np.argwhere(scale(image, 2.0)[0] == 1.0), [[8 + 6, 8 - 4]])
    np.testing.assert_array_equal(scale(BATCH, 1.0), BATCH)
    square = np.zeros((1, 33, 33))
    square[:, 12:21, 12:21] = 1.0  # 9 x 9
    assert scale(square, 0.5, order=0).sum() == pytest.approx(81 / 4, rel=0.25)
    assert scale(square, 2.0, order=0).sum() == pytest.approx(81 * 4, rel=0.1)
    shrunk = scale(np.ones((1, 9, 9)), 0.5, fill=0.0)
    assert shrunk[0, 4, 4] == 1.0 and shrunk[0, 0, 0] == 0.0


def test_random_scale_draws_factors_in_its_range():
    square = np.zeros((300, 1, 41, 41))
    square[:, :, 15:26, 15:26] = 1.0  # 11 x 11
    area = RandomScale(0.6, 1.5, order=0)(square, rng=0).sum(axis=(1, 2, 3))
    factor = np.sqrt(area / 121.0)
    assert factor.min() > 0.5 and factor.max() < 1.65
    assert factor.min() < 0.7 and factor.max() > 1.35


# ------------------------------------------------------------------------------ photometric
def test_photometric_distortion_follows_its_formula():
    image = RNG.random((3, 5, 5)) * 0.5 + 0.25
    np.testing.assert_allclose(photometric_distortion(image), image)
    np.testing.assert_allclose(photometric_distortion(image, brightness=0.1, clip=False), image + 0.1)
    mean = image.mean()
    np.testing.assert_allclose(photometric_distortion(image, contrast=1.5, clip=False),
                               1.5 * (image - mean) + mean)
    a = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(photometric_distortion(image, channel_scale=a, clip=False),
                               image * a[:, None, None] - (image * a[:, None, None]).mean()
                               + (image * a[:, None, None]).mean())
    clipped = photometric_distortion(image, brightness=0.6)
    assert clipped.max() == 1.0 and clipped.min() >= 0.0
    per_image = photometric_distortion(BATCH, brightness=np.arange(6) / 10, clip=False)
    offsets = np.broadcast_to((np.arange(6) / 10)[:, None, None, None], BATCH.shape)
    np.testing.assert_allclose(per_image - BATCH, offsets)


def _channel_correlations(before, after):
    return np.array([[np.corrcoef(b[k].ravel(), a[k].ravel())[0, 1] for k in range(b.shape[0])]
                     for b, a in zip(before, after)])


def test_random_photometric_keeps_the_structure_and_changes_the_colours():
    images, _ = make_shapes(50, seed=0)
    # without clipping every channel is an increasing affine function of itself
    free = RandomPhotometric(brightness=0.1, contrast=0.2, channel_scale=0.2, clip=False)(images, rng=0)
    np.testing.assert_allclose(_channel_correlations(images, free), 1.0, atol=1e-4)
    # clipping to [0, 1] flattens the brightest and darkest parts a little
    out = RandomPhotometric(brightness=0.1, contrast=0.2, channel_scale=0.2)(images, rng=0)
    correlations = _channel_correlations(images, out)
    assert np.median(correlations) > 0.99 and correlations.min() > 0.8
    change = np.abs(out.mean(axis=(2, 3)) - images.mean(axis=(2, 3)))
    assert np.median(change) > 0.02
    assert out.min() >= 0.0 and out.max() <= 1.0


# ------------------------------------------------------------------------------ salt and pepper
def test_salt_and_pepper_hits_a_share_amount_of_the_pixels():
    images = np.full((20, 3, 32, 32), 0.5, dtype=np.float32)
    out = SaltAndPepper(amount=0.1, salt_ratio=0.25)(images, rng=0)
    hit = out[:, 0] != 0.5
    assert abs(hit.mean() - 0.1) < 0.01
    values = out.transpose(0, 2, 3, 1)[hit]  # (hits, 3): every channel of a hit pixel alike
    assert set(np.unique(values)) == {0.0, 1.0}
    assert np.all(values == values[:, :1])
    assert abs((values[:, 0] == 1.0).mean() - 0.25) < 0.03
    assert np.array_equal(SaltAndPepper(amount=0.0)(images, rng=0), images)
    dark = SaltAndPepper(amount=1.0, salt_ratio=0.0, low=-1.0)(images, rng=0)
    assert np.all(dark == -1.0)


# ------------------------------------------------------------------------------ composition
def test_compose_applies_its_transforms_in_order_from_one_generator():
    first, second = RandomTranslate(2), RandomRotation(30)
    expected_rng = np.random.default_rng(7)
    expected = second(first(BATCH, expected_rng), expected_rng)
    np.testing.assert_array_equal(Compose([first, second])(BATCH, rng=7), expected)


def test_random_apply_changes_a_share_p_of_the_images():
    many = np.repeat(BATCH[:1], 300, axis=0)
    out = RandomApply(RandomFlip(1.0), p=0.4)(many, rng=0)
    flipped = np.array([np.array_equal(o, BATCH[0][..., ::-1]) for o in out])
    kept = np.array([np.array_equal(o, BATCH[0]) for o in out])
    assert np.all(flipped ^ kept) and abs(flipped.mean() - 0.4) < 0.08
    assert np.array_equal(RandomApply(RandomFlip(1.0), p=0.0)(BATCH, 0), BATCH)
    with pytest.raises(ValueError, match="transform must keep the shape of the images"):
        RandomApply(RandomCrop(8, padding=0), p=1.0)(BATCH, rng=0)


def test_repr_shows_the_parameters():
    assert repr(RandomRotation(30)) == "RandomRotation(degrees=30.0, fill=0.0, order=1)"
    assert (repr(Compose([RandomFlip()]))
            == "Compose(transforms=[RandomFlip(p=0.5, direction='horizontal')])")


# ------------------------------------------------------------------------------ argument checks
@pytest.mark.parametrize("make, error, match", [
    (lambda: RandomTranslate(-1), ValueError, "max_shift must be at least 0"),
    (lambda: RandomTranslate(1.5), TypeError, "max_shift must be an int or a pair of ints"),
    (lambda: RandomCrop(0), ValueError, "size must be at least 1"),
    (lambda: RandomCrop(padding=-2), ValueError, "padding must be at least 0"),
    (lambda: RandomCrop(fill="wrap"), ValueError, "fill must be one of 'edge', 'reflect'"),
    (lambda: RandomRotation(200), ValueError, "degrees must be <= 180.0"),
    (lambda: RandomRotation(order=3), ValueError, "order must be at most 1"),
    (lambda: RandomRotation(fill=None), TypeError, "fill must be a real number"),
    (lambda: RandomScale(0.0), ValueError, "min_factor must be > 0.0"),
    (lambda: RandomScale(2.0, 1.0), ValueError, "max_factor must be >= min_factor"),
    (lambda: RandomFlip(1.5), ValueError, "p must be <= 1.0"),
    (lambda: RandomFlip(direction="diagonal"), ValueError, "direction must be one of"),
    (lambda: RandomPhotometric(contrast=-0.1), ValueError, "contrast must be >= 0.0"),
    (lambda: RandomPhotometric(clip="yes"), TypeError, "clip must be a bool"),
    (lambda: SaltAndPepper(amount=2), ValueError, "amount must be <= 1.0"),
    (lambda: SaltAndPepper(salt_ratio="half"), TypeError, "salt_ratio must be a real number"),
    (lambda: Compose(RandomFlip()), TypeError, "transforms must be a sequence of callables"),
    (lambda: Compose([RandomFlip(), 3]), TypeError, r"transforms\[1\] must be callable"),
    (lambda: RandomApply("flip"), TypeError, "transform must be callable"),
])
def test_constructors_check_their_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("call, error, match", [
    (lambda: RandomFlip()(np.zeros((2, 3, 4, 4), dtype=np.uint8)), TypeError,
     "images must be a float array"),
    (lambda: RandomFlip()(np.zeros((4, 4))), ValueError,
     r"images must be a 3D or 4D array, got shape \(4, 4\)"),
    (lambda: RandomFlip()(BATCH, rng="seed"), TypeError,
     "rng must be None, an int or a numpy Generator"),
    (lambda: translate(BATCH, "up"), TypeError, "shift must be an int or a pair of ints"),
    (lambda: translate(BATCH, (1, 2, 3)), ValueError, "shift must be an int or a pair of ints"),
    (lambda: translate(BATCH, (20, 0), fill="reflect"), ValueError, "fill='reflect' needs shifts"),
    (lambda: rotate(BATCH, [10.0, 20.0]), ValueError,
     r"degrees must be a number or one value per image \(6\)"),
    (lambda: rotate(BATCH, np.nan), ValueError, "degrees must be finite"),
    (lambda: scale(BATCH, 0.0), ValueError, "factor must be > 0"),
    (lambda: scale(BATCH, 1.0, order=2), ValueError, "order must be at most 1"),
    (lambda: flip(BATCH, "sideways"), ValueError,
     "direction must be one of 'horizontal', 'vertical'"),
    (lambda: photometric_distortion(BATCH, contrast=-1.0), ValueError, "contrast must be >= 0"),
    (lambda: photometric_distortion(BATCH, channel_scale=[1.0, 2.0]), ValueError,
     r"channel_scale must be a number, 3 values \(one per channel\)"),
    (lambda: photometric_distortion(BATCH, brightness="bright"), TypeError,
     "brightness must be an array of numbers"),
])
def test_functions_check_their_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
