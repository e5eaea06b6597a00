"""cnncourse.scratch.optim step by step against torch.optim and torch.optim.lr_scheduler."""

import numpy as np
import pytest
import torch

from cnncourse.scratch.layer import Parameter
from cnncourse.scratch.optim import SGD, Adam, CosineAnnealingLR, ExponentialLR, StepLR

SHAPES = [(3, 4), (5,), (2, 3, 2, 2)]
STEPS = 20


def twin_parameters(seed=0):
    rng = np.random.default_rng(seed)
    ours = [Parameter(rng.normal(size=s)) for s in SHAPES]
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    return ours, theirs


def run_side_by_side(make_ours, make_theirs, steps=STEPS, seed=0):
    """The same gradients (a function of the current parameters, plus noise) on both sides."""
    ours, theirs = twin_parameters(seed)
    opt, topt = make_ours(ours), make_theirs(theirs)
    rng = np.random.default_rng(seed + 1)
    for _ in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        for p, t in zip(ours, theirs):
            g = np.sin(p.data) + rng.normal(size=p.shape)
            p.grad += g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)
    return ours


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.5, weight_decay=0.01),
    dict(lr=0.1, weight_decay=0.1),
])
def test_sgd_equals_torch(kwargs):
    run_side_by_side(lambda ps: SGD(ps, **kwargs), lambda ts: torch.optim.SGD(ts, **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99)),
    dict(lr=0.005, eps=1e-6, weight_decay=0.05),
])
def test_adam_equals_torch(kwargs):
    run_side_by_side(lambda ps: Adam(ps, **kwargs), lambda ts: torch.optim.Adam(ts, **kwargs))


def test_momentum_moves_further_than_plain_sgd_on_a_constant_gradient():
    plain, heavy = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    opts = [SGD([plain], lr=0.1), SGD([heavy], lr=0.1, momentum=0.9)]
    for _ in range(30):
        for p, opt in zip((plain, heavy), opts):
            p.zero_grad()
            p.grad += 1.0
            opt.step()
    assert plain.data[0] == pytest.approx(-3.0)
    # sum over t of 0.1 * (1 - 0.9**t) / 0.1: the velocity tends to 1 / (1 - 0.9) = 10
    assert heavy.data[0] == pytest.approx(-sum((1 - 0.9 ** t) / 0.1 * 0.1 for t in range(1, 31)))


def test_zero_grad_clears_and_step_keeps_dtype():
    p = Parameter(np.ones(3, dtype=np.float32))
    p.grad += 2.0
    opt = Adam([p], lr=0.1)
    opt.step()
    assert p.data.dtype == np.float32
    opt.zero_grad()
    np.testing.assert_array_equal(p.grad, 0.0)


@pytest.mark.parametrize("ours, theirs, kwargs", [
    (StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=3, gamma=0.5)),
    (StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=1, gamma=0.9)),
    (ExponentialLR, torch.optim.lr_scheduler.ExponentialLR, dict(gamma=0.8)),
    (CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR, dict(T_max=7)),
    (CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR, dict(T_max=10, eta_min=0.01)),
])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_schedules_equal_torch(ours, theirs, kwargs, optimizer):
    (p, *_), (t, *_) = twin_parameters()
    if optimizer == "sgd":
        opt, topt = SGD([p], lr=0.3, momentum=0.9), torch.optim.SGD([t], lr=0.3, momentum=0.9)
    else:
        opt, topt = Adam([p], lr=0.3), torch.optim.Adam([t], lr=0.3)
    schedule, tschedule = ours(opt, **kwargs), theirs(topt, **kwargs)
    rng = np.random.default_rng(0)
    for epoch in range(STEPS):
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12, abs=1e-15), epoch
        g = rng.normal(size=p.shape)
        p.grad[...] = g
        t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        schedule.step()
        tschedule.step()
        assert schedule.get_last_lr() == pytest.approx(tschedule.get_last_lr()[0], rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_cosine_schedule_reaches_eta_min_at_t_max():
    opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    schedule = CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    lrs = [opt.lr]
    for _ in range(4):
        schedule.step()
        lrs.append(schedule.get_last_lr())
    assert lrs[0] == 1.0 and lrs[2] == pytest.approx(0.55) and lrs[4] == pytest.approx(0.1)


def test_arguments_are_checked():
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="params must hold at least one Parameter"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="params must hold Parameters, got ndarray"):
        SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="got a single Parameter"):
        SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0.0, got -0.1"):
        SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="momentum must be < 1.0"):
        SGD([p], lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\] must be < 1.0"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps must be > 0.0"):
        Adam([p], eps=0.0)
    with pytest.raises(ValueError, match="step_size must be at least 1"):
        StepLR(SGD([p], lr=0.1), step_size=0)
    with pytest.raises(TypeError, match="optimizer must be a scratch Optimizer"):
        ExponentialLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), gamma=0.9)
