"""cnncourse.data.torch_transforms: the NumPy augmentations on tensors, on any device."""

import numpy as np
import pytest
import torch

from cnncourse.data import torch_transforms as tt
from cnncourse.data import transforms as nt

rng = np.random.default_rng(0)
WIDE = rng.random((3, 2, 9, 12)).astype(np.float32)  # non-square: catches swapped axes
SQUARE = rng.random((3, 2, 10, 10)).astype(np.float32)
FILLS = (0.0, 0.3, "edge", "reflect")
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def t(array):
    return torch.from_numpy(array.copy())


# --------------------------------------------------------------------------- same names
def test_the_module_offers_the_numpy_set_under_the_same_names():
    assert [c.__name__ for c in tt.AUGMENTATIONS] == [c.__name__ for c in nt.AUGMENTATIONS]
    for name in ("translate", "rotate", "scale", "flip", "photometric_distortion", "Transform",
                 "Compose", "RandomApply", "FILL_MODES", "FLIP_DIRECTIONS"):
        assert hasattr(tt, name) and hasattr(nt, name)
    assert tt.FILL_MODES is nt.FILL_MODES


# --------------------------------------------------------------------------- exact agreement
@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("shift", [(2, -3), (-1, 0), (0, 5), (8, -11)])
def test_translate_equals_numpy(fill, shift):
    if fill == "reflect" and (abs(shift[0]) >= 9 or abs(shift[1]) >= 12):
        pytest.skip("reflect needs shifts smaller than the image")
    assert np.array_equal(tt.translate(t(WIDE), shift, fill).numpy(), nt.translate(WIDE, shift, fill))


def test_translate_beyond_the_image_leaves_only_the_fill():
    out = tt.translate(t(WIDE), (100, -200), fill=0.25)
    assert torch.all(out == 0.25)
    assert np.array_equal(out.numpy(), nt.translate(WIDE, (100, -200), fill=0.25))


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_flip_equals_numpy(direction):
    assert np.array_equal(tt.flip(t(WIDE), direction).numpy(), nt.flip(WIDE, direction))
    assert np.array_equal(tt.flip(t(WIDE[0]), direction).numpy(), nt.flip(WIDE[0], direction))


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("quarter_turns", [1, 2, 3, -1])
def test_quarter_turns_equal_numpy_and_rot90(fill, quarter_turns):
    ours = tt.rotate(t(SQUARE), 90 * quarter_turns, fill).numpy()
    np.testing.assert_allclose(ours, nt.rotate(SQUARE, 90 * quarter_turns, fill), atol=2e-6)
    np.testing.assert_allclose(ours, np.rot90(SQUARE, quarter_turns, axes=(-2, -1)), atol=2e-6)


@pytest.mark.parametrize("fill", FILLS)
def test_rotations_and_scalings_agree_with_scipy(fill):
    """Bilinear resampling with grid_sample and with SciPy: the same up to float32 rounding."""
    for degrees in (30.0, -17.5, 135.0):
        np.testing.assert_allclose(tt.rotate(t(WIDE), degrees, fill).numpy(),
                                   nt.rotate(WIDE, degrees, fill), atol=1e-5)
    for factor in (0.7, 1.3):
        np.testing.assert_allclose(tt.scale(t(WIDE), factor, fill).numpy(),
                                   nt.scale(WIDE, factor, fill), atol=1e-5)
    angles = np.array([10.0, -45.0, 80.0])  # one angle per image
    np.testing.assert_allclose(tt.rotate(t(WIDE), torch.tensor(angles), fill).numpy(),
                               nt.rotate(WIDE, angles, fill), atol=1e-5)


def test_nearest_neighbour_rotation_moves_whole_pixels():
    out = tt.rotate(t(SQUARE), 30.0, fill=0.0, order=0).numpy()
    values = set(np.unique(SQUARE).tolist()) | {0.0}
    assert set(np.unique(out).tolist()) <= values


def test_photometric_distortion_equals_numpy():
    arguments = ([0.1, -0.2, 0.0], [1.2, 0.5, 1.0], [0.9, 1.1])
    np.testing.assert_allclose(
        tt.photometric_distortion(t(WIDE), torch.tensor(arguments[0]), *arguments[1:]).numpy(),
        nt.photometric_distortion(WIDE, *arguments), atol=1e-6)
    per_image_channels = rng.uniform(0.5, 1.5, (3, 2))
    np.testing.assert_allclose(
        tt.photometric_distortion(t(WIDE), 0.05, 0.8, per_image_channels, clip=False).numpy(),
        nt.photometric_distortion(WIDE, 0.05, 0.8, per_image_channels, clip=False), atol=1e-6)


