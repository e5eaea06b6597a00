"""The object every exercise notebook creates in its setup cell: :class:`Checker`.

``check = Checker("01-convolution", forbidden=[...], references="...")`` states the exercise's
rules once; every test cell then calls the student's functions through it::

    out = check.call("convolve2d_valid", convolve2d_valid, x, w)
    check.array("convolve2d_valid", out, expected, dtype="float")

:meth:`Checker.call` runs the student's function

* under the :class:`~cnncourse.grading.monitor.CallMonitor`, so that a forbidden routine is caught
  by identity, whatever name reached it (visible tests enforce the rule as the hidden ones do);
* on copies of nothing: the real arguments are passed, and afterwards each is compared with a
  snapshot taken before the call, so that a function that changes its inputs is told so;
* with the *reference* versions of the exercise's earlier functions standing in for the student's
  ones wherever the student's give a wrong result, so that one mistake costs the points of its own
  task only.

Every failure is a :class:`~cnncourse.grading.checks.CheckFailure` (an AssertionError) whose
message starts with the task's name.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import types
from typing import Callable, Iterable

import numpy as np

from cnncourse.grading import checks
from cnncourse.grading.monitor import ESCAPE_ROUTINES, CallMonitor, ForbiddenSet


def _snapshot(value):
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _unchanged(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.shape == after.shape
                and before.dtype == after.dtype and np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"))
    if isinstance(before, (list, tuple)):
        return (type(before) is type(after) and len(before) == len(after)
                and all(_unchanged(a, b) for a, b in zip(before, after)))
    if isinstance(before, dict):
        return before.keys() == after.keys() and all(_unchanged(before[k], after[k]) for k in before)
    try:
        return bool(before == after)
    except Exception:
        return True


def _restore(changed, original) -> None:
    """Put an input that a student's function changed in place back as it was (where possible)."""
    try:
        if isinstance(changed, np.ndarray) and isinstance(original, np.ndarray):
            if changed.shape != original.shape and changed.size == original.size:
                changed.shape = original.shape
            if changed.shape == original.shape:
                np.copyto(changed, original, casting="unsafe")
        elif isinstance(changed, list) and isinstance(original, list):
            changed[:] = original
        elif isinstance(changed, dict) and isinstance(original, dict):
            changed.clear()
            changed.update(original)
    except Exception:
        pass


def _call_text(func, args, kwargs) -> str:
    def short(v):
        if isinstance(v, np.ndarray):
            return f"<array {v.shape} {v.dtype}>"
        text = repr(v)
        return text if len(text) <= 30 else text[:27] + "..."
    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{getattr(func, '__name__', 'function')}({', '.join(parts)})"


