"""A red-team class: every cheat and fault of the grading issue as its own student, beside honest
classmates, graded in one sandboxed parallel run of a throw-away course.

Each cheater ends with 0 on the affected cells or a flag; honest students keep full marks; the
course folder, the package and the other students' gradebook rows are unchanged afterwards; the
export marks failed students as failed (not 0) and carries the flags; feedback shows no hidden
test and loads MathJax from its own folder.
"""

import csv
import hashlib
import json
import socket
import sqlite3
import threading
from pathlib import Path

import nbformat
import pytest

from nbgrader_course import (REPO, answered, course_command, grade_class, make_course, notebooks,
                             solution_sources, submit)

A = "01-convolution"
HONEST = ("honest-reference", "honest-later")


def _tree_digest(folder: Path, skip=()) -> dict:
    digests = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(relative.parts[0] == s for s in skip) and "__pycache__" not in path.parts:
            digests[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


class _Listener:
    """A TCP server on the grader's loopback that records whether anyone connected."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(5)
        self.server.settimeout(0.5)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.server.accept()
                self.connections += 1
                connection.close()
            except OSError:
                continue

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.server.close()


def _cheats(course: Path, port: int) -> dict:
    """student -> (edit of the reference answers, or raw text), expectation."""
    package = Path(__import__("cnncourse").__file__).resolve().parent
    before = lambda cell, code: (lambda answers: {**answers, cell: code + "\n" + answers[cell]})  # noqa: E731
    after = lambda cell, code: (lambda answers: {**answers, cell: answers[cell] + "\n" + code})  # noqa: E731
    return {
        # cheats against the course and other students: blocked by the sandbox, flagged on review
        "write-grader": (before("pad2d", "try:\n"
                                f"    open({str(package / 'grading' / 'checks.py')!r}, 'a').write('\\ncheck_array = lambda *a, **k: None\\n')\n"
                                "except OSError:\n    pass"), {"flagged": True}),
        "write-gradebook": (before("pad2d", "import sqlite3\ntry:\n"
                                   f"    db = sqlite3.connect({str(course / 'gradebook.db')!r})\n"
                                   "    db.execute('UPDATE grade SET manual_score = 0')\n    db.commit()\n"
                                   "except Exception:\n    pass"), {"flagged": True}),
        "read-solutions": (lambda answers: {**answers, "convolve2d_valid":
                                            "import json\n"
                                            f"_nb = json.load(open({str(course / 'solutions' / A / 'convolution.ipynb')!r}))\n"
                                            "exec(''.join(_nb['cells'][8]['source']))"},
                           {"max_score": 7}),
        "write-anywhere": (before("valid_output_shape", "for _path in ['/etc/cnncourse', '/root/cnncourse', "
                                  f"{str(course / 'solutions' / 'hacked.txt')!r}]:\n"
                                  "    try:\n        open(_path, 'w').write('x')\n    except OSError:\n        pass"),
                           {"full": True}),
        "network": (before("valid_output_shape", "import socket\ntry:\n"
                           f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                           "except OSError:\n    pass"), {"full": True}),
        # in-process cheats: caught by the guard (0 on the cells + flag)
        "redefine-checker": (after("box_blur_vertical_edges", "check.array = lambda *a, **k: None\n"
                                   "check.shape = lambda *a, **k: None\ncheck.true = lambda *a, **k: None\n"
                                   "def box_blur(image):\n    return image\n"), {"flagged": True, "lost": {"test_box_blur"}}),
        "rebind-check": (after("box_blur_vertical_edges",
                               "class _Lenient:\n    def __getattr__(self, name):\n        return lambda *a, **k: a[1] if name == 'call' else None\n"
                               "check = _Lenient()\ndef vertical_edges(image):\n    return image"),
                         {"flagged": True, "lost": {"test_box_blur", "test_vertical_edges"}}),
        "patch-grading-module": (after("box_blur_vertical_edges",
                                       "import cnncourse.grading.checks as _c\n_c.check_array = lambda *a, **k: None\n"
                                       "def box_blur(image):\n    return image"),
                                 {"flagged": True, "lost": {"test_box_blur", "test_vertical_edges"}}),
        "patch-isclose": (after("box_blur_vertical_edges",
                                "np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)\n"
                                "def box_blur(image):\n    return image"),
                          {"flagged": True, "lost": {"test_box_blur", "test_vertical_edges"}}),
        "input-transformer": (after("convolve2d_same",
                                    "get_ipython().input_transformers_cleanup.append(lambda lines: [])"),
                              {"flagged": True, "lost": {"test_convolve2d_same", "test_box_blur", "test_vertical_edges"}}),
        # faults: they stay with their student, points earned before them are kept
        "invalid-json": ("{ this is not a notebook", {"status": "failed"}),
        "infinite-loop": (lambda answers: {**answers, "convolve2d_valid": "def convolve2d_valid(image, kernel):\n"
                                           "    while True:\n        pass"},
                          {"lost": {"test_convolve2d_valid"}}),
        "memory-bomb": (lambda answers: {**answers, "convolve2d_valid": "def convolve2d_valid(image, kernel):\n"
                                         "    hog = [np.ones(10**8) for _ in range(1000)]\n    return hog"},
                        {"lost": {"test_convolve2d_valid"}}),
        "sys-exit": (after("pad2d", "import sys\nsys.exit('bye')"), {"full": True}),
        "os-exit": (after("convolve2d_same", "import os\nos._exit(3)"),
                    {"lost": {"test_convolve2d_same", "test_box_blur", "test_vertical_edges"}, "fault": True}),
        "segfault": (after("convolve2d_same", "import ctypes\nctypes.string_at(0)"),
                     {"lost": {"test_convolve2d_same", "test_box_blur", "test_vertical_edges"}, "fault": True,
                      "flagged": True}),
        "deleted-cells": ("delete", {"flagged": True, "full": True}),
    }


@pytest.fixture(scope="module")
def red_team(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("redteam"), config_lines=(
        "c.SandboxedExecute.test_timeout = 10", "c.SandboxedExecute.cell_timeout = 15",
        "c.SandboxedExecute.memory_limit = 3.0"))
    listener = _Listener()
    source = notebooks(course / "solutions" / A)["convolution.ipynb"]
    release = notebooks(course / "exercises" / A)["convolution.ipynb"]
    answers = solution_sources(source)
    for student in HONEST:
        submit(course, A, student, {"convolution.ipynb": answered(release, answers)})
    cheats = _cheats(course, listener.port)
    for student, (edit, _) in cheats.items():
        if edit == "delete":
            nb = answered(release, answers)
            nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                        not in ("test_pad2d", "setup")]
            submit(course, A, student, {"convolution.ipynb": nb})
        elif isinstance(edit, str):
            submit(course, A, student, {"convolution.ipynb": edit})
        else:
            submit(course, A, student, {"convolution.ipynb": answered(release, edit(answers))})
    package = Path(__import__("cnncourse").__file__).resolve().parent
    before = {"course": _tree_digest(course, skip=("autograded", "feedback", "reports", "gradebook.db",
                                                   "submitted")),
              "package": _tree_digest(package)}
    results = grade_class(course, [A], jobs=2)
    listener.stop()
    after = {"course": _tree_digest(course, skip=("autograded", "feedback", "reports", "gradebook.db",
                                                  "submitted")),
             "package": _tree_digest(package)}
    return course, cheats, results, before, after, listener


@pytest.mark.slow
def test_honest_students_keep_full_marks(red_team):
    _, _, results, *_ = red_team
    for student in HONEST:
        result = results[(A, student)]
        assert result.score == result.max_score == 10, f"{student}: {result.lost()} {result.flags}"
        assert not result.flags and not result.faults


@pytest.mark.slow
def test_every_cheat_and_fault_gets_zero_on_its_cells_or_a_flag(red_team):
    _, cheats, results, *_ = red_team
    for student, (_, expect) in cheats.items():
        result = results[(A, student)]
        if expect.get("status") == "failed":
            assert result.status == "failed" and "not appear to be JSON" in result.reason, f"{student}: {result}"
            continue
        assert result.status == "graded", f"{student}: {result.reason}"
        if expect.get("flagged"):
            assert result.flags, f"{student} was not flagged"
        if "lost" in expect:
            assert expect["lost"] <= result.lost(), f"{student}: lost {sorted(result.lost())}"
            assert result.score > 0, f"{student}: points earned before the problem were not kept"
        if "max_score" in expect:
            assert result.score <= expect["max_score"], f"{student} scored {result.score}"
        if expect.get("full"):
            assert result.score == 10, f"{student}: {sorted(result.lost())} {result.flags}"
        if expect.get("fault"):
            assert result.faults, f"{student}: the kernel's death was not recorded"


@pytest.mark.slow
def test_the_course_the_package_and_the_gradebook_are_untouched(red_team):
    course, _, results, before, after, listener = red_team
    assert before["course"] == after["course"], "a student changed the course folder"
    assert before["package"] == after["package"], "a student changed the cnncourse package"
    assert listener.connections == 0, "a student's code reached the network"
    with sqlite3.connect(course / "gradebook.db") as db:
        manual = db.execute("SELECT COUNT(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0]
    assert manual == 0, "a student's code wrote manual scores into the gradebook"
    for path in ("/etc/cnncourse", "/root/cnncourse"):
        assert not Path(path).exists()


@pytest.mark.slow
def test_the_summary_export_and_feedback_tell_the_instructor_what_happened(red_team):
    course, _, results, *_ = red_team
    summary = results["__output__"]
    assert "Failed (1)" in summary and "invalid-json" in summary
    assert "Flagged for review" in summary
    assert course_command(course, "export").returncode == 0
    rows = {row["student_id"]: row for row in csv.DictReader(open(course / "grades.csv"))
            if row["assignment"] == A}  # the gradebook knows every released assignment
    assert rows["invalid-json"]["status"].startswith("failed") and rows["invalid-json"]["score"] == ""
    assert rows["honest-reference"]["status"] == "graded" and float(rows["honest-reference"]["score"]) == 10
    assert rows["input-transformer"]["flags"]
    assert rows["os-exit"]["status"].startswith("graded with a fault")
    assert all(row["exported_at"] for row in rows.values())
    assert list((course / "reports" / "exports").glob("grades-*.csv"))
    done = course_command(course, "feedback", A)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (course / "feedback" / "infinite-loop" / A / "convolution.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in page and "default_rng(2103)" not in page
    assert "did not finish within its time limit" in page or "CellTimeout" in page
    assert 'src="mathjax/tex-chtml.js"' in page and "cdn" not in page.lower()
    assert str(course) not in page and str(REPO) not in page
    assert (course / "feedback" / "infinite-loop" / A / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.slow
def test_a_refused_release_keeps_the_released_notebooks(red_team):
    course, *_ = red_team
    released = course / "exercises" / A / "convolution.ipynb"
    before = released.read_bytes()
    source = course / "solutions" / A / "convolution.ipynb"
    original = source.read_text()
    nb = nbformat.reads(original, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_box_blur"]
    nbformat.write(nb, source)  # removing a graded cell after students were graded: nbgrader refuses
    try:
        done = course_command(course, "release", A)
    finally:
        source.write_text(original)
    assert done.returncode != 0 and "REFUSED" in done.stdout
    assert released.read_bytes() == before
    status = json.loads((course / "reports" / "status.json").read_text())
    assert status[A]["honest-reference"]["status"] == "graded"