# --------------------------------------------------------------------------- random augmentations
def every_augmentation():
    return [tt.RandomTranslate(2), tt.RandomCrop(padding=2), tt.RandomPhotometric(),
            tt.RandomScale(), tt.RandomRotation(45.0), tt.RandomFlip(), tt.SaltAndPepper(0.1),
            tt.Compose([tt.RandomFlip(), tt.RandomTranslate(1)]),
            tt.RandomApply(tt.RandomRotation(20.0), p=0.5)]


@pytest.mark.parametrize("transform", every_augmentation(), ids=lambda a: type(a).__name__)
def test_random_augmentations_are_seeded_and_keep_shape_dtype_and_input(transform):
    batch = torch.rand(6, 3, 12, 12, dtype=torch.float64)
    before = batch.clone()
    first = transform(batch, 4)
    assert first.shape == batch.shape and first.dtype == batch.dtype
    assert torch.equal(batch, before)  # the input is never changed
    assert torch.equal(first, transform(batch, 4))  # same seed, same result
    generator = torch.Generator().manual_seed(4)
    assert torch.equal(first, transform(batch, generator))  # an int seeds a Generator
    assert not torch.equal(first, transform(batch, generator))  # a used generator moves on
    single = transform(batch[0], 4)
    assert single.shape == batch[0].shape  # one image in, one image out


def test_random_flip_flips_all_or_nothing_at_the_extremes():
    batch = t(WIDE)
    assert torch.equal(tt.RandomFlip(p=1.0)(batch, 0), tt.flip(batch))
    assert torch.equal(tt.RandomFlip(p=0.0, direction="vertical")(batch, 0), batch)
    mixed = tt.RandomFlip(p=0.5)(torch.rand(200, 1, 4, 4), 0)
    assert mixed.shape == (200, 1, 4, 4)


def test_random_translate_moves_every_image_by_an_allowed_shift():
    batch = t(WIDE)
    out = tt.RandomTranslate((1, 2), fill="edge")(batch, 3)
    for n in range(len(batch)):
        candidates = [(dy, dx) for dy in range(-1, 2) for dx in range(-2, 3)
                      if torch.equal(out[n], tt.translate(batch[n], (dy, dx), "edge"))]
        assert candidates


def test_random_crop_cuts_windows_of_the_padded_image():
    batch = t(WIDE)
    out = tt.RandomCrop(size=(5, 7), padding=1, fill=0.5)(batch, 1)
    assert out.shape == (3, 2, 5, 7)
    padded = np.pad(WIDE, [(0, 0), (0, 0), (1, 1), (1, 1)], constant_values=0.5)
    for n in range(len(batch)):
        found = [(i, j) for i in range(7) for j in range(8)
                 if np.array_equal(padded[n, :, i:i + 5, j:j + 7], out[n].numpy())]
        assert found


def test_neutral_parameters_change_nothing():
    batch = t(WIDE)
    torch.testing.assert_close(tt.RandomRotation(0.0)(batch, 0), batch, atol=1e-6, rtol=0)
    torch.testing.assert_close(tt.RandomScale(1.0, 1.0)(batch, 0), batch, atol=1e-6, rtol=0)
    torch.testing.assert_close(tt.RandomPhotometric(0.0, 0.0, 0.0)(batch, 0), batch, atol=1e-6, rtol=0)
    assert torch.equal(tt.RandomTranslate(0)(batch, 0), batch)
    assert torch.equal(tt.SaltAndPepper(0.0)(batch, 0), batch)
    assert torch.equal(tt.RandomApply(tt.RandomFlip(p=1.0), p=0.0)(batch, 0), batch)


def test_salt_and_pepper_hits_the_given_share_of_pixels():
    batch = torch.full((20, 3, 32, 32), 0.5)
    out = tt.SaltAndPepper(amount=0.1, salt_ratio=0.25)(batch, 0)
    changed = (out != 0.5)
    assert torch.equal(changed.all(dim=1), changed.any(dim=1))  # all channels of a pixel together
    hit = changed[:, 0]
    assert float(hit.float().mean()) == pytest.approx(0.1, abs=0.01)
    salt = (out[:, 0] == 1.0)[hit]
    assert float(salt.float().mean()) == pytest.approx(0.25, abs=0.03)
    assert set(out.unique().tolist()) == {0.0, 0.5, 1.0}


