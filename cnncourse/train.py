"""One training loop for every model of the course: device, progress bar, checkpoints, AMP, DDP.

:func:`fit` is the PyTorch counterpart of :func:`cnncourse.scratch.network.fit`, written out
once and flat, with every setting in one :class:`TrainConfig`:

.. code-block:: text

    pick the device; join the other processes under torchrun; seed every generator
    build loaders, optimizer, scheduler, gradient scaler; load a checkpoint to resume
    for every epoch:
        for every mini-batch (x, y) of this process's share of the data:
            x, y = x.to(device), y.to(device);  x = augment(x)
            with autocast (CUDA only):  loss = loss_fn(model(x), y)
            optimizer.zero_grad();  scaler.scale(loss).backward()   # DDP averages the gradients
            scaler.step(optimizer);  scaler.update()
        sum the losses and metrics over the processes; evaluate on the validation data
        scheduler.step();  save a checkpoint;  early stopping

:func:`evaluate` and :func:`predict` run a model in evaluation mode, batch by batch.

**Devices.** ``device="auto"`` takes a CUDA GPU if there is one, else an Apple GPU (MPS), else
the CPU; :func:`select_device` explains why a requested device cannot be used.

**Mixed precision.** On CUDA the forward pass runs under ``torch.autocast`` in float16 where
that is safe, and a ``GradScaler`` multiplies the loss before the backward pass so that small
gradients do not vanish in float16 (and divides them again before the step, skipping steps
whose gradients overflowed). It is on by default on CUDA and never used on other devices.

**Reproducibility.** ``seed`` seeds Python's, NumPy's and PyTorch's generators; the order of the
training samples depends only on the seed and the epoch. A checkpoint holds the model, the
optimizer, the scheduler, the gradient scaler, the history and the states of every random
generator, so that a resumed run ends with exactly the weights of an uninterrupted one.

**Several GPUs.** Run the same script with ``torchrun --nproc_per_node=N script.py`` (or
``torchrun --nproc_per_node=N -m cnncourse train ...``): :func:`fit` reads the process's rank
from the variables ``torchrun`` sets, joins the process group (``nccl`` on CUDA, ``gloo`` on
the CPU), wraps the model in ``DistributedDataParallel`` and gives each process its own share
of every epoch (a ``DistributedSampler``). Losses and metrics are summed over all processes;
only process 0 shows progress and writes checkpoints.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from cnncourse import _checks
from cnncourse.metrics import accuracy

OPTIMIZERS = ("sgd", "adam", "adamw")
"""Optimizers :func:`fit` can build: SGD with (optional) momentum, Adam, AdamW."""

SCHEDULERS = ("step", "cosine", "exponential")
"""Learning-rate schedules, stepped once per epoch: ``"step"`` multiplies the rate by ``gamma``
every ``step_size`` epochs, ``"cosine"`` lowers it along half a cosine to 0 at the last epoch,
``"exponential"`` multiplies it by ``gamma`` every epoch. ``None`` keeps it constant."""

METRICS = {"accuracy": accuracy}
"""Metrics known by name (``metrics=["accuracy"]``)."""

CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------- configuration
@dataclass
class TrainConfig:
    """Every setting of :func:`fit`, checked when the config is made.

    Attributes:
        epochs: passes over the training data.
        batch_size: samples per gradient step and process (ignored when ``fit`` gets a
            ``DataLoader``, which has its own).
        lr: the (initial) learning rate.
        optimizer: one of :data:`OPTIMIZERS`.
        momentum: momentum of SGD (0 for none); Adam's betas are PyTorch's defaults.
        weight_decay: L2 penalty (decoupled for AdamW).
        scheduler: one of :data:`SCHEDULERS` or ``None``.
        step_size, gamma: period and factor of the ``"step"`` schedule (``gamma`` also for
            ``"exponential"``).
        grad_clip: clip the norm of all gradients together to this value (``None``: no clipping).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a ``torch.device``.
        amp: automatic mixed precision; ``None`` means on for CUDA. Ignored (with a warning)
            on other devices.
        seed: seed of every random generator and of the sample order; ``None`` for a fresh one.
        num_workers: worker processes of the data loaders.
        checkpoint: file to save checkpoints to; ``"{epoch}"`` in it is replaced by the epoch
            (``"runs/ckpt-{epoch:03d}.pt"`` keeps every checkpoint). ``None``: no checkpoints.
        checkpoint_every: save every this many epochs (and always after the last one).
        resume: a checkpoint file to continue from (it must exist).
        early_stopping: patience: stop when the validation loss has not improved for this many
            epochs and restore the weights of the best epoch (needs validation data).
        progress: show a progress bar per epoch with the running loss and metrics.
        log_every: refresh the numbers on the progress bar every this many batches (reading a
            loss from the GPU waits for it to finish its queued work).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str | None = None
    step_size: int = 10
    gamma: float = 0.1
    grad_clip: float | None = None
    device: str | torch.device = "auto"
    amp: bool | None = None
    seed: int | None = 0
    num_workers: int = 0
    checkpoint: str | None = None
    checkpoint_every: int = 1
    resume: str | None = None
    early_stopping: int | None = None
    progress: bool = True
    log_every: int = 10

    def __post_init__(self):
        self.epochs = _checks.integer(self.epochs, "epochs", minimum=1)
        self.batch_size = _checks.integer(self.batch_size, "batch_size", minimum=1)
        self.lr = _checks.real(self.lr, "lr", minimum=0.0, open_minimum=True)
        _checks.check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        self.momentum = _checks.real(self.momentum, "momentum", minimum=0.0, maximum=1.0,
                                     open_maximum=True)
        self.weight_decay = _checks.real(self.weight_decay, "weight_decay", minimum=0.0)
        if self.scheduler is not None:
            _checks.check_choice(self.scheduler, "scheduler", SCHEDULERS)
        self.step_size = _checks.integer(self.step_size, "step_size", minimum=1)
        self.gamma = _checks.real(self.gamma, "gamma", minimum=0.0, maximum=1.0, open_minimum=True)
        if self.grad_clip is not None:
            self.grad_clip = _checks.real(self.grad_clip, "grad_clip", minimum=0.0, open_minimum=True)
        if not isinstance(self.device, (str, torch.device)):
            raise TypeError(f"device must be a str or a torch.device, got {type(self.device).__name__} "
                            f"{self.device!r}")
        if self.amp is not None:
            self.amp = _checks.boolean(self.amp, "amp")
        if self.seed is not None:
            self.seed = _checks.integer(self.seed, "seed", minimum=0, maximum=2**31 - 1)
        self.num_workers = _checks.integer(self.num_workers, "num_workers", minimum=0)
        self.checkpoint = _path_or_none(self.checkpoint, "checkpoint")
        self.checkpoint_every = _checks.integer(self.checkpoint_every, "checkpoint_every", minimum=1)
        self.resume = _path_or_none(self.resume, "resume")
        if self.early_stopping is not None:
            self.early_stopping = _checks.integer(self.early_stopping, "early_stopping", minimum=1)
        self.progress = _checks.boolean(self.progress, "progress")
        self.log_every = _checks.integer(self.log_every, "log_every", minimum=1)


