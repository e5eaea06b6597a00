"""One registry of the course's layers and one of its models.

Every layer is registered once, next to its code, with everything the tests, the benchmarks and
the exercises need to know about it: its NumPy forward/backward pair, the PyTorch routine it must
agree with (a dotted name, imported only when asked for), a sampler of test inputs, the chapter
that teaches it, and the library routines a student may not call when an exercise asks for it.
One parametrised test then checks every registered layer the same way
(``tests/test_layers.py``).

Models are registered by name with a builder ``builder(num_classes=..., in_channels=..., **size)``
that returns a ``torch.nn.Module``; ``get_model(name, **kwargs)`` builds one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One test case of a layer: the array arguments, the hyper-parameters and a short label.

    ``inputs`` are the positional arrays of the forward pass in order (for a convolution
    ``x, w, b``); ``kwargs`` are the keyword hyper-parameters (``stride=2``, ...), passed
    unchanged to the scratch forward, the oracle and (in ``cnncourse.nn``) the PyTorch version.
    """

    inputs: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class LayerSpec:
    """Everything the course knows about one layer.

    Attributes
    ----------
    name : the operation's name, e.g. ``"conv2d"``.
    family : the module of ``cnncourse.scratch`` it lives in, e.g. ``"convolution"``.
    forward : ``forward(*inputs, **kwargs) -> (out, cache)``.
    backward : ``backward(dout, cache) -> grads``: one gradient per input, in the order of
        ``inputs`` (a single array when the layer has one input).
    oracle : dotted name of a PyTorch callable taking the same arguments as torch tensors, e.g.
        ``"torch.nn.functional.conv2d"``; adapters for routines whose signature differs live in
        :mod:`cnncourse.oracles`.
    sampler : ``sampler(rng, dtype) -> list[Sample]``, a sweep of shapes and hyper-parameters.
    input_names : the names of the inputs (``("x", "w", "b")``), used in messages.
    chapter : the book chapter that teaches the layer (``"book/02-conv-layer"``).
    forbidden : dotted names of library routines that do the layer's work, which an exercise on
        it forbids (the runtime check of :mod:`cnncourse.grading` catches them).
    differentiable : indices of the inputs that have a gradient (default: all of them).
    nn_functional : dotted name of the ``cnncourse.nn`` version (filled in by ``cnncourse.nn``).
    torch_module / nn_module : dotted names of the ``torch.nn`` module class and the
        ``cnncourse.nn`` one, for the drop-in test.
    float32_tolerance : (rtol, atol) used when comparing float32 results with the oracle.
    """

    name: str
    family: str
    forward: Callable
    backward: Callable
    oracle: str
    sampler: Callable[[np.random.Generator, Any], list]
    input_names: tuple = ("x",)
    chapter: str = ""
    forbidden: tuple = ()
    differentiable: tuple | None = None
    nn_functional: str | None = None
    torch_module: str | None = None
    nn_module: str | None = None
    float32_tolerance: tuple = (1e-4, 1e-5)

    def oracle_function(self) -> Callable:
        """The PyTorch callable (imports torch on first use)."""
        return resolve(self.oracle)

    def grad_indices(self) -> tuple:
        if self.differentiable is not None:
            return tuple(self.differentiable)
        return tuple(range(len(self.input_names)))


def resolve(dotted: str) -> Any:
    """Import ``package.module.attribute`` (attributes may be nested) and return the object."""
    if not isinstance(dotted, str) or not dotted:
        raise TypeError(f"dotted must be a non-empty str, got {dotted!r}")
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            try:
                obj = getattr(obj, attribute)
            except AttributeError:
                raise ValueError(f"cannot resolve {dotted!r}: {'.'.join(parts[:split])} has "
                                 f"no attribute {attribute!r}") from None
        return obj
    raise ValueError(f"cannot resolve {dotted!r}: no module {parts[0]!r}")


_LAYERS: dict[str, LayerSpec] = {}
_MODELS: dict[str, dict] = {}


def register_layer(spec: LayerSpec) -> LayerSpec:
    """Add a layer to the registry (once per name)."""
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"spec must be a LayerSpec, got {type(spec).__name__}")
    if spec.name in _LAYERS and _LAYERS[spec.name] is not spec:
        existing = _LAYERS[spec.name]
        same = (existing.forward is spec.forward and existing.backward is spec.backward)
        if not same:
            raise ValueError(f"a layer named {spec.name!r} is already registered")
    _LAYERS[spec.name] = spec
    return spec


def _load_layers() -> None:
    importlib.import_module("cnncourse.scratch")


def get_layer(name: str) -> LayerSpec:
    """The registered layer called ``name``."""
    _load_layers()
    if name not in _LAYERS:
        raise ValueError(f"name must be one of {', '.join(sorted(_LAYERS))}; got {name!r}")
    return _LAYERS[name]


def list_layers(family: str | None = None) -> list[str]:
    """Names of the registered layers, optionally of one family, sorted."""
    _load_layers()
    return sorted(n for n, s in _LAYERS.items() if family is None or s.family == family)


def update_layer(name: str, **changes) -> LayerSpec:
    """Fill in fields of a registered layer (``cnncourse.nn`` adds its own names this way)."""
    import dataclasses

    spec = get_layer(name)
    _LAYERS[name] = dataclasses.replace(spec, **changes)
    return _LAYERS[name]


def register_model(name: str, builder: Callable | None = None, *, family: str = "",
                   input_size: tuple = (3, 224, 224), reference_parameters: int | None = None,
                   reference: str = "", chapter: str = "", task: str = "classification",
                   loss: str | None = None):
    """Register a model builder (usable as a decorator).

    ``input_size`` is the (C, H, W) the model is built for by default; ``reference_parameters``
    the parameter count of the published configuration (``reference`` names the source), which a
    test compares with the built model.
    """

    def add(function: Callable) -> Callable:
        if name in _MODELS and _MODELS[name]["builder"] is not function:
            raise ValueError(f"a model named {name!r} is already registered")
        _MODELS[name] = {"builder": function, "family": family, "input_size": tuple(input_size),
                         "reference_parameters": reference_parameters, "reference": reference,
                         "chapter": chapter, "task": task, "name": name, "loss": loss}
        return function

    return add(builder) if builder is not None else add


def _load_models() -> None:
    try:
        importlib.import_module("cnncourse.models")
    except ModuleNotFoundError as error:  # before the models exist
        if error.name != "cnncourse.models":
            raise


def get_model(name: str, **kwargs):
    """Build the registered model ``name`` with the builder's keyword arguments."""
    _load_models()
    if name not in _MODELS:
        raise ValueError(f"name must be one of {', '.join(sorted(_MODELS)) or '(none)'}; got {name!r}")
    return _MODELS[name]["builder"](**kwargs)


def model_info(name: str) -> dict:
    """What was registered with a model: family, default input size, reference parameter count."""
    _load_models()
    if name not in _MODELS:
        raise ValueError(f"name must be one of {', '.join(sorted(_MODELS)) or '(none)'}; got {name!r}")
    return dict(_MODELS[name])


def list_models(family: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered models, optionally of one family or task, sorted."""
    _load_models()
    return sorted(n for n, m in _MODELS.items()
                  if (family is None or m["family"] == family) and (task is None or m["task"] == task))
