"""LeNet: the small convolutional classifier the course first trains, now in PyTorch.

The layers are those of the NumPy network :func:`cnncourse.scratch.network.lenet`, in the same
order and with the same shapes, so that the weights of one can be copied into the other
(:func:`load_scratch_weights`, :func:`export_scratch_weights`) and both give the same outputs:

.. code-block:: text

    Conv2d(in_channels, c1, k, padding=k//2) - ReLU - MaxPool2d(2)
    Conv2d(c1, c2, k, padding=k//2)          - ReLU - MaxPool2d(2)
    Flatten - Linear(c2 * h * w, hidden) - ReLU - Linear(hidden, num_classes)
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse import _checks
from cnncourse.registry import register_model


class LeNet(nn.Sequential):
    r"""A LeNet-style classifier: two convolution blocks and two fully connected layers.

    Each convolution keeps the size (odd ``k`` with padding ``k // 2``) and each pooling halves
    it, so the first fully connected layer sees ``c2 * (H // 4) * (W // 4)`` features. The
    convolutions start from He initialisation,
    :math:`w \sim \mathcal N(0,\ 2 / (C K^2))` with zero bias, and the linear layers from
    PyTorch's uniform :math:`\mathcal U(-1/\sqrt{d_{in}},\ 1/\sqrt{d_{in}})`: the same
    distributions as the NumPy network.

    Args:
        num_classes: number of classes (outputs).
        in_channels: channels of the input images.
        input_size: height and width of the inputs, an int (square) or ``(H, W)``, each >= 4.
        channels: ``(c1, c2)``, the filters of the two convolutions.
        kernel_size: ``k``, the size of the convolution kernels.
        hidden: units of the hidden fully connected layer.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, num_classes)``, the logits
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size=8,
                 channels=(6, 16), kernel_size: int = 5, hidden: int = 120):
        num_classes = _checks.integer(num_classes, "num_classes", minimum=1)
        in_channels = _checks.integer(in_channels, "in_channels", minimum=1)
        height, width = _checks.pair(input_size, "input_size", minimum=4)
        c1, c2 = _checks.pair(channels, "channels", minimum=1)
        kernel_size = _checks.integer(kernel_size, "kernel_size", minimum=1)
        hidden = _checks.integer(hidden, "hidden", minimum=1)
        padding = kernel_size // 2
        for _ in range(2):  # convolution (stride 1) then 2 x 2 pooling
            height = (height + 2 * padding - kernel_size + 1) // 2
            width = (width + 2 * padding - kernel_size + 1) // 2
        if height < 1 or width < 1:
            raise ValueError(f"input_size={input_size!r} is too small for kernel_size={kernel_size}: "
                             "the feature maps vanish before the fully connected layers")
        super().__init__(
            nn.Conv2d(in_channels, c1, kernel_size, padding=padding), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size, padding=padding), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * height * width, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
        for module in self:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)


@register_model("lenet", family="lenet", input_size=(1, 8, 8), chapter="book/08-gpu",
                reference="LeCun et al. 1998 (layer sizes of the course's NumPy LeNet)")
def lenet(num_classes: int = 10, in_channels: int = 1, input_size=8, **options) -> LeNet:
    """Build a :class:`LeNet`; ``options`` are ``channels``, ``kernel_size`` and ``hidden``."""
    return LeNet(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **options)


# --------------------------------------------------------------------------- weight exchange
def _pairs(model: nn.Module, scratch) -> list:
    """Matching (tensor, scratch Parameter) pairs, checked by name and shape."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not hasattr(scratch, "named_parameters") or isinstance(scratch, nn.Module):
        raise TypeError(f"scratch must be a scratch network (cnncourse.scratch), got {type(scratch).__name__}")
    ours = dict(model.named_parameters())
    theirs = {name.removeprefix("layers."): p for name, p in scratch.named_parameters()}
    if set(ours) != set(theirs):
        raise ValueError(f"the networks have different layers: model has {sorted(ours)}, "
                         f"scratch has {sorted(theirs)}")
    pairs = []
    for name, tensor in ours.items():
        if tuple(tensor.shape) != tuple(theirs[name].shape):
            raise ValueError(f"parameter {name!r} has shape {tuple(tensor.shape)} in model and "
                             f"{tuple(theirs[name].shape)} in scratch")
        pairs.append((tensor, theirs[name]))
    return pairs


def load_scratch_weights(model: nn.Module, scratch) -> nn.Module:
    """Copy the weights of a NumPy network into ``model`` (in place, keeping its dtype and device).

    The layers must match by position and shape: a :class:`LeNet` and the
    :func:`cnncourse.scratch.network.lenet` built with the same arguments do.

    Returns:
        ``model``.
    """
    with torch.no_grad():
        for tensor, parameter in _pairs(model, scratch):
            tensor.copy_(torch.as_tensor(parameter.data))
    return model


def export_scratch_weights(model: nn.Module, scratch):
    """Copy the weights of ``model`` into a NumPy network (in place, keeping its dtype).

    Returns:
        ``scratch``.
    """
    for tensor, parameter in _pairs(model, scratch):
        parameter.data[...] = tensor.detach().cpu().numpy()
    return scratch
