"""The two classes every scratch network is made of: :class:`Parameter` and :class:`Layer`.

A layer wraps one forward/backward pair of functions (``conv2d_forward`` / ``conv2d_backward``,
...): ``forward`` keeps the cache the backward pass needs, ``backward`` turns the gradient of the
loss with respect to the layer's output into the gradient with respect to its input, and adds the
gradients of its parameters to their ``grad`` (they accumulate, as in PyTorch, until
``zero_grad``). Optimizers (``cnncourse.scratch.optim``) only see the list of parameters.
"""

from __future__ import annotations

import numpy as np


class Parameter:
    """A learnable array and the gradient of the loss with respect to it."""

    __slots__ = ("data", "grad", "name")

    def __init__(self, data, name: str = ""):
        array = np.array(data, copy=True)
        if array.dtype.kind != "f":
            raise TypeError(f"data must be a floating-point array, got dtype {array.dtype}")
        self.data = array
        self.grad = np.zeros_like(array)
        self.name = name

    @property
    def shape(self) -> tuple:
        return self.data.shape

    def zero_grad(self) -> None:
        self.grad[...] = 0

    def __repr__(self) -> str:
        return f"Parameter({self.name or 'unnamed'}, shape={self.data.shape}, dtype={self.data.dtype})"


class Layer:
    """Base class: a forward pass that remembers, a backward pass that uses what it remembered.

    Subclasses implement :meth:`forward` and :meth:`backward` and register their parameters as
    attributes holding :class:`Parameter` objects (found by :meth:`parameters`). ``training``
    switches layers that behave differently at test time (dropout, batch normalization).
    """

    training: bool = True

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __call__(self, x):
        return self.forward(x)

    # ------------------------------------------------------------------ parameters
    def named_parameters(self, prefix: str = ""):
        """``(name, Parameter)`` pairs of this layer and of the layers it contains."""
        for attribute, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + attribute, value
            elif isinstance(value, Layer):
                yield from value.named_parameters(f"{prefix}{attribute}.")
            elif isinstance(value, (list, tuple)):
                for index, item in enumerate(value):
                    if isinstance(item, Layer):
                        yield from item.named_parameters(f"{prefix}{attribute}.{index}.")

    def parameters(self) -> list:
        """The layer's :class:`Parameter` objects, nested layers included."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def num_parameters(self) -> int:
        return int(sum(p.data.size for p in self.parameters()))

    # ------------------------------------------------------------------ modes
    def children(self) -> list:
        found = []
        for value in vars(self).values():
            if isinstance(value, Layer):
                found.append(value)
            elif isinstance(value, (list, tuple)):
                found.extend(item for item in value if isinstance(item, Layer))
        return found

    def train(self, mode: bool = True) -> "Layer":
        """Switch to training mode (``mode=False``: evaluation mode), children included."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool, got {type(mode).__name__}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Layer":
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
