"""The course's data sets as PyTorch ``Dataset`` objects, and the loaders that feed training.

Three data sets, none downloaded, each with a training and a test split:

``"digits"`` (:class:`DigitsDataset`)
    scikit-learn's 1797 handwritten digits, 8 x 8 grey images, 10 classes
    (:func:`cnncourse.data.digits.load_digits_split`).
``"shapes"`` (:class:`ShapesDataset`)
    generated coloured shapes on varied backgrounds, 32 x 32 RGB, 6 classes
    (:func:`cnncourse.data.shapes.load_shapes_split`).
``"patches"`` (:class:`PatchesDataset`)
    random square patches of scikit-image's sample photographs with Gaussian noise added: the
    input is the noisy patch, the target the clean one, a denoising task for an autoencoder
    (task ``"reconstruction"``: the output is an image of the input's shape).

An item is a pair ``(image, target)`` of tensors: the image ``(C, H, W)`` float32 in
``[0, 1]``, the target an int64 class index or, for the patches, the clean image. An optional
``transform`` changes the image of every item it returns (a callable on a ``(C, H, W)`` tensor,
e.g. a :mod:`cnncourse.data.torch_transforms` augmentation); augmenting whole batches on the
device is cheaper: :func:`cnncourse.train.fit` takes such a transform as ``augment``.

:func:`make_loader` wraps a data set in a ``DataLoader`` whose order depends only on the seed
and the epoch (``sampler.set_epoch``), so that a resumed training sees the same batches, and
which gives each process of a ``torchrun`` job its own share of the samples.
:func:`make_loaders` does both splits of a named data set in one call.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from cnncourse import _checks
from cnncourse.data.digits import DIGIT_CLASSES, load_digits_split
from cnncourse.data.images import SAMPLE_IMAGES, sample_image
from cnncourse.data.shapes import BACKGROUNDS, SHAPE_CLASSES, load_shapes_split

DATASETS = ("digits", "shapes", "patches")
"""Names accepted by :func:`make_dataset` and :func:`make_loaders`."""

TRAIN_SHARE_OF_ROWS = 0.75
"""The patches of the training split come from the top 75 % of the rows of every photograph,
those of the test split from the bottom 25 %: the two splits share no pixel."""


def _check_transform(transform, name: str = "transform"):
    if transform is not None and not callable(transform):
        raise TypeError(f"{name} must be None or a callable on a (C, H, W) tensor, got "
                        f"{type(transform).__name__}")
    return transform


class ArrayDataset(Dataset):
    """Images and their targets held in memory, served as ``(image, target)`` tensor pairs.

    Args:
        images: array or tensor of images.
        targets: class labels (integers) or target images, one per image.
        transform: optional callable applied to each returned image ``(C, H, W)``.
        classes: names of the classes (a classification task) or ``None``.
        task: ``"classification"`` or the name of another task (``"reconstruction"``), as the
            models of :mod:`cnncourse.registry` name them.

    Shape:
        - images: ``(N, C, H, W)``, stored as float32
        - targets: ``(N,)`` int64 labels, or ``(N, ...)`` float32 target images

    Attributes:
        images, targets: the tensors (on the CPU).
        classes, task: as given.
    """

    def __init__(self, images, targets, transform=None, classes=None, task: str = "classification"):
        images = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        targets = torch.as_tensor(np.asarray(targets) if not torch.is_tensor(targets) else targets)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if not images.dtype.is_floating_point:
            raise TypeError(f"images must be a float array, got dtype {images.dtype}")
        if len(targets) != len(images):
            raise ValueError(f"images and targets must hold the same number of samples, got "
                             f"{len(images)} and {len(targets)}")
        if not isinstance(task, str):
            raise TypeError(f"task must be a str, got {type(task).__name__}")
        self.images = images.float().contiguous()
        self.targets = (targets.long() if not targets.dtype.is_floating_point else targets.float()).contiguous()
        self.transform = _check_transform(transform)
        self.classes = None if classes is None else tuple(classes)
        self.task = task

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]

    @property
    def num_classes(self) -> int | None:
        """Number of classes, ``None`` for a task without classes."""
        return None if self.classes is None else len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        extra = f", {self.num_classes} classes" if self.classes is not None else ""
        return f"{type(self).__name__}({len(self)} images {shape}, task={self.task!r}{extra})"


def _check_split(train) -> bool:
    return _checks.boolean(train, "train")


class DigitsDataset(ArrayDataset):
    """scikit-learn's handwritten digits, one split of :func:`~cnncourse.data.digits.load_digits_split`.

    Args:
        train: the training split (``True``) or the test split.
        transform: optional callable applied to each returned image.
        test_size: share (or number) of the 1797 images in the test split.
        seed: seed of the stratified split (the same for both splits!).
        size: resize the 8 x 8 images to ``size x size`` (``None`` keeps 8).

    Shape:
        Items ``(image (1, S, S) in [0, 1], label)`` with ``S = 8`` or ``size``.
    """

    TASK = "classification"

    def __init__(self, train: bool = True, transform=None, test_size=0.25, seed: int = 0,
                 size: int | None = None):
        train = _check_split(train)
        x_train, y_train, x_test, y_test = load_digits_split(test_size=test_size, seed=seed,
                                                             size=size)
        images, labels = (x_train, y_train) if train else (x_test, y_test)
        super().__init__(images, labels, transform, classes=DIGIT_CLASSES, task=self.TASK)


@functools.lru_cache(maxsize=4)
def _shapes_split(n_train, n_test, seed, size, classes, noise, background):
    return load_shapes_split(n_train, n_test, seed=seed, size=size, classes=classes, noise=noise,
                             background=background)


class ShapesDataset(ArrayDataset):
    """Generated shapes (:func:`~cnncourse.data.shapes.load_shapes_split`), one split.

    Both splits come from one generator seeded with ``seed`` and never share an image; the
    pair is computed once and cached, so building the test split after the training split is
    free.

    Args:
        train: the training split (``True``) or the test split.
        transform: optional callable applied to each returned image.
        n_train, n_test: images in the two splits.
        size: height and width of the images.
        seed: seed of the generator.
        classes: the shapes to draw (a subset of :data:`~cnncourse.data.shapes.SHAPE_CLASSES`).
        noise, background: see :func:`~cnncourse.data.shapes.make_shapes`.

    Shape:
        Items ``(image (3, size, size) in [0, 1], label)``.
    """

    TASK = "classification"

    def __init__(self, train: bool = True, transform=None, n_train: int = 3000, n_test: int = 600,
                 size: int = 32, seed: int = 0, classes=SHAPE_CLASSES, noise: float = 0.02,
                 background: str = "random"):
        train = _check_split(train)
        n_train = _checks.integer(n_train, "n_train", minimum=1)
        n_test = _checks.integer(n_test, "n_test", minimum=1)
        seed = _checks.integer(seed, "seed", minimum=0)
        size = _checks.integer(size, "size", minimum=8)
        noise = _checks.real(noise, "noise", minimum=0.0, maximum=1.0)
        _checks.check_choice(background, "background", ("random",) + BACKGROUNDS)
        if isinstance(classes, str) or not hasattr(classes, "__iter__"):
            raise TypeError(f"classes must be a sequence of shape names, got {classes!r}")
        classes = tuple(classes)
        x_train, y_train, x_test, y_test = _shapes_split(n_train, n_test, seed, size, classes,
                                                         noise, background)
        images, labels = (x_train, y_train) if train else (x_test, y_test)
        super().__init__(images, labels, transform, classes=classes, task=self.TASK)


@functools.lru_cache(maxsize=4)
def _photographs(names: tuple, gray: bool) -> tuple:
    photos = []
    for name in names:
        photo = sample_image(name, gray=gray)
        photo = photo[None] if photo.ndim == 2 else np.moveaxis(photo, -1, 0)
        if not gray and photo.shape[0] == 1:  # a grey photograph among colour ones
            photo = np.repeat(photo, 3, axis=0)
        photos.append(photo.astype(np.float32))
    return tuple(photos)


class PatchesDataset(ArrayDataset):
    r"""Noisy patches of scikit-image's sample photographs and their clean versions (denoising).

    Every item is a ``patch_size`` square cut at a random place of a random photograph and the
    same patch with Gaussian noise added and clipped to the range of the images:

    .. math:: x = \operatorname{clip}(y + \varepsilon,\ 0,\ 1), \qquad
       \varepsilon \sim \mathcal N(0, \sigma^2),

    with ``x`` the input and ``y`` the target. The training patches come from the top
    :data:`TRAIN_SHARE_OF_ROWS` of the rows of every photograph and the test patches from the
    rest, so the splits share no pixel. Positions and noise are drawn once from ``seed``.

    Args:
        train: the training split (``True``) or the test split.
        transform: optional callable applied to each returned (noisy) image.
        n: number of patches (default 2000 for training, 500 for testing).
        patch_size: height and width of the patches, at most the height of the test region.
        noise: the standard deviation ``sigma``.
        photographs: names from :data:`~cnncourse.data.images.SAMPLE_IMAGES`.
        gray: grey patches (1 channel) or colour ones (3 channels; grey photographs repeated).
        seed: seed of the positions and the noise (the two splits use different streams).

    Shape:
        Items ``(noisy (C, p, p), clean (C, p, p))``, float32 in ``[0, 1]``.
    """

    TASK = "reconstruction"

    def __init__(self, train: bool = True, transform=None, n: int | None = None,
                 patch_size: int = 32, noise: float = 0.1, photographs=SAMPLE_IMAGES,
                 gray: bool = True, seed: int = 0):
        train = _check_split(train)
        n = (2000 if train else 500) if n is None else _checks.integer(n, "n", minimum=1)
        patch_size = _checks.integer(patch_size, "patch_size", minimum=1)
        noise = _checks.real(noise, "noise", minimum=0.0)
        gray = _checks.boolean(gray, "gray")
        seed = _checks.integer(seed, "seed", minimum=0)
        if isinstance(photographs, str) or not hasattr(photographs, "__iter__"):
            raise TypeError(f"photographs must be a sequence of names, got {photographs!r}")
        photographs = tuple(photographs)
        if not photographs:
            raise ValueError("photographs must name at least one photograph, got an empty sequence")
        for name in photographs:
            _checks.check_choice(name, "photographs", SAMPLE_IMAGES)
        photos = _photographs(photographs, gray)
        regions = []
        for name, photo in zip(photographs, photos):
            height, width = photo.shape[1:]
            split = int(TRAIN_SHARE_OF_ROWS * height)
            rows = (0, split) if train else (split, height)
            if rows[1] - rows[0] < patch_size or width < patch_size:
                raise ValueError(f"patch_size={patch_size} does not fit the {'training' if train else 'test'} "
                                 f"region of {name!r} ({rows[1] - rows[0]} x {width} pixels)")
            regions.append(rows)
        rng = np.random.default_rng([seed, int(train)])
        which = rng.integers(0, len(photos), n)
        clean = np.empty((n, photos[0].shape[0], patch_size, patch_size), np.float32)
        for index, k in enumerate(which):
            (low, high), photo = regions[k], photos[k]
            top = rng.integers(low, high - patch_size + 1)
            left = rng.integers(0, photo.shape[2] - patch_size + 1)
            clean[index] = photo[:, top:top + patch_size, left:left + patch_size]
        noisy = np.clip(clean + noise * rng.standard_normal(clean.shape, dtype=np.float32), 0.0, 1.0)
        super().__init__(noisy, clean, transform, classes=None, task=self.TASK)
        self.noise = noise
        self.photographs = photographs


# --------------------------------------------------------------------------- loaders
class ShardSampler(Sampler):
    """Indices ``rank, rank + world_size, ...`` in order: this process's share of a data set.

    Every sample is visited by exactly one process and none twice (unlike
    ``DistributedSampler``, which repeats samples to give every process the same count), so
    sums over the processes give exact totals for evaluation. With one process it is the
    sequential order.
    """

    def __init__(self, length: int, rank: int = 0, world_size: int = 1):
        self.length = _checks.integer(length, "length", minimum=0)
        self.world_size = _checks.integer(world_size, "world_size", minimum=1)
        self.rank = _checks.integer(rank, "rank", minimum=0, maximum=self.world_size - 1)

    def __iter__(self):
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: the order never changes (present so that loops can call it)."""