def _where(error: BaseException) -> str:
    """" at line N of the cell, in f" for the innermost frame of the student's own code."""
    frame_summary = None
    tb = error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "ipykernel_" in filename or (filename.startswith("<") and not filename.startswith("<frozen")):
            frame_summary = (tb.tb_lineno, tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if frame_summary is None:
        return ""
    return f" at line {frame_summary[0]} of the cell, in {frame_summary[1]}"


class Checker:
    """The rules and checks of one exercise.

    Parameters
    ----------
    exercise : the assignment's name, e.g. ``"01-convolution"`` (used in messages).
    forbidden : dotted names of routines or whole modules the student's functions may not call,
        e.g. ``["numpy.pad", "scipy.signal", "cnncourse"]``.
    references : dotted name of a module holding the reference version of each task's function
        under the task's name (``cnncourse.grading.references.convolution``); optional.
    """

    def __init__(self, exercise: str, forbidden: Iterable[str] = (), references: str | None = None):
        if not isinstance(exercise, str) or not exercise:
            raise TypeError(f"exercise must be a non-empty str, got {exercise!r}")
        if isinstance(forbidden, str):
            raise TypeError("forbidden must be a list of dotted names, not a single string")
        self.exercise = exercise
        self.forbidden = ForbiddenSet(forbidden)
        self._references_name = references
        self._references = None if references is None else importlib.import_module(references)
        self.notes: list[str] = []
        self.interrupted: set = set()   # code objects of student functions stopped by a timeout

    # ------------------------------------------------------------------ rules
    def rules(self) -> str:
        """The exercise's rules, in words."""
        names = ", ".join(self.forbidden.names) or "nothing"
        return (f"Exercise {self.exercise}: write the computations yourself. While your functions "
                f"are checked, calls to these routines (under any name) cost the task its points: "
                f"{names}.")

    def references(self):
        if self._references is None:
            raise ValueError(f"exercise {self.exercise} declares no reference module")
        return self._references

    def reference(self, task: str) -> Callable:
        """The reference function of a task (for computing expected values in tests)."""
        module = self.references()
        function = getattr(module, task, None)
        if not callable(function):
            raise ValueError(f"task must name a function of {module.__name__}, got {task!r}")
        return function

    # ------------------------------------------------------------------ running student code
    def _require_function(self, task: str, func) -> None:
        if isinstance(func, type) or not callable(func):
            checks._fail(task, f"expected a function, got {checks.describe(func)}. Did a later cell "
                               f"assign another value to the function's name?")

    def _stand_ins(self, task: str, func, monitor: CallMonitor) -> dict:
        """Proxies for the student's other task functions that ``func`` may call."""
        if self._references_name is None or not isinstance(func, types.FunctionType):
            return {}
        module = self.references()
        namespace = func.__globals__
        stand_ins = {}
        for name in getattr(module, "__all__", ()):
            if name == task:
                continue
            theirs = namespace.get(name)
            if isinstance(theirs, types.FunctionType) and theirs.__module__ == func.__module__:
                stand_ins[name] = self._proxy(task, name, theirs, getattr(module, name), monitor)
        return stand_ins

    def _proxy(self, task: str, name: str, theirs: Callable, reference: Callable,
               monitor: CallMonitor) -> Callable:
        checker = self

        @functools.wraps(theirs)
        def stand_in(*args, **kwargs):
            with monitor.paused():
                expected = reference(*_snapshot(args), **_snapshot(kwargs))
            if theirs.__code__ in checker.interrupted:  # it ran past the time limit before
                return expected
            seen = len(monitor.violations)
            try:
                result = theirs(*_snapshot(args), **_snapshot(kwargs))
                good = checks.same_values(result, expected) and (
                    isinstance(result, np.ndarray) or not isinstance(expected, np.ndarray))
            except Exception:
                good = False
            monitor.resume()
            if len(monitor.violations) > seen:
                del monitor.violations[seen:]
                good = False
            if good:
                return result
            note = (f"{task}: your {name} gave a wrong result or an error when {task} called it, so "
                    f"the grader used the reference {name} there; {task} is graded on its own.")
            if note not in checker.notes:
                checker.notes.append(note)
            return expected

        return stand_in

    def call(self, task: str, func: Callable, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` under the exercise's rules and return its result.

        Fails the task when the function raises, calls a forbidden routine, or changes an input.
        """
        self._require_function(task, func)
        before = [_snapshot(a) for a in args]
        before_kw = {k: _snapshot(v) for k, v in kwargs.items()}
        monitor = CallMonitor(self.forbidden, stop=True)
        stand_ins = self._stand_ins(task, func, monitor)
        namespace = getattr(func, "__globals__", {})
        saved = {name: namespace[name] for name in stand_ins}
        call = _call_text(func, args, kwargs)
        namespace.update(stand_ins)
        try:
            with monitor:
                monitor.trap_namespace(namespace, func)
                result = func(*args, **kwargs)
                intact = monitor.intact
        except checks.CheckFailure:
            raise
        except KeyboardInterrupt:
            # The cell's time limit interrupted the function: later tasks that call it use the
            # reference instead of running it again.
            if isinstance(func, types.FunctionType):
                self.interrupted.add(func.__code__)
            raise
        except Exception as error:
            if monitor.violations:
                self._fail_forbidden(task, call, monitor)
            checks._fail(task, f"{call} raised {type(error).__name__}{_where(error)}: {error}")
        finally:
            namespace.update(saved)
        if monitor.violations:
            self._fail_forbidden(task, call, monitor)
        if not intact:
            checks._fail(task, f"{call} switched off the grader's call monitor.")
        self._check_inputs(task, func, call, args, kwargs, before, before_kw)
        from cnncourse.grading import guard

        guard.verify_if_installed(task)
        return result

    def _fail_forbidden(self, task: str, call: str, monitor: CallMonitor) -> None:
        first = monitor.violations[0]
        others = ", ".join(v.routine for v in monitor.violations[1:])
        if first.rule in ESCAPE_ROUTINES:
            checks._fail(task, f"{call} called {first.routine} ({first.where}), which the grader does "
                               "not allow while it checks a function (it could hide what the "
                               "function does).")
        checks._fail(task, f"{call} called {first.routine} ({first.where}), which this exercise "
                           f"forbids ({first.rule}). Write the computation yourself with NumPy "
                           f"indexing and arithmetic." + (f" Also called: {others}." if others else ""))

    def _check_inputs(self, task, func, call, args, kwargs, before, before_kw) -> None:
        try:
            names = list(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            names = []
        for index, (old, new) in enumerate(zip(before, args)):
            if not _unchanged(old, new):
                _restore(new, old)  # so that the change does not spoil the tests that follow
                label = f"`{names[index]}`" if index < len(names) else f"number {index + 1}"
                checks._fail(task, f"{call} changed its input {label}. A function must not modify "
                                   "its arguments: work on a copy (e.g. x = x.copy(), or x[::-1, ::-1] "
                                   "without assigning into x).",
                             ["an in-place operation such as `kernel[:] = ...` or `x += ...` on an input"])
        for key, old in before_kw.items():
            if not _unchanged(old, kwargs[key]):
                _restore(kwargs[key], old)
                checks._fail(task, f"{call} changed its input `{key}`. Work on a copy.")

    def raises(self, task: str, exception: type[BaseException], func: Callable, *args, **kwargs) -> None:
        """Assert that the student's function raises ``exception`` for these arguments."""
        self._require_function(task, func)
        call = _call_text(func, args, kwargs)
        monitor = CallMonitor(self.forbidden, stop=True)
        try:
            with monitor:
                func(*args, **kwargs)
        except exception:
            if monitor.violations:
                self._fail_forbidden(task, call, monitor)
            return
        except Exception as error:
            if monitor.violations:
                self._fail_forbidden(task, call, monitor)
            checks._fail(task, f"{call}: expected {exception.__name__}, got {type(error).__name__}: {error}")
        if monitor.violations:
            self._fail_forbidden(task, call, monitor)
        checks._fail(task, f"{call}: expected {exception.__name__}, but nothing was raised.")

    # ------------------------------------------------------------------ comparisons
    def array(self, task: str, actual, expected, what: str = "result", **options) -> None:
        """:func:`~cnncourse.grading.checks.check_array` with the task's name in the message."""
        checks.check_array(actual, expected, f"{task}: {what}", **options)

    def shape(self, task: str, actual, expected, what: str = "shape") -> None:
        checks.check_shape(actual, expected, f"{task}: {what}")

    def equal(self, task: str, actual, expected, what: str = "result") -> None:
        checks.check_equal(actual, expected, f"{task}: {what}")

    def scalar(self, task: str, actual, expected, what: str = "result", **options) -> None:
        checks.check_scalar(actual, expected, f"{task}: {what}", **options)

    def true(self, task: str, condition, message: str) -> None:
        checks.check_true(condition, message, task)

    def gradients(self, task: str, analytic, numeric, what: str = "gradient", tol: float = 1e-6) -> None:
        """Compare a student's gradient with a numerical one by relative error."""
        from cnncourse.scratch.gradcheck import rel_error

        analytic_array = checks._numbers(analytic, f"{task}: {what}", need_array=True)
        numeric = np.asarray(numeric)
        if analytic_array.shape != numeric.shape:
            checks._fail(f"{task}: {what}", f"expected shape {numeric.shape}, got {analytic_array.shape}.")
        error = rel_error(analytic_array, numeric)
        if not error < tol:
            checks._fail(f"{task}: {what}", f"relative error {error:.2e} against the numerical "
                                            f"gradient (central differences); expected below {tol:.0e}.")
