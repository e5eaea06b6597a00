"""cnncourse.scratch.network: Sequential, fit, evaluate, predict and the LeNet builder."""

import numpy as np
import pytest
import torch

from cnncourse.bench.training import to_torch
from cnncourse.data.digits import load_digits_split
from cnncourse.scratch.activation import ReLU, Tanh
from cnncourse.scratch.dropout import Dropout
from cnncourse.scratch.gradcheck import numerical_gradient, rel_error
from cnncourse.scratch.linear import Linear
from cnncourse.scratch.losses import CrossEntropyLoss, MSELoss, Penalty
from cnncourse.scratch.network import (
    History,
    Sequential,
    evaluate,
    fit,
    get_state,
    lenet,
    predict,
    set_state,
)
from cnncourse.scratch.normalization import BatchNorm1d
from cnncourse.scratch.optim import SGD, Adam, StepLR

rng = np.random.default_rng(5)


def mlp(seed=0, dropout=False):
    layers = [Linear(6, 16, rng=seed), Tanh(), BatchNorm1d(16), Linear(16, 3, rng=seed + 1)]
    if dropout:
        layers.insert(3, Dropout(0.8, rng=seed))
    return Sequential(*layers)


def blobs(n=120, seed=0):
    """Three Gaussian clusters in 6 dimensions: an easy, separable problem."""
    g = np.random.default_rng(seed)
    labels = g.integers(0, 3, size=n)
    centres = g.normal(scale=2.0, size=(3, 6))
    return centres[labels] + g.normal(size=(n, 6)), labels


# ------------------------------------------------------------------------------ Sequential
def test_forward_chains_the_layers_and_backward_runs_in_reverse():
    model = mlp()
    x = rng.normal(size=(5, 6))
    manual = x
    for layer in model.layers:
        manual = layer.forward(manual)
    np.testing.assert_allclose(model.forward(x), manual, rtol=1e-14)
    dout = rng.normal(size=(5, 3))
    dx = model.backward(dout)
    numeric = numerical_gradient(lambda _: model.forward(x), x, dout)
    assert rel_error(dx, numeric) < 1e-7


def test_backward_gives_every_parameter_its_gradient():
    model = mlp()
    x, y = blobs(8)
    loss = CrossEntropyLoss()
    loss(model.forward(x), y)
    model.backward(loss.backward())
    for name, p in model.named_parameters():
        def f(_):
            return loss(model.forward(x), y)
        saved = p.grad.copy()
        numeric = numerical_gradient(f, p.data)
        assert rel_error(saved, numeric) < 1e-7, name


def test_parameters_indexing_modes_and_repr():
    model = mlp(dropout=True)
    assert len(model) == 5
    assert isinstance(model[0], Linear) and isinstance(model[-1], Linear)
    head = model[:2]
    assert isinstance(head, Sequential) and len(head) == 2
    assert model.num_parameters() == (6 * 16 + 16) + 2 * 16 + (16 * 3 + 3)
    assert [n for n, _ in model.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    model.eval()
    assert not any(layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)
    text = repr(model)
    assert text.splitlines()[0] == "Sequential("
    assert "(0): Linear(in_features=6, out_features=16, bias=True)" in text
    assert "# 112 parameters" in text and "# 32 parameters" in text
    assert text.splitlines()[-1] == f")  # {model.num_parameters():,} parameters in all"
    assert all(line == line.rstrip() for line in text.splitlines())


def test_sequential_accepts_only_layers():
    with pytest.raises(TypeError, match="layers must be scratch Layers, got function at position 1"):
        Sequential(ReLU(), lambda x: x)


def test_state_round_trip_includes_running_statistics():
    model = mlp()
    state = get_state(model)
    model.train()
    model.forward(rng.normal(size=(10, 6)) + 3)  # moves batch norm's running mean
    for p in model.parameters():
        p.data += 1.0
    set_state(model, state)
    for saved, now in zip(state, get_state(model)):
        np.testing.assert_array_equal(saved, now)
    np.testing.assert_array_equal(model[2].running_mean, 0.0)
    with pytest.raises(ValueError, match="state must hold"):
        set_state(model, state[:-1])


# ------------------------------------------------------------------------------ fit
def test_fit_decreases_the_loss_and_records_the_history():
    x, y = blobs(150)
    model = mlp()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, CrossEntropyLoss(), optimizer, x[:120], y[:120], epochs=6, batch_size=16,
                  x_val=x[120:], y_val=y[120:], scheduler=StepLR(optimizer, 2, 0.5), progress=False)
    assert isinstance(history, History) and history.epochs == 6
    for values in (history.train_accuracy, history.val_loss, history.val_accuracy, history.time):
        assert len(values) == 6
    assert history.lr == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_accuracy[-1] > 0.9
    assert evaluate(model, x[120:], y[120:], CrossEntropyLoss()) == pytest.approx(
        (history.val_loss[-1], history.val_accuracy[-1]))
    assert "epoch   6" in history.summary()


def test_fit_is_reproducible_with_a_seed():
    x, y = blobs(60)
    results = []
    for _ in range(2):
        model = mlp(seed=3, dropout=True)
        fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.01), x, y, epochs=2,
            batch_size=8, seed=4, progress=False)
        results.append(get_state(model))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_fit_trains_a_regression_with_mse():
    g = np.random.default_rng(1)
    x = g.normal(size=(80, 6))
    target = x @ g.normal(size=(6, 3))
    model = Sequential(Linear(6, 3, rng=0))
    history = fit(model, MSELoss(), SGD(model.parameters(), lr=0.1), x, target, epochs=20,
                  batch_size=10, progress=False)
    assert history.train_loss[-1] < 1e-3 * history.train_loss[0]
    assert np.isnan(history.train_accuracy[-1])  # no classes, no accuracy


