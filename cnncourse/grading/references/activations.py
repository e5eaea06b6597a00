"""Exercise 04-activations: the reference of every task, built on cnncourse.scratch.

Every function computes in float64 whatever the precision of its inputs (see conv_layer.py).
"""

import numpy as np

from cnncourse.scratch import Linear, ReLU6, Sequential, Sigmoid
from cnncourse.scratch import relu6 as _relu6
from cnncourse.scratch import relu6_backward as _relu6_backward
from cnncourse.scratch import sigmoid as _sigmoid
from cnncourse.scratch import softplus as _softplus
from cnncourse.scratch import softplus_backward as _softplus_backward

__all__ = ["relu6", "relu6_backward", "softplus", "sigmoid", "softplus_backward",
           "weight_gradient_norms"]

ACTIVATIONS = {"sigmoid": Sigmoid, "relu6": ReLU6}


def _float64(a):
    return np.asarray(a, dtype=np.float64)


def relu6(u):
    return _relu6(_float64(u))


def relu6_backward(dout, u):
    return _relu6_backward(_float64(dout), _float64(u))


def softplus(u):
    return _softplus(_float64(u))


def sigmoid(u):
    return _sigmoid(_float64(u))


def softplus_backward(dout, u):
    return _softplus_backward(_float64(dout), _float64(u))


def weight_gradient_norms(weights, x, dout, activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers = []
    for w in weights:
        w = np.asarray(w)
        layer = Linear(w.shape[1], w.shape[0], bias=False)
        layer.weight.data[...] = w
        layers += [layer, ACTIVATIONS[activation]()]
    stack = Sequential(*layers)
    stack.forward(_float64(x))
    stack.backward(_float64(dout))
    return np.array([np.linalg.norm(layer.weight.grad) for layer in layers[::2]])
