"""cnncourse.scratch.losses against torch: MSE, softmax, cross-entropy, fused loss, penalties."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.scratch.gradcheck import check_gradients
from cnncourse.scratch.layer import Parameter
from cnncourse.scratch.losses import (
    CLIP,
    CrossEntropyLoss,
    MSELoss,
    Penalty,
    add_l1_grad,
    add_l2_grad,
    cross_entropy,
    cross_entropy_backward,
    cross_entropy_forward,
    l1_penalty,
    l2_penalty,
    mse_loss,
    mse_loss_backward,
    mse_loss_forward,
    softmax,
    softmax_backward,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_forward,
)

rng = np.random.default_rng(7)


# ------------------------------------------------------------------------------ MSE
def test_mse_is_the_mean_over_all_elements_like_torch():
    pred, target = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    expected = F.mse_loss(torch.from_numpy(pred), torch.from_numpy(target)).item()
    assert mse_loss(pred, target) == pytest.approx(expected, rel=1e-12)
    # The slides' per-sample form sums over the 4 outputs: 4 times larger.
    per_sample = np.mean(np.sum((pred - target) ** 2, axis=1))
    assert per_sample == pytest.approx(4 * mse_loss(pred, target), rel=1e-12)


def test_mse_backward_matches_autograd_and_scales_with_dloss():
    pred, target = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    t = torch.tensor(pred, requires_grad=True)
    (2.5 * F.mse_loss(t, torch.from_numpy(target))).backward()
    _, cache = mse_loss_forward(pred, target)
    np.testing.assert_allclose(mse_loss_backward(2.5, cache), t.grad.numpy(), rtol=1e-12)


def test_mse_keeps_float32_and_checks_shapes():
    pred = rng.normal(size=(2, 3)).astype(np.float32)
    loss = mse_loss(pred, np.zeros((2, 3)))
    assert loss.dtype == np.float32
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        mse_loss(pred, np.zeros((3, 2)))


# ------------------------------------------------------------------------------ softmax
def test_softmax_rows_sum_to_one_and_equal_torch():
    logits = rng.normal(size=(5, 7)) * 4
    probs = softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(probs, torch.softmax(torch.from_numpy(logits), dim=-1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(softmax(logits.T, axis=0), probs.T, rtol=1e-14)


def test_softmax_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        probs = softmax(logits)
    np.testing.assert_allclose(probs, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-15)


def test_softmax_is_unchanged_by_a_constant_shift():
    logits = rng.normal(size=(3, 4))
    np.testing.assert_allclose(softmax(logits + 1000.0), softmax(logits), rtol=1e-12)


def test_softmax_backward_matches_numerical_gradient():
    logits = rng.normal(size=(3, 6))
    errors = check_gradients(lambda x: softmax_forward(x, axis=1), softmax_backward, [logits])
    assert errors[0] < 1e-8


def test_softmax_rejects_a_bad_axis():
    with pytest.raises(ValueError, match="axis must be at most 1"):
        softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError, match="axis must be an int"):
        softmax(np.zeros((2, 3)), axis=1.0)


# ------------------------------------------------------------------------------ cross-entropy
def test_cross_entropy_equals_nll_of_log_probabilities():
    probs = softmax(rng.normal(size=(6, 4)))
    labels = rng.integers(0, 4, size=6)
    expected = F.nll_loss(torch.log(torch.from_numpy(probs)), torch.from_numpy(labels)).item()
    assert cross_entropy(probs, labels) == pytest.approx(expected, rel=1e-12)
    # the slides' form with one-hot targets, divided by N
    one_hot = np.eye(4)[labels]
    assert cross_entropy(probs, labels) == pytest.approx(-np.sum(one_hot * np.log(probs)) / 6, rel=1e-12)


def test_cross_entropy_clips_zero_probabilities():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    loss = cross_entropy(probs, [1, 0])
    assert np.isfinite(loss)
    assert loss == pytest.approx((-np.log(CLIP) - np.log(0.5)) / 2, rel=1e-12)


def test_cross_entropy_backward_is_minus_one_over_n_p_at_the_label():
    probs = softmax(rng.normal(size=(4, 3)))
    labels = np.array([0, 2, 1, 2])
    _, cache = cross_entropy_forward(probs, labels)
    dprobs = cross_entropy_backward(1.0, cache)
    expected = np.zeros_like(probs)
    expected[np.arange(4), labels] = -1 / (4 * probs[np.arange(4), labels])
    np.testing.assert_allclose(dprobs, expected, rtol=1e-14)


# ------------------------------------------------------------------------------ fused loss
def test_softmax_cross_entropy_equals_torch_and_the_two_step_form():
    logits = rng.normal(size=(8, 10)) * 3
    labels = rng.integers(0, 10, size=8)
    expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert softmax_cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)
    assert softmax_cross_entropy(logits, labels) == pytest.approx(cross_entropy(softmax(logits), labels), rel=1e-12)


def test_softmax_cross_entropy_stays_finite_where_the_two_step_form_saturates():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]])
    labels = np.array([2, 1])
    expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, cache = softmax_cross_entropy_forward(logits, labels)
        dlogits = softmax_cross_entropy_backward(1.0, cache)
    assert loss == pytest.approx(expected, rel=1e-12)  # (2e4 + log 3) / 2
    assert np.all(np.isfinite(dlogits))
    assert cross_entropy(softmax(logits), labels) < loss  # the clipped version underestimates


def test_softmax_cross_entropy_gradient_is_softmax_minus_one_hot_over_n():
    logits = rng.normal(size=(5, 4))
    labels = np.array([0, 3, 3, 1, 2])
    _, cache = softmax_cross_entropy_forward(logits, labels)
    expected = (softmax(logits) - np.eye(4)[labels]) / 5
    np.testing.assert_allclose(softmax_cross_entropy_backward(1.0, cache), expected, rtol=1e-12, atol=1e-15)
    t = torch.tensor(logits, requires_grad=True)
    (0.5 * F.cross_entropy(t, torch.from_numpy(labels))).backward()
    np.testing.assert_allclose(softmax_cross_entropy_backward(0.5, cache), t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_keeps_float32():
    logits = rng.normal(size=(3, 4)).astype(np.float32)
    loss, cache = softmax_cross_entropy_forward(logits, [0, 1, 2])
    assert loss.dtype == np.float32
    assert softmax_cross_entropy_backward(1.0, cache).dtype == np.float32


@pytest.mark.parametrize("function", [softmax_cross_entropy, cross_entropy])
def test_labels_must_be_class_indices(function):
    x = softmax(rng.normal(size=(3, 4)))
    with pytest.raises(ValueError, match=r"labels must be class indices in 0\.\.3, got values from 0 to 4"):
        function(x, [0, 4, 1])
    with pytest.raises(ValueError, match=r"labels must be class indices in 0\.\.3, got values from -1"):
        function(x, [-1, 0, 1])
    with pytest.raises(ValueError, match=r"one class index per sample \(3\)"):
        function(x, [0, 1])
    with pytest.raises(ValueError, match="labels must be a 1D array"):
        function(x, np.eye(4)[[0, 1, 2]])  # one-hot is not the convention
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        function(x, [0.5, 1, 2])
    assert function(x, np.array([0.0, 1.0, 2.0])) == function(x, [0, 1, 2])


def test_logits_must_be_2d():
    with pytest.raises(ValueError, match="logits must be a 2D array"):
        softmax_cross_entropy(np.zeros(4), [0])


# ------------------------------------------------------------------------------ loss objects
@pytest.mark.parametrize("ours, theirs, make_target", [
    (CrossEntropyLoss, torch.nn.CrossEntropyLoss, lambda: rng.integers(0, 5, size=6)),
    (MSELoss, torch.nn.MSELoss, lambda: rng.normal(size=(6, 5))),
])
def test_loss_objects_equal_torch_modules(ours, theirs, make_target):
    pred, target = rng.normal(size=(6, 5)), make_target()
    loss = ours()
    value = loss(pred, target)
    t = torch.tensor(pred, requires_grad=True)
    expected = theirs()(t, torch.from_numpy(target))
    expected.backward()
    assert isinstance(value, float)
    assert value == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_loss_object_backward_needs_forward():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        CrossEntropyLoss().backward()


# ------------------------------------------------------------------------------ penalties
def make_params():
    return [Parameter(rng.normal(size=(3, 4)), "weight"), Parameter(rng.normal(size=4), "bias")]


def test_l2_penalty_value_and_gradient():
    params = make_params()
    lam = 0.3
    assert l2_penalty(params, lam) == pytest.approx(lam * sum(np.sum(p.data ** 2) for p in params), rel=1e-12)
    before = [p.grad.copy() + 1.0 for p in params]
    for p in params:
        p.grad += 1.0  # gradients accumulate: the penalty's is added
    add_l2_grad(params, lam)
    for p, b in zip(params, before):
        np.testing.assert_allclose(p.grad, b + 2 * lam * p.data, rtol=1e-14)


def test_l2_gradient_matches_torch_weight_decay_of_twice_lambda():
    p = Parameter(rng.normal(size=(4, 3)))
    add_l2_grad([p], 0.05)
    t = torch.tensor(p.data, requires_grad=True)
    opt = torch.optim.SGD([t], lr=1.0, weight_decay=0.1)
    t.grad = torch.zeros_like(t)
    before = t.detach().clone()
    opt.step()
    np.testing.assert_allclose(p.grad, (before - t.detach()).numpy(), rtol=1e-14)


def test_l1_penalty_value_and_subgradient():
    p = Parameter(np.array([[-2.0, 0.0, 3.0]]))
    assert l1_penalty([p], 0.5) == pytest.approx(2.5)
    add_l1_grad([p], 0.5)
    np.testing.assert_array_equal(p.grad, [[-0.5, 0.0, 0.5]])
    assert l1_penalty([np.array([1.0, -1.0])], 2.0) == 4.0  # plain arrays for the value


def test_penalties_match_autograd_of_the_penalty():
    params = make_params()
    for kind, function, add in [("l1", torch.abs, add_l1_grad), ("l2", torch.square, add_l2_grad)]:
        tensors = [torch.tensor(p.data, requires_grad=True) for p in params]
        value = 0.2 * sum(function(t).sum() for t in tensors)
        value.backward()
        for p in params:
            p.zero_grad()
        add(params, 0.2)
        for p, t in zip(params, tensors):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-14)


def test_penalty_object_skips_biases_by_default():
    weight, bias = make_params()
    penalty = Penalty("l2", 0.1)
    assert penalty.value([weight, bias]) == pytest.approx(l2_penalty([weight], 0.1))
    penalty.add_grad([weight, bias])
    np.testing.assert_array_equal(bias.grad, 0.0)
    np.testing.assert_allclose(weight.grad, 0.2 * weight.data)
    assert Penalty("l1", 0.1, all_parameters=True).value([weight, bias]) == pytest.approx(
        l1_penalty([weight, bias], 0.1))
    assert repr(penalty) == "Penalty('l2', lam=0.1)"


def test_penalty_arguments_are_checked():
    with pytest.raises(ValueError, match="lam must be >= 0.0, got -1.0"):
        l2_penalty(make_params(), -1.0)
    with pytest.raises(ValueError, match="kind must be one of 'l1', 'l2'; got 'l3'"):
        Penalty("l3", 0.1)
    with pytest.raises(TypeError, match="params must hold Parameters"):
        add_l2_grad([np.zeros(3)], 0.1)
