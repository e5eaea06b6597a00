"""The CNN use cases of the course, trained and scored in one place, with committed checkpoints.

Six use cases, one model family each (:mod:`cnncourse.models`), all on the generated scenes of
:mod:`cnncourse.data.scene_datasets` (nothing is downloaded, ever):

======================  ====================  ======================  ==============================
task                    model                 data set                headline metric (target)
======================  ====================  ======================  ==============================
segmentation            ``unet``              SegmentationScenes      mean IoU (>= 0.80)
localization            ``localization_net``  LocalizationScenes      mean box IoU (>= 0.75)
detection               ``centernet``         DetectionScenes         mAP@0.5 (>= 0.70)
instance_segmentation   ``instance_segmenter``  InstanceScenes        mask mAP@0.5 (>= 0.60)
pose                    ``pose_net``          PoseScenes              PCK@0.2 (>= 0.80)
style_transfer          ``style_features``    (the localization net's trained backbone)
======================  ====================  ======================  ==============================

Every trainable use case has a fixed :class:`Budget` (epochs, batch size, learning rate, number
of training scenes, seed): :func:`train_usecase` builds the model, trains it with
:func:`cnncourse.train.fit` and scores it on the held-out test scenes with the task's
evaluation (:func:`evaluate_usecase`). The checkpoints committed under
``cnncourse/checkpoints/`` were made by the same function
(``python -m cnncourse.usecases train all``); :func:`load_pretrained` loads one (float16
weights, cast back to float32), never downloading anything, and :func:`checkpoint_records`
gives what was measured when it was made (metrics, wall time, budget, seed, machine).

Command line::

    python -m cnncourse.usecases train segmentation [--epochs 4] [--threads 2] [--no-save]
    python -m cnncourse.usecases train all
    python -m cnncourse.usecases evaluate all          # the committed checkpoints
    python -m cnncourse.usecases records               # the recorded training runs

The quality benchmark ``python -m cnncourse.bench usecases`` trains every use case with its
budget and prints the reached metrics next to the targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnncourse import _checks

TASKS = ("segmentation", "localization", "detection", "instance_segmentation", "pose")
"""The use cases with a model trained here, in the order of the book's chapters."""

STYLE_TRANSFER = "style_transfer"
"""Style transfer trains nothing of its own: it uses the localization network's backbone."""

ALL_TASKS = TASKS + (STYLE_TRANSFER,)

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
"""Where the committed checkpoints and their records live (package data)."""

RECORDS_FILE = "records.json"

DATA_SEED = 0
"""Seed of every scene data set: the test scenes are always the same, and the training scenes
come from an independent stream of the same seed (see :mod:`cnncourse.data.scene_datasets`)."""


@dataclass(frozen=True)
class Budget:
    """What one training run may spend: fixed, so that its result can be reproduced.

    Attributes:
        epochs: passes over the training scenes.
        batch_size: scenes per step.
        lr: Adam's learning rate (lowered to 0 along a cosine over the epochs).
        n_train: training scenes.
        n_test: held-out test scenes for the evaluation.
        seed: seed of the weights' initialisation and of the order of the batches.
        weight_decay: decoupled weight decay (AdamW when positive).
    """

    epochs: int
    batch_size: int
    lr: float
    n_train: int
    n_test: int = 500
    seed: int = 0
    weight_decay: float = 0.0

    def __post_init__(self):
        _checks.integer(self.epochs, "epochs", minimum=1)
        _checks.integer(self.batch_size, "batch_size", minimum=1)
        _checks.real(self.lr, "lr", minimum=0.0, open_minimum=True)
        _checks.integer(self.n_train, "n_train", minimum=1)
        _checks.integer(self.n_test, "n_test", minimum=1)
        _checks.integer(self.seed, "seed", minimum=0)
        _checks.real(self.weight_decay, "weight_decay", minimum=0.0)


@dataclass(frozen=True)
class UseCase:
    """One use case: its model, data, loss, evaluation, headline metric and budget.

    Attributes:
        task: the name (one of :data:`ALL_TASKS`).
        model: the registered model name (:func:`cnncourse.registry.get_model`).
        dataset: the key of :data:`cnncourse.data.scene_datasets.SCENE_DATASETS`.
        dataset_options: extra arguments of the data set (``normalize_boxes``, ``stride``, ...).
        metric: the key of the headline metric in the evaluation's result.
        target: the value the headline metric should reach with the budget.
        budget: the default :class:`Budget`.
        chapter: the book chapter.
        model_options: arguments of the model's builder (``widths``, ...) for this use case.
    """

    task: str
    model: str
    dataset: str
    metric: str
    target: float
    budget: Budget
    chapter: str
    dataset_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)


