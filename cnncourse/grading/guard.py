"""Tamper evidence inside the grading kernel.

The autograder runs a student's notebook in a sandboxed kernel. Before the first cell it runs
:func:`install`, which records the genuine objects the checks rely on: the functions and classes
of the course's modules (``cnncourse.grading`` and the reference code), every attribute of NumPy's
modules, the builtins, ``sys``'s hooks, and the IPython shell and kernel machinery that turns a
cell into executed code (input transformers, AST transformers, ``run_cell``, the execute
handler, custom exception handlers). Each graded test cell is then wrapped by the grader:

    guard.begin("test_pad2d", "<digest of the cell's source>")
    ... the test cell as written ...
    guard.end("test_pad2d")

:func:`begin` checks that everything recorded is still the genuine object and that the code
being executed is the cell's own source (an input transformer that rewrites or empties the cell
shows up here); :func:`end` checks again and publishes a marker signed with a secret that only
the grader and this module know. The grader gives a test cell its points only when the cell ran
without error *and* its signed marker is present; a cell whose code was changed, skipped or
emptied has no valid marker. Every finding is also reported to the grader (:func:`report`) and
flags the submission for the instructor.

This is evidence, not a proof: code running in the same process can in principle reach anything,
so a student who studies this module closely might get around it — for their own submission
only, since the sandbox keeps every other file, grade and student out of reach, and the
submission's code stays there for the instructor to read.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import linecache
import os
import sys
import types

MIME = "application/vnd.cnncourse.guard+json"

_state = None  # set by install(); None outside grading


class TamperError(AssertionError):
    """The grader found that something it relies on was changed."""


def _digest(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    return hashlib.sha256("\n".join(lines).strip().encode()).hexdigest()


def source_digest(cell_source: str) -> str:
    """The digest :func:`begin` expects for a test cell's source (computed by the grader too)."""
    return _digest(cell_source)


class _Snapshot:
    """Identities of the objects the checks rely on, taken before any student code runs."""

    def __init__(self, protected_modules):
        self.modules = {}     # module name -> (module object, {attribute: object})
        self.functions = []   # (label, holder, attribute, code, defaults, kwdefaults)
        self.classes = {}     # class -> dict(class.__dict__)
        prefixes = tuple(protected_modules)
        for name, module in list(sys.modules.items()):
            if module is None:
                continue
            deep = name == prefixes or name.startswith(prefixes)
            if deep or name in _SHALLOW or name.startswith("numpy."):
                self._module(name, module, deep)
        self.builtins = {k: v for k, v in vars(builtins).items() if k not in _BUILTINS_THAT_CHANGE}
        self.shell = None
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except Exception:  # pragma: no cover - grading always runs in IPython
            shell = None
        if shell is not None:
            self.shell = shell
            self.shell_state = self._shell_state(shell)
            kernel = getattr(shell, "kernel", None)
            for cls in type(shell).__mro__ + (type(kernel).__mro__ if kernel is not None else ()):
                if cls is not object:
                    self.classes.setdefault(cls, dict(cls.__dict__))

    def _module(self, name, module, deep):
        attributes = {k: v for k, v in vars(module).items() if (name, k) not in _ATTRIBUTES_THAT_CHANGE}
        if name == "sys":  # only sys's functions: its streams and hooks change legitimately
            attributes = {k: v for k, v in attributes.items() if isinstance(v, types.BuiltinFunctionType)}
        self.modules[name] = (module, attributes)
        if not deep:
            return
        for attribute, value in attributes.items():
            if isinstance(value, types.FunctionType):
                self.functions.append((f"{name}.{attribute}", module, attribute, value.__code__,
                                       value.__defaults__, value.__kwdefaults__))
            elif isinstance(value, type) and getattr(value, "__module__", "") == name:
                self.classes[value] = dict(value.__dict__)
                for member, item in value.__dict__.items():
                    function = getattr(item, "__func__", item)
                    if isinstance(function, types.FunctionType):
                        self.functions.append((f"{name}.{value.__qualname__}.{member}", value, member,
                                               function.__code__, function.__defaults__,
                                               function.__kwdefaults__))

    @staticmethod
    def _shell_state(shell) -> dict:
        manager = getattr(shell, "input_transformer_manager", None)
        state = {
            "input_transformers_cleanup": list(getattr(shell, "input_transformers_cleanup", [])),
            "input_transformers_post": list(getattr(shell, "input_transformers_post", [])),
            "ast_transformers": list(getattr(shell, "ast_transformers", [])),
            "custom_exceptions": tuple(getattr(shell, "custom_exceptions", ())),
            "instance": {k: v for k, v in vars(shell).items() if callable(v)},
        }
        if manager is not None:
            for attribute in ("cleanup_transforms", "line_transforms", "token_transformers"):
                state[f"manager.{attribute}"] = list(getattr(manager, attribute, []))
        kernel = getattr(shell, "kernel", None)
        if kernel is not None:
            state["kernel.instance"] = {k: v for k, v in vars(kernel).items() if callable(v)}
            handlers = getattr(kernel, "shell_handlers", {})
            state["kernel.shell_handlers"] = dict(handlers)
        return state

    def differences(self) -> list[str]:
        """What changed since the snapshot, in words (empty when nothing did)."""
        found = []
        for name, (module, attributes) in self.modules.items():
            if sys.modules.get(name) is not module:
                found.append(f"the module {name} was replaced in sys.modules")
                continue
            now = vars(module)
            for attribute, value in attributes.items():
                if now.get(attribute, _MISSING) is not value:
                    found.append(f"{name}.{attribute} was replaced")
                    if len(found) > 5:
                        return found
        for label, holder, attribute, code, defaults, kwdefaults in self.functions:
            value = vars(holder).get(attribute)
            function = getattr(value, "__func__", value)
            if isinstance(function, types.FunctionType) and (
                    function.__code__ is not code or function.__defaults__ is not defaults
                    or function.__kwdefaults__ is not kwdefaults):
                found.append(f"the code of {label} was changed")
        for cls, members in self.classes.items():
            now = cls.__dict__
            for member, value in members.items():
                if now.get(member, _MISSING) is not value:
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{member} was replaced")
            for member in now.keys() - members.keys():
                found.append(f"{cls.__module__}.{cls.__qualname__}.{member} was added")
        now_builtins = vars(builtins)
        for name, value in self.builtins.items():
            if now_builtins.get(name, _MISSING) is not value:
                found.append(f"the builtin {name} was replaced")
        if sys.gettrace() is not None:
            found.append("a trace function (sys.settrace) is installed")
        if self.shell is not None:
            state = self._shell_state(self.shell)
            for key, old in self.shell_state.items():
                new = state.get(key)
                if key in ("instance", "kernel.instance"):
                    added = [k for k in new if k not in old or new[k] is not old[k]]
                    if added:
                        found.append(f"the shell's {', '.join(sorted(added))} {'was' if len(added) == 1 else 'were'} replaced")
                elif not _same_items(old, new):
                    found.append(f"IPython's {key.replace('manager.', 'input transformer ')} changed")
        return found


