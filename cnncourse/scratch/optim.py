"""Gradient-descent optimizers and learning-rate schedules for scratch networks.

An optimizer holds a list of :class:`~cnncourse.scratch.layer.Parameter` objects; after the
backward pass has filled their ``grad``, :meth:`Optimizer.step` moves every ``data`` a little
against its gradient, and :meth:`Optimizer.zero_grad` clears the gradients for the next
mini-batch (they accumulate otherwise). The update rules are PyTorch's, so that a scratch
optimizer and :mod:`torch.optim` given the same gradients produce the same parameters:

* :class:`SGD`: mini-batch stochastic gradient descent, with momentum (heavy ball or Nesterov)
  and weight decay;
* :class:`Adam`: a per-parameter step size from running averages of the gradient and of its
  square.

A schedule changes the optimizer's ``lr`` between epochs (learning-rate decay): :class:`StepLR`,
:class:`ExponentialLR`, :class:`CosineAnnealingLR`, with the numbers of
:mod:`torch.optim.lr_scheduler`.
"""

from __future__ import annotations

import math

import numpy as np

from cnncourse import _checks
from cnncourse.scratch.layer import Parameter


class Optimizer:
    """Base class: the parameters, the learning rate ``lr`` and :meth:`zero_grad`."""

    def __init__(self, params, lr: float):
        if isinstance(params, Parameter):
            raise TypeError("params must be a list of Parameters, got a single Parameter")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params must be a list of Parameters, got {type(params).__name__}") from None
        if not params:
            raise ValueError("params must hold at least one Parameter, got an empty list")
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"params must hold Parameters, got {type(p).__name__}")
        self.params = params
        self.lr = _checks.real(lr, "lr", minimum=0.0)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay.

    With gradient :math:`g_t`, velocity :math:`v` and learning rate :math:`\\eta`:

    .. math::
        g_t &\\leftarrow g_t + \\lambda\\, \\theta_{t-1} \\quad \\text{(weight decay)} \\\\
        v_t &= \\mu\\, v_{t-1} + g_t \\quad (v_1 = g_1) \\\\
        \\theta_t &= \\theta_{t-1} - \\eta\\, v_t
        \\quad \\text{or, with Nesterov,} \\quad
        \\theta_t = \\theta_{t-1} - \\eta\\, (g_t + \\mu\\, v_t)

    This is PyTorch's formulation (the velocity accumulates gradients and the learning rate
    scales it at each step), equal to the textbook :math:`v_t = \\mu v_{t-1} - \\eta g_t`,
    :math:`\\theta_t = \\theta_{t-1} + v_t` while :math:`\\eta` is constant. With momentum the
    steps along a direction the gradient keeps pointing to grow up to :math:`1/(1-\\mu)` times,
    and oscillating components cancel.

    Args:
        params: list of Parameters.
        lr: learning rate :math:`\\eta \\ge 0`.
        momentum: :math:`\\mu \\in [0, 1)`; 0 is plain SGD.
        nesterov: use Nesterov momentum (needs ``momentum > 0``).
        weight_decay: :math:`\\lambda \\ge 0`, the L2 penalty :math:`\\frac{\\lambda}{2}\\lVert\\theta\\rVert^2`.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum = _checks.real(momentum, "momentum", minimum=0.0, maximum=1.0, open_maximum=True)
        nesterov = _checks.boolean(nesterov, "nesterov")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.nesterov = nesterov
        self.weight_decay = _checks.real(weight_decay, "weight_decay", minimum=0.0)
        self.velocities = [None] * len(self.params)

    def step(self) -> None:
        """Update every parameter from its current gradient."""
        for index, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                v = self.velocities[index]
                if v is None:
                    v = self.velocities[index] = g.copy()
                else:
                    v *= self.momentum
                    v += g
                g = g + self.momentum * v if self.nesterov else v
            p.data -= self.lr * g

    def __repr__(self) -> str:
        return (f"SGD(lr={self.lr:g}, momentum={self.momentum:g}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay:g})")