def test_progress_bar_shows_the_loss_and_progress_false_is_silent(capsys):
    x, y = blobs(40)
    model = mlp()
    fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=8,
        progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=8,
        x_val=x, y_val=y, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err and "acc=" in err and "val_acc=" in err


def test_early_stopping_restores_the_best_weights():
    x, y = blobs(120)
    y_val = np.random.default_rng(9).integers(0, 3, size=40)  # random labels: validation gets worse
    model = Sequential(Linear(6, 64, rng=0), ReLU(), Linear(64, 3, rng=1))
    history = fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.05), x[:80], y[:80],
                  epochs=50, batch_size=8, x_val=x[80:], y_val=y_val, early_stopping=3, progress=False)
    assert history.stopped_early
    assert history.epochs == history.best_epoch + 3 < 50
    best = min(history.val_loss)
    assert history.val_loss[history.best_epoch - 1] == best
    assert evaluate(model, x[80:], y_val, CrossEntropyLoss())[0] == pytest.approx(best, rel=1e-12)


def test_penalty_shrinks_the_weights():
    x, y = blobs(80)
    norms = []
    for penalty in (None, Penalty("l2", 0.05)):
        model = mlp()
        fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), x, y, epochs=10,
            batch_size=16, penalty=penalty, progress=False)
        norms.append(sum(np.sum(p.data ** 2) for p in model.parameters() if p.data.ndim == 2))
    assert norms[1] < 0.7 * norms[0]


def test_fit_checks_its_arguments():
    x, y = blobs(20)
    model = mlp()
    opt = SGD(model.parameters(), lr=0.1)
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match="x_train and y_train must hold the same number of samples, got 20 and 19"):
        fit(model, loss, opt, x, y[:-1], epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="early_stopping needs validation data"):
        fit(model, loss, opt, x, y, epochs=1, batch_size=4, early_stopping=2, progress=False)
    with pytest.raises(ValueError, match="x_val and y_val must be given together"):
        fit(model, loss, opt, x, y, epochs=1, batch_size=4, x_val=x, progress=False)
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        fit(model, loss, opt, x, y, epochs=0, batch_size=4, progress=False)
    with pytest.raises(TypeError, match="loss must be a loss object"):
        fit(model, lambda a, b: 0.0, opt, x, y, epochs=1, batch_size=4, progress=False)
    with pytest.raises(TypeError, match="progress must be a bool"):
        fit(model, loss, opt, x, y, epochs=1, batch_size=4, progress=1)


# ------------------------------------------------------------------------------ predict / evaluate
def test_predict_uses_eval_mode_batches_and_restores_the_mode():
    model = mlp(dropout=True)
    model.train()
    x = rng.normal(size=(23, 6))
    a, b = predict(model, x, batch_size=5), predict(model, x, batch_size=100)
    np.testing.assert_allclose(a, b, rtol=1e-12)  # eval mode: no dropout, running statistics
    assert a.shape == (23, 3)
    assert model.training and model[3].training


# ------------------------------------------------------------------------------ LeNet
def test_lenet_shapes_parameters_and_torch_twin():
    model = lenet(in_channels=1, num_classes=10, input_size=28, rng=0)
    x = rng.normal(size=(2, 1, 28, 28))
    out = model.forward(x)
    assert out.shape == (2, 10)
    twin = to_torch(model)
    assert model.num_parameters() == sum(p.numel() for p in twin.parameters())
    # the classic LeNet-5 layout: 6 and 16 filters of 5x5, 16*7*7 features into 120 units
    assert model.num_parameters() == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (784 * 120 + 120) + (120 * 10 + 10)
    t = torch.tensor(x, requires_grad=True)
    expected = twin(t)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    dout = rng.normal(size=out.shape)
    expected.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(model.backward(dout), t.grad.numpy(), rtol=1e-9, atol=1e-12)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_lenet_rejects_inputs_too_small():
    with pytest.raises(ValueError, match="input_size must be at least 4, got 3"):
        lenet(input_size=3)


def test_lenet_learns_a_small_digits_subset():
    x_train, y_train, x_test, y_test = load_digits_split(test_size=0.25, seed=0, dtype=np.float32)
    model = lenet(1, 10, 8, rng=0, channels=(4, 8), kernel_size=3, hidden=32, dtype=np.float32)
    history = fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.01), x_train[:300],
                  y_train[:300], epochs=4, batch_size=32, progress=False)
    assert history.train_loss[-1] < 0.6 * history.train_loss[0]
    _, accuracy = evaluate(model, x_test[:200], y_test[:200], CrossEntropyLoss())
    assert accuracy > 0.6
    assert predict(model, x_test[:5]).dtype == np.float32


def test_training_benchmark_runs_and_prints_one_table(capsys):
    from cnncourse.bench import training

    assert training.main(["--epochs", "1", "--channels", "4", "8", "--hidden", "16"]) == 0
    out = capsys.readouterr().out
    assert "| scratch (NumPy) | 1 " in out and "| torch.nn (CPU)  | 1 " in out
    assert "ratio (ours / torch)" in out and "targets:" in out