USECASES = {
    "segmentation": UseCase(
        "segmentation", "unet", "segmentation", "mean_iou", 0.80, chapter="book/13-segmentation",
        budget=Budget(epochs=6, batch_size=16, lr=5e-3, n_train=2000)),
    "localization": UseCase(
        "localization", "localization_net", "localization", "mean_iou", 0.75,
        chapter="book/14-localization", dataset_options={"normalize_boxes": True},
        budget=Budget(epochs=6, batch_size=32, lr=3e-3, n_train=4000)),
    "detection": UseCase(
        "detection", "centernet", "detection", "map_50", 0.70, chapter="book/15-detection",
        budget=Budget(epochs=6, batch_size=16, lr=5e-3, n_train=3000)),
    "instance_segmentation": UseCase(
        "instance_segmentation", "instance_segmenter", "instances", "mask_map_50", 0.60,
        chapter="book/16-instance-segmentation",
        budget=Budget(epochs=8, batch_size=16, lr=5e-3, n_train=3000)),
    "pose": UseCase(
        "pose", "pose_net", "pose", "pck", 0.80, chapter="book/17-pose",
        dataset_options={"target": "heatmaps", "stride": 2, "sigma": 1.0},
        budget=Budget(epochs=8, batch_size=16, lr=5e-3, n_train=3000)),
}
"""The trainable use cases by task."""


def _task(task: str, allowed=TASKS) -> str:
    if not isinstance(task, str):
        raise TypeError(f"task must be a str, one of {', '.join(allowed)}; got {type(task).__name__}")
    return _checks.check_choice(task, "task", allowed)


def make_datasets(task: str, n_train: int | None = None, n_test: int | None = None):
    """The training and test scenes of a use case (``None``: the budget's numbers).

    Returns:
        ``(train_set, test_set)``, :mod:`cnncourse.data.scene_datasets` data sets.
    """
    from cnncourse.data.scene_datasets import SCENE_DATASETS

    usecase = USECASES[_task(task)]
    n_train = usecase.budget.n_train if n_train is None else _checks.integer(n_train, "n_train", minimum=1)
    n_test = usecase.budget.n_test if n_test is None else _checks.integer(n_test, "n_test", minimum=1)
    cls = SCENE_DATASETS[usecase.dataset]
    return (cls(train=True, n=n_train, seed=DATA_SEED, **usecase.dataset_options),
            cls(train=False, n=n_test, seed=DATA_SEED, **usecase.dataset_options))


def make_test_set(task: str, n_test: int | None = None):
    """Only the held-out test scenes of a use case (cheaper than :func:`make_datasets`)."""
    from cnncourse.data.scene_datasets import SCENE_DATASETS

    usecase = USECASES[_task(task)]
    n_test = usecase.budget.n_test if n_test is None else _checks.integer(n_test, "n_test", minimum=1)
    return SCENE_DATASETS[usecase.dataset](train=False, n=n_test, seed=DATA_SEED,
                                           **usecase.dataset_options)


def build_model(task: str, **options) -> torch.nn.Module:
    """A new (untrained) model of a use case, from the registry, built with the use case's
    ``model_options``; ``options`` add to or replace them."""
    from cnncourse.registry import get_model

    task = _task(task, ALL_TASKS)
    if task == STYLE_TRANSFER:
        return get_model("style_features", **options)
    usecase = USECASES[task]
    return get_model(usecase.model, **{**usecase.model_options, **options})


def make_loss(task: str, model: torch.nn.Module):
    """The training loss ``loss(outputs, targets)`` of a use case, set up for ``model``."""
    task = _task(task)
    if task == "segmentation":
        from cnncourse.models.segmentation import segmentation_loss

        return segmentation_loss
    if task == "localization":
        from cnncourse.models.localization import LocalizationLoss

        return LocalizationLoss()
    if task == "detection":
        from cnncourse.models.detection import CenterNetLoss

        return CenterNetLoss(stride=model.stride)
    if task == "instance_segmentation":
        from cnncourse.models.instance import InstanceLoss

        return InstanceLoss(stride=model.stride)
    from cnncourse.models.pose import heatmap_loss

    return heatmap_loss


