"""The course's layers in PyTorch: the scratch NumPy layers again, on any device.

``cnncourse.nn.functional``
    every layer of :mod:`cnncourse.scratch` as a function of tensors, with the same arguments and
    the same numbers, written with elementary tensor operations;
``cnncourse.nn.autograd``
    the hand-written backward passes of the convolution and of max pooling, as
    :class:`torch.autograd.Function`;
``cnncourse.nn`` (this package)
    the layers as :class:`torch.nn.Module` classes with the constructor arguments, parameter
    names and state of the ``torch.nn`` modules they replace (:func:`to_builtin` and
    :func:`from_builtin` swap them in a network);
``cnncourse.nn.optim``
    SGD and Adam as :class:`torch.optim.Optimizer` subclasses.

Importing this package also completes the layer registry of :mod:`cnncourse.registry`: every
registered layer learns the dotted names of its ``cnncourse.nn`` function and, where they exist,
of its ``cnncourse.nn`` module and the ``torch.nn`` module it stands for (:data:`LAYER_NAMES`).
"""

from cnncourse.nn import autograd, functional, optim
from cnncourse.nn.modules import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    MSELoss,
    ReLU,
    ReLU6,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    from_builtin,
    to_builtin,
)
from cnncourse.nn.optim import SGD, Adam
from cnncourse.registry import get_layer, list_layers, update_layer

__all__ = [
    "autograd", "functional", "optim",
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten",
    "GlobalAvgPool2d", "Linear", "MaxPool2d", "MSELoss", "ReLU", "ReLU6", "Sigmoid", "Softmax",
    "Softplus", "Tanh", "from_builtin", "to_builtin", "SGD", "Adam", "LAYER_NAMES",
]

LAYER_NAMES = {
    # registered layer: (cnncourse.nn.functional name, cnncourse.nn module, torch.nn module)
    "conv2d": ("conv2d", "Conv2d", "Conv2d"),
    "max_pool2d": ("max_pool2d", "MaxPool2d", "MaxPool2d"),
    "avg_pool2d": ("avg_pool2d", "AvgPool2d", "AvgPool2d"),
    "global_avg_pool2d": ("global_avg_pool2d", "GlobalAvgPool2d", None),
    "sigmoid": ("sigmoid", "Sigmoid", "Sigmoid"),
    "tanh": ("tanh", "Tanh", "Tanh"),
    "relu": ("relu", "ReLU", "ReLU"),
    "relu6": ("relu6", "ReLU6", "ReLU6"),
    "softplus": ("softplus", "Softplus", "Softplus"),
    "linear": ("linear", "Linear", "Linear"),
    "flatten": ("flatten", "Flatten", "Flatten"),
    "softmax": ("softmax", "Softmax", "Softmax"),
    "softmax_cross_entropy": ("softmax_cross_entropy", "CrossEntropyLoss", "CrossEntropyLoss"),
    "cross_entropy": ("cross_entropy", None, None),
    "mse_loss": ("mse_loss", "MSELoss", "MSELoss"),
    "batch_norm": ("batch_norm", "BatchNorm2d", "BatchNorm2d"),
    "batch_norm_per_pixel": ("batch_norm_per_pixel", None, None),
    "dropout": ("masked_dropout", "Dropout", "Dropout"),
}
"""The ``cnncourse.nn`` names of every registered layer. ``None`` where PyTorch has no module of
its own for the layer (global average pooling, cross-entropy of probabilities, batch
normalisation per pixel) and, for the last two, neither has the course. The registered
``dropout`` is the deterministic form with a given mask, ``masked_dropout``."""


def _complete_the_registry() -> None:
    for name in list_layers():
        if name not in LAYER_NAMES:
            continue  # a layer without nn names fails tests/test_nn_parity.py
        function, module, builtin = LAYER_NAMES[name]
        changes = {"nn_functional": f"cnncourse.nn.functional.{function}"}
        if module is not None:
            changes["nn_module"] = f"cnncourse.nn.{module}"
        if builtin is not None:
            changes["torch_module"] = f"torch.nn.{builtin}"
        current = get_layer(name)
        if any(getattr(current, field) != value for field, value in changes.items()):
            update_layer(name, **changes)


_complete_the_registry()
