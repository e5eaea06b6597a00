"""The nbgrader preprocessors of the course (configured in ``nbgrader_config.py``).

* :class:`RestoreCells` replaces nbgrader's ``OverwriteCells``: it puts back locked cells that a
  student changed and graded cells a student deleted (nbgrader's ``add_missing_cells``), and it no
  longer warns about the test cells whose only difference is the hidden tests the grader itself
  adds back (the cause of nbgrader's "checksum has changed" warning on every honest submission).
  A locked cell the student really edited is still reported, and recorded as a finding.
* :class:`SandboxedExecute` replaces nbgrader's ``Execute``: each notebook runs in its own
  sandboxed kernel (:mod:`cnncourse.grading.sandbox`) on a scratch copy of the student's folder,
  with short per-cell timeouts for test cells, guarded test cells (:mod:`cnncourse.grading.guard`),
  and a fault (kernel death, timeout) that only costs the cells it affects.
* :class:`HideHiddenTests` removes the hidden tests from the feedback notebooks.
* :class:`FeedbackStyle` adds the course's CSS to the feedback pages (long messages wrap).

The grader's findings for each notebook (faults, tampering, edited locked cells, static review
flags) are written next to the autograded notebook, in ``.cnncourse/<notebook>.json``; the class
run and the export read them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Float, Integer, List, Unicode

from cnncourse.grading import guard
from cnncourse.grading.sandbox import Limits, SandboxKernelManager, check_available

FINDINGS_DIR = ".cnncourse"
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"

#: Static review: code in a submission that deserves the instructor's eye (flags, never points).
SUSPICIOUS = {
    r"\binput_transformers": "registers an IPython input transformer",
    r"\bast_transformers": "registers an IPython AST transformer",
    r"\bset_custom_exc\b": "installs a custom exception handler",
    r"\bsys\s*\.\s*(setprofile|settrace)\b": "installs a profile or trace function",
    r"\bgc\s*\.\s*get_(objects|referrers)\b": "searches the interpreter's heap",
    r"\b_getframe\b|\bcurrentframe\b": "inspects the call stack",
    r"\bctypes\b": "uses ctypes",
    r"cnncourse\s*[./\\]\s*grading\b": "refers to the grader's code",
    r"\bbuiltins\b|__builtins__": "changes or reads the builtins",
    r"\b__code__\b": "edits a function's code object",
    r"\bsqlite3\b|gradebook": "refers to the gradebook",
    r"\bos\s*\.\s*_exit\b": "ends the kernel process",
}


def strip_hidden_tests(source: str) -> str:
    """A cell's source without its hidden-test region (what the released notebook shows)."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if HIDDEN_BEGIN in line:
            hidden = True
        elif HIDDEN_END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def _findings_path(folder: str, notebook_id: str) -> Path:
    return Path(folder) / FINDINGS_DIR / f"{notebook_id}.json"


def read_findings(folder: str, notebook_id: str) -> dict:
    path = _findings_path(folder, notebook_id)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


class RestoreCells(OverwriteCells):
    """nbgrader's OverwriteCells, restoring deleted cells, quiet about hidden tests."""

    add_missing_cells = Bool(True).tag(config=True)
    missing_cell_notification = Unicode(
        "This cell (id:{cell_id}) was missing from the submission and was added back by the "
        "grader.\n\n").tag(config=True)

    def preprocess(self, nb, resources):
        self._flags = []
        present = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells}
        nb, resources = super().preprocess(nb, resources)
        with Gradebook(self.db_url) as gradebook:
            self._add_missing_locked_cells(nb, gradebook)
        restored = [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
                    if cell.metadata.get("nbgrader", {}).get("grade_id") not in present]
        if restored:
            self._flags.append(f"deleted cells were restored: {', '.join(restored)}")
        # The autograde step reads these from the notebook (it gets fresh resources).
        nb.metadata["cnncourse_restored"] = list(self._flags)
        return nb, resources

    def _add_missing_locked_cells(self, nb, gradebook) -> None:
        """Put back the exercise's own locked cells (set-up, data) that nbgrader does not restore."""
        source_cells = gradebook.find_notebook(self.notebook_id, self.assignment_id).source_cells
        names = [cell.name for cell in source_cells]
        for position, source in enumerate(source_cells):
            ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
            if not source.locked or source.name in ids:
                continue
            cell = from_dict({"cell_type": source.cell_type, "source": source.source, "id": source.name, "metadata": {
                "deletable": False, "editable": False,
                "nbgrader": {"grade": False, "grade_id": source.name, "locked": True, "solution": False,
                             "task": False, "schema_version": 3, "checksum": source.checksum}}})
            if source.cell_type == "code":
                cell["outputs"], cell["execution_count"] = [], None
            earlier = [ids.index(n) for n in names[:position] if n in ids]
            nb.cells.insert(max(earlier) + 1 if earlier else 0, cell)

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell) and cell.cell_type == "code":
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except Exception:
                source_cell = None
            if source_cell is not None and source_cell.locked:
                released = strip_hidden_tests(source_cell.source)
                if cell.source.strip() == released.strip() or cell.source.strip() == source_cell.source.strip():
                    # The released version of the cell: restore the hidden tests without a warning.
                    cell.source = source_cell.source
                else:
                    self.log.warning("The locked cell %s was edited; the original is restored", grade_id)
                    self._flags.append(f"the locked cell {grade_id} was edited (the original was restored)")
                    cell.source = source_cell.source
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name, attr, old, new):
        if attr == "checksum":
            return  # handled in preprocess_cell
        self._flags.append(f"the {attr} of cell {name} was changed from {old!r} to {new!r}")
        super().report_change(name, attr, old, new)


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return from_dict({"output_type": "error", "ename": ename, "evalue": evalue,
                      "traceback": [f"{ename}: {evalue}"]})