def evaluate_usecase(task: str, model: torch.nn.Module, dataset=None, batch_size: int = 64) -> dict:
    """Score a model of a use case on its test scenes (``dataset``; default: the budget's).

    The evaluations are those of the model modules: :func:`~cnncourse.models.segmentation.evaluate_segmentation`,
    :func:`~cnncourse.models.localization.evaluate_localization`,
    :func:`~cnncourse.models.detection.evaluate_detector`,
    :func:`~cnncourse.models.instance.evaluate_instances` and
    :func:`~cnncourse.models.pose.evaluate_pose`.

    Returns:
        The evaluation's dict; ``result[USECASES[task].metric]`` is the headline metric.
    """
    task = _task(task)
    if dataset is None:
        dataset = make_test_set(task)
    if task == "segmentation":
        from cnncourse.models.segmentation import evaluate_segmentation as evaluate
    elif task == "localization":
        from cnncourse.models.localization import evaluate_localization as evaluate
    elif task == "detection":
        from cnncourse.models.detection import evaluate_detector as evaluate
    elif task == "instance_segmentation":
        from cnncourse.models.instance import evaluate_instances as evaluate
    else:
        from cnncourse.models.pose import evaluate_pose as evaluate
    return evaluate(model, dataset, batch_size=batch_size)


@dataclass
class TrainedUseCase:
    """The result of :func:`train_usecase`.

    Attributes:
        task: the use case.
        model: the trained model (in evaluation mode, on the training device).
        metrics: the evaluation on the test scenes (:func:`evaluate_usecase`).
        train_seconds: wall time of the training (data generation and evaluation excluded).
        train_cpu_seconds: CPU time this process spent training (all its threads together): on
            a machine shared with other work it is a steadier measure than the wall time.
        data_seconds, eval_seconds: wall times of making the scenes and of the evaluation.
        budget: the :class:`Budget` used.
        history: the :class:`cnncourse.train.History` of the run.
        device: where it ran.
        threads: PyTorch's CPU threads during the run.
    """

    task: str
    model: torch.nn.Module
    metrics: dict
    train_seconds: float
    train_cpu_seconds: float
    data_seconds: float
    eval_seconds: float
    budget: Budget
    history: object
    device: str
    threads: int

    @property
    def value(self) -> float:
        """The headline metric."""
        return float(self.metrics[USECASES[self.task].metric])

    def record(self) -> dict:
        """What :func:`save_checkpoint` writes to the records (JSON-ready)."""
        usecase = USECASES[self.task]
        from cnncourse.bench import environment

        return {"task": self.task, "model": usecase.model, "metric": usecase.metric,
                "value": round(self.value, 4), "target": usecase.target,
                "metrics": _rounded(self.metrics), "train_seconds": round(self.train_seconds, 1),
                "train_cpu_seconds": round(self.train_cpu_seconds, 1),
                "data_seconds": round(self.data_seconds, 1), "eval_seconds": round(self.eval_seconds, 1),
                "budget": dataclasses.asdict(self.budget), "seed": self.budget.seed,
                "data_seed": DATA_SEED, "final_train_loss": round(self.history.train_loss[-1], 4),
                "train_loss": [round(float(loss), 4) for loss in self.history.train_loss],
                "epoch_seconds": [round(float(seconds), 1) for seconds in self.history.time],
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "device": self.device, "threads": self.threads, "environment": environment(),
                "python": platform.python_version(), "torch": torch.__version__,
                "date": time.strftime("%Y-%m-%d")}


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


