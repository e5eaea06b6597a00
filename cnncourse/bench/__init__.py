"""Benchmarks that time the course's code against its oracles, side by side, in one run.

``python -m cnncourse.bench NAME`` runs the benchmark module ``cnncourse.bench.NAME`` (``conv``,
``training``, ...; ``python -m cnncourse.bench --list`` lists them). Every benchmark prints a
table whose last column is the ratio of the course's time to the oracle's, measured in the same
process on the same threads; nothing here is a pass/fail test.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import time
from typing import Callable, Sequence


def available() -> list[str]:
    """Names of the benchmark modules."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def measure(function: Callable[[], object], repeat: int = 5, warmup: int = 1,
            min_time: float = 0.0) -> float:
    """Median wall time of ``function()`` in seconds over ``repeat`` runs after ``warmup`` runs.

    With ``min_time`` > 0, runs continue past ``repeat`` until that much time has been spent, so
    that fast functions are timed over many calls.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"repeat must be >= 1 and warmup >= 0, got {repeat} and {warmup}")
    for _ in range(warmup):
        function()
    times: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        spent = 0.0
        while len(times) < repeat or spent < min_time:
            start = time.perf_counter()
            function()
            elapsed = time.perf_counter() - start
            times.append(elapsed)
            spent += elapsed
    finally:
        if gc_was_enabled:
            gc.enable()
    times.sort()
    return times[len(times) // 2]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (so that it can be pasted into the README and the book as it is)."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells[1:]]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def environment() -> str:
    """One line naming the machine the figures come from."""
    import os
    import platform

    line = f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores"
    try:
        import torch

        line += f", torch {torch.__version__} with {torch.get_num_threads()} threads"
        if torch.cuda.is_available():
            line += f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    import numpy

    return line + f", numpy {numpy.__version__}"


def run(name: str, argv: Sequence[str] = ()) -> int:
    """Import ``cnncourse.bench.<name>`` and call its ``main(argv)``."""
    if name not in available():
        raise ValueError(f"name must be one of {', '.join(available())}; got {name!r}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.main(list(argv)) or 0
