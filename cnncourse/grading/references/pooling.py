"""Exercise 03-pooling: the reference of every task, built on cnncourse.scratch.

Every function computes in float64 whatever the precision of its inputs (see conv_layer.py).
"""

import numpy as np

from cnncourse.scratch import global_avg_pool2d_forward, max_pool2d_forward
from cnncourse.scratch import avg_pool2d as _avg_pool2d
from cnncourse.scratch import global_avg_pool2d as _global_avg_pool2d
from cnncourse.scratch import global_avg_pool2d_backward as _global_avg_pool2d_backward
from cnncourse.scratch import max_pool2d as _max_pool2d
from cnncourse.scratch import max_pool2d_backward as _max_pool2d_backward

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "global_avg_pool2d",
           "global_avg_pool2d_backward"]


def _float64(a):
    return np.asarray(a, dtype=np.float64)


def max_pool2d(x, kernel_size, stride=None):
    return _max_pool2d(_float64(x), kernel_size, stride)


def max_pool2d_backward(dout, x, kernel_size, stride=None):
    _, cache = max_pool2d_forward(_float64(x), kernel_size, stride)
    return _max_pool2d_backward(_float64(dout), cache)


def avg_pool2d(x, kernel_size, stride=None):
    return _avg_pool2d(_float64(x), kernel_size, stride)


def global_avg_pool2d(x):
    return _global_avg_pool2d(_float64(x))


def global_avg_pool2d_backward(dout, x_shape):
    x_shape = tuple(int(n) for n in x_shape)
    _, cache = global_avg_pool2d_forward(np.zeros(x_shape))
    return _global_avg_pool2d_backward(_float64(dout), cache)
