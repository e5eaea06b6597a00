r"""What a network costs: parameters, multiply-accumulates, activation memory and latency.

:func:`profile` runs a model once on a batch of random images and reports, layer by layer and in
total:

* **parameters**, the numbers the network learns;
* **multiply-accumulates (MACs)**, the work of one forward pass. They are *not* counted by hand:
  :class:`torch.utils.flop_counter.FlopCounterMode` counts the floating-point operations of every
  convolution and matrix product PyTorch runs (a multiply-accumulate is two operations, a multiply
  and an add), and

  .. math:: \text{MACs} = \text{FLOPs} / 2 .

  For a convolution with :math:`C_{in}` input and :math:`C_{out}` output channels, ``k x k``
  filters and an :math:`H_{out} \times W_{out}` output this is
  :math:`H_{out} W_{out} C_{out} C_{in} k^2 / \text{groups}` per image. Additions of biases,
  activations, pooling and normalisation count zero, as in the tables of the literature;
* **activation memory**, the bytes of the outputs of every leaf module (a module without
  sub-modules: a convolution, a ReLU, ...) for the whole batch, in the model's dtype, recorded with
  forward hooks. An in-place ReLU counts again although it reuses its input's storage, so the
  figure is an upper bound of what a forward pass must keep for the backward pass;
* **latency**, the median wall-clock time of ``repeat`` forward passes (after ``warmup`` passes)
  on the chosen device, with :func:`torch.cuda.synchronize` around each pass on CUDA.

On the ``meta`` device (a model built inside ``with torch.device("meta"):``) nothing is computed,
only shapes: parameters, MACs and activation memory come out at no cost even for the largest
networks, and the latency is ``nan``.

These are the quantities Canziani, Paszke and Culurciello compare across ImageNet networks in "An
Analysis of Deep Neural Network Models for Practical Applications" (arXiv:1605.07678, 2016):
accuracy against operations, parameters, memory and time.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from cnncourse._checks import int_tuple, integer


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model`` (only those with ``requires_grad`` if asked)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@dataclass
class LayerProfile:
    """One leaf module (or module holding parameters of its own) of a profiled model."""

    name: str
    kind: str
    parameters: int
    macs: int
    output_shape: tuple | None
    activation_bytes: int


@dataclass
class ModelProfile:
    """The result of :func:`profile`; ``print(result)`` shows its table."""

    model: str
    input_shape: tuple
    device: str
    dtype: str
    parameters: int
    macs: int
    activation_bytes: int
    latency_s: float
    latencies_s: list = field(default_factory=list)
    layers: list = field(default_factory=list)

    @property
    def other_macs(self) -> int:
        """MACs of operations written outside leaf modules (e.g. ``torch.matmul`` in a forward)."""
        return self.macs - sum(layer.macs for layer in self.layers)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line: totals and latency."""
        latency = "not measured" if math.isnan(self.latency_s) else \
            f"{self.latency_s * 1e3:.2f} ms (median of {len(self.latencies_s)})"
        return (f"{self.model} on {self.device} ({self.dtype}), input {self.input_shape}: "
                f"{self.parameters:,} parameters, {_count(self.macs)}MACs, activations "
                f"{_bytes(self.activation_bytes)}, latency {latency}")

    def table(self, max_rows: int | None = None) -> str:
        """A Markdown table, one row per layer, then the totals.

        ``max_rows`` keeps the layers with the most MACs (then parameters), in network order.
        """
        rows = self.layers
        if max_rows is not None:
            max_rows = integer(max_rows, "max_rows", minimum=0)
            keep = sorted(range(len(rows)), key=lambda i: (rows[i].macs, rows[i].parameters),
                          reverse=True)[:max_rows]
            rows = [rows[i] for i in sorted(keep)]
        lines = ["| layer | type | output shape | parameters | MACs | activations |",
                 "|---|---|---|---:|---:|---:|"]
        for layer in rows:
            shape = "x".join(map(str, layer.output_shape)) if layer.output_shape else "(not run)"
            lines.append(f"| {layer.name} | {layer.kind} | {shape} | {layer.parameters:,} | "
                         f"{layer.macs:,} | {_bytes(layer.activation_bytes)} |")
        if max_rows is not None and len(rows) < len(self.layers):
            lines.append(f"| ({len(self.layers) - len(rows)} more layers) | | | | | |")
        if self.other_macs:
            lines.append(f"| (outside leaf modules) | | | | {self.other_macs:,} | |")
        lines.append(f"| **total** | | | {self.parameters:,} | {self.macs:,} | "
                     f"{_bytes(self.activation_bytes)} |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary() + "\n\n" + self.table()


def _count(count: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.3f} {unit}"
    return f"{count} "


def _bytes(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return f"{count} B"


def _tensors(output):
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from _tensors(item)
    elif isinstance(output, dict):
        for item in output.values():
            yield from _tensors(item)


def _device(device) -> torch.device:
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must name a torch device ('cpu', 'cuda', ...), got {device!r}: "
                         f"{error}") from None
    if device.type not in ("cpu", "cuda", "meta"):
        raise ValueError(f"device must be a cpu, cuda or meta device, got {str(device)!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for but CUDA is not available")
    return device


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile(model: nn.Module, input_size, device="cpu", batch_size: int = 1, repeat: int = 10,
            warmup: int = 2) -> ModelProfile:
    """Parameters, MACs, activation memory and latency of ``model`` on random images.

    The model is moved to ``device`` (in place, as ``model.to`` does) and run in evaluation mode
    without gradients; its training flag is restored afterwards. The input has the dtype of the
    model's parameters.

    Args:
        model: the network.
        input_size: ``(C, H, W)`` of one image.
        device: where to run (``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a ``torch.device``);
            ``"meta"`` for a model built on the meta device: shapes only, no latency.
        batch_size: images per forward pass; every figure except the parameters is per batch.
        repeat: timed forward passes (the latency is their median).
        warmup: untimed forward passes first (caches, kernel selection).

    Shape:
        - Input of the model: :math:`(\\text{batch\\_size}, C, H, W)`.

    Returns:
        A :class:`ModelProfile`: totals, the median latency and all timings, and one
        :class:`LayerProfile` per leaf module; ``str(result)`` is a printable table.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    input_size = int_tuple(input_size, "input_size", length=3, minimum=1)
    device = _device(device)
    batch_size = integer(batch_size, "batch_size", minimum=1)
    repeat = integer(repeat, "repeat", minimum=1)
    warmup = integer(warmup, "warmup", minimum=0)
    if device.type == "meta" and any(not p.is_meta for p in model.parameters()):
        raise ValueError("device='meta' needs a model built on the meta device (inside "
                         "`with torch.device('meta'):`); moving a model there would discard "
                         "its weights")

    first = next(model.parameters(), None)
    dtype = first.dtype if first is not None else torch.get_default_dtype()
    was_training = model.training
    model.to(device).eval()
    x = torch.randn((batch_size, *input_size), device=device, dtype=dtype)

    layers = {name: module for name, module in model.named_modules()
              if not any(True for _ in module.children())
              or any(True for _ in module.parameters(recurse=False))}
    outputs: dict[str, list] = {name: [None, 0] for name in layers}

    def recorder(name):
        def hook(module, inputs, output):
            tensors = list(_tensors(output))
            if tensors:
                outputs[name][0] = tuple(tensors[0].shape)
                outputs[name][1] += sum(t.numel() * t.element_size() for t in tensors)
        return hook

    leaves = [name for name, module in layers.items() if not any(True for _ in module.children())]
    handles = [layers[name].register_forward_hook(recorder(name)) for name in leaves]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        _synchronize(device)
    finally:
        for handle in handles:
            handle.remove()
    flops = counter.get_flop_counts()
    root = type(model).__name__

    def module_flops(name: str) -> int:
        return sum(flops.get(f"{root}.{name}" if name else root, {}).values())

    results = []
    for name, module in layers.items():
        is_leaf = name in leaves
        results.append(LayerProfile(
            name=name or root, kind=type(module).__name__,
            parameters=sum(p.numel() for p in module.parameters(recurse=False)),
            macs=module_flops(name) // 2 if is_leaf else 0,
            output_shape=outputs[name][0], activation_bytes=outputs[name][1]))

    times = []
    with torch.no_grad():
        for index in range(warmup + repeat if device.type != "meta" else 0):
            _synchronize(device)
            start = time.perf_counter()
            model(x)
            _synchronize(device)
            if index >= warmup:
                times.append(time.perf_counter() - start)
    model.train(was_training)

    return ModelProfile(
        model=root, input_shape=tuple(x.shape), device=str(device), dtype=str(dtype).replace("torch.", ""),
        parameters=count_parameters(model), macs=counter.get_total_flops() // 2,
        activation_bytes=sum(layer.activation_bytes for layer in results),
        latency_s=statistics.median(times) if times else math.nan, latencies_s=times,
        layers=results)
