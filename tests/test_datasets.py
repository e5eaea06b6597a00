"""cnncourse.data.datasets: the course's data sets as torch Datasets, and their loaders."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from cnncourse.data import torch_transforms as tt
from cnncourse.data.datasets import (DATASETS, TRAIN_SHARE_OF_ROWS, ArrayDataset, DigitsDataset,
                                     PatchesDataset, ShapesDataset, ShardSampler, dataset_task,
                                     make_dataset, make_loader, make_loaders)
from cnncourse.data.digits import DIGIT_CLASSES, load_digits_split
from cnncourse.data.images import sample_image
from cnncourse.data.shapes import SHAPE_CLASSES, load_shapes_split

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def alone(monkeypatch):
    """These tests run as one process, whatever the environment says."""
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


# --------------------------------------------------------------------------- digits
def test_digits_dataset_serves_the_split_as_tensors():
    x_train, y_train, x_test, y_test = load_digits_split()
    train, test = DigitsDataset(train=True), DigitsDataset(train=False)
    assert (len(train), len(test)) == (len(x_train), len(x_test)) == (1348, 449)
    image, label = train[5]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32 and label.dtype == torch.int64
    assert np.array_equal(image.numpy(), x_train[5]) and int(label) == y_train[5]
    assert np.array_equal(test.images.numpy(), x_test) and np.array_equal(test.targets.numpy(), y_test)
    assert train.classes == DIGIT_CLASSES and train.num_classes == 10 and train.task == "classification"
    assert train.in_channels == 1 and train.image_size == (8, 8)
    assert "1348 images 1x8x8" in repr(train)


def test_digits_options_reach_the_split():
    resized = DigitsDataset(train=False, size=16, test_size=100, seed=3)
    x_test = load_digits_split(size=16, test_size=100, seed=3)[2]
    assert resized.image_size == (16, 16) and np.array_equal(resized.images.numpy(), x_test)


def test_transform_changes_each_returned_image_only():
    flip = tt.RandomFlip(p=1.0)
    dataset = DigitsDataset(train=False, transform=flip)
    image, _ = dataset[3]
    assert torch.equal(image, torch.flip(dataset.images[3], dims=(-1,)))
    assert not torch.equal(image, dataset.images[3])  # the stored image is unchanged


# --------------------------------------------------------------------------- shapes
def test_shapes_dataset_serves_both_splits_of_one_generator():
    train = ShapesDataset(train=True, n_train=60, n_test=24, size=16, seed=2)
    test = ShapesDataset(train=False, n_train=60, n_test=24, size=16, seed=2)
    x_train, y_train, x_test, y_test = load_shapes_split(60, 24, seed=2, size=16)
    assert np.array_equal(train.images.numpy(), x_train) and np.array_equal(train.targets.numpy(), y_train)
    assert np.array_equal(test.images.numpy(), x_test) and np.array_equal(test.targets.numpy(), y_test)
    assert train.classes == SHAPE_CLASSES and test[0][0].shape == (3, 16, 16)
    subset = ShapesDataset(n_train=12, n_test=6, size=16, classes=("circle", "star"))
    assert subset.num_classes == 2 and set(subset.targets.tolist()) == {0, 1}


# --------------------------------------------------------------------------- patches
def test_patches_are_noisy_copies_of_photograph_patches():
    dataset = PatchesDataset(train=True, n=200, patch_size=16, noise=0.1, seed=1)
    assert len(dataset) == 200 and dataset.task == "reconstruction" and dataset.num_classes is None
    noisy, clean = dataset[0]
    assert noisy.shape == clean.shape == (1, 16, 16) and noisy.dtype == clean.dtype == torch.float32
    assert float(dataset.images.min()) >= 0.0 and float(dataset.images.max()) <= 1.0
    inside = (dataset.images > 0) & (dataset.images < 1)  # where the noise was not clipped
    residual = (dataset.images - dataset.targets)[inside]
    assert float(residual.std()) == pytest.approx(0.1, rel=0.1)
    assert abs(float(residual.mean())) < 0.01


def test_patches_of_the_two_splits_come_from_separate_rows():
    camera = sample_image("camera").astype(np.float32)  # 512 x 512
    split = int(TRAIN_SHARE_OF_ROWS * camera.shape[0])
    size = 8
    windows = np.lib.stride_tricks.sliding_window_view(camera, (size, size))  # (rows, cols, 8, 8)
    for train, allowed in ((True, range(0, split - size + 1)), (False, range(split, 512 - size + 1))):
        dataset = PatchesDataset(train=train, n=5, patch_size=size, noise=0.0,
                                 photographs=("camera",), seed=4)
        for clean in dataset.targets[:, 0].numpy():
            rows, _ = np.nonzero(np.all(windows == clean, axis=(2, 3)))
            assert len(rows) and set(rows) <= set(allowed)


def test_patches_depend_on_the_seed_and_check_their_arguments():
    a = PatchesDataset(n=10, patch_size=8, seed=0, photographs=("coins", "moon"))
    b = PatchesDataset(n=10, patch_size=8, seed=0, photographs=("coins", "moon"))
    c = PatchesDataset(n=10, patch_size=8, seed=1, photographs=("coins", "moon"))
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    colour = PatchesDataset(n=4, patch_size=8, gray=False, photographs=("coffee", "camera"))
    assert colour.in_channels == 3
    with pytest.raises(ValueError, match="patch_size=100 does not fit the test region of 'chelsea'"):
        PatchesDataset(train=False, n=4, patch_size=100, photographs=("chelsea",))
    with pytest.raises(ValueError, match="photographs must be one of"):
        PatchesDataset(n=4, photographs=("lena",))
    with pytest.raises(TypeError, match="photographs must be a sequence"):
        PatchesDataset(n=4, photographs="camera")
    with pytest.raises(ValueError, match="noise must be >= 0"):
        PatchesDataset(n=4, noise=-0.1)


# --------------------------------------------------------------------------- arguments
def test_datasets_check_their_arguments():
    with pytest.raises(TypeError, match="train must be a bool"):
        DigitsDataset(train="yes")
    with pytest.raises(TypeError, match="transform must be None or a callable"):
        DigitsDataset(transform=3)
    with pytest.raises(ValueError, match="size must be at least 8"):
        ShapesDataset(n_train=4, n_test=4, size=4)
    with pytest.raises(ValueError, match="background must be one of"):
        ShapesDataset(n_train=4, n_test=4, background="noise")
    with pytest.raises(TypeError, match="classes must be a sequence"):
        ShapesDataset(n_train=4, n_test=4, classes="circle")
    with pytest.raises(ValueError, match="images must have shape"):
        ArrayDataset(np.zeros((4, 8, 8), np.float32), np.zeros(4, int))
    with pytest.raises(TypeError, match="images must be a float array"):
        ArrayDataset(np.zeros((4, 1, 8, 8), int), np.zeros(4, int))
    with pytest.raises(ValueError, match="same number of samples"):
        ArrayDataset(np.zeros((4, 1, 8, 8), np.float32), np.zeros(3, int))
    with pytest.raises(ValueError, match="name must be one of 'digits', 'shapes', 'patches'"):
        make_dataset("mnist")
    with pytest.raises(TypeError, match="dataset must be a map-style torch Dataset"):
        make_loader([1, 2, 3])
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        make_loader(DigitsDataset(train=False), batch_size=0)


def test_every_named_dataset_has_a_task():
    assert DATASETS == ("digits", "shapes", "patches")
    assert [dataset_task(name) for name in DATASETS] == ["classification", "classification", "reconstruction"]
    assert make_dataset("patches", train=False, n=3, patch_size=8).task == dataset_task("patches")


# --------------------------------------------------------------------------- loaders
def loader_order(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return torch.cat([y for _, y in loader])


def test_the_training_order_depends_only_on_the_seed_and_the_epoch():
    dataset = ArrayDataset(torch.zeros(50, 1, 2, 2), torch.arange(50))
    first, second = (make_loader(dataset, batch_size=8, shuffle=True, seed=5) for _ in range(2))
    other_seed = make_loader(dataset, batch_size=8, shuffle=True, seed=6)
    torch.manual_seed(0)  # the global generator plays no part
    order = loader_order(first, 0)
    torch.manual_seed(1)
    assert torch.equal(order, loader_order(second, 0))
    assert sorted(order.tolist()) == list(range(50)) and not torch.equal(order, torch.arange(50))
    assert not torch.equal(order, loader_order(first, 1))
    assert not torch.equal(order, loader_order(other_seed, 0))
    assert torch.equal(loader_order(first, 1), loader_order(second, 1))


def test_evaluation_loaders_keep_the_order():
    dataset = ArrayDataset(torch.zeros(10, 1, 2, 2), torch.arange(10))
    loader = make_loader(dataset, batch_size=4)
    assert [len(y) for _, y in loader] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in loader]), torch.arange(10))


def test_each_process_gets_its_share(monkeypatch):
    dataset = ArrayDataset(torch.zeros(11, 1, 2, 2), torch.arange(11))
    shares, shuffled = [], []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        shares.append(torch.cat([y for _, y in make_loader(dataset, batch_size=4)]).tolist())
        train = make_loader(dataset, batch_size=4, shuffle=True, seed=0)
        assert isinstance(train.sampler, DistributedSampler) and train.sampler.num_replicas == 2
        shuffled.append(loader_order(train, 0).tolist())
    assert shares == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9]]  # every sample once: exact sums
    assert len(shuffled[0]) == len(shuffled[1]) == 6  # DistributedSampler pads to equal shares
    assert set(shuffled[0]) | set(shuffled[1]) == set(range(11))


def test_shard_sampler_checks_its_arguments():
    assert list(ShardSampler(7, 2, 3)) == [2, 5] and len(ShardSampler(7, 2, 3)) == 2
    with pytest.raises(ValueError, match="rank must be at most 2"):
        ShardSampler(7, 3, 3)
    with pytest.raises(ValueError, match="world_size must be at least 1"):
        ShardSampler(7, 0, 0)


def test_make_loaders_gives_the_two_splits():
    train, test = make_loaders("digits", batch_size=100, transform=tt.RandomTranslate(1))
    assert isinstance(train.dataset, DigitsDataset) and train.dataset.transform is not None
    assert test.dataset.transform is None
    assert (len(train.dataset), len(test.dataset)) == (1348, 449)
    x, y = next(iter(train))
    assert x.shape == (100, 1, 8, 8) and y.shape == (100,)
    assert [len(y) for _, y in test] == [100, 100, 100, 100, 49]
    shapes_train, shapes_test = make_loaders("shapes", batch_size=16, n_train=32, n_test=16, size=16)
    assert len(shapes_train.dataset) == 32 and shapes_test.dataset.image_size == (16, 16)


def test_importing_cnncourse_data_does_not_import_torch():
    code = ("import sys, cnncourse.data as d; assert 'torch' not in sys.modules; "
            "assert d.make_loaders.__module__ == 'cnncourse.data.datasets'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