def make_loader(dataset, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False, pin_memory: bool = False) -> DataLoader:
    """A ``DataLoader`` over this process's share of ``dataset``.

    With ``shuffle=True`` the order is a permutation drawn from ``seed + epoch`` by a
    ``DistributedSampler``; call ``loader.sampler.set_epoch(epoch)`` before every epoch
    (:func:`cnncourse.train.fit` does) to get a new order that depends on nothing else, which
    makes an interrupted and resumed training see the same batches. Without shuffling the
    samples come in order (:class:`ShardSampler`). Under ``torchrun`` the process ``rank`` of
    ``world_size`` gets every ``world_size``-th sample (read from ``torch.distributed`` or
    from the ``RANK`` and ``WORLD_SIZE`` variables); alone it gets everything.

    Args:
        dataset: a map-style ``Dataset``.
        batch_size: samples per batch.
        shuffle: a new random order every epoch (training) or the fixed order (evaluation).
        seed: seed of the order.
        num_workers: worker processes loading the batches (0: in this process).
        drop_last: drop the last, smaller batch.
        pin_memory: page-locked batches, for faster copies to a CUDA device.
    """
    from cnncourse.train import rank_and_world_size

    if not isinstance(dataset, Dataset) or not hasattr(dataset, "__len__"):
        raise TypeError(f"dataset must be a map-style torch Dataset with a length, got "
                        f"{type(dataset).__name__}")
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
    shuffle = _checks.boolean(shuffle, "shuffle")
    seed = _checks.integer(seed, "seed", minimum=0)
    num_workers = _checks.integer(num_workers, "num_workers", minimum=0)
    drop_last = _checks.boolean(drop_last, "drop_last")
    pin_memory = _checks.boolean(pin_memory, "pin_memory")
    rank, world_size = rank_and_world_size()
    if shuffle:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                     seed=seed, drop_last=drop_last)
    else:
        sampler = ShardSampler(len(dataset), rank, world_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=getattr(dataset, "collate_fn", None),
                      drop_last=drop_last, pin_memory=pin_memory)


