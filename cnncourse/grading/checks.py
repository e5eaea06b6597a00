"""Comparisons for autograded exercises, with messages a student can act on.

Every check raises :class:`AssertionError` whose message says what was expected, what came back
and, where the difference has a recognisable shape, its likely cause. The checks are fair to
correct work written differently from the reference:

* a task that asks for "float" accepts any floating-point dtype, and the tolerance follows the
  precision of the dtype the student used (float16, float32 or float64);
* shapes and tuples are compared by value whatever the container (tuple, list, array, NumPy
  integers);
* nothing in a check can crash on an unexpected type: an array where a tuple was asked, a list
  where an array was asked, ``None``... each gets its own message.
"""

from __future__ import annotations

import numbers
from typing import Callable, Mapping

import numpy as np

#: Relative tolerance per floating-point precision: a few hundred units in the last place, so
#: that a different but correct order of summation passes and a wrong formula does not.
RTOL = {2: 5e-3, 4: 2e-5, 8: 1e-9, 10: 1e-9, 16: 1e-9}


class CheckFailure(AssertionError):
    """A check that failed; the message is written for the student."""


def tolerance(dtype, scale: float = 1.0, rtol: float | None = None, atol: float | None = None):
    """``(rtol, atol)`` for comparing a result of ``dtype`` with a reference of magnitude ``scale``.

    The absolute part is the relative tolerance times the largest reference value, so that values
    near zero in a result of large values are not held to a tighter standard than the rest.
    """
    dtype = np.dtype(dtype)
    base = RTOL.get(dtype.itemsize, 1e-9) if dtype.kind in "fc" else 1e-12
    rtol = base if rtol is None else rtol
    atol = rtol * max(float(scale), 1.0) if atol is None else atol
    return rtol, atol