def _path_or_none(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or PathLike) or None, got {type(value).__name__} {value!r}")
    value = os.fspath(value)
    if not value:
        raise ValueError(f"{name} must be a non-empty path, got ''")
    return value


# --------------------------------------------------------------------------- devices and processes
_DEVICE_CHOICES = "'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device"


def rank_and_world_size() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: from the process group when it is initialised,
    otherwise from the ``RANK`` and ``WORLD_SIZE`` variables that ``torchrun`` sets, else ``(0, 1)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def select_device(spec="auto") -> torch.device:
    """The ``torch.device`` to run on, checked to exist.

    ``"auto"`` picks, in this order, a CUDA GPU, an Apple GPU (MPS) and the CPU. An explicit
    device is honoured or refused with a ValueError that says why. ``"cuda"`` without an index
    means the current CUDA device, or under ``torchrun`` the one of the process's
    ``LOCAL_RANK``.

    Args:
        spec: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a ``torch.device``.

    Returns:
        A ``torch.device`` (CUDA devices always with their index).
    """
    if isinstance(spec, str):
        if spec == "auto":
            if torch.cuda.is_available():
                spec = "cuda"
            elif torch.backends.mps.is_available():
                spec = "mps"
            else:
                spec = "cpu"
        try:
            device = torch.device(spec)
        except (RuntimeError, ValueError):
            raise ValueError(f"device must be {_DEVICE_CHOICES}; got {spec!r}") from None
    elif isinstance(spec, torch.device):
        device = spec
    else:
        raise TypeError(f"device must be {_DEVICE_CHOICES}; got {type(spec).__name__} {spec!r}")
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} requested but torch.cuda.is_available() is False "
                             "(no CUDA GPU visible, or a PyTorch built without CUDA); use device='cpu' "
                             "or 'auto'")
        count = torch.cuda.device_count()
        index = device.index
        if index is None:
            index = (int(os.environ.get("LOCAL_RANK", 0)) if rank_and_world_size()[1] > 1
                     else torch.cuda.current_device())
        if not 0 <= index < count:
            raise ValueError(f"device 'cuda:{index}' requested but only {count} CUDA device(s) are "
                             f"visible (cuda:0 to cuda:{count - 1})")
        return torch.device("cuda", index)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {str(device)!r} requested but torch.backends.mps.is_available() "
                             "is False (MPS needs an Apple GPU and macOS 12.3 or later); use "
                             "device='cpu' or 'auto'")
        return torch.device("mps")
    raise ValueError(f"device must be {_DEVICE_CHOICES}; got {spec!r}")


