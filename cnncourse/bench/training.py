"""Training a small CNN on the digits: the scratch NumPy network against the same network in torch.

``python -m cnncourse.bench training [--epochs E] [--batch-size B] [--lr LR] [--seed S]
[--threads T] [--blas-threads T]``

The LeNet-style network of :func:`cnncourse.scratch.network.lenet` is trained on scikit-learn's
8 x 8 digits (a fixed stratified split, :func:`cnncourse.data.digits.load_digits_split`) with
:func:`cnncourse.scratch.network.fit`. Then the same architecture built from ``torch.nn``
layers, started from a copy of the scratch network's initial weights, is trained on CPU with the
same data, the same order of mini-batches, the same optimizer and schedule. The table gives the
test accuracy and the wall time of both runs and the ratio of the times (scratch / torch).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cnncourse.bench import environment, format_table

ACCURACY_TARGET = 0.97
SPLIT_SEED = 0
"""Seed of the train/test split of the digits (fixed, so that every run tests on the same images)."""
TIME_TARGET_S = 60.0


def to_torch(model):
    """A ``torch.nn.Sequential`` with the layers and the current weights of a scratch Sequential.

    Supports the layers :func:`cnncourse.scratch.network.lenet` is built from (Conv2d, Linear,
    ReLU, MaxPool2d, Flatten), plus Dropout and BatchNorm; the weights are copied in the
    torch dtype of the scratch parameters.
    """
    import torch

    from cnncourse.scratch.activation import ReLU
    from cnncourse.scratch.convolution import Conv2d
    from cnncourse.scratch.dropout import Dropout
    from cnncourse.scratch.linear import Flatten, Linear
    from cnncourse.scratch.normalization import BatchNorm1d, BatchNorm2d
    from cnncourse.scratch.pooling import MaxPool2d

    def tensor(array):
        return torch.from_numpy(np.array(array, copy=True))

    modules = []
    for layer in model:
        if isinstance(layer, Conv2d):
            weight = layer.weight.data
            module = torch.nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:],
                                     stride=layer.stride, padding=layer.padding,
                                     bias=layer.bias is not None, dtype=_torch_dtype(weight))
            with torch.no_grad():
                module.weight.copy_(tensor(weight))
                if layer.bias is not None:
                    module.bias.copy_(tensor(layer.bias.data))
        elif isinstance(layer, Linear):
            weight = layer.weight.data
            module = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None,
                                     dtype=_torch_dtype(weight))
            with torch.no_grad():
                module.weight.copy_(tensor(weight))
                if layer.bias is not None:
                    module.bias.copy_(tensor(layer.bias.data))
        elif isinstance(layer, ReLU):
            module = torch.nn.ReLU()
        elif isinstance(layer, MaxPool2d):
            module = torch.nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        elif isinstance(layer, Flatten):
            module = torch.nn.Flatten()
        elif isinstance(layer, Dropout):
            module = torch.nn.Dropout(p=1.0 - layer.p_keep)
        elif isinstance(layer, (BatchNorm1d, BatchNorm2d)):
            cls = torch.nn.BatchNorm2d if isinstance(layer, BatchNorm2d) else torch.nn.BatchNorm1d
            module = cls(layer.num_features, eps=layer.eps, momentum=layer.momentum,
                         dtype=_torch_dtype(layer.gamma.data))
            with torch.no_grad():
                module.weight.copy_(tensor(layer.gamma.data))
                module.bias.copy_(tensor(layer.beta.data))
                module.running_mean.copy_(tensor(layer.running_mean))
                module.running_var.copy_(tensor(layer.running_var))
        else:
            raise TypeError(f"to_torch does not know the layer {type(layer).__name__}")
        modules.append(module)
    return torch.nn.Sequential(*modules)


def _torch_dtype(array):
    import torch

    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[array.dtype]


def train_torch(module, x_train, y_train, x_test, y_test, epochs, batch_size, lr, seed):
    """Train ``module`` as :func:`fit` trains the scratch model (same batch order, Adam, cosine
    schedule) and return ``(test accuracy, wall time in seconds, mean loss of the last epoch)``."""
    import torch

    start = time.perf_counter()
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    rng = np.random.default_rng(seed)  # the same permutations as fit(seed=seed)
    n = len(x)
    for _ in range(epochs):
        module.train()
        order = torch.from_numpy(rng.permutation(n))
        loss_sum = 0.0
        for begin in range(0, n, batch_size):
            index = order[begin:begin + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(module(x[index]), y[index])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
        schedule.step()
    elapsed = time.perf_counter() - start
    module.eval()
    with torch.no_grad():
        predicted = module(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    return float(np.mean(predicted == y_test)), elapsed, loss_sum / n


def train_scratch(model, x_train, y_train, x_test, y_test, epochs, batch_size, lr, seed):
    """Train the scratch ``model`` with :func:`fit`; return ``(test accuracy, wall time, history)``."""
    from cnncourse.scratch.losses import CrossEntropyLoss
    from cnncourse.scratch.network import evaluate, fit
    from cnncourse.scratch.optim import Adam, CosineAnnealingLR

    start = time.perf_counter()
    optimizer = Adam(model.parameters(), lr=lr)
    schedule = CosineAnnealingLR(optimizer, T_max=epochs)
    history = fit(model, CrossEntropyLoss(), optimizer, x_train, y_train, epochs=epochs,
                  batch_size=batch_size, scheduler=schedule, seed=seed, progress=False)
    elapsed = time.perf_counter() - start
    _, accuracy = evaluate(model, x_test, y_test, CrossEntropyLoss())
    return accuracy, elapsed, history


def main(argv=()) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncourse.bench training", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of the shuffling")
    parser.add_argument("--channels", type=int, nargs=2, default=(32, 64), help="filters of the two convolutions")
    parser.add_argument("--hidden", type=int, default=128, help="units of the hidden fully connected layer")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the course machines have 2 cores)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads of NumPy's BLAS; 1 by default: this network's matrix products are "
                             "too small to gain from a second thread, and OpenBLAS threads that wait for a "
                             "busy core make the run several times slower on a loaded machine")
    args = parser.parse_args(list(argv))

    import torch
    from threadpoolctl import threadpool_limits

    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with threadpool_limits(args.blas_threads, user_api="blas"):
            compare(args)
    finally:
        torch.set_num_threads(threads_before)
    return 0


def compare(args) -> None:
    """Train both networks with the settings of the command line and print the table."""
    from cnncourse.data.digits import load_digits_split
    from cnncourse.scratch.network import lenet

    print(environment() + f"; NumPy's BLAS with {args.blas_threads} thread(s)")
    x_train, y_train, x_test, y_test = load_digits_split(test_size=0.25, seed=SPLIT_SEED, dtype=np.float32)
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of {x_train.shape[1:]}, "
          f"{args.epochs} epochs, batch size {args.batch_size}, Adam lr {args.lr:g} with cosine decay")

    model = lenet(in_channels=1, num_classes=10, input_size=x_train.shape[-1], rng=args.seed,
                  channels=(args.channels[0], args.channels[1]), kernel_size=3, hidden=args.hidden,
                  dtype=np.float32)
    module = to_torch(model)  # the same initial weights
    print(model)

    scratch_accuracy, scratch_time, history = train_scratch(
        model, x_train, y_train, x_test, y_test, args.epochs, args.batch_size, args.lr, args.seed)
    torch_accuracy, torch_time, torch_loss = train_torch(
        module, x_train, y_train, x_test, y_test, args.epochs, args.batch_size, args.lr, args.seed)

    rows = [["scratch (NumPy)", args.epochs, f"{history.train_loss[-1]:.4f}", f"{scratch_accuracy:.4f}",
             scratch_time, scratch_time / torch_time],
            ["torch.nn (CPU)", args.epochs, f"{torch_loss:.4f}", f"{torch_accuracy:.4f}", torch_time, 1.0]]
    print(format_table(["network", "epochs", "final train loss", "test accuracy", "train time (s)",
                        "ratio (ours / torch)"], rows))
    met = scratch_accuracy >= ACCURACY_TARGET and scratch_time <= TIME_TARGET_S
    print(f"targets: test accuracy >= {ACCURACY_TARGET:.0%} and train time <= {TIME_TARGET_S:.0f} s: "
          f"{'met' if met else 'NOT met'}")