def describe(value) -> str:
    """A short description of a value for a message: type, shape and dtype, or its repr."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return f"array {np.array2string(value, precision=4, separator=', ')} (dtype {value.dtype})"
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        text = repr(value)
        return f"a {type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"
    if isinstance(value, (numbers.Number, str, bool)):
        return f"{type(value).__name__} {value!r}"
    return f"an object of type {type(value).__name__}"


def _fail(name: str, message: str, hints=()) -> None:
    text = f"{name}: {message}"
    hints = [h for h in hints if h]
    if hints:
        text += " Likely cause: " + "; ".join(hints) + "."
    raise CheckFailure(text)


def _numbers(actual, name: str, need_array: bool) -> np.ndarray:
    if actual is None:
        _fail(name, "got None. Did the function forget to `return` its result?")
    if need_array and not isinstance(actual, np.ndarray):
        if isinstance(actual, (list, tuple)):
            _fail(name, f"expected a NumPy array, got {describe(actual)}. Wrap the result with "
                        "np.asarray(...) or build it as an array from the start.")
        if not isinstance(actual, (numbers.Number, np.generic)):
            _fail(name, f"expected a NumPy array, got {describe(actual)}.")
    try:
        array = np.asarray(actual)
    except Exception:
        _fail(name, f"expected numbers, got {describe(actual)} (it cannot be read as an array).")
    if array.dtype.kind not in "biufc":
        _fail(name, f"expected numbers, got an array of dtype {array.dtype}.")
    return array


def _dtype_ok(array: np.ndarray, dtype: str | None, name: str) -> None:
    if dtype is None:
        return
    wanted = {"float": "f", "int": "iu", "bool": "b"}.get(dtype)
    if wanted is None:
        raise ValueError(f"dtype must be 'float', 'int', 'bool' or None, got {dtype!r}")
    if array.dtype.kind not in wanted:
        advice = {"float": "convert with np.asarray(..., dtype=float) or start from np.zeros(..., dtype=float)",
                  "int": "convert with int(...) or .astype(int)",
                  "bool": "compare with a condition to get booleans"}[dtype]
        _fail(name, f"expected a {dtype} result, got dtype {array.dtype}: {advice}.")


def diagnose(actual: np.ndarray, expected: np.ndarray) -> list[str]:
    """Recognisable differences between a wrong array and the right one."""
    hints = []
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    size = np.abs(e)
    scale = max(float(size[np.isfinite(size)].max(initial=0.0)), 1e-12)
    close = lambda x, y: x.shape == y.shape and np.allclose(x, y, rtol=1e-6, atol=1e-9 * scale, equal_nan=True)  # noqa: E731
    if e.ndim >= 2 and close(a, np.swapaxes(e, -1, -2)) and not close(a, e):
        hints.append("rows and columns are swapped (a transpose)")
    if close(a, -e):
        hints.append("the sign is flipped")
    if e.ndim >= 2 and close(a, e[..., ::-1, ::-1]) and not close(a, e):
        hints.append("the result is turned by 180 degrees")
    nonzero = np.abs(e) > 1e-9 * scale
    if nonzero.any() and a.shape == e.shape:
        ratios = a[nonzero] / e[nonzero]
        if np.allclose(ratios, ratios[0], rtol=1e-6) and not np.isclose(ratios[0], 1.0):
            hints.append(f"every value is {ratios[0]:.4g} times the expected one (a scale factor)")
    if e.ndim >= 2 and a.shape == e.shape:
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (-1, -1)):
            if close(a[..., max(dy, 0):a.shape[-2] + min(dy, 0), max(dx, 0):a.shape[-1] + min(dx, 0)],
                     e[..., max(-dy, 0):e.shape[-2] + min(-dy, 0), max(-dx, 0):e.shape[-1] + min(-dx, 0)]):
                hints.append(f"the result is shifted by ({dy}, {dx}) pixels (an index off by one?)")
                break
    return hints


def check_array(actual, expected, name: str = "result", dtype: str | None = None,
                rtol: float | None = None, atol: float | None = None,
                causes: Mapping[str, object] | None = None, need_array: bool = True) -> None:
    """Assert that ``actual`` has the shape and values of ``expected``.

    Parameters
    ----------
    dtype : "float", "int", "bool" or None
        The kind of dtype the task asks for; any precision of that kind is accepted.
    rtol, atol : override the tolerance that follows the dtype of ``actual``.
    causes : {explanation: wrong_value}
        Results of known mistakes (e.g. ``{"the kernel was not flipped": correlate(x, w)}``):
        when ``actual`` matches one of them, the message names the explanation.
    need_array : a list or tuple instead of an array is a mistake (default) or accepted.
    """
    expected = np.asarray(expected)
    array = _numbers(actual, name, need_array)
    _dtype_ok(array, dtype, name)
    if array.shape != expected.shape:
        hints = []
        if array.ndim == 2 and array.shape[::-1] == expected.shape:
            hints.append("rows and columns are swapped")
        elif array.ndim == expected.ndim and all(a - e in (-2, -1, 1, 2) or a == e
                                                 for a, e in zip(array.shape, expected.shape)):
            hints.append("the output size is off by one or two (padding or the size formula?)")
        _fail(name, f"expected shape {expected.shape}, got shape {array.shape}.", hints)
    if array.size == 0:
        return
    finite = np.abs(expected.astype(np.float64))
    scale = float(finite[np.isfinite(finite)].max(initial=0.0))  # NaN marks "undefined", not a size
    precision = array.dtype if array.dtype.kind in "fc" else expected.dtype
    rtol, atol = tolerance(precision, scale, rtol, atol)
    if not np.all(np.isfinite(array[np.isfinite(expected)])):
        bad = np.argwhere(~np.isfinite(array) & np.isfinite(expected))[0]
        index = tuple(int(i) for i in bad)
        _fail(name, f"got {array[index]!r} at index {index} where {expected[index]!r} was expected "
                    "(an overflow or a division by zero?).")
    close = np.isclose(array, expected, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    wrong = np.argwhere(~close)
    first = tuple(int(i) for i in wrong[0])
    hints = []
    for explanation, value in (causes or {}).items():
        value = np.asarray(value)
        if value.shape == array.shape and np.allclose(array, value, rtol=rtol, atol=atol):
            hints.append(explanation)
    if not hints:
        hints = diagnose(array, expected)
    where = f"index {first}" if array.ndim else "the value"
    _fail(name, f"{len(wrong)} of {expected.size} values differ from the expected ones "
                f"(tolerance rtol={rtol:.0e} for {precision}); at {where}: expected "
                f"{expected[first].item()!r}, got {array[first].item()!r}.", hints)


def as_int_tuple(value, name: str = "result") -> tuple:
    """Read a shape-like value (tuple, list or 1D array of integers) as a tuple of ints."""
    if value is None:
        _fail(name, "got None. Did the function forget to `return` its result?")
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            _fail(name, f"expected a sequence of integers, got {describe(value)}.")
        value = value.tolist()
    if not isinstance(value, (tuple, list)):
        _fail(name, f"expected a tuple of integers, got {describe(value)}.")
    items = []
    for item in value:
        if isinstance(item, (bool, np.bool_)):
            _fail(name, f"expected integers, got a bool in {value!r}.")
        if isinstance(item, (numbers.Integral, np.integer)):
            items.append(int(item))
        elif isinstance(item, (float, np.floating)) and float(item).is_integer():
            _fail(name, f"expected integers, got the float {item!r} in {value!r} "
                        "(use // for integer division or int(...)).")
        else:
            _fail(name, f"expected integers, got {describe(item)} in {value!r}.")
    return tuple(items)


def check_shape(actual, expected, name: str = "shape") -> None:
    """Assert that a shape-like value equals ``expected``, whatever the container."""
    got = as_int_tuple(actual, name)
    expected = tuple(int(v) for v in expected)
    if got != expected:
        hints = []
        if got == expected[::-1]:
            hints.append("rows and columns are swapped")
        elif len(got) == len(expected) and all(abs(a - b) <= 2 for a, b in zip(got, expected)):
            hints.append("the size formula is off by one or two")
        _fail(name, f"expected {expected}, got {got}.", hints)


def check_equal(actual, expected, name: str = "result") -> None:
    """Assert ``actual == expected`` for plain values (ints, strings, tuples, ...).

    A tuple of ints is compared as a shape: a list or an array with the same integers passes.
    """
    if isinstance(expected, tuple) and all(isinstance(v, numbers.Integral) for v in expected):
        check_shape(actual, expected, name)
    else:
        _equal_plain(actual, expected, name)


def _equal_plain(actual, expected, name: str) -> None:
    try:
        same = actual == expected
        same = bool(np.all(same)) if isinstance(same, np.ndarray) else bool(same)
    except Exception:
        same = False
    if not same:
        _fail(name, f"expected {expected!r}, got {describe(actual)}.")


def check_scalar(actual, expected, name: str = "result", rtol: float | None = None,
                 atol: float | None = None) -> None:
    """Assert that ``actual`` is a real number close to ``expected``."""
    if isinstance(actual, np.ndarray) and actual.size == 1:
        actual = actual.reshape(()).item()
    if isinstance(actual, (bool, np.bool_)) or not isinstance(actual, (numbers.Real, np.floating, np.integer)):
        _fail(name, f"expected a number, got {describe(actual)}.")
    precision = np.asarray(actual).dtype if isinstance(actual, np.generic) else np.float64
    rtol, atol = tolerance(precision, abs(float(expected)), rtol, atol)
    if not np.isclose(float(actual), float(expected), rtol=rtol, atol=atol):
        _fail(name, f"expected {float(expected):.8g}, got {float(actual):.8g}.")


def check_true(condition, message: str, name: str = "check") -> None:
    """Assert a condition, with the student-facing message given."""
    if not bool(condition):
        _fail(name, message)


def check_raises(exception: type[BaseException], func: Callable, *args, name: str | None = None,
                 **kwargs) -> None:
    """Assert that ``func(*args, **kwargs)`` raises ``exception`` (or a subclass)."""
    call = name or f"{getattr(func, '__name__', 'the function')}(...)"
    try:
        func(*args, **kwargs)
    except exception:
        return
    except CheckFailure:
        raise
    except Exception as error:
        _fail(call, f"expected {exception.__name__}, got {type(error).__name__}: {error}")
    _fail(call, f"expected {exception.__name__}, but nothing was raised.")


def same_values(a, b) -> bool:
    """Whether a student's result ``a`` agrees with the reference ``b`` within tolerance.

    Containers are compared item by item; where the reference is an integer (a size, an index),
    the result must be an integer too; arrays are compared at the coarser of the two precisions.
    """
    try:
        if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
            return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
        if a is None or b is None:
            return a is b
        if isinstance(b, (numbers.Integral, np.integer)) and not isinstance(b, (bool, np.bool_)):
            return isinstance(a, (numbers.Integral, np.integer)) and not isinstance(a, (bool, np.bool_)) \
                and int(a) == int(b)
        x, y = np.asarray(a), np.asarray(b)
        if x.dtype.kind not in "biufc" or y.dtype.kind not in "biufc" or x.shape != y.shape:
            return bool(np.all(x == y)) if x.shape == y.shape else False
        floats = [d for d in (x.dtype, y.dtype) if d.kind in "fc"]
        precision = min(floats, key=lambda d: d.itemsize) if floats else y.dtype
        size = np.abs(y.astype(float))
        rtol, atol = tolerance(precision, float(size[np.isfinite(size)].max(initial=0.0)))
        return bool(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True))
    except Exception:
        return False
