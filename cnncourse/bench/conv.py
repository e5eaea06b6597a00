"""``python -m cnncourse.bench conv [--quick] [--rounds R]``: convolution against PyTorch.

Times the NumPy convolution of :mod:`cnncourse.scratch.convolution` (the fast im2col passes) and
:func:`torch.nn.functional.conv2d` on the CPU in float32, forward alone and forward + backward,
on the layer shapes below, and max pooling 3x3/2 likewise. The two sides run in the same
process on the same threads, and in alternation: after one call of every function, each round
times every case once per side (:func:`cnncourse.bench.measure`, the median of a few calls), and
the table keeps each side's best round, so that a burst of load from other programs does not
land on one side only.

A second table compares the loop version :func:`~cnncourse.scratch.convolution.conv2d_loops`,
written straight from the formula, with the fast one on a small layer.
"""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np

from cnncourse.bench import environment, format_table, measure

CONV_CASES = [
    # (N, C, F, H, W, kernel, padding)
    (64, 16, 32, 32, 32, 3, 1),
    (128, 1, 32, 28, 28, 5, 2),
    (32, 64, 64, 56, 56, 3, 1),
    (64, 32, 64, 16, 16, 3, 1),
]
"""The convolutional layers timed, all with stride 1."""

POOL_CASE = (64, 64, 56, 56, 3, 2)
"""Max pooling timed: (N, C, H, W, kernel, stride)."""

LOOP_CASE = (2, 3, 4, 16, 16, 3, 1)
"""The small layer on which the loop version is timed against the fast one."""


def _best_of_rounds(pairs: dict[str, tuple[Callable, Callable]], rounds: int, repeat: int,
                    min_time: float) -> dict:
    """``{name: (scratch seconds, torch seconds)}``: per side, the best round's median.

    Every function runs once first (allocations, PyTorch's choice of algorithm), then the rounds
    alternate between the two sides of every case.
    """
    for ours, theirs in pairs.values():
        ours()
        theirs()
    best = {name: [float("inf"), float("inf")] for name in pairs}
    for _ in range(rounds):
        for name, (ours, theirs) in pairs.items():
            best[name][0] = min(best[name][0], measure(ours, repeat, 0, min_time))
            best[name][1] = min(best[name][1], measure(theirs, repeat, 0, min_time))
    return {name: tuple(times) for name, times in best.items()}


def _conv_pairs(rng) -> dict:
    import torch
    import torch.nn.functional as F

    from cnncourse.scratch.convolution import conv2d, conv2d_backward, conv2d_forward

    pairs = {}
    for n, c, f, h, w, k, p in CONV_CASES:
        x = rng.standard_normal((n, c, h, w), dtype=np.float32)
        weight = rng.standard_normal((f, c, k, k), dtype=np.float32) / float(np.sqrt(c * k * k))
        bias = rng.standard_normal(f, dtype=np.float32)
        dout = rng.standard_normal((n, f, h + 2 * p - k + 1, w + 2 * p - k + 1), dtype=np.float32)
        xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, weight, bias))
        dt = torch.from_numpy(dout)
        label = f"conv {k}x{k} pad {p}, N{n} C{c}->{f} {h}x{w}"

        def scratch_forward(x=x, weight=weight, bias=bias, p=p):
            conv2d(x, weight, bias, padding=p)

        def torch_forward(xt=xt, wt=wt, bt=bt, p=p):
            with torch.no_grad():
                F.conv2d(xt, wt, bt, padding=p)

        def scratch_both(x=x, weight=weight, bias=bias, p=p, dout=dout):
            _, cache = conv2d_forward(x, weight, bias, padding=p)
            conv2d_backward(dout, cache)

        def torch_both(xt=xt, wt=wt, bt=bt, p=p, dt=dt):
            torch.autograd.grad(F.conv2d(xt, wt, bt, padding=p), (xt, wt, bt), dt)

        pairs[(label, "forward")] = (scratch_forward, torch_forward)
        pairs[(label, "forward+backward")] = (scratch_both, torch_both)
    return pairs


def _pool_pairs(rng) -> dict:
    import torch
    import torch.nn.functional as F

    try:
        from cnncourse.scratch.pooling import max_pool2d_backward, max_pool2d_forward
    except ImportError as error:
        print(f"note: max pooling skipped, cnncourse.scratch.pooling is not available ({error})")
        return {}
    n, c, h, w, k, s = POOL_CASE
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    out, _ = max_pool2d_forward(x, k, s, 0)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)
    label = f"max pool {k}x{k}/{s}, N{n} C{c} {h}x{w}"

    def scratch_forward():
        max_pool2d_forward(x, k, s, 0)

    def torch_forward():
        with torch.no_grad():
            F.max_pool2d(xt, k, s)

    def scratch_both():
        _, cache = max_pool2d_forward(x, k, s, 0)
        max_pool2d_backward(dout, cache)

    def torch_both():
        torch.autograd.grad(F.max_pool2d(xt, k, s), (xt,), dt)

    return {(label, "forward"): (scratch_forward, torch_forward),
            (label, "forward+backward"): (scratch_both, torch_both)}


def scratch_vs_torch(rounds: int = 6, repeat: int = 3, min_time: float = 0.2,
                     seed: int = 0) -> list[list]:
    """Rows ``[layer, pass, scratch ms, torch ms, ratio]`` for the convolutions and the pooling.

    Each measurement is the median of ``repeat`` calls, or of as many as fill ``min_time``
    seconds; each side keeps its best of ``rounds`` measurements.
    """
    rng = np.random.default_rng(seed)
    pairs = {**_conv_pairs(rng), **_pool_pairs(rng)}
    times = _best_of_rounds(pairs, rounds, repeat, min_time)
    return [[label, which, ours * 1e3, theirs * 1e3, ours / theirs]
            for (label, which), (ours, theirs) in times.items()]


def loops_vs_fast(repeat: int = 3, seed: int = 0) -> list[list]:
    """One row ``[layer, loops ms, fast ms, speed-up]`` for :data:`LOOP_CASE` in float64."""
    from cnncourse.scratch.convolution import conv2d, conv2d_loops

    n, c, f, h, w, k, p = LOOP_CASE
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, k, k))
    bias = rng.standard_normal(f)
    slow = measure(lambda: conv2d_loops(x, weight, bias, padding=p), repeat=repeat, warmup=0)
    fast = measure(lambda: conv2d(x, weight, bias, padding=p), repeat=max(repeat, 20), warmup=1)
    label = f"conv {k}x{k} pad {p}, N{n} C{c}->{f} {h}x{w}"
    return [[label, slow * 1e3, fast * 1e3, slow / fast]]


def _threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        return ""
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return f"numpy BLAS threads: {blas[0]}" if blas else ""


def main(argv=()) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncourse.bench conv",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (used by the book)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of alternating timings")
    args = parser.parse_args(list(argv))
    rounds = args.rounds or (3 if args.quick else 6)
    repeat = 1 if args.quick else 3
    min_time = 0.05 if args.quick else 0.2

    print(environment())
    threads = _threads()
    if threads:
        print(threads)
    print(f"float32, best of {rounds} alternating rounds, each the median of at least {repeat} "
          f"call(s) and {min_time} s\n")
    print(format_table(["layer", "pass", "scratch ms", "torch ms", "scratch / torch"],
                       scratch_vs_torch(rounds, repeat, min_time)))
    print()
    print(format_table(["layer (float64)", "conv2d_loops ms", "conv2d ms", "loops / fast"],
                       loops_vs_fast(repeat=1 if args.quick else 3)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main(sys.argv[1:]))