def train_usecase(task: str, budget: Budget | None = None, device="auto", progress: bool = False,
                  evaluate: bool = True, **overrides) -> TrainedUseCase:
    """Train the model of a use case with a fixed budget and score it on the test scenes.

    Args:
        task: one of :data:`TASKS`.
        budget: a :class:`Budget` (default: the use case's).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ... (:func:`cnncourse.train.select_device`).
        progress: show a progress bar per epoch.
        evaluate: score the model on the test scenes (else ``metrics`` is empty).
        overrides: fields of the budget to change (``epochs=2``).

    Returns:
        A :class:`TrainedUseCase`.
    """
    from cnncourse.train import TrainConfig, fit, seed_everything, select_device

    usecase = USECASES[_task(task)]
    if budget is None:
        budget = usecase.budget
    elif not isinstance(budget, Budget):
        raise TypeError(f"budget must be a Budget or None, got {type(budget).__name__}")
    budget = dataclasses.replace(budget, **overrides)
    progress = _checks.boolean(progress, "progress")
    device = select_device(device)

    start = time.perf_counter()
    train_set, test_set = make_datasets(task, budget.n_train, budget.n_test)
    data_seconds = time.perf_counter() - start

    seed_everything(budget.seed)
    model = build_model(task)
    config = TrainConfig(epochs=budget.epochs, batch_size=budget.batch_size, lr=budget.lr,
                         optimizer="adamw" if budget.weight_decay > 0 else "adam",
                         weight_decay=budget.weight_decay, scheduler="cosine", device=device,
                         seed=budget.seed, progress=progress)
    start, start_cpu = time.perf_counter(), time.process_time()
    history = fit(model, train_set, config=config, loss=make_loss(task, model), metrics={})
    train_seconds = time.perf_counter() - start
    train_cpu_seconds = time.process_time() - start_cpu
    model.eval()

    start = time.perf_counter()
    metrics = evaluate_usecase(task, model, test_set) if evaluate else {}
    eval_seconds = time.perf_counter() - start
    return TrainedUseCase(task=task, model=model, metrics=metrics, train_seconds=train_seconds,
                          train_cpu_seconds=train_cpu_seconds, data_seconds=data_seconds, eval_seconds=eval_seconds, budget=budget,
                          history=history, device=str(device), threads=torch.get_num_threads())


# --------------------------------------------------------------------------- checkpoints
def checkpoint_path(task: str) -> Path:
    """The file of a use case's committed checkpoint."""
    return CHECKPOINT_DIR / f"{_task(task)}.pt"


def save_checkpoint(trained: TrainedUseCase, directory=None, dtype=torch.float16) -> Path:
    """Write a trained model's weights (floating-point tensors as ``dtype``, float16 by default,
    to keep the files small) and add its record to ``records.json`` beside it.

    The record's metrics are measured again on the weights *as saved* (after the cast), so that
    they are what :func:`load_pretrained` gives.

    Returns:
        The checkpoint's path.
    """
    if not isinstance(trained, TrainedUseCase):
        raise TypeError(f"trained must be a TrainedUseCase (from train_usecase), got "
                        f"{type(trained).__name__}")
    directory = CHECKPOINT_DIR if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    usecase = USECASES[trained.task]
    state = {key: (value.detach().to("cpu", dtype) if value.is_floating_point() else value.detach().cpu())
             for key, value in trained.model.state_dict().items()}
    path = directory / f"{trained.task}.pt"
    partial = path.with_name(path.name + ".partial")
    torch.save({"task": trained.task, "model": usecase.model, "state_dict": state}, partial)
    os.replace(partial, path)

    record = trained.record()
    reloaded = load_pretrained(trained.task, directory=directory)
    record["metrics_before_cast"] = record["metrics"]
    record["metrics"] = _rounded(evaluate_usecase(trained.task, reloaded,
                                                  make_test_set(trained.task, trained.budget.n_test)))
    record["value"] = round(float(record["metrics"][usecase.metric]), 4)
    record["checkpoint"] = path.name
    record["checkpoint_bytes"] = path.stat().st_size
    record["weights_dtype"] = str(dtype).replace("torch.", "")
    with _locked(directory):  # runs of several tasks may finish at the same time
        records = checkpoint_records(directory) if (directory / RECORDS_FILE).exists() else {}
        records[trained.task] = record
        text = json.dumps({task: records[task] for task in TASKS if task in records}, indent=2)
        partial = directory / (RECORDS_FILE + ".partial")
        partial.write_text(text + "\n")
        os.replace(partial, directory / RECORDS_FILE)
    return path