def setup_distributed(device: torch.device) -> bool:
    """Join the process group when this process is one of several started by ``torchrun``.

    Reads ``WORLD_SIZE`` (and, through ``init_process_group``, ``RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT``); the backend is ``nccl`` for CUDA devices and ``gloo`` otherwise. Does
    nothing when alone or when the group already exists. The group is left at exit (or by
    :func:`cleanup_distributed`).

    Returns:
        Whether this process works with others.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    if not dist.is_available():  # pragma: no cover - every supported build has it
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch has no torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
    else:
        dist.init_process_group(backend="gloo")
    atexit.register(cleanup_distributed)
    return dist.get_world_size() > 1


def cleanup_distributed() -> None:
    """Leave the process group, if this process is in one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch's (CPU and every GPU)."""
    seed = _checks.integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _use_amp(amp: bool | None, device: torch.device) -> bool:
    if amp is None:
        return device.type == "cuda"
    if amp and device.type != "cuda":
        warnings.warn(f"amp=True is ignored on {device.type}: mixed precision is used on CUDA only",
                      stacklevel=3)
        return False
    return bool(amp)


def _autocast(device: torch.device, enabled: bool):
    if not enabled:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.float16)


# --------------------------------------------------------------------------- losses and metrics
def primary_output(outputs):
    """The main output of a model: the tensor itself, the first of a tuple or list (e.g. a
    GoogLeNet's main classifier before its auxiliary ones), or ``outputs["out"]`` of a dict (else
    its first value)."""
    if torch.is_tensor(outputs):
        return outputs
    if isinstance(outputs, (tuple, list)) and outputs:
        return primary_output(outputs[0])
    if isinstance(outputs, dict) and outputs:
        return primary_output(outputs["out"] if "out" in outputs else next(iter(outputs.values())))
    raise TypeError(f"the model must return a tensor, or a tuple, list or dict of them; got "
                    f"{type(outputs).__name__}")


