"""Catch forbidden library calls while a student's function runs, by identity.

An exercise forbids the routines that would do its work (``numpy.pad``, ``scipy.signal``, the
course's own reference code in ``cnncourse``...). Reading the names in the student's code cannot
enforce that: an alias, ``getattr(np, "p" + "ad")`` or ``importlib`` reach the same routine under
another name, and a helper that happens to be called ``pad`` is innocent. So the rule is checked
while the code runs: :class:`CallMonitor` installs a profile function (``sys.setprofile``, and
``threading.setprofile`` for new threads) that sees every Python and C call, and compares what is
called with the forbidden objects themselves:

* a forbidden *function* matches by identity of the object called, of the function it wraps
  (NumPy's dispatchers, decorators) and of its code object, whatever name reached it;
* a forbidden *module* matches every function whose code lives in the module's files, and every C
  function that the module defines.

A small set of routines that could switch the monitor off or hide work from it (``sys.setprofile``,
``sys.settrace``, starting raw threads or processes, ``ctypes``, stack and heap introspection) is
always forbidden while a student's function is being checked.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from dataclasses import dataclass
from typing import Iterable

#: Always forbidden inside a checked call: they could switch the monitor off or get around it.
ESCAPE_ROUTINES = (
    "sys.setprofile", "sys.settrace", "sys.getprofile", "sys.gettrace", "sys._getframe",
    "threading.setprofile", "threading.settrace", "_thread.start_new_thread",
    "os.fork", "os.forkpty", "os.system", "os.execv", "os.execve", "os.posix_spawn",
    "subprocess.Popen", "ctypes", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "inspect.currentframe", "inspect.stack",
)


#: Files of the grading machinery itself, whose frames appear while the monitor runs.
_MACHINERY = tuple(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
                   for name in ("monitor.py", "checker.py", "checks.py", "guard.py"))


@dataclass(frozen=True)
class Violation:
    routine: str      # the forbidden routine's name, e.g. "numpy.pad"
    rule: str         # the entry of the forbidden list it matched, e.g. "numpy.pad" or "scipy.signal"
    where: str        # the student's line that led to it, e.g. "line 7 of the cell, in pad2d"


def _import(dotted: str):
    """The object a dotted name refers to, or None when it does not exist here."""
    import importlib

    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except Exception:
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def _unwrap(obj) -> list:
    """The object and everything it wraps (``__wrapped__``, ``__func__``, ``__init__`` of a class)."""
    found, pending = [], [obj]
    while pending:
        item = pending.pop()
        if item is None or any(item is f for f in found):
            continue
        found.append(item)
        for attribute in ("__wrapped__", "__func__"):
            inner = getattr(item, attribute, None)
            if inner is not None:
                pending.append(inner)
        if isinstance(item, type):
            for attribute in ("__init__", "__new__", "__call__"):
                inner = item.__dict__.get(attribute)
                if inner is not None:
                    pending.append(inner)
    return found


class ForbiddenSet:
    """The resolved form of a list of forbidden dotted names."""

    def __init__(self, names: Iterable[str], escape: bool = True):
        names = list(names)
        for name in names:
            if not isinstance(name, str) or not name:
                raise TypeError(f"forbidden must hold dotted names as strings, got {name!r}")
        self.names = tuple(names)
        self._objects: list = []                 # keeps every resolved object alive
        self.by_id: dict[int, tuple[str, str]] = {}
        self.by_code: dict[types.CodeType, tuple[str, str]] = {}
        self.file_prefixes: list[tuple[str, str]] = []
        self.module_prefixes: list[tuple[str, str]] = []
        self.silent: dict[int, tuple] = {}      # id -> (object, rule): callables no profile event sees
        self._pending: list[str] = []           # rules whose library was not imported yet
        for rule in names + (list(ESCAPE_ROUTINES) if escape else []):
            self._add(rule)
        self.file_prefix_tuple = tuple(p for p, _ in self.file_prefixes)
        self.module_prefix_tuple = tuple(p for p, _ in self.module_prefixes)
        self.traps = self._places_of_silent_routines()

    def _add(self, rule: str) -> None:
        if rule.split(".")[0] not in sys.modules:
            # Not imported yet: match its files and C functions by location and name, without
            # importing it (importing torch just to forbid it would cost seconds per notebook);
            # resolved fully once it is imported (refresh).
            self._add_unimported(rule)
            self._pending.append(rule)
            return
        obj = _import(rule)
        if obj is None:
            return  # a library that is not installed cannot be called either
        if isinstance(obj, types.ModuleType):
            self._objects.append(obj)
            prefix = obj.__name__ + "."
            modules = [obj] + [m for name, m in list(sys.modules.items())
                               if name.startswith(prefix) and isinstance(m, types.ModuleType)]
            for module in modules:  # the package and its submodules imported so far
                for attribute, value in list(vars(module).items()):
                    if (_is_silent(value) and id(value) not in self.silent  # the public name first
                            and _defined_in(value, obj.__name__)):
                        self.silent[id(value)] = (value, f"{module.__name__}.{attribute}", rule)
            path = getattr(obj, "__file__", None)
            if path:
                base = os.path.dirname(path) + os.sep if os.path.basename(path) == "__init__.py" else path
                self.file_prefixes.append((base, rule))
            self.module_prefixes.append((obj.__name__, rule))
            self.module_prefixes.append((obj.__name__ + ".", rule))
            return
        if _is_silent(obj):
            self.silent[id(obj)] = (obj, rule, rule)
        for item in _unwrap(obj):
            self._objects.append(item)
            self.by_id[id(item)] = (rule, rule)
            code = getattr(item, "__code__", None)
            if isinstance(code, types.CodeType):
                self.by_code[code] = (rule, rule)

    def _add_unimported(self, rule: str) -> None:
        import importlib.util

        parts = rule.split(".")
        try:
            spec = importlib.util.find_spec(parts[0])
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return  # not installed: it cannot be called
        if not spec.submodule_search_locations:  # a single-file or built-in module
            if spec.origin and spec.origin.endswith(".py"):
                self.file_prefixes.append((spec.origin, rule))
            self.module_prefixes += [(parts[0], rule), (parts[0] + ".", rule)]
            return
        base = spec.submodule_search_locations[0]
        for end in range(len(parts), 0, -1):  # the longest part of the name that is a module
            path = os.path.join(base, *parts[1:end])
            if end == 1 or os.path.isdir(path):
                self.file_prefixes.append((path.rstrip(os.sep) + os.sep, rule))
            elif os.path.isfile(path + ".py"):
                self.file_prefixes.append((path + ".py", rule))
            else:
                continue
            module = ".".join(parts[:end])
            self.module_prefixes += [(module, rule), (module + ".", rule)]
            return

    def refresh(self) -> None:
        """Resolve the rules whose library has been imported since (called as a check starts)."""
        ready = [rule for rule in self._pending if rule.split(".")[0] in sys.modules]
        if not ready:
            return
        self._pending = [rule for rule in self._pending if rule not in ready]
        for rule in ready:
            self._add(rule)
        self.file_prefix_tuple = tuple(p for p, _ in self.file_prefixes)
        self.module_prefix_tuple = tuple(p for p, _ in self.module_prefixes)
        self.traps = self._places_of_silent_routines()

    def _places_of_silent_routines(self) -> list:
        """(namespace dict, name, object, routine, rule) for every module attribute holding a
        forbidden routine that a profile function cannot see being called (NumPy's ufuncs)."""
        if not self.silent:
            return []
        places = []
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for name, value in list(namespace.items()):
                entry = self.silent.get(id(value))
                if entry is not None and entry[0] is value:
                    places.append((namespace, name, value, entry[1], entry[2]))
        return places

    def in_forbidden_files(self, filename: str) -> bool:
        return bool(self.file_prefix_tuple) and filename.startswith(self.file_prefix_tuple) \
            and not filename.startswith(_MACHINERY)

    def match_code(self, code: types.CodeType):
        hit = self.by_code.get(code)
        if hit is not None:
            return hit
        if code.co_name == "<module>":
            return None  # importing a module runs its body; only calling into it counts
        if (self.file_prefix_tuple and code.co_filename.startswith(self.file_prefix_tuple)
                and not code.co_filename.startswith(_MACHINERY)):
            for prefix, rule in self.file_prefixes:
                if code.co_filename.startswith(prefix):
                    public = _import(f"{rule}.{code.co_name}")
                    if getattr(public, "__code__", None) is code or getattr(
                            getattr(public, "__wrapped__", None), "__code__", None) is code:
                        return (f"{rule}.{code.co_name}", rule)
                    module = _module_of_file(code.co_filename)
                    return (f"{module}.{code.co_qualname}" if module else code.co_qualname, rule)
        return None

    def match_c(self, function):
        hit = self.by_id.get(id(function))
        if hit is not None:
            return hit
        if self.module_prefix_tuple:
            module = getattr(function, "__module__", None)
            if isinstance(module, str) and (module in self.module_prefix_tuple
                                            or module.startswith(self.module_prefix_tuple)):
                for prefix, rule in self.module_prefixes:
                    if module == prefix or module.startswith(prefix):
                        return (f"{module}.{getattr(function, '__name__', '?')}", rule)
        return None


def _defined_in(obj, package: str) -> bool:
    """Whether a silent routine belongs to ``package`` (not, say, NumPy's ``exp`` imported by one
    of its modules); routines that do not tell where they come from count as the package's."""
    home = getattr(obj, "__module__", None)
    return not isinstance(home, str) or home == package or home.startswith(package + ".")


_SILENT_TYPES = ("cython_function_or_method", "fused_cython_function")


def _is_silent(obj) -> bool:
    """Callables whose calls make no profile event: NumPy's universal functions and compiled
    Cython functions (pycocotools, scikit-image...)."""
    if type(obj).__name__ in _SILENT_TYPES:
        return True
    try:
        import numpy

        return isinstance(obj, numpy.ufunc)
    except ImportError:  # pragma: no cover - numpy is a dependency
        return False


class ForbiddenCallError(RuntimeError):
    """Raised into the student's code at a forbidden call when the monitor stops on violations:
    the task is failed anyway, and the rest of the function (a whole training run, say) need not
    be paid for."""


class _Trap:
    """Stands in for a silent forbidden routine while the monitor runs; records each call."""

    def __init__(self, monitor, original, routine, rule):
        self._monitor, self._original, self._routine, self._rule = monitor, original, routine, rule

    def __call__(self, *args, **kwargs):
        self._monitor._record_silent(self._routine, self._rule, sys._getframe(1))
        return self._original(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._original, name)

    def __repr__(self):
        return repr(self._original)


def _module_of_file(filename: str) -> str:
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == filename:
            return name
    return ""


_LIBRARIES = tuple(sorted({os.path.join(p, "") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
                          | {os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")}))


def _is_cell(filename: str) -> bool:
    """Whether code is the student's: a notebook cell, or any file outside Python's libraries."""
    if "ipykernel_" in filename or filename.startswith("<ipython-input"):
        return True
    return not (filename.startswith(_LIBRARIES) or filename.startswith("<frozen") or filename == "<string>")


def _importing(frame) -> bool:
    """Whether the frame runs inside an import (a module's body and what it calls)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _student_line(frame) -> str:
    """The innermost frame of the student's own code (a notebook cell) above ``frame``."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if _is_cell(filename):
            return f"line {frame.f_lineno} of the cell, in {frame.f_code.co_name}"
        frame = frame.f_back
    return "code called by the function"


_INACTIVE = object()


class CallMonitor:
    """Watch every call made while active and record the forbidden ones.

    Use as a context manager around the student's call. Forbidden calls are recorded; with
    ``stop=True`` the monitor also raises :class:`ForbiddenCallError` at the first one, after
    recording it (CPython then switches the profile function off, so :meth:`resume` puts it back
    when the grader carries on in the same monitored call). The checker fails the task afterwards. ``paused()`` lets the grader run a reference
    implementation in the middle of the student's code. ``intact`` tells whether the profile
    function is still installed (a student's code could have removed it; that call is recorded).
    """

    def __init__(self, forbidden: ForbiddenSet, stop: bool = False):
        if not isinstance(forbidden, ForbiddenSet):
            raise TypeError(f"forbidden must be a ForbiddenSet, got {type(forbidden).__name__}")
        if not isinstance(stop, bool):
            raise TypeError(f"stop must be a bool, got {type(stop).__name__}")
        self.forbidden = forbidden
        self.stop = stop
        self.violations: list[Violation] = []
        self._pause = 0
        self._previous = _INACTIVE
        self._previous_thread = None
        self._installed: list = []
        self._cells: list = []

    def _hook(self, frame, event, arg):
        if self._pause:
            return
        if event == "call":
            caller = frame.f_back
            hit = self.forbidden.match_code(frame.f_code)
        elif event == "c_call":
            caller = frame
            hit = self.forbidden.match_c(arg)
        else:
            return
        if hit is None or caller is None:
            return
        calling_code = caller.f_code
        if (calling_code.co_filename.startswith(_MACHINERY) or calling_code in self.forbidden.by_code
                or self.forbidden.in_forbidden_files(calling_code.co_filename)):
            return  # the grader's own frames, or a forbidden routine calling its own internals
        routine, rule = hit
        if rule in ESCAPE_ROUTINES and not _is_cell(calling_code.co_filename):
            return  # a library using introspection for its own purposes, not the student's code
        if _importing(caller):
            return  # importing a forbidden library runs its code; calling it is what counts
        if not any(v.routine == routine for v in self.violations):
            self.violations.append(Violation(routine, rule, _student_line(caller)))
        self._stop(routine)

    def _stop(self, routine: str) -> None:
        if self.stop:
            raise ForbiddenCallError(f"{routine} is forbidden here: the grader stopped the function")

    def resume(self) -> None:
        """Put the profile function back after a stop, while the monitor is active."""
        if self._previous is not _INACTIVE and sys.getprofile() is None:
            sys.setprofile(self._hook)

    @property
    def intact(self) -> bool:
        return sys.getprofile() == self._hook

    def paused(self):
        monitor = self

        class _Paused:
            def __enter__(self):
                monitor._pause += 1

            def __exit__(self, *exc):
                monitor._pause -= 1
                return False

        return _Paused()

    def _record_silent(self, routine, rule, caller) -> None:
        if self._pause or caller is None:
            return
        code = caller.f_code
        if code.co_filename.startswith(_MACHINERY) or self.forbidden.in_forbidden_files(code.co_filename):
            return
        if not any(v.routine == routine for v in self.violations):
            self.violations.append(Violation(routine, rule, _student_line(caller)))
        self._stop(routine)

    def trap_namespace(self, namespace: dict, function=None) -> None:
        """Also trap the silent forbidden routines held by the student's namespace and by the
        closure of the function being checked."""
        for name, value in list(namespace.items()):
            entry = self.forbidden.silent.get(id(value))
            if entry is not None and entry[0] is value:
                self._installed.append((namespace, name, value))
                namespace[name] = _Trap(self, value, entry[1], entry[2])
        for cell in getattr(function, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            entry = self.forbidden.silent.get(id(value))
            if entry is not None and entry[0] is value:
                self._cells.append((cell, value))
                cell.cell_contents = _Trap(self, value, entry[1], entry[2])

    def __enter__(self) -> "CallMonitor":
        self.forbidden.refresh()
        self._installed = []
        for namespace, name, value, routine, rule in self.forbidden.traps:
            if namespace.get(name) is value:
                self._installed.append((namespace, name, value))
                namespace[name] = _Trap(self, value, routine, rule)
        self._previous = sys.getprofile()
        self._previous_thread = threading.getprofile() if hasattr(threading, "getprofile") else None
        threading.setprofile(self._hook)
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc) -> bool:
        sys.setprofile(self._previous)
        self._previous = _INACTIVE
        threading.setprofile(self._previous_thread)
        for namespace, name, value in reversed(self._installed):
            namespace[name] = value
        for cell, value in self._cells:
            cell.cell_contents = value
        self._installed, self._cells = [], []
        return False