def test_random_photometric_stays_in_range_and_keeps_the_structure():
    batch = t(SQUARE)
    out = tt.RandomPhotometric(brightness=0.3, contrast=0.5, channel_scale=0.3, clip=False)(batch, 0)
    for n in range(len(batch)):
        for k in range(batch.shape[1]):  # each channel is an affine function of the input
            a = np.polyfit(batch[n, k].flatten().numpy(), out[n, k].flatten().numpy(), 1)
            assert np.allclose(np.polyval(a, batch[n, k].numpy()), out[n, k].numpy(), atol=1e-5)
    clipped = tt.RandomPhotometric(brightness=0.5, contrast=0.9)(batch, 0)
    assert float(clipped.min()) >= 0.0 and float(clipped.max()) <= 1.0


def test_compose_and_random_apply_share_the_generator():
    batch = t(WIDE)
    flip, shift = tt.RandomFlip(p=0.5), tt.RandomTranslate(2)
    composed = tt.Compose([flip, shift])(batch, 9)
    generator = torch.Generator().manual_seed(9)
    assert torch.equal(composed, shift(flip(batch, generator), generator))
    applied = tt.RandomApply(tt.RandomFlip(p=1.0), p=1.0)(batch, 0)
    assert torch.equal(applied, tt.flip(batch, "horizontal"))


def test_float16_images_keep_their_dtype():
    batch = t(SQUARE).half()
    for transform in every_augmentation():
        assert transform(batch, 0).dtype == torch.float16
    torch.testing.assert_close(tt.rotate(batch, 90).float(),
                               torch.rot90(batch.float(), 1, dims=(-2, -1)), atol=1e-3, rtol=0)


# --------------------------------------------------------------------------- errors
def test_arguments_are_checked():
    batch = t(WIDE)
    with pytest.raises(TypeError, match="images must be a torch tensor"):
        tt.flip(WIDE)
    with pytest.raises(TypeError, match="images must be a float tensor"):
        tt.flip(torch.zeros(1, 1, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"images must be a 3D \(C, H, W\) or 4D"):
        tt.flip(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="fill must be one of 'edge', 'reflect'"):
        tt.translate(batch, 1, fill="wrap")
    with pytest.raises(ValueError, match="direction must be one of"):
        tt.flip(batch, "diagonal")
    with pytest.raises(ValueError, match="fill='reflect' needs shifts smaller than the image"):
        tt.translate(batch, (9, 0), fill="reflect")
    with pytest.raises(ValueError, match="factor must be > 0"):
        tt.scale(batch, 0.0)
    with pytest.raises(ValueError, match="degrees must be a number or one value per image"):
        tt.rotate(batch, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="degrees must be finite"):
        tt.rotate(batch, float("nan"))
    with pytest.raises(TypeError, match="degrees must be a number"):
        tt.rotate(batch, "ninety")
    with pytest.raises(ValueError, match="contrast must be >= 0"):
        tt.photometric_distortion(batch, contrast=-1.0)
    with pytest.raises(ValueError, match=r"channel_scale must be a number, 2 values"):
        tt.photometric_distortion(batch, channel_scale=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="degrees must be <= 180"):
        tt.RandomRotation(200.0)
    with pytest.raises(ValueError, match="max_factor must be >= min_factor"):
        tt.RandomScale(1.2, 0.8)
    with pytest.raises(ValueError, match="size .* is larger than the padded image"):
        tt.RandomCrop(size=20, padding=1)(batch, 0)
    with pytest.raises(TypeError, match="generator must be None, an int seed or a torch.Generator"):
        tt.RandomFlip()(batch, np.random.default_rng(0))
    with pytest.raises(ValueError, match="generator must be at least 0"):
        tt.RandomFlip()(batch, -1)
    with pytest.raises(TypeError, match=r"transforms\[1\] must be callable"):
        tt.Compose([tt.RandomFlip(), 3])
    with pytest.raises(ValueError, match="transform must keep the shape"):
        tt.RandomApply(tt.RandomCrop(size=4, padding=0), p=1.0)(batch, 0)


# --------------------------------------------------------------------------- other devices
@pytest.mark.gpu
@requires_cuda
def test_cuda_results_match_the_cpu():
    batch = t(WIDE)
    gpu = batch.cuda()
    for fill in FILLS:
        assert torch.equal(tt.translate(gpu, (2, -3), fill).cpu(), tt.translate(batch, (2, -3), fill))
        torch.testing.assert_close(tt.rotate(gpu, 30.0, fill).cpu(), tt.rotate(batch, 30.0, fill),
                                   atol=1e-5, rtol=0)
    assert torch.equal(tt.flip(gpu).cpu(), tt.flip(batch))
    for transform in every_augmentation():
        out = transform(gpu, torch.Generator(device="cuda").manual_seed(0))
        assert out.device.type == "cuda" and out.shape == gpu.shape
        assert torch.equal(out, transform(gpu, 0))  # an int seeds a generator on the images' device
        assert transform(gpu, torch.Generator().manual_seed(0)).device.type == "cuda"  # CPU generator