def cross_entropy(outputs, targets) -> torch.Tensor:
    """The default loss: mean cross-entropy of the logits ``outputs`` (N, K) and labels ``targets``.

    A model with several outputs in training (a tuple or dict) needs a ``loss`` that knows how to
    combine them; this one refuses them rather than guess.
    """
    if not torch.is_tensor(outputs):
        raise TypeError(f"the model returned a {type(outputs).__name__} of outputs; the default loss "
                        "(cross-entropy) takes one tensor: pass loss=... taking (outputs, targets), "
                        "e.g. main loss + 0.3 * auxiliary losses")
    return F.cross_entropy(outputs.float(), targets)


def _check_loss(loss):
    if loss is None:
        return cross_entropy
    if not callable(loss):
        raise TypeError(f"loss must be None or a callable loss(outputs, targets), got {type(loss).__name__}")
    return loss


def _check_metrics(metrics, loss) -> dict:
    """Metrics as ``{name: function}``; the default is accuracy with the default loss, else none."""
    if metrics is None:
        return {"accuracy": accuracy} if loss is None else {}
    if isinstance(metrics, dict):
        items = list(metrics.items())
    elif isinstance(metrics, (list, tuple)):
        items = []
        for metric in metrics:
            if isinstance(metric, str):
                _checks.check_choice(metric, "metrics", tuple(METRICS))
                items.append((metric, METRICS[metric]))
            else:
                items.append((getattr(metric, "__name__", type(metric).__name__), metric))
    else:
        raise TypeError(f"metrics must be None, a list of names/callables or a dict name -> callable, "
                        f"got {type(metrics).__name__}")
    for name, function in items:
        if not isinstance(name, str) or not callable(function):
            raise TypeError(f"metrics must map names (str) to callables metric(outputs, targets), "
                            f"got {name!r}: {type(function).__name__}")
    return dict(items)


# --------------------------------------------------------------------------- data
def _as_loader(data, name: str, batch_size: int, shuffle: bool, seed: int, num_workers: int,
               pin_memory: bool) -> DataLoader:
    """A DataLoader from a DataLoader (kept), a Dataset or a pair (inputs, targets) of arrays."""
    from cnncourse.data.datasets import make_loader

    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"{name} as a tuple must be (inputs, targets), got {len(data)} items")
        tensors = [torch.as_tensor(np.asarray(part)) if not torch.is_tensor(part) else part
                   for part in data]
        if len(tensors[0]) != len(tensors[1]):
            raise ValueError(f"{name}: inputs and targets must hold the same number of samples, got "
                             f"{len(tensors[0])} and {len(tensors[1])}")
        data = TensorDataset(*tensors)
    if not isinstance(data, Dataset):
        raise TypeError(f"{name} must be a Dataset, a DataLoader or a pair (inputs, targets), got "
                        f"{type(data).__name__}")
    return make_loader(data, batch_size=batch_size, shuffle=shuffle, seed=seed,
                       num_workers=num_workers, pin_memory=pin_memory)