class SandboxedExecute(Execute):
    """Execute a submission in the sandbox, with guarded test cells and local faults."""

    test_timeout = Integer(30, help="Seconds a graded test cell may run.").tag(config=True)
    cell_timeout = Integer(60, help="Seconds any other cell may run (a cell's own "
                                    "metadata.cnncourse.timeout overrides both).").tag(config=True)
    memory_limit = Float(4.0, help="Address-space cap of the kernel, in GiB.").tag(config=True)
    cpu_limit = Integer(900, help="CPU seconds for the whole notebook.").tag(config=True)
    threads = Integer(1, help="BLAS/torch threads of the kernel.").tag(config=True)
    sandbox = Bool(True, help="Run kernels in the bubblewrap sandbox (never turn off for a class).").tag(config=True)
    protected_modules = List(Unicode(), ["cnncourse"], help="Module prefixes the guard watches.").tag(config=True)
    course_root = Unicode("", help="The course folder to hide from the kernel (default: cwd).").tag(config=True)

    def _timeout_for(self, cell) -> int:
        meta = cell.metadata.get("nbgrader", {})
        own = cell.metadata.get("cnncourse", {}).get("timeout")
        if own:
            return int(own)
        return self.test_timeout if meta.get("grade") and not meta.get("solution") else self.cell_timeout

    # ------------------------------------------------------------------ main entry
    def preprocess(self, nb, resources, km=None):
        if self.sandbox:
            check_available()
        started = time.monotonic()
        folder = resources.get("metadata", {}).get("path") or os.getcwd()
        notebook_id = resources.get("nbgrader", {}).get("notebook", "notebook")
        scratch = tempfile.mkdtemp(prefix="cnncourse-grade-")
        workdir, rundir = os.path.join(scratch, "work"), os.path.join(scratch, "run")
        shutil.copytree(folder, workdir, ignore=shutil.ignore_patterns("*.ipynb", FINDINGS_DIR))
        os.makedirs(rundir)
        secret, nonce = secrets.token_hex(32).encode(), secrets.token_hex(8)
        secret_file = os.path.join(rundir, "guard.secret")
        with open(secret_file, "wb") as handle:
            handle.write(secret + b"\n" + nonce.encode())
        findings = {"flags": list(nb.metadata.pop("cnncourse_restored", [])), "faults": [], "notes": []}
        findings["flags"].extend(self._static_review(nb))
        originals, graded = self._inject(nb, secret_file)
        record = {"graded_cells": graded}
        try:
            if self.sandbox:
                limits = Limits(memory_bytes=int(self.memory_limit * 1024 ** 3), cpu_seconds=self.cpu_limit,
                                threads=self.threads)
                km = SandboxKernelManager(workdir, rundir, self.course_root or os.getcwd(), limits,
                                          kernel_name=self.kernel_name or "python3")
            resources = dict(resources, metadata=dict(resources.get("metadata", {}), path=workdir))
            self._run_cells(nb, resources, km, findings)
        finally:
            if km is not None:
                _stop_kernel(km)  # nbclient leaves a kernel manager it did not create running
            resources["metadata"]["path"] = folder
            shutil.rmtree(scratch, ignore_errors=True)
        self._verdicts(nb, originals, set(graded), secret, nonce, findings)
        record.update(findings, seconds=round(time.monotonic() - started, 2),
                      graded_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        resources["cnncourse"] = record
        path = _findings_path(folder, notebook_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
        return nb, resources

    # ------------------------------------------------------------------ static review
    @staticmethod
    def _static_review(nb) -> list[str]:
        flags = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or meta.get("locked"):
                continue
            for pattern, what in SUSPICIOUS.items():
                match = re.search(pattern, cell.source)
                if match:
                    line = cell.source[:match.start()].count("\n") + 1
                    where = meta.get("grade_id") or "an unnamed cell"
                    flags.append(f"review: {where} line {line} {what}")
        return flags

    # ------------------------------------------------------------------ guard injection
    def _inject(self, nb, secret_file):
        originals = {}
        graded = []
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if (cell.cell_type == "code" and meta.get("locked") and not meta.get("grade")
                    and not meta.get("solution")):
                # An exercise's own cell (set-up, data): look for tampering before it, then seal
                # the names it defines.
                originals[meta["grade_id"]] = cell.source
                cell.source = (f"__import__('cnncourse.grading.guard', fromlist=['seal']).precheck({meta['grade_id']!r})\n"
                               f"{cell.source}\n"
                               "__import__('cnncourse.grading.guard', fromlist=['seal']).seal()")
            elif cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                grade_id = meta["grade_id"]
                graded.append(grade_id)
                originals[grade_id] = cell.source
                digest = guard.source_digest(cell.source)
                cell.source = (
                    f"__import__('cnncourse.grading.guard', fromlist=['begin']).begin({grade_id!r}, {digest!r})\n"
                    f"{cell.source}\n"
                    f"__import__('cnncourse.grading.guard', fromlist=['end']).end({grade_id!r})")
        # Import, before any student code, every course module the exercise's own cells name, so
        # that the guard records them genuine.
        named = set()
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("locked"):
                named.update(re.findall(r"\b(cnncourse(?:\.\w+)+)", originals.get(
                    cell.metadata["nbgrader"].get("grade_id"), cell.source)))
        protected = tuple(self.protected_modules) + tuple(sorted(named))
        install = from_dict({"cell_type": "code", "execution_count": None, "outputs": [],
                             "metadata": {"cnncourse": {"injected": True}},
                             "source": "import cnncourse.grading.guard as __cnncourse_guard__\n"
                                       f"__cnncourse_guard__.install({secret_file!r}, {protected!r})\n"
                                       "del __cnncourse_guard__"})
        final = from_dict({"cell_type": "code", "execution_count": None, "outputs": [],
                           "metadata": {"cnncourse": {"injected": True}},
                           "source": "__import__('cnncourse.grading.guard', fromlist=['report']).report()"})
        nb.cells.insert(0, install)
        nb.cells.append(final)
        return originals, graded

    # ------------------------------------------------------------------ execution
    def _run_cells(self, nb, resources, km, findings):
        from nbclient.client import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.timeout_func = self._timeout_for
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        stopped_at = None
        try:
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                for index, cell in enumerate(self.nb.cells):
                    try:
                        self.execute_cell(cell, index, store_history=True)
                    except DeadKernelError:
                        stopped_at = index
                        break
                    except CellTimeoutError:
                        stopped_at = index
                        break
                    if cell.metadata.get("cnncourse", {}).get("injected") and index == 0 and any(
                            o.get("output_type") == "error" for o in cell.get("outputs", [])):
                        raise RuntimeError("the grader's guard could not be installed: "
                                           + "; ".join(o.get("evalue", "") for o in cell.outputs))
        except DeadKernelError:
            stopped_at = stopped_at if stopped_at is not None else 0
        if stopped_at is None:
            return
        cell = self.nb.cells[stopped_at]
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {stopped_at}"
        reason = (f"the kernel stopped while running {name}: it ran out of memory (cap "
                  f"{self.memory_limit:g} GiB) or CPU time, did not answer an interrupt, or the code "
                  "ended the process (os._exit, exit())")
        findings["faults"].append(reason)
        if cell.cell_type == "code" and not cell.metadata.get("cnncourse", {}).get("injected"):
            cell.setdefault("outputs", []).append(_error_output("KernelStopped", reason))
        for later in self.nb.cells[stopped_at + 1:]:
            if later.cell_type == "code" and later.metadata.get("nbgrader", {}).get("grade"):
                later.outputs = [_error_output("NotRun", f"not run: {reason}")]

    # ------------------------------------------------------------------ verdicts
    def _verdicts(self, nb, originals, graded_ids, secret, nonce, findings):
        confirmed, report = set(), None
        for cell in nb.cells:
            kept = []
            for output in cell.get("outputs", []):
                data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
                if guard.MIME in data:
                    body = guard.verify_marker(data[guard.MIME], secret, nonce)
                    if body and body.get("kind") == "cell":
                        confirmed.add(body["cell"])
                    elif body and body.get("kind") == "report":
                        report = body
                    elif not body:
                        findings["flags"].append("a forged grading marker was found")
                    continue
                kept.append(output)
            if cell.cell_type == "code":
                cell.outputs = kept
        if report is None:
            findings["flags"].append("the grader's final report is missing (the notebook's run "
                                     "was cut short or the grading machinery was disturbed)")
        else:
            for item in report.get("findings", []):
                findings["flags"].append(f"tampering in {item.get('cell')}: {item.get('finding')}")
        nb.cells = [c for c in nb.cells if not c.metadata.get("cnncourse", {}).get("injected")]
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if grade_id in originals and grade_id not in graded_ids:
                cell.source = originals[grade_id]
            elif grade_id in originals:
                cell.source = originals[grade_id]
                for output in cell.outputs:
                    # nbgrader gives 0 for any text on stderr (a NumPy RuntimeWarning of a correct
                    # answer) and partial credit for a number as the last value: a test cell's
                    # points depend only on its checks passing.
                    if output.get("output_type") == "stream" and output.get("name") == "stderr":
                        output["name"] = "stdout"
                    elif output.get("output_type") == "execute_result":
                        output["output_type"] = "display_data"
                        output.pop("execution_count", None)
                errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                for output in errors:
                    output["traceback"] = [_clean(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")]
                if not errors and grade_id not in confirmed:
                    why = ("the grader could not confirm that this test cell ran as written "
                           "(its code was changed, skipped or emptied while the notebook ran)")
                    cell.outputs.append(_error_output("GradingIntegrityError", why))
                    findings["flags"].append(f"{grade_id}: {why}")
            elif cell.cell_type == "code":
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        output["traceback"] = [_clean(line) for line in output.get("traceback", [])]

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)


def _stop_kernel(km) -> None:
    """Shut a kernel down for good (its sandbox goes with it)."""
    from jupyter_core.utils import run_sync

    try:
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=True)
    except Exception:
        provisioner = getattr(km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if process is not None:
            process.kill()


_PATH_PATTERNS = None


def _clean(text: str) -> str:
    """Remove the grader's absolute paths from a traceback line."""
    global _PATH_PATTERNS
    if _PATH_PATTERNS is None:
        import sys

        import cnncourse

        package = str(Path(cnncourse.__file__).resolve().parent.parent)
        replacements = [(sys.prefix, "<python>"), (sys.base_prefix, "<python>"), (package, "<course>"),
                        (tempfile.gettempdir() + "/cnncourse-grade-", "<scratch>/")]
        _PATH_PATTERNS = [(re.escape(old), new) for old, new in replacements if old]
    for pattern, new in _PATH_PATTERNS:
        text = re.sub(pattern, new, text)
    return re.sub(r"<scratch>/[\w-]+/work/?", "", text)


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback: show each test cell as released (hidden tests out); keep messages and points."""

    def preprocess_cell(self, cell, resources, cell_index):
        if HIDDEN_BEGIN in cell.get("source", ""):
            cell.source = strip_hidden_tests(cell.source)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [_clean(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")]
        return cell, resources


FEEDBACK_CSS = """
div.output_area pre, div.output_subarea pre, div.output_text pre { white-space: pre-wrap;
  word-break: break-word; overflow-x: visible; }
div.output_subarea { max-width: 100%; overflow-x: visible; }
div.output_scroll { height: auto; max-height: none; box-shadow: none; overflow: visible; }
"""


class FeedbackStyle(NbGraderPreprocessor):
    """Feedback: add the course's CSS (wrapped messages, no scroll boxes)."""

    def preprocess(self, nb, resources):
        resources.setdefault("inlining", {}).setdefault("css", []).append(FEEDBACK_CSS)
        return nb, resources