def _same_items(old, new) -> bool:
    if isinstance(old, dict):
        return old.keys() == new.keys() and all(_same_items(old[k], new[k]) for k in old)
    if isinstance(old, (list, tuple)):
        return len(old) == len(new) and all(a is b for a, b in zip(old, new))
    return old is new


_MISSING = object()
#: Modules whose attributes are recorded (without looking inside their functions).
_SHALLOW = frozenset({"sys", "numpy", "linecache", "hmac", "hashlib", "json", "copy",
                      "functools", "types", "math", "operator", "threading"})
#: Builtins that IPython and ipykernel themselves set anew around every cell.
_BUILTINS_THAT_CHANGE = frozenset({"_", "__", "___", "exit", "quit", "get_ipython", "display", "input",
                                   "raw_input", "getpass"})
#: Module attributes that change legitimately while a notebook runs.
_ATTRIBUTES_THAT_CHANGE = frozenset({("cnncourse.grading.guard", "_state"), ("sys", "excepthook"),
                                     ("sys", "displayhook"), ("sys", "breakpointhook"),
                                     ("sys", "unraisablehook"), ("linecache", "cache")})


class _State:
    def __init__(self, secret: bytes, nonce: str, snapshot: _Snapshot):
        self._sign = _signer(secret)
        self.nonce = nonce
        self.snapshot = snapshot
        self.sealed: dict = {}       # name -> (object, copy of its instance dict or None)
        self.tampered: list = []     # differences found between cells, kept until the end
        self.open_cell = None
        self.findings: list[dict] = []
        self.counter = 0
        from IPython.display import publish_display_data

        self._publish = publish_display_data

    def finding(self, cell: str, what: str) -> TamperError:
        self.findings.append({"cell": cell, "finding": what})
        return TamperError(f"{cell}: the grader found that {what}. This test cell gets no points "
                           "and the submission is flagged for the instructor.")

    def verify(self, cell: str) -> None:
        differences = self.tampered + self.snapshot.differences() + self.namespace_differences()
        if differences:
            raise self.finding(cell, "; ".join(differences[:4]))

    def seal(self, namespace: dict) -> None:
        for name, value in namespace.items():
            if name.startswith("_") or name in ("In", "Out", "exit", "quit", "get_ipython"):
                continue
            owned = getattr(type(value), "__module__", "") or ""
            instance = dict(vars(value)) if owned.startswith("cnncourse") and hasattr(value, "__dict__") else None
            self.sealed[name] = (value, instance)

    def namespace_differences(self) -> list[str]:
        if not self.sealed or self.snapshot.shell is None:
            return []
        namespace = self.snapshot.shell.user_ns
        found = []
        for name, (value, instance) in self.sealed.items():
            if namespace.get(name, _MISSING) is not value:
                found.append(f"the name {name!r} set by the exercise's own cells was redefined")
            elif instance is not None:
                now = vars(value)
                if now.keys() != instance.keys() or any(now[k] is not instance[k] for k in instance):
                    found.append(f"the attributes of {name!r} were changed")
        return found

    def marker(self, kind: str, payload: dict) -> None:
        self.counter += 1
        body = {"kind": kind, "n": self.counter, **payload}
        message = json.dumps(body, sort_keys=True)
        self._publish({MIME: {"body": message, "mac": self._sign(f"{self.nonce}|{message}".encode())}},
                      metadata={})