def to_device(value, device: torch.device):
    """Move a tensor, or the tensors inside dicts, lists and tuples (detection targets), to a device."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(item, device) for item in value)
    return value


def _unpack(batch, device: torch.device):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"every batch must be a pair (inputs, targets), got {type(batch).__name__}"
                        + (f" of {len(batch)} items" if isinstance(batch, (tuple, list)) else ""))
    x, y = batch
    return x.to(device, non_blocking=True), to_device(y, device)


def _sum_dtype(device: torch.device):
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _reduce(totals: torch.Tensor, distributed: bool) -> list:
    """Sum a tensor of running totals over the processes and return it as floats."""
    if distributed:
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return totals.tolist()


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _evaluate_loader(model, loader, loss_fn, metric_fns, device, use_amp, distributed) -> dict:
    was_training = model.training
    model.eval()
    totals = torch.zeros(2 + len(metric_fns), dtype=_sum_dtype(device), device=device)
    try:
        with torch.no_grad():
            for batch in loader:
                x, y = _unpack(batch, device)
                with _autocast(device, use_amp):
                    outputs = model(x)
                    value = loss_fn(outputs, y)
                n = len(x)
                totals[0] += value.detach().to(totals.dtype) * n
                totals[1] += n
                main = primary_output(outputs)
                for k, function in enumerate(metric_fns.values()):
                    totals[2 + k] += float(function(main, y)) * n
    finally:
        model.train(was_training)
    values = _reduce(totals, distributed)
    count = values[1]
    if count == 0:
        raise ValueError("the evaluation data is empty")
    result = {"loss": values[0] / count}
    result.update({name: values[2 + k] / count for k, name in enumerate(metric_fns)})
    return result


# --------------------------------------------------------------------------- history
@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch.

    ``train_loss`` and ``train_metrics[name]`` average the mini-batches of the epoch (measured in
    training mode while the weights changed); ``val_loss`` and ``val_metrics[name]`` are measured
    after the epoch in evaluation mode (empty without validation data). Under ``torchrun`` they
    are averages over all processes. ``lr`` is the learning rate of the epoch and ``time`` its
    wall time in seconds. ``best_epoch`` (1-based) is the epoch of the lowest validation loss,
    ``stopped_early`` whether early stopping ended the run; ``device``, ``amp`` and
    ``world_size`` say where it ran.
    """

    train_loss: list = field(default_factory=list)
    train_metrics: dict = field(default_factory=dict)
    val_loss: list = field(default_factory=list)
    val_metrics: dict = field(default_factory=dict)
    lr: list = field(default_factory=list)
    time: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    device: str = "cpu"
    amp: bool = False
    world_size: int = 1

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def train_accuracy(self) -> list:
        return self.train_metrics.get("accuracy", [])

    @property
    def val_accuracy(self) -> list:
        return self.val_metrics.get("accuracy", [])

    def summary(self) -> str:
        """One line per epoch, for printing."""
        lines = []
        for e in range(self.epochs):
            line = f"epoch {e + 1:3d}  lr {self.lr[e]:.3g}  train loss {self.train_loss[e]:.4f}"
            line += "".join(f" {name} {values[e]:.3f}" for name, values in self.train_metrics.items())
            if self.val_loss:
                line += f"  val loss {self.val_loss[e]:.4f}"
                line += "".join(f" {name} {values[e]:.3f}" for name, values in self.val_metrics.items())
            lines.append(line + f"  {self.time[e]:.2f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The history as plain Python values (what a checkpoint stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls(**values)


# --------------------------------------------------------------------------- checkpoints
def _rng_state(device: torch.device, generator) -> dict:
    keys, position, has_gauss, cached = np.random.get_state()[1:]
    state = {"python": random.getstate(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    if device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    if generator is not None:
        state["augment"] = generator.get_state()
    return state


def _set_rng_state(state: dict, device: torch.device, generator) -> None:
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    if device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])
    if generator is not None and "augment" in state:
        generator.set_state(state["augment"])


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`fit` (safely: tensors and plain values only).

    Its keys: ``model`` (a state dict for ``model.load_state_dict``), ``optimizer``,
    ``scheduler``, ``scaler``, ``epoch`` (epochs done), ``history`` (see :meth:`History.from_dict`),
    ``config``, ``rng`` (one entry per process), ``early_stopping``, ``world_size``.
    """
    path = _path_or_none(path, "path")
    if path is None:
        raise TypeError("path must be a path (str or PathLike), got None")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path!r} is not a checkpoint written by cnncourse.train.fit")
    return checkpoint


def _checkpoint_path(template: str, epoch: int) -> str:
    return template.format(epoch=epoch) if "{epoch" in template else template


def _save_checkpoint(path: str, payload: dict) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, target)  # never leaves a half-written checkpoint behind


# --------------------------------------------------------------------------- optimizers
def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` over ``parameters`` with ``lr`` and ``weight_decay``."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer, config: TrainConfig):
    """The per-epoch learning-rate schedule ``config.scheduler`` (``None`` without one)."""
    if config.scheduler is None:
        return None
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, config.gamma)


# --------------------------------------------------------------------------- the loop
def _configure(config, overrides: dict) -> TrainConfig:
    if config is None:
        config = TrainConfig()
    elif not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or None, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides)  # checks every field again


def _shared_seed(seed: int | None, distributed: bool) -> int:
    """The run's seed; a fresh one (the same in every process) when ``seed`` is None."""
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
        if distributed:
            box = [seed]
            dist.broadcast_object_list(box, src=0)
            seed = box[0]
    return seed


def fit(model: nn.Module, train_data, val_data=None, config: TrainConfig | None = None, loss=None,
        metrics=None, augment=None, **overrides) -> History:
    """Train ``model`` with the settings of ``config`` and return the :class:`History`.

    The model is trained in place and stays on the device (under ``torchrun`` its
    ``DistributedDataParallel`` wrapper is internal; the weights end equal in every process).

    Args:
        model: a ``torch.nn.Module``. In training it may return a tensor, or a tuple or dict of
            tensors (auxiliary outputs) when ``loss`` knows what to do with them.
        train_data: a ``Dataset``, a pair ``(inputs, targets)`` of arrays or tensors, or a
            ``DataLoader`` (used as it is; under ``torchrun`` it must have a
            ``DistributedSampler``, as those of :func:`cnncourse.data.datasets.make_loader` do).
        val_data: the same kinds, evaluated after every epoch (``None``: no validation).
        config: a :class:`TrainConfig` (default: ``TrainConfig()``).
        loss: ``loss(outputs, targets) -> scalar tensor``; default :func:`cross_entropy`. In
            evaluation mode it receives what the model returns then (usually one tensor).
        metrics: ``{name: metric(outputs, targets) -> float}``, a list of names of
            :data:`METRICS` or of callables; they see :func:`primary_output`. Default:
            accuracy with the default loss, none with a custom loss.
        augment: ``augment(images, generator) -> images``, applied to every training batch on
            the device (e.g. a :mod:`cnncourse.data.torch_transforms` transform), drawing from a
            seeded ``torch.Generator`` on the device.
        overrides: fields of :class:`TrainConfig` that replace those of ``config``
            (``fit(model, data, epochs=3)``).

    Returns:
        The :class:`History` of the run (with the epochs of the checkpoint when resuming).
    """
    config = _configure(config, overrides)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    loss_fn = _check_loss(loss)
    metric_fns = _check_metrics(metrics, loss)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be None or a callable augment(images, generator), got "
                        f"{type(augment).__name__}")
    if config.early_stopping is not None and val_data is None:
        raise ValueError("early_stopping needs validation data (val_data)")

    device = select_device(config.device)
    distributed = setup_distributed(device)
    rank, world_size = rank_and_world_size()
    main_process = rank == 0
    use_amp = _use_amp(config.amp, device)
    seed = _shared_seed(config.seed, distributed)
    if config.seed is not None:
        seed_everything(seed + rank)

    model.to(device)
    loader_options = dict(batch_size=config.batch_size, seed=seed, num_workers=config.num_workers,
                          pin_memory=device.type == "cuda")
    train_loader = _as_loader(train_data, "train_data", shuffle=True, **loader_options)
    if distributed and not isinstance(train_loader.sampler, DistributedSampler):
        raise ValueError("under torchrun, train_data must be a Dataset, a pair of arrays or a "
                         "DataLoader with a DistributedSampler (cnncourse.data.datasets.make_loader), "
                         "so that every process trains on its own share")
    val_loader = (None if val_data is None
                  else _as_loader(val_data, "val_data", shuffle=False, **loader_options))

    optimizer = make_optimizer(model.parameters(), config)
    scheduler = make_scheduler(optimizer, config)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    generator = None
    if augment is not None:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed + rank)
    history = History(device=str(device), amp=use_amp, world_size=world_size)
    start_epoch, best_loss, best_state, waited = 0, math.inf, None, 0

    if config.resume is not None:
        checkpoint = load_checkpoint(config.resume)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None and checkpoint["scheduler"] is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
        if use_amp and checkpoint["scaler"]:
            scaler.load_state_dict(checkpoint["scaler"])
        states = checkpoint["rng"]
        _set_rng_state(states[rank] if len(states) == world_size else states[0], device, generator)
        history = History.from_dict({**checkpoint["history"], "device": str(device), "amp": use_amp,
                                     "world_size": world_size})
        start_epoch = checkpoint["epoch"]
        stopping = checkpoint["early_stopping"]
        best_loss, waited, best_state = stopping["best_loss"], stopping["waited"], stopping["best_state"]

    net = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    show = config.progress and main_process
    if show:
        from tqdm import tqdm

    for epoch in range(start_epoch, config.epochs):
        start = time.perf_counter()
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        bar = (tqdm(total=len(train_loader), desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                    leave=True, dynamic_ncols=True) if show else None)

        # ---- one pass over this process's share of the training data
        net.train()
        totals = torch.zeros(2 + len(metric_fns), dtype=_sum_dtype(device), device=device)
        for step, batch in enumerate(train_loader, start=1):
            x, y = _unpack(batch, device)
            if augment is not None:
                x = augment(x, generator)
            with _autocast(device, use_amp):
                outputs = net(x)
                value = loss_fn(outputs, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(value).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()

            n = len(x)
            totals[0] += value.detach().to(totals.dtype) * n
            totals[1] += n
            main = primary_output(outputs).detach()
            for k, function in enumerate(metric_fns.values()):
                totals[2 + k] += float(function(main, y)) * n
            if bar is not None:
                bar.update(1)
                if step % config.log_every == 0 or step == len(train_loader):
                    running = (totals / totals[1]).tolist()
                    bar.set_postfix(_postfix(running[0], running[2:], metric_fns), refresh=False)

        values = _reduce(totals, distributed)
        history.train_loss.append(values[0] / values[1])
        for k, name in enumerate(metric_fns):
            history.train_metrics.setdefault(name, []).append(values[2 + k] / values[1])
        if not math.isfinite(history.train_loss[-1]):
            if bar is not None:
                bar.close()
            raise FloatingPointError(f"the training loss became {history.train_loss[-1]} in epoch "
                                     f"{epoch + 1}; try a smaller learning rate (lr={config.lr})")

        # ---- validation, schedule, early stopping, checkpoint
        stop = False
        if val_loader is not None:
            result = _evaluate_loader(model, val_loader, loss_fn, metric_fns, device, use_amp,
                                      distributed)
            history.val_loss.append(result["loss"])
            for name in metric_fns:
                history.val_metrics.setdefault(name, []).append(result[name])
            if result["loss"] < best_loss:
                best_loss, waited, history.best_epoch = result["loss"], 0, epoch + 1
                if config.early_stopping is not None:
                    best_state = {key: tensor.detach().to("cpu", copy=True)
                                  for key, tensor in model.state_dict().items()}
            else:
                waited += 1
            stop = config.early_stopping is not None and waited >= config.early_stopping
            history.stopped_early = stop
        if bar is not None:
            postfix = _postfix(history.train_loss[-1],
                               [history.train_metrics[name][-1] for name in metric_fns], metric_fns)
            if val_loader is not None:
                postfix.update(_postfix(history.val_loss[-1],
                                        [history.val_metrics[name][-1] for name in metric_fns],
                                        metric_fns, prefix="val_"))
            bar.set_postfix(postfix)
            bar.close()
        if scheduler is not None:
            scheduler.step()
        history.time.append(time.perf_counter() - start)

        done = epoch + 1
        if config.checkpoint is not None and (done % config.checkpoint_every == 0
                                              or done == config.epochs or stop):
            states = [_rng_state(device, generator)]
            if distributed:
                states = [None] * world_size
                dist.all_gather_object(states, _rng_state(device, generator))
            if main_process:
                _save_checkpoint(_checkpoint_path(config.checkpoint, done), {
                    "format": CHECKPOINT_FORMAT, "epoch": done, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": None if scheduler is None else scheduler.state_dict(),
                    "scaler": scaler.state_dict(), "history": history.to_dict(),
                    "config": {key: (str(value) if isinstance(value, torch.device) else value)
                               for key, value in dataclasses.asdict(config).items()},
                    "rng": states, "world_size": world_size,
                    "early_stopping": {"best_loss": best_loss, "waited": waited,
                                       "best_state": best_state},
                })
            if distributed:
                dist.barrier()
        if stop:
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _postfix(loss: float, values: list, metric_fns: dict, prefix: str = "") -> dict:
    postfix = {f"{prefix}loss": f"{loss:.4f}"}
    postfix.update({f"{prefix}{name}": f"{value:.3f}" for name, value in zip(metric_fns, values)})
    return postfix


# --------------------------------------------------------------------------- evaluation
def evaluate(model: nn.Module, data, loss=None, metrics=None, batch_size: int = 256, device=None,
             amp: bool | None = None) -> dict:
    """Mean loss and metrics of ``model`` on ``data``, in evaluation mode, without gradients.

    Under ``torchrun`` (after :func:`fit` joined the process group) every process evaluates its
    share and the sums are combined, so each process gets the result over the whole data set.

    Args:
        model: a ``torch.nn.Module``.
        data: a ``Dataset``, a ``DataLoader`` or a pair ``(inputs, targets)``.
        loss, metrics: as in :func:`fit` (default: cross-entropy and accuracy).
        batch_size: samples per batch (ignored for a ``DataLoader``).
        device: where to evaluate (the model is moved there); ``None``: where the model is.
        amp: mixed precision; ``None`` means on for CUDA.

    Returns:
        ``{"loss": ..., name: ...}`` with a float per metric.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    loss_fn = _check_loss(loss)
    metric_fns = _check_metrics(metrics, loss)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
    if amp is not None:
        amp = _checks.boolean(amp, "amp")
    device = _model_device(model) if device is None else select_device(device)
    model.to(device)
    distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    loader = _as_loader(data, "data", batch_size=batch_size, shuffle=False, seed=0, num_workers=0,
                        pin_memory=False)
    return _evaluate_loader(model, loader, loss_fn, metric_fns, device, _use_amp(amp, device),
                            distributed)


def predict(model: nn.Module, data, batch_size: int = 256, device=None) -> torch.Tensor:
    """The model's (main) outputs for every sample of ``data``, in evaluation mode, on the CPU.

    Every process computes all of them (nothing is split under ``torchrun``). For a classifier
    these are the logits: ``predict(...).argmax(1)`` gives the predicted classes.

    Args:
        model: a ``torch.nn.Module``.
        data: inputs (an array or tensor ``(N, ...)``), a ``Dataset`` or ``DataLoader`` of
            ``(inputs, targets)`` pairs (the targets are ignored), or a pair ``(inputs, targets)``.
        batch_size: samples per batch.
        device: where to compute (the model is moved there); ``None``: where the model is.

    Shape:
        Output ``(N, ...)``: one row of outputs per sample.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
    device = _model_device(model) if device is None else select_device(device)
    model.to(device)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = data[0]  # (inputs, targets): the targets are not needed
    if isinstance(data, (np.ndarray, list)) or torch.is_tensor(data):
        inputs = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data)
        batches = (inputs[start:start + batch_size] for start in range(0, len(inputs), batch_size))
    elif isinstance(data, (DataLoader, Dataset)):
        loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
        batches = (_unpack(batch, device)[0] for batch in loader)
    else:
        raise TypeError(f"data must be an array or tensor of inputs, a Dataset, a DataLoader or a "
                        f"pair (inputs, targets), got {type(data).__name__}")
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for x in batches:
                outputs.append(primary_output(model(x.to(device))).cpu())
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("data must not be empty")
    return torch.cat(outputs)
