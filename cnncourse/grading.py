"""Assertions for autograded exercises, with feedback a student can act on.

Every check raises :class:`AssertionError` whose message says what was expected and what came
back, so that nbgrader's feedback explains a lost point.
"""

from __future__ import annotations

import types

import numpy as np

CONVOLUTION_LIBRARY_NAMES = frozenset({
    "convolve", "convolve2d", "correlate", "correlate2d", "fftconvolve", "oaconvolve",
    "conv2d", "conv_general_dilated", "filter2D",
})
"""Library functions that would do a convolution exercise for the student."""


def check_array(actual, expected, name: str = "result", rtol: float = 1e-6, atol: float = 1e-9,
                dtype_kind: str | None = None) -> None:
    """Assert that ``actual`` is an array with the shape and values of ``expected``.

    ``dtype_kind`` (e.g. ``"f"`` for floating point) also checks the kind of the dtype.
    """
    expected = np.asarray(expected)
    if actual is None:
        raise AssertionError(f"{name}: expected an array of shape {expected.shape}, got None "
                             "(did the function forget to return its result?)")
    try:
        actual_array = np.asarray(actual)
    except Exception as error:  # pragma: no cover - exotic objects
        raise AssertionError(f"{name}: expected an array, got {type(actual).__name__}") from error
    if actual_array.dtype.kind not in "biufc":
        raise AssertionError(f"{name}: expected numbers, got an array of dtype {actual_array.dtype}")
    if actual_array.shape != expected.shape:
        raise AssertionError(
            f"{name}: expected shape {expected.shape}, got shape {actual_array.shape}")
    if dtype_kind is not None and actual_array.dtype.kind not in dtype_kind:
        raise AssertionError(
            f"{name}: expected a dtype of kind {dtype_kind!r}, got {actual_array.dtype}")
    close = np.isclose(actual_array, expected, rtol=rtol, atol=atol)
    if not close.all():
        wrong = np.argwhere(~close)
        first = tuple(int(i) for i in wrong[0])
        raise AssertionError(
            f"{name}: {len(wrong)} of {expected.size} values differ from the expected ones; "
            f"the first is at index {first}: expected {expected[first].item()!r}, "
            f"got {actual_array[first].item()!r}")


def check_equal(actual, expected, name: str = "result") -> None:
    """Assert ``actual == expected`` for plain values such as shapes, ints and tuples."""
    if isinstance(expected, tuple) and isinstance(actual, list):
        actual = tuple(actual)
    if actual != expected:
        raise AssertionError(f"{name}: expected {expected!r}, got {actual!r}")


def check_raises(exception: type[BaseException], func, *args, name: str | None = None, **kwargs) -> None:
    """Assert that ``func(*args, **kwargs)`` raises ``exception``."""
    call = name or f"{getattr(func, '__name__', 'the function')}(...)"
    try:
        func(*args, **kwargs)
    except exception:
        return
    except Exception as error:
        raise AssertionError(f"{call}: expected {exception.__name__}, got "
                             f"{type(error).__name__}: {error}") from None
    raise AssertionError(f"{call}: expected {exception.__name__}, but nothing was raised")


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names_used(constant)
    return names


def check_does_not_use(func, forbidden=CONVOLUTION_LIBRARY_NAMES) -> None:
    """Assert that ``func`` does not call any of the ``forbidden`` names.

    It reads the names in the function's code, and follows the functions of the student's own
    notebook that it calls, so that a helper cannot hide a library call.
    """
    forbidden = frozenset(forbidden)
    seen: set[int] = set()
    pending = [(func, ())]
    while pending:
        current, path = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        code = getattr(current, "__code__", None)
        if code is None:
            continue
        names = _names_used(code)
        used = sorted(names & forbidden)
        if used:
            through = f" (through {' -> '.join(path)})" if path else ""
            raise AssertionError(
                f"{func.__name__} uses {', '.join(used)}{through}: write the computation "
                "yourself with NumPy indexing and arithmetic instead of calling a library "
                "routine for it")
        namespace = getattr(current, "__globals__", {})
        for name in sorted(names):
            helper = namespace.get(name)
            if isinstance(helper, types.FunctionType) and helper.__module__ == func.__module__:
                pending.append((helper, path + (name,)))
