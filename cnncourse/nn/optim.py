"""SGD and Adam written out as :class:`torch.optim.Optimizer` subclasses.

The update rules of :mod:`cnncourse.scratch.optim`, on tensors of any device: the optimizers take
a model's ``parameters()`` (or parameter groups), read every ``p.grad`` after the backward pass
and move ``p`` in place. They keep PyTorch's constructor arguments, parameter groups and state
names (``momentum_buffer``; ``step``, ``exp_avg``, ``exp_avg_sq``), so that they give the numbers
of :class:`torch.optim.SGD` and :class:`torch.optim.Adam` step by step, and an optimizer's
``state_dict`` loads into the other. The learning-rate schedules of :mod:`torch.optim.lr_scheduler`
work with them unchanged.
"""

from __future__ import annotations

import torch

from cnncourse import _checks

__all__ = ["SGD", "Adam"]


def _learning_rate(lr) -> float:
    if isinstance(lr, torch.Tensor):
        raise TypeError("lr must be a real number, got a tensor")
    return _checks.real(lr, "lr", minimum=0.0)


class SGD(torch.optim.Optimizer):
    r"""Stochastic gradient descent with momentum (heavy ball or Nesterov) and weight decay.

    For every parameter :math:`\theta` with gradient :math:`g_t` (its negative with
    ``maximize=True``):

    .. math::
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \\
        v_t &= \mu v_{t-1} + (1 - \tau) g_t \quad (v_1 = g_1) \\
        \theta_t &= \theta_{t-1} - \eta\, v_t
        \quad\text{or, with Nesterov,}\quad
        \theta_t = \theta_{t-1} - \eta\, (g_t + \mu v_t)

    Args:
        params: the parameters, or a list of parameter groups (dicts).
        lr: learning rate :math:`\eta \ge 0`.
        momentum: :math:`\mu \ge 0`; 0 is plain SGD.
        dampening: :math:`\tau`, the share of the gradient left out of the velocity.
        weight_decay: :math:`\lambda \ge 0`, the L2 penalty :math:`\frac{\lambda}{2}\lVert\theta\rVert^2`.
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
        maximize: climb the objective instead.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=_learning_rate(lr),
                        momentum=_checks.real(momentum, "momentum", minimum=0.0),
                        dampening=_checks.real(dampening, "dampening"),
                        weight_decay=_checks.real(weight_decay, "weight_decay", minimum=0.0),
                        nesterov=_checks.boolean(nesterov, "nesterov"),
                        maximize=_checks.boolean(maximize, "maximize"))
        if defaults["nesterov"] and (defaults["momentum"] <= 0 or defaults["dampening"] != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={momentum!r} and dampening={dampening!r}")
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                if group["weight_decay"] != 0:
                    g = g + group["weight_decay"] * p
                if momentum != 0:
                    state = self.state[p]
                    v = state.get("momentum_buffer")
                    if v is None:
                        v = state["momentum_buffer"] = g.detach().clone()
                    else:
                        v.mul_(momentum).add_(g, alpha=1 - dampening)
                    g = g + momentum * v if group["nesterov"] else v
                p.add_(g, alpha=-lr)
        return loss


class Adam(torch.optim.Optimizer):
    r"""Adam: a step size for every parameter from running averages of the gradient and its square.

    .. math::
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    With ``amsgrad=True`` the largest :math:`v` seen so far replaces :math:`v_t` in the step.

    Args:
        params: the parameters, or a list of parameter groups.
        lr: learning rate :math:`\eta`.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda \ge 0` (added to the gradient, as ``torch.optim.Adam``).
        amsgrad: use the AMSGrad variant.
        maximize: climb the objective instead.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of numbers, got {betas!r}")
        defaults = dict(lr=_learning_rate(lr),
                        betas=(_checks.real(betas[0], "betas[0]", minimum=0.0, maximum=1.0, open_maximum=True),
                               _checks.real(betas[1], "betas[1]", minimum=0.0, maximum=1.0, open_maximum=True)),
                        eps=_checks.real(eps, "eps", minimum=0.0),
                        weight_decay=_checks.real(weight_decay, "weight_decay", minimum=0.0),
                        amsgrad=_checks.boolean(amsgrad, "amsgrad"),
                        maximize=_checks.boolean(maximize, "maximize"))
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    # the step count lives on the CPU as a float tensor, as in torch.optim.Adam
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = float(state["step"])
                if group["weight_decay"] != 0:
                    g = g + group["weight_decay"] * p
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if group["amsgrad"]:
                    torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                    v = state["max_exp_avg_sq"]
                correction1 = 1 - beta1 ** t
                correction2 = 1 - beta2 ** t
                denominator = (v.sqrt() / correction2 ** 0.5).add_(group["eps"])
                p.addcdiv_(m, denominator, value=-group["lr"] / correction1)
        return loss
