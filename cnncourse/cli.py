"""The command line of the package: ``python -m cnncourse train ...``.

.. code-block:: text

    python -m cnncourse train --model lenet --data digits --epochs 5 --device auto
    python -m cnncourse train --help
    torchrun --nproc_per_node=2 -m cnncourse train --model lenet --data digits

``train`` builds a registered model (:func:`cnncourse.registry.get_model`) for one of the
course's data sets (:mod:`cnncourse.data.datasets`), trains it with :func:`cnncourse.train.fit`
and prints the device, a progress bar per epoch and the final result on the test split (its
accuracy for a classification, its loss otherwise). Under ``torchrun`` every process runs the
same command and only process 0 prints.
"""

from __future__ import annotations

import argparse
import sys

AUGMENTATION_NAMES = ("translate", "crop", "photometric", "scale", "rotation", "flip",
                      "salt_and_pepper")
"""Names accepted by ``--augment`` (the augmentations of :mod:`cnncourse.data.torch_transforms`)."""


def _augmentation(names: str, image_size: tuple[int, int]):
    """A Compose of the named torch augmentations, with strengths suited to ``image_size``."""
    from cnncourse.data import torch_transforms as tt

    shift = max(1, min(image_size) // 8)
    factories = {
        "translate": lambda: tt.RandomTranslate(max_shift=shift),
        "crop": lambda: tt.RandomCrop(padding=shift),
        "photometric": lambda: tt.RandomPhotometric(),
        "scale": lambda: tt.RandomScale(0.9, 1.1),
        "rotation": lambda: tt.RandomRotation(15.0),
        "flip": lambda: tt.RandomFlip(),
        "salt_and_pepper": lambda: tt.SaltAndPepper(0.02),
    }
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    for name in chosen:
        if name not in factories:
            raise ValueError(f"--augment must list names from {', '.join(AUGMENTATION_NAMES)}; "
                             f"got {name!r}")
    return tt.Compose([factories[name]() for name in chosen]) if chosen else None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, unless it has none worth showing (None or empty)."""

    def _get_help_string(self, action):
        if action.default in (None, "") or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cnncourse``."""
    from cnncourse.data.datasets import DATASETS
    from cnncourse.registry import list_models
    from cnncourse.train import OPTIMIZERS, SCHEDULERS, TrainConfig

    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m cnncourse",
        description="Command line of the cnncourse package (the code behind the CNN course).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser(
        "train", help="train a registered model on one of the course's data sets",
        description="Train a registered model on one of the course's data sets and report its "
                    "result on the test split. Runs on one device, or on several processes under "
                    "torchrun --nproc_per_node=N -m cnncourse train ...",
        formatter_class=_HelpFormatter)
    what = train.add_argument_group("model and data")
    what.add_argument("--model", default="lenet", choices=list_models(), metavar="NAME",
                      help=f"registered model: {', '.join(list_models())}")
    what.add_argument("--data", default="digits", choices=DATASETS, help="data set")
    what.add_argument("--image-size", type=int, default=None, metavar="S",
                      help="image size: digits resized to S x S, shapes drawn S x S, patches of "
                           "S x S (when omitted, the data set's own size)")
    what.add_argument("--augment", default="", metavar="NAMES",
                      help=f"comma-separated augmentations applied on the device to every "
                           f"training batch: {', '.join(AUGMENTATION_NAMES)}")
    how = train.add_argument_group("training")
    how.add_argument("--epochs", type=int, default=5, help="passes over the training data")
    how.add_argument("--batch-size", type=int, default=defaults.batch_size,
                     help="samples per step and process")
    how.add_argument("--lr", type=float, default=defaults.lr, help="learning rate")
    how.add_argument("--optimizer", default=defaults.optimizer, choices=OPTIMIZERS)
    how.add_argument("--momentum", type=float, default=defaults.momentum, help="momentum of SGD")
    how.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    how.add_argument("--scheduler", default="none", choices=("none",) + SCHEDULERS,
                     help="learning-rate schedule, stepped every epoch")
    how.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                     help="stop after PATIENCE epochs without a better test loss")
    how.add_argument("--seed", type=int, default=defaults.seed, help="seed of every random generator")
    where = train.add_argument_group("device and files")
    where.add_argument("--device", default="auto",
                       help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps")
    where.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                       help="automatic mixed precision (when omitted, on for CUDA and off elsewhere)")
    where.add_argument("--num-workers", type=int, default=defaults.num_workers,
                       help="data loading processes")
    where.add_argument("--checkpoint", default=None, metavar="PATH",
                       help="save checkpoints there ('{epoch}' in PATH keeps one per epoch)")
    where.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                       metavar="N", help="save a checkpoint every N epochs")
    where.add_argument("--resume", default=None, metavar="PATH",
                       help="continue the training saved in this checkpoint")
    where.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                       help="show a progress bar per epoch")
    train.set_defaults(run=lambda args: train_command(args, train))
    return parser


