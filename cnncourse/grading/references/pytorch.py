"""Exercise 06-pytorch: the reference of every task, built on cnncourse.nn and cnncourse.train.

``conv2d_unfold`` is the package's convolution (:func:`cnncourse.nn.functional.conv2d`, im2col and
one matrix product); ``Conv2dFunction`` runs it inside a :class:`torch.autograd.Function` whose
backward pass is the package's hand-written one (:class:`cnncourse.nn.autograd.Conv2dFunction`),
reached through the small graph that the forward pass keeps; ``train_digits`` trains a LeNet-style
network whose convolutions run a given Function, with :func:`cnncourse.train.fit`. All three keep
the dtype and the device of their inputs, so that the grader can train with ``Conv2dFunction`` in
place of a student's Function that has a mistake.
"""

import torch
from torch import nn

from cnncourse.nn import functional as _functional
from cnncourse.train import TrainConfig, fit

__all__ = ["conv2d_unfold", "Conv2dFunction", "train_digits"]


def conv2d_unfold(x, w, b=None, stride=1, padding=0):
    return _functional.conv2d(x, w, b, stride=stride, padding=padding)


class Conv2dFunction(torch.autograd.Function):
    """``Conv2dFunction.apply(x, w, b, stride, padding)``: the convolution with the package's
    hand-written backward pass."""

    @staticmethod
    def forward(ctx, x, w, b, stride=1, padding=0):
        with torch.enable_grad():
            inputs = [t.detach().requires_grad_() for t in (x, w, b) if t is not None]
            out = _functional.conv2d(*inputs[:2], inputs[2] if b is not None else None,
                                     stride=stride, padding=padding)
        ctx.graph = (out, inputs, b is not None)
        return out.detach()

    @staticmethod
    def backward(ctx, dout):
        out, inputs, has_bias = ctx.graph
        ctx.graph = None
        grads = list(torch.autograd.grad(out, inputs, dout))  # Conv2dFunction.backward
        return grads[0], grads[1], (grads[2] if has_bias else None), None, None


class _FunctionConv2d(nn.Module):
    """A convolutional layer (weight, bias; He initialisation) whose forward pass runs an autograd
    Function with the signature of ``Conv2dFunction``."""

    def __init__(self, function, in_channels, out_channels, kernel_size, padding=0):
        super().__init__()
        self.function, self.padding = function, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.kaiming_normal_(self.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x):
        return self.function.apply(x, self.weight, self.bias, 1, self.padding)


def train_digits(x_train, y_train, function=Conv2dFunction):
    torch.manual_seed(0)
    model = nn.Sequential(
        _FunctionConv2d(function, 1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        _FunctionConv2d(function, 16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    config = TrainConfig(epochs=6, batch_size=32, lr=3e-3, optimizer="adam", device="auto", seed=0,
                         progress=False)
    history = fit(model, (x_train, y_train), config=config)
    return model, history