class _locked:
    """An exclusive lock on a directory for the duration of a ``with`` block (POSIX ``flock``;
    nothing elsewhere)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def __enter__(self):
        self.descriptor = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.descriptor = os.open(self.directory, os.O_RDONLY)
        fcntl.flock(self.descriptor, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing releases the lock
        return False


def checkpoint_records(directory=None) -> dict:
    """The records of the committed checkpoints: ``{task: record}`` with the metrics measured
    on the saved weights, the wall time, budget and seed of the training run, the parameter
    count, the file size and the machine."""
    directory = CHECKPOINT_DIR if directory is None else Path(directory)
    path = directory / RECORDS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint records at {path}; train the use cases with "
                                "`python -m cnncourse.usecases train all`")
    return json.loads(path.read_text())


def load_pretrained(task: str, device="cpu", directory=None) -> torch.nn.Module:
    """The committed trained model of a use case, in evaluation mode (never downloads anything).

    For ``"style_transfer"`` this is the frozen feature network
    (:func:`cnncourse.models.style.feature_net_from`) built from the trained localization
    network's backbone.

    Args:
        task: one of :data:`ALL_TASKS`.
        device: where to put the model (:func:`cnncourse.train.select_device`).
        directory: where the checkpoints are (default :data:`CHECKPOINT_DIR`).

    Raises:
        FileNotFoundError: the checkpoint has not been made (train it first).
    """
    from cnncourse.train import select_device

    task = _task(task, ALL_TASKS)
    device = select_device(device)
    if task == STYLE_TRANSFER:
        from cnncourse.models.style import feature_net_from

        return feature_net_from(load_pretrained("localization", device, directory))
    directory = CHECKPOINT_DIR if directory is None else Path(directory)
    path = directory / f"{task}.pt"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint for {task!r} at {path}; make it with "
                                f"`python -m cnncourse.usecases train {task}`")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(task)
    state = model.state_dict()
    model.load_state_dict({key: value.to(state[key].dtype) for key, value in saved["state_dict"].items()})
    return model.to(device).eval()


# --------------------------------------------------------------------------- command line
def _tasks(names: list, allowed=TASKS) -> list:
    if names == ["all"]:
        return list(allowed)
    return [_task(name, allowed) for name in names]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncourse.usecases",
                                     description="Train, evaluate and list the use-case models.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train use cases with their budgets and save them")
    train.add_argument("tasks", nargs="+", help=f"'all' or some of {', '.join(TASKS)}")
    train.add_argument("--epochs", type=int, help="override the budget's epochs")
    train.add_argument("--n-train", type=int, help="override the budget's training scenes")
    train.add_argument("--seed", type=int, help="override the budget's seed")
    train.add_argument("--device", default="auto")
    train.add_argument("--threads", type=int, help="PyTorch CPU threads")
    train.add_argument("--no-save", action="store_true", help="do not write the checkpoint")
    train.add_argument("--progress", action="store_true", help="show a progress bar per epoch")
    evaluate = commands.add_parser("evaluate", help="score the committed checkpoints")
    evaluate.add_argument("tasks", nargs="+", help=f"'all' or some of {', '.join(TASKS)}")
    evaluate.add_argument("--n-test", type=int, help="test scenes (default: the budget's)")
    evaluate.add_argument("--device", default="cpu")
    commands.add_parser("records", help="print the records of the committed checkpoints")
    args = parser.parse_args(argv)

    if args.command == "records":
        print(json.dumps(checkpoint_records(), indent=2))
        return 0
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    if args.command == "evaluate":
        for task in _tasks(args.tasks):
            start = time.perf_counter()
            model = load_pretrained(task, args.device)
            metrics = evaluate_usecase(task, model, make_test_set(task, args.n_test))
            usecase = USECASES[task]
            print(f"{task}: {usecase.metric} = {metrics[usecase.metric]:.4f} (target "
                  f"{usecase.target}) in {time.perf_counter() - start:.1f} s")
        return 0
    overrides = {key: value for key, value in (("epochs", args.epochs), ("n_train", args.n_train),
                                               ("seed", args.seed)) if value is not None}
    for task in _tasks(args.tasks):
        trained = train_usecase(task, device=args.device, progress=args.progress, **overrides)
        usecase = USECASES[task]
        print(f"{task}: {usecase.metric} = {trained.value:.4f} (target {usecase.target}), "
              f"trained in {trained.train_seconds:.1f} s on {trained.device} with "
              f"{trained.threads} thread(s)", flush=True)
        if not args.no_save:
            path = save_checkpoint(trained)
            record = checkpoint_records()[task]
            print(f"  saved {path} ({path.stat().st_size / 1e6:.2f} MB); {usecase.metric} of the "
                  f"saved weights = {record['value']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
