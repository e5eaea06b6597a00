"""cnncourse.scratch.normalization against torch.nn.BatchNorm1d/2d, train and eval mode."""

import numpy as np
import pytest
import torch

from cnncourse.scratch.gradcheck import check_gradients
from cnncourse.scratch.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    batch_norm,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_per_pixel_backward,
    batch_norm_per_pixel_forward,
)

rng = np.random.default_rng(11)


def torch_module(cls, layer):
    module = cls(layer.num_features, eps=layer.eps, momentum=layer.momentum, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.gamma.data))
        module.bias.copy_(torch.from_numpy(layer.beta.data))
    return module


@pytest.mark.parametrize("ours, theirs, shape", [
    (BatchNorm2d, torch.nn.BatchNorm2d, (6, 3, 5, 4)),
    (BatchNorm1d, torch.nn.BatchNorm1d, (7, 4)),
    (BatchNorm1d, torch.nn.BatchNorm1d, (5, 3, 6)),
])
def test_layer_equals_torch_over_training_steps_then_in_eval_mode(ours, theirs, shape):
    layer = ours(shape[1], momentum=0.2)
    layer.gamma.data[:] = rng.normal(size=shape[1])
    layer.beta.data[:] = rng.normal(size=shape[1])
    module = torch_module(theirs, layer)
    for step in range(5):
        x = rng.normal(size=shape) * (1 + step) + step
        dout = rng.normal(size=shape)
        t = torch.tensor(x, requires_grad=True)
        expected = module(t)
        expected.backward(torch.from_numpy(dout))
        out = layer.forward(x)
        dx = layer.backward(dout)
        np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(layer.running_mean, module.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, module.running_var.numpy(), rtol=1e-12)
    # the gradients of gamma and beta accumulated over the five steps, as in torch
    np.testing.assert_allclose(layer.gamma.grad, module.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.beta.grad, module.bias.grad.numpy(), rtol=1e-10)

    layer.eval()
    module.eval()
    x = rng.normal(size=shape)
    dout = rng.normal(size=shape)
    t = torch.tensor(x, requires_grad=True)
    expected = module(t)
    expected.backward(torch.from_numpy(dout))
    running = layer.running_mean.copy()
    np.testing.assert_allclose(layer.forward(x), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, running)  # eval mode does not update


def test_training_output_has_zero_mean_unit_variance_per_channel():
    x = rng.normal(size=(8, 3, 4, 4)) * 5 + 2
    out = batch_norm(x, np.ones(3), np.zeros(3), eps=1e-12)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1.0, rtol=1e-9)


def test_running_variance_is_unbiased_and_normalisation_biased():
    x = rng.normal(size=(4, 2, 3, 3))
    mean, var = np.zeros(2), np.ones(2)
    batch_norm_forward(x, np.ones(2), np.zeros(2), mean, var, training=True, momentum=1.0)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_backward_matches_numerical_gradient(training):
    x = rng.normal(size=(4, 3, 2, 3))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    stats = (rng.normal(size=3), rng.uniform(0.5, 2, size=3))

    def forward(x, gamma, beta):
        mean, var = stats[0].copy(), stats[1].copy()
        return batch_norm_forward(x, gamma, beta, mean, var, training=training)

    errors = check_gradients(forward, batch_norm_backward, [x, gamma, beta])
    assert max(errors) < 1e-7, errors


def test_keeps_float32_and_leaves_inputs_unchanged():
    x = rng.normal(size=(5, 2, 3, 3)).astype(np.float32)
    copy = x.copy()
    out, cache = batch_norm_forward(x, np.ones(2), np.zeros(2))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(x, copy)
    dx, dgamma, dbeta = batch_norm_backward(np.ones_like(out), cache)
    assert dx.dtype == np.float32


def test_per_pixel_form_has_statistics_and_parameters_per_position():
    x = rng.normal(size=(10, 2, 3, 3)) * 3 + 1
    gamma, beta = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 3))
    out, _ = batch_norm_per_pixel_forward(x, gamma, beta, eps=1e-5)
    expected = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    standardised, _ = batch_norm_per_pixel_forward(x, np.ones((2, 3, 3)), np.zeros((2, 3, 3)), eps=1e-12)
    np.testing.assert_allclose(standardised.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(standardised.var(axis=0), 1.0, rtol=1e-9)
    # per channel it is not: the mean of each position differs from zero
    per_channel = batch_norm(x, np.ones(2), np.zeros(2))
    assert np.abs(per_channel.mean(axis=0)).max() > 0.1


def test_per_pixel_and_per_channel_coincide_on_vectors():
    x = rng.normal(size=(6, 5))
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    np.testing.assert_allclose(batch_norm_per_pixel_forward(x, gamma, beta)[0],
                               batch_norm_forward(x, gamma, beta)[0], rtol=1e-14)


def test_per_pixel_backward_and_running_statistics():
    x = rng.normal(size=(5, 2, 2, 3))
    gamma, beta = rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 2, 3))
    errors = check_gradients(batch_norm_per_pixel_forward, batch_norm_per_pixel_backward, [x, gamma, beta])
    assert max(errors) < 1e-7, errors
    mean, var = np.zeros((2, 2, 3)), np.ones((2, 2, 3))
    batch_norm_per_pixel_forward(x, gamma, beta, mean, var, momentum=0.5)
    np.testing.assert_allclose(mean, 0.5 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, 0.5 + 0.5 * x.var(axis=0, ddof=1), rtol=1e-12)
    out, _ = batch_norm_per_pixel_forward(x, gamma, beta, mean, var, training=False)
    np.testing.assert_allclose(out, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-12)


def test_errors_name_the_argument():
    x = rng.normal(size=(4, 3, 2, 2))
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\)"):
        batch_norm_forward(x, np.ones(2), np.zeros(3))
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        batch_norm_forward(x, np.ones(3), np.zeros(3), training=False)
    with pytest.raises(ValueError, match="more than one value per feature"):
        batch_norm_forward(rng.normal(size=(1, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="momentum must be <= 1.0"):
        batch_norm_forward(x, np.ones(3), np.zeros(3), momentum=2.0)
    with pytest.raises(ValueError, match="eps must be > 0.0"):
        batch_norm_forward(x, np.ones(3), np.zeros(3), eps=0.0)
    with pytest.raises(TypeError, match="running_mean must be a float numpy array"):
        batch_norm_forward(x, np.ones(3), np.zeros(3), [0.0, 0.0, 0.0], np.ones(3))
    with pytest.raises(ValueError, match=r"BatchNorm2d expects a 4D input, got shape \(4, 3\)"):
        BatchNorm2d(3).forward(rng.normal(size=(4, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm1d expects a 2D or 3D input"):
        BatchNorm1d(3).forward(x)


def test_layer_parameters_and_repr():
    layer = BatchNorm2d(4)
    assert layer.num_parameters() == 8
    assert [name for name, _ in layer.named_parameters()] == ["gamma", "beta"]
    assert repr(layer) == "BatchNorm2d(4, eps=1e-05, momentum=0.1)"
    np.testing.assert_array_equal(layer.running_var, 1.0)
