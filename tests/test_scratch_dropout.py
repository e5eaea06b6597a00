"""cnncourse.scratch.dropout: inverted dropout with a keep probability."""

import numpy as np
import pytest
import torch

from cnncourse.scratch.dropout import (
    Dropout,
    dropout,
    dropout_backward,
    dropout_forward,
    masked_dropout_backward,
    masked_dropout_forward,
)

rng = np.random.default_rng(3)


def test_training_keeps_a_share_p_keep_and_scales_by_its_inverse():
    x = np.ones((400, 500))
    out, _ = dropout_forward(x, 0.8, rng=0)
    kept = out != 0
    assert kept.mean() == pytest.approx(0.8, abs=0.005)  # 200000 draws: std 0.0009
    np.testing.assert_allclose(out[kept], 1 / 0.8)


def test_expectation_is_preserved():
    x = rng.normal(size=(50,))
    draws = np.stack([dropout(x, 0.5, rng=seed) for seed in range(4000)])
    # mean of 4000 draws of x * Bernoulli(0.5) / 0.5: standard error |x| / sqrt(4000)
    assert np.all(np.abs(draws.mean(axis=0) - x) < 5 * np.abs(x) / np.sqrt(4000) + 1e-12)


def test_eval_mode_and_p_keep_one_are_the_identity():
    x = rng.normal(size=(4, 6))
    for out in (dropout(x, 0.3, training=False), dropout(x, 1.0, rng=1)):
        np.testing.assert_array_equal(out, x)
        assert out is not x
    out, cache = dropout_forward(x, 0.3, training=False)
    dout = rng.normal(size=x.shape)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


def test_backward_uses_the_same_mask():
    x = rng.normal(size=(5, 7))
    out, cache = dropout_forward(x, 0.6, rng=5)
    dout = rng.normal(size=x.shape)
    dx = dropout_backward(dout, cache)
    dropped = out == 0
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(dx[dropped], 0.0)
    np.testing.assert_allclose(dx[~dropped], dout[~dropped] / 0.6)


def test_masked_dropout_equals_torch_with_the_same_mask():
    x = rng.normal(size=(3, 4, 5))
    mask = rng.random(x.shape) < 0.7
    t = torch.tensor(x, requires_grad=True)
    expected = t * torch.from_numpy(mask) / 0.7
    dout = rng.normal(size=x.shape)
    expected.backward(torch.from_numpy(dout))
    out, cache = masked_dropout_forward(x, mask, 0.7)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(masked_dropout_backward(dout, cache), t.grad.numpy(), rtol=1e-15)


def test_torch_p_is_the_drop_probability():
    torch.manual_seed(0)
    out = torch.nn.functional.dropout(torch.ones(100000, dtype=torch.float64), p=0.2)
    assert (out != 0).double().mean().item() == pytest.approx(0.8, abs=0.01)  # p_keep = 1 - p
    np.testing.assert_allclose(out[out != 0].numpy(), 1 / 0.8)


def test_the_same_seed_gives_the_same_mask_and_float32_is_kept():
    x = rng.normal(size=(6, 6)).astype(np.float32)
    a, b = dropout(x, 0.5, rng=9), dropout(x, 0.5, rng=9)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32


@pytest.mark.parametrize("p_keep, error, message", [
    (0.0, ValueError, "p_keep must be > 0.0, got 0.0"),
    (1.5, ValueError, "p_keep must be <= 1.0, got 1.5"),
    (-0.1, ValueError, "p_keep must be > 0.0"),
    ("0.5", TypeError, "p_keep must be a real number"),
])
def test_bad_p_keep_raises(p_keep, error, message):
    with pytest.raises(error, match=message):
        dropout(np.ones(3), p_keep)
    with pytest.raises(error, match=message):
        Dropout(p_keep)


def test_mask_is_checked():
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        masked_dropout_forward(np.ones(3), np.array([0, 2, 1]), 0.5)
    with pytest.raises(ValueError, match="x and mask must have the same shape"):
        masked_dropout_forward(np.ones(3), np.array([0, 1]), 0.5)


def test_layer_draws_new_masks_in_training_and_is_identity_in_eval():
    layer = Dropout(0.5, rng=0)
    x = np.ones((20, 20))
    first = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx, first)  # same mask, same scale
    second = layer.forward(x)
    assert not np.array_equal(first, second)
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)
    assert repr(layer) == "Dropout(p_keep=0.5)"
    assert layer.parameters() == []