_DATASET_CLASSES = {"digits": DigitsDataset, "shapes": ShapesDataset, "patches": PatchesDataset}


def dataset_task(name: str) -> str:
    """The task of the data set ``name``: ``"classification"`` or ``"reconstruction"`` (the
    ``task`` of the registered models that fit it)."""
    _checks.check_choice(name, "name", DATASETS)
    return _DATASET_CLASSES[name].TASK


def make_dataset(name: str, train: bool = True, transform=None, **options) -> ArrayDataset:
    """The split ``train`` of the data set ``name`` (one of :data:`DATASETS`).

    ``options`` go to the data set's class (``size=16`` for the digits, ``n_train=...`` for the
    shapes, ``patch_size=...`` for the patches, ...).
    """
    _checks.check_choice(name, "name", DATASETS)
    return _DATASET_CLASSES[name](train=train, transform=transform, **options)


def make_loaders(name: str, batch_size: int = 64, seed: int = 0, num_workers: int = 0,
                 transform=None, pin_memory: bool = False, **options) -> tuple[DataLoader, DataLoader]:
    """Loaders of the training split (shuffled, with ``transform``) and the test split (in order).

    Args:
        name: one of :data:`DATASETS`.
        batch_size: samples per batch, for both loaders.
        seed: seed of the training order (see :func:`make_loader`); the split itself is fixed
            by the data set's own ``seed`` option.
        num_workers, pin_memory: see :func:`make_loader`.
        transform: per-item augmentation of the training images.
        options: passed to the data set's class for both splits.

    Returns:
        ``(train_loader, test_loader)``; ``loader.dataset`` is the data set.
    """
    train_set = make_dataset(name, train=True, transform=transform, **options)
    test_set = make_dataset(name, train=False, **options)
    common = dict(batch_size=batch_size, seed=seed, num_workers=num_workers, pin_memory=pin_memory)
    return make_loader(train_set, shuffle=True, **common), make_loader(test_set, shuffle=False, **common)