def _signer(secret: bytes):
    new, sha256 = hmac.new, hashlib.sha256

    def sign(message: bytes) -> str:
        return new(secret, message, sha256).hexdigest()

    return sign


def install(secret_file: str, protected=("cnncourse",)) -> None:
    """Record the genuine objects (called once, before the student's first cell)."""
    global _state
    import importlib

    with open(secret_file, "rb") as handle:
        secret, _, nonce = handle.read().partition(b"\n")
    os.remove(secret_file)
    for name in ("cnncourse.grading", "cnncourse.grading.checks", "cnncourse.grading.checker",
                 "cnncourse.grading.monitor", "cnncourse.scratch", "cnncourse.scratch.gradcheck"):
        importlib.import_module(name)
    for name in protected:
        parts = name.split(".")
        for end in range(len(parts), 1, -1):  # "cnncourse.scratch.conv2d" -> the module part
            try:
                importlib.import_module(".".join(parts[:end]))
                break
            except ImportError:
                continue
    _state = _State(secret, nonce.decode(), _Snapshot(("cnncourse",)))


def precheck(cell: str) -> None:
    """Before an exercise's own cell: note tampering so far (the cell may legitimately redefine
    names, after which :func:`seal` records them anew)."""
    if _state is not None:
        found = _state.snapshot.differences() + _state.namespace_differences()
        if found:
            _state.tampered.extend(f"{item} (before {cell})" for item in found if item not in _state.tampered)


def seal() -> None:
    """Record the names the exercise's own (locked) cells defined, so that redefining them shows."""
    if _state is not None and _state.snapshot.shell is not None:
        _state.seal(_state.snapshot.shell.user_ns)


def installed() -> bool:
    return _state is not None


def verify_if_installed(cell: str) -> None:
    """Called by the checker after each student call: fail at once if something was changed."""
    if _state is not None:
        _state.verify(cell)


def begin(cell: str, digest: str) -> None:
    """Start a graded test cell: check the machinery and that the cell's code is its own."""
    state = _state
    if state is None:
        raise TamperError(f"{cell}: the grader's guard is not installed")
    state.open_cell = None
    state.verify(cell)
    frame = sys._getframe(1)
    lines = linecache.getlines(frame.f_code.co_filename)
    executed = "".join(lines)
    body = "\n".join(executed.rstrip("\n").split("\n")[1:-1])
    if not lines or _digest(body) != digest:
        raise state.finding(cell, "the code that ran is not the test cell's own code "
                                  "(an input transformer or a changed cell)")
    state.open_cell = cell


def end(cell: str) -> None:
    """Finish a graded test cell: check again and publish the signed marker."""
    state = _state
    if state is None or state.open_cell != cell:
        raise TamperError(f"{cell}: the test cell did not start as the grader wrote it")
    state.verify(cell)
    state.open_cell = None
    state.marker("cell", {"cell": cell})
    _forget_inputs()


def report() -> None:
    """Publish everything found (called by the grader's last cell)."""
    if _state is not None:
        _state.marker("report", {"findings": _state.findings})


def _forget_inputs() -> None:
    """Drop the executed test sources from IPython's input history and line cache."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        history = shell.history_manager
        for store in (history.input_hist_raw, history.input_hist_parsed):
            if store:
                store[-1] = ""
        for key in ("_i", "_ii", "_iii"):
            shell.user_ns[key] = ""
        count = shell.execution_count
        shell.user_ns.pop(f"_i{count}", None)
        shell.user_ns.pop(f"_i{count - 1}", None)
        frame = sys._getframe(2)
        linecache.cache.pop(frame.f_code.co_filename, None)
    except Exception:
        pass


def verify_marker(output_data: dict, secret: bytes, nonce: str):
    """The grader's side: the marker's body if its signature is valid, else None."""
    try:
        body, mac = output_data["body"], output_data["mac"]
    except (KeyError, TypeError):
        return None
    expected = hmac.new(secret, f"{nonce}|{body}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(mac)):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
