"""``python -m cnncourse.bench nn [--quick] [--rounds R] [--threads T] [--epochs E]``: cnncourse.nn
against torch.nn.

Two tables, both measured in one run, each side on the same threads:

1. :class:`cnncourse.nn.Conv2d` against :class:`torch.nn.Conv2d` (the same weights), forward
   alone and forward + backward, in float32, on the layer shapes of ``python -m cnncourse.bench
   conv``; and :class:`cnncourse.nn.MaxPool2d` against :class:`torch.nn.MaxPool2d` (3x3, stride
   2). On the CPU always, and on the GPU when there is one (``torch.cuda.synchronize`` closes
   every timed call there). The sides alternate: after one call of every function, each round
   times every case once per side, and each side keeps its best round.
2. One training epoch of the digits LeNet (:func:`cnncourse.scratch.network.lenet`, trained by
   :func:`cnncourse.scratch.network.fit`) against the same network, started from the same
   weights, built from ``cnncourse.nn`` layers and from ``torch.nn`` layers, with the same data,
   the same order of mini-batches and Adam.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cnncourse.bench import environment, format_table
from cnncourse.bench.conv import CONV_CASES, POOL_CASE, _best_of_rounds

TARGET_RATIO = 2.0
"""cnncourse.nn should take at most twice the time of torch.nn on the CPU."""


def _synchronized(function, device: str):
    """``function`` followed, on a GPU, by a wait for the GPU to finish."""
    import torch

    if device == "cpu":
        return function

    def timed():
        function()
        torch.cuda.synchronize()

    return timed


def layer_pairs(device: str, seed: int = 0) -> dict:
    """``{(layer, pass): (cnncourse.nn call, torch.nn call)}`` for the convolutions and the pooling."""
    import torch
    from torch import nn

    import cnncourse.nn as cnn

    generator = torch.Generator().manual_seed(seed)
    pairs = {}
    for n, c, f, h, w, k, p in CONV_CASES:
        ours = cnn.Conv2d(c, f, k, padding=p).to(device)
        theirs = nn.Conv2d(c, f, k, padding=p).to(device)
        theirs.load_state_dict(ours.state_dict())
        x = torch.randn(n, c, h, w, generator=generator).to(device).requires_grad_()
        dout = torch.randn(n, f, h + 2 * p - k + 1, w + 2 * p - k + 1, generator=generator).to(device)
        label = f"conv {k}x{k} pad {p}, N{n} C{c}->{f} {h}x{w}"
        pairs.update(_forward_and_backward(label, ours, theirs, x, dout, device))
    n, c, h, w, k, s = POOL_CASE
    x = torch.randn(n, c, h, w, generator=generator).to(device).requires_grad_()
    dout = torch.randn(n, c, (h - k) // s + 1, (w - k) // s + 1, generator=generator).to(device)
    label = f"max pool {k}x{k}/{s}, N{n} C{c} {h}x{w}"
    pairs.update(_forward_and_backward(label, cnn.MaxPool2d(k, s), nn.MaxPool2d(k, s), x, dout, device))
    return pairs


def _forward_and_backward(label, ours, theirs, x, dout, device) -> dict:
    import torch

    def forward(module):
        def run():
            with torch.no_grad():
                module(x)
        return _synchronized(run, device)

    def both(module):
        inputs = (x,) + tuple(module.parameters())

        def run():
            torch.autograd.grad(module(x), inputs, dout)
        return _synchronized(run, device)

    return {(label, "forward"): (forward(ours), forward(theirs)),
            (label, "forward+backward"): (both(ours), both(theirs))}


def layer_rows(device: str, rounds: int, repeat: int, min_time: float) -> list[list]:
    """Rows ``[layer, pass, cnncourse.nn ms, torch.nn ms, ratio]``."""
    times = _best_of_rounds(layer_pairs(device), rounds, repeat, min_time)
    return [[label, which, ours * 1e3, theirs * 1e3, ours / theirs]
            for (label, which), (ours, theirs) in times.items()]


# --------------------------------------------------------------------------- one epoch of LeNet
def _epoch(model, optimizer, loss_fn, x, y, order, batch_size) -> float:
    """One pass over ``(x, y)`` in mini-batches in the given order; returns the mean loss."""
    model.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
    return total / len(order)


def epoch_rows(epochs: int, batch_size: int, lr: float, seed: int, rounds: int) -> tuple[str, list[list]]:
    """One epoch of the digits LeNet with scratch, cnncourse.nn and torch.nn: the best of
    ``rounds`` alternating runs of ``epochs`` epochs each, from the same initial weights."""
    import copy

    import torch

    import cnncourse.nn as cnn
    from cnncourse.bench.training import to_torch
    from cnncourse.data.digits import load_digits_split
    from cnncourse.scratch.losses import CrossEntropyLoss
    from cnncourse.scratch.network import fit, lenet
    from cnncourse.scratch.optim import Adam

    x_train, y_train, _, _ = load_digits_split(test_size=0.25, seed=0, dtype=np.float32)
    start_model = lenet(in_channels=1, num_classes=10, input_size=x_train.shape[-1], rng=seed,
                        channels=(32, 64), kernel_size=3, hidden=128, dtype=np.float32)
    builtin_start = to_torch(start_model)
    course_start = cnn.from_builtin(builtin_start)
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    rng = np.random.default_rng(seed)  # the orders fit(seed=seed) visits the images in
    orders = [rng.permutation(len(x)) for _ in range(epochs)]

    def scratch():
        model = copy.deepcopy(start_model)
        fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=lr), x_train, y_train,
            epochs=epochs, batch_size=batch_size, seed=seed, progress=False)

    def torch_side(start, optimizer_class, loss_class):
        def run():
            model = copy.deepcopy(start)
            optimizer = optimizer_class(model.parameters(), lr=lr)
            for order in orders:
                _epoch(model, optimizer, loss_class(), x, y, torch.from_numpy(order), batch_size)
        return run

    sides = {"scratch (NumPy)": scratch,
             "cnncourse.nn": torch_side(course_start, cnn.Adam, cnn.CrossEntropyLoss),
             "torch.nn": torch_side(builtin_start, torch.optim.Adam, torch.nn.CrossEntropyLoss)}
    best = {name: float("inf") for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], (time.perf_counter() - start) / epochs)
    reference = best["torch.nn"]
    header = (f"digits LeNet {start_model[0].weight.shape[0]}-{start_model[3].weight.shape[0]}-128, "
              f"{len(x_train)} images of 8x8, batch size {batch_size}, Adam lr {lr:g}, float32, CPU; "
              f"best of {rounds} round(s) of {epochs} epoch(s)")
    return header, [[name, seconds, seconds / reference] for name, seconds in best.items()]


def main(argv=()) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncourse.bench nn", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of alternating timings")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both sides (default 1: on a small, shared machine a "
                             "second thread that waits for a busy core makes the timings erratic)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per LeNet timing")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads of NumPy's BLAS for the scratch network (as in the training benchmark)")
    args = parser.parse_args(list(argv))
    rounds = args.rounds or (2 if args.quick else 4)
    repeat = 1 if args.quick else 3
    min_time = 0.05 if args.quick else 0.1

    import torch
    from threadpoolctl import threadpool_limits

    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        print(environment())
        print(f"float32; each side the best of {rounds} alternating rounds, each round the median of "
              f"at least {repeat} call(s) and {min_time} s\n")
        headers = ["layer", "pass", "cnncourse.nn ms", "torch.nn ms", "cnncourse.nn / torch.nn"]
        rows = layer_rows("cpu", rounds, repeat, min_time)
        print("CPU")
        print(format_table(headers, rows))
        worst = max(rows, key=lambda row: row[-1])
        print(f"target: cnncourse.nn within {TARGET_RATIO:g}x of torch.nn on the CPU: "
              f"{'met' if worst[-1] <= TARGET_RATIO else 'NOT met'} (largest ratio {worst[-1]:.2f}, "
              f"{worst[0]}, {worst[1]})\n")
        if torch.cuda.is_available():
            print(f"GPU: {torch.cuda.get_device_name(0)}")
            print(format_table(headers, layer_rows("cuda", rounds, repeat, min_time)))
        else:
            print("GPU: no GPU (torch.cuda.is_available() is False), GPU timings not measured")
        print()
        with threadpool_limits(args.blas_threads, user_api="blas"):
            header, rows = epoch_rows(args.epochs, args.batch_size, args.lr, args.seed,
                                      rounds=1 if args.quick else 2)
        print(header)
        print(format_table(["network", "s per epoch", "ratio to torch.nn"], rows))
    finally:
        torch.set_num_threads(threads_before)
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main(sys.argv[1:]))
