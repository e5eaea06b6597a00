"""Exercise 05-training: the reference of every task, built on cnncourse.scratch."""

import numpy as np

from cnncourse.scratch.dropout import dropout_forward as _package_dropout_forward
from cnncourse.scratch.dropout import masked_dropout_backward, masked_dropout_forward
from cnncourse.scratch.layer import Parameter
from cnncourse.scratch.losses import (CrossEntropyLoss, softmax_cross_entropy_backward,
                                      softmax_cross_entropy_forward)
from cnncourse.scratch.losses import softmax as _package_softmax
from cnncourse.scratch.network import fit, lenet
from cnncourse.scratch.optim import SGD, Adam

__all__ = ["softmax", "softmax_cross_entropy", "dropout_forward", "dropout_backward",
           "momentum_step", "adam_step", "train_digits"]


def _float(array):
    """A float array (integers become float64; float dtypes are kept)."""
    array = np.asarray(array)
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def softmax(logits):
    return _package_softmax(_float(logits), axis=-1)


def softmax_cross_entropy(logits, labels):
    loss, cache = softmax_cross_entropy_forward(_float(logits), np.asarray(labels))
    return loss, softmax_cross_entropy_backward(1.0, cache)


def dropout_forward(x, p_keep, rng):
    x = _float(x)
    out, (scale,) = _package_dropout_forward(x, p_keep, training=True, rng=np.random.default_rng(rng))
    mask = np.ones(x.shape, dtype=bool) if scale is None else scale != 0
    return out, mask


def dropout_backward(dout, mask, p_keep):
    dout = _float(dout)
    _, cache = masked_dropout_forward(np.zeros_like(dout), np.asarray(mask), p_keep)
    return masked_dropout_backward(dout, cache)


def momentum_step(param, grad, velocity, lr, momentum=0.9):
    p = Parameter(_float(param))
    optimizer = SGD([p], lr=lr, momentum=momentum)
    p.grad[...] = grad
    if momentum == 0:  # plain SGD keeps no velocity: v_new = 0 * v + grad
        optimizer.step()
        return p.data, p.grad.copy()
    optimizer.velocities[0] = np.array(velocity, dtype=p.data.dtype)
    optimizer.step()
    return p.data, optimizer.velocities[0]


def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    p = Parameter(_float(param))
    optimizer = Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    optimizer.t = int(t) - 1
    optimizer.m[0][...] = m
    optimizer.v[0][...] = v
    p.grad[...] = grad
    optimizer.step()
    return p.data, optimizer.m[0], optimizer.v[0]


def train_digits(x_train, y_train):
    model = lenet(in_channels=1, num_classes=10, input_size=np.shape(x_train)[-1], rng=0,
                  channels=(16, 32), kernel_size=3, hidden=64)
    optimizer = Adam(model.parameters(), lr=0.01)
    fit(model, CrossEntropyLoss(), optimizer, x_train, y_train, epochs=12, batch_size=128, seed=0,
        progress=False)
    return model