class Adam(Optimizer):
    """Adam: gradient descent with a step size adapted to every parameter.

    .. math::
        m_t &= \\beta_1 m_{t-1} + (1-\\beta_1)\\, g_t, \\qquad
        v_t = \\beta_2 v_{t-1} + (1-\\beta_2)\\, g_t^2 \\\\
        \\hat{m}_t &= \\frac{m_t}{1-\\beta_1^t}, \\qquad \\hat{v}_t = \\frac{v_t}{1-\\beta_2^t} \\\\
        \\theta_t &= \\theta_{t-1} - \\eta\\, \\frac{\\hat{m}_t}{\\sqrt{\\hat{v}_t} + \\epsilon}

    :math:`m` is a running mean of the gradient (momentum), :math:`v` of its square; dividing by
    :math:`\\sqrt{v}` makes the step of each parameter about :math:`\\eta` whatever the scale of
    its gradient. The bias corrections undo the start of both averages at zero. Weight decay
    :math:`\\lambda` adds :math:`\\lambda\\theta` to the gradient (PyTorch's ``Adam``, not
    ``AdamW``).

    Args:
        params: list of Parameters.
        lr: learning rate :math:`\\eta`.
        betas: :math:`(\\beta_1, \\beta_2)`, each in [0, 1).
        eps: :math:`\\epsilon > 0`.
        weight_decay: :math:`\\lambda \\ge 0`.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of numbers, got {betas!r}")
        self.betas = (_checks.real(betas[0], "betas[0]", minimum=0.0, maximum=1.0, open_maximum=True),
                      _checks.real(betas[1], "betas[1]", minimum=0.0, maximum=1.0, open_maximum=True))
        self.eps = _checks.real(eps, "eps", minimum=0.0, open_minimum=True)
        self.weight_decay = _checks.real(weight_decay, "weight_decay", minimum=0.0)
        self.t = 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """Update every parameter from its current gradient."""
        self.t += 1
        beta1, beta2 = self.betas
        correction1 = 1.0 - beta1 ** self.t
        correction2 = 1.0 - beta2 ** self.t
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * (g * g)
            denominator = np.sqrt(v) / math.sqrt(correction2) + self.eps
            p.data -= (self.lr / correction1) * m / denominator

    def __repr__(self) -> str:
        return (f"Adam(lr={self.lr:g}, betas={self.betas}, eps={self.eps:g}, "
                f"weight_decay={self.weight_decay:g})")


# --------------------------------------------------------------------------- schedules
class LRScheduler:
    """Base class: sets ``optimizer.lr`` from the epoch count at every :meth:`step`.

    Created at epoch 0 with the optimizer's learning rate as the base rate; call :meth:`step`
    once at the end of every epoch. Subclasses give the rate of epoch ``t`` in closed form
    (:meth:`lr_at`).
    """

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a scratch Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self.optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rate for it."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> float:
        """The learning rate set by the last step (a float: the scratch optimizers have one)."""
        return self.optimizer.lr


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    .. math:: \\eta_t = \\eta_0\\, \\gamma^{\\lfloor t / s \\rfloor}

    Args:
        optimizer: a scratch optimizer.
        step_size: :math:`s \\ge 1`, epochs between decays.
        gamma: the factor, > 0 (usually 0.1).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = _checks.integer(step_size, "step_size", minimum=1)
        self.gamma = _checks.real(gamma, "gamma", minimum=0.0, open_minimum=True)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch: :math:`\\eta_t = \\eta_0 \\gamma^t`.

    Args:
        optimizer: a scratch optimizer.
        gamma: the factor per epoch, > 0.
    """

    def __init__(self, optimizer: Optimizer, gamma: float):
        self.gamma = _checks.real(gamma, "gamma", minimum=0.0, open_minimum=True)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """Lower the learning rate along half a cosine from :math:`\\eta_0` to ``eta_min``.

    .. math:: \\eta_t = \\eta_{min} + \\frac{\\eta_0 - \\eta_{min}}{2}
              \\Big(1 + \\cos\\frac{\\pi t}{T_{max}}\\Big)

    The rate reaches ``eta_min`` at epoch :math:`T_{max}` (and, like PyTorch's, rises again
    along the cosine if training goes on).

    Args:
        optimizer: a scratch optimizer.
        T_max: :math:`T_{max} \\ge 1`, the number of epochs of the descent.
        eta_min: the final learning rate, >= 0.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803
        self.T_max = _checks.integer(T_max, "T_max", minimum=1)
        self.eta_min = _checks.real(eta_min, "eta_min", minimum=0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