def train_command(args, parser: argparse.ArgumentParser) -> int:
    """Run ``python -m cnncourse train`` with parsed ``args``."""
    import torch.nn.functional as F

    from cnncourse.data.datasets import dataset_task, make_loaders
    from cnncourse.registry import list_models, model_info, resolve
    from cnncourse.train import (TrainConfig, cleanup_distributed, evaluate, fit,
                                 rank_and_world_size, seed_everything, select_device)

    task, wanted = model_info(args.model)["task"], dataset_task(args.data)
    if task != wanted:
        fitting = ", ".join(list_models(task=wanted)) or "none registered yet"
        parser.error(f"--model {args.model} is a {task} model but --data {args.data} is a "
                     f"{wanted} task; models for it: {fitting}")
    try:
        config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
            momentum=args.momentum, weight_decay=args.weight_decay,
            scheduler=None if args.scheduler == "none" else args.scheduler, device=args.device,
            amp=args.amp, seed=args.seed, num_workers=args.num_workers,
            checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume,
            early_stopping=args.early_stopping, progress=args.progress)
        device = select_device(config.device)
        options = {}
        if args.image_size is not None:
            options["patch_size" if args.data == "patches" else "size"] = args.image_size
        train_loader, test_loader = make_loaders(args.data, batch_size=config.batch_size,
                                                 seed=config.seed, num_workers=config.num_workers,
                                                 pin_memory=device.type == "cuda", **options)
    except (TypeError, ValueError) as error:
        parser.error(str(error))

    dataset = train_loader.dataset
    height, width = dataset.image_size
    try:
        augment = _augmentation(args.augment, (height, width))
    except ValueError as error:
        parser.error(str(error))

    seed_everything(config.seed)
    model = _build_model(args.model, dataset, parser)
    loss, metrics = (None, None) if dataset.task == "classification" else (F.mse_loss, {})
    own_loss = model_info(args.model).get("loss")
    if own_loss:  # e.g. GoogLeNet: its auxiliary classifiers add to the loss in training
        loss = resolve(own_loss)

    rank, world_size = rank_and_world_size()
    if rank == 0:
        amp = device.type == "cuda" and config.amp is not False
        name = f" ({_device_name(device)})" if device.type != "cpu" else ""
        print(f"device: {device}{name}, mixed precision: {'on' if amp else 'off'}, "
              f"processes: {world_size}")
        parameters = sum(p.numel() for p in model.parameters())
        shape = "x".join(str(s) for s in dataset.images.shape[1:])
        print(f"model: {args.model} ({parameters:,} parameters); data: {args.data} "
              f"({len(dataset)} training, {len(test_loader.dataset)} test images {shape})",
              flush=True)

    history = fit(model, train_loader, test_loader, config, loss=loss, metrics=metrics,
                  augment=augment)
    result = evaluate(model, test_loader, loss=loss, metrics=metrics)
    if rank == 0:
        seconds = sum(history.time)
        if "accuracy" in result:
            print(f"test accuracy: {result['accuracy']:.4f} (test loss {result['loss']:.4f}, "
                  f"{history.epochs} epochs, {seconds:.1f} s)")
        else:
            print(f"test loss: {result['loss']:.6f} ({history.epochs} epochs, {seconds:.1f} s)")
    cleanup_distributed()
    return 0


def _build_model(name: str, dataset, parser):
    """Build the registered model ``name`` for the images and classes of ``dataset``.

    Gives the builder the arguments it takes among ``num_classes``, ``in_channels`` and the
    image size (``input_size`` or ``image_size``: an int for square images, else ``(H, W)``).
    """
    import inspect

    from cnncourse.registry import get_model, model_info

    height, width = dataset.image_size
    wanted = {"num_classes": dataset.num_classes, "in_channels": dataset.in_channels,
              "input_size": height if height == width else (height, width)}
    wanted["image_size"] = wanted["input_size"]
    parameters = inspect.signature(model_info(name)["builder"]).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        accepted = set(wanted) - {"image_size"}
    else:
        accepted = set(parameters)
    arguments = {key: value for key, value in wanted.items() if key in accepted and value is not None}
    try:
        return get_model(name, **arguments)
    except (TypeError, ValueError) as error:
        parser.error(f"--model {name} cannot be built for --data images of {dataset.in_channels} x "
                     f"{height} x {width}: {error}")


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU"
    return device.type


def main(argv=None) -> int:
    """Entry point of ``python -m cnncourse``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return args.run(args)
