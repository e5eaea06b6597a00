"""Argument validation shared by every public function of the package.

Each helper raises :class:`TypeError` when an argument has the wrong type and
:class:`ValueError` when it has the right type but a wrong value, and the message always
names the argument, says what was expected and what came.
"""

from __future__ import annotations

import numbers
from typing import Iterable

import numpy as np

NUMERIC_KINDS = "biuf"


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def as_array(value, name: str, ndim: int | Iterable[int] | None = None, kinds: str = NUMERIC_KINDS,
             allow_empty: bool = False) -> np.ndarray:
    """``value`` as a NumPy array of numbers, with the number of dimensions checked.

    Booleans become int64 so that arithmetic on them behaves as on numbers.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers, got {_describe(value)}")
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and exotic objects
        raise TypeError(f"{name} must be an array of numbers, got {_describe(value)}: {error}") from None
    if array.dtype.kind not in kinds:
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            wanted = " or ".join(f"{n}D" for n in allowed)
            raise ValueError(f"{name} must be a {wanted} array, got shape {array.shape}")
    if array.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if array.dtype.kind == "b":
        array = array.astype(np.int64)
    return array


def as_float_array(value, name: str, ndim: int | Iterable[int] | None = None,
                   allow_empty: bool = False) -> np.ndarray:
    """Like :func:`as_array`; integer input becomes float64, float input keeps its precision."""
    array = as_array(value, name, ndim, allow_empty=allow_empty)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    return array


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (bool excluded) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value!r}")
    return int(value)


def real(value, name: str, minimum: float | None = None, maximum: float | None = None,
         open_minimum: bool = False, open_maximum: bool = False) -> float:
    """A finite real number within the given bounds (open or closed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (value < minimum or (open_minimum and value == minimum)):
        raise ValueError(f"{name} must be {'>' if open_minimum else '>='} {minimum}, got {value!r}")
    if maximum is not None and (value > maximum or (open_maximum and value == maximum)):
        raise ValueError(f"{name} must be {'<' if open_maximum else '<='} {maximum}, got {value!r}")
    return value


def pair(value, name: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints (vertical, horizontal), each at least ``minimum``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = (value, value)
    elif isinstance(value, (tuple, list)):
        items = tuple(value)
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {_describe(value)}")
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def check_choice(value, name: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ValueError unless two arrays have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def rng_from(seed, name: str = "seed") -> np.random.Generator:
    """A NumPy Generator from None, an int seed or an existing Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, an int or a numpy Generator, got {_describe(seed)}")
    if seed < 0:
        raise ValueError(f"{name} must be non-negative, got {seed!r}")
    return np.random.default_rng(int(seed))


def boolean(value, name: str) -> bool:
    """A bool (NumPy's bool included); 0 and 1 are not accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_describe(value)}")
    return bool(value)


def float_dtype(value, name: str = "dtype") -> np.dtype:
    """A NumPy floating dtype (float16, float32 or float64) from anything ``np.dtype`` reads."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be a NumPy float dtype, got {_describe(value)}") from None
    if dtype.kind != "f" or dtype.itemsize > 8:
        raise ValueError(f"{name} must be one of float16, float32, float64; got {dtype}")
    return dtype


def int_tuple(value, name: str, length: int | None = None, minimum: int | None = None) -> tuple:
    """A tuple or list of ints (bool excluded), of ``length`` items when given, each at least
    ``minimum``; returned as a tuple."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {_describe(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must hold {length} ints, got {len(value)}: {tuple(value)!r}")
    if len(value) == 0:
        raise ValueError(f"{name} must not be empty, got {tuple(value)!r}")
    return tuple(integer(v, f"{name}[{i}]", minimum=minimum) for i, v in enumerate(value))
