"""Exercise 02-conv-layer: the reference of every task, built on cnncourse.scratch.

Every function computes in float64 whatever the precision of its inputs: expected values are then
as exact as they can be, and the checker's stand-ins never replace a student's float64 result,
correct to the last digits, by a less precise float32 one.
"""

import numpy as np

from cnncourse.scratch import conv2d_forward
from cnncourse.scratch import conv2d as _conv2d
from cnncourse.scratch import conv2d_backward as _conv2d_backward
from cnncourse.scratch import conv_output_size as _conv_output_size

__all__ = ["conv_output_size", "conv2d", "conv2d_backward", "pixels_as_rows", "edge_filters"]

# Prewitt's kernels: brighter to the right (vertical edge) and brighter downwards (horizontal edge).
_VERTICAL = np.array([[-1.0, 0.0, 1.0],
                      [-1.0, 0.0, 1.0],
                      [-1.0, 0.0, 1.0]])


def conv_output_size(size, kernel_size, stride=1, padding=0):
    return _conv_output_size(int(size), int(kernel_size), int(stride), int(padding))


def _float64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def conv2d(x, w, b, stride=1, padding=0):
    x, w, b = _float64(x, w, b)
    return _conv2d(x, w, b, stride=int(stride), padding=int(padding))


def conv2d_backward(dout, x, w, b, stride=1, padding=0):
    dout, x, w, b = _float64(dout, x, w, b)
    _, cache = conv2d_forward(x, w, b, stride=int(stride), padding=int(padding))
    return _conv2d_backward(dout, cache)


def pixels_as_rows(x):
    x = np.asarray(x)
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def edge_filters():
    w = np.stack([_VERTICAL, _VERTICAL.T])[:, np.newaxis]   # (2, 1, 3, 3)
    return w, np.zeros(2)
