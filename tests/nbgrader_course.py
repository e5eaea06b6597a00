"""Drive the course's grading as an instructor would, in a throw-away copy of the course folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tools import env_with_tools

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
# CNNCOURSE_ASSIGNMENTS=02-conv-layer,03-pooling limits the grading tests to some assignments
# (while writing an exercise); CI runs them all.
if os.environ.get("CNNCOURSE_ASSIGNMENTS"):
    ASSIGNMENTS = [a for a in ASSIGNMENTS if a in os.environ["CNNCOURSE_ASSIGNMENTS"].split(",")]
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def course_command(course: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """Run ``python -m cnncourse.grading ARGS`` in the course folder, as the Makefile does."""
    return subprocess.run([sys.executable, "-m", "cnncourse.grading", *args], cwd=course,
                          env=env_with_tools(), capture_output=True, text=True, timeout=timeout)


def make_course(root: Path, config_lines: tuple = ()) -> Path:
    """A copy of the course folder (config, solutions) with every assignment released."""
    root.mkdir(parents=True, exist_ok=True)
    config = (REPO / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(config + "\n" + "\n".join(config_lines) + "\n")
    shutil.copytree(REPO / "solutions", root / "solutions")
    done = course_command(root, "release")
    assert done.returncode == 0, f"release failed:\n{done.stdout}\n{done.stderr}"
    return root


def notebooks(folder: Path) -> dict[str, nbformat.NotebookNode]:
    return {p.name: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_sources(source_nb) -> dict[str, str]:
    """grade_id -> the reference answer of each solution cell, without nbgrader's markers."""
    return {
        nbgrader_meta(cell)["grade_id"]: "\n".join(
            line for line in cell.source.splitlines() if not MARKER.match(line))
        for cell in source_nb.cells if nbgrader_meta(cell).get("solution")
    }


def answered(release_nb, answers: dict[str, str]):
    """A copy of a released notebook whose solution cells hold the given answers."""
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def submit(course: Path, assignment: str, student: str, files: dict) -> None:
    """Place a student's files (notebook objects, or raw text for broken ones) in submitted/."""
    folder = course / "submitted" / student / assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, str):
            (folder / name).write_text(content)
        else:
            nbformat.write(content, folder / name)


@dataclass
class Result:
    status: str
    score: float = 0.0
    max_score: float = 0.0
    cells: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    reason: str = ""

    def lost(self) -> set[str]:
        return {name for name, (score, top) in self.cells.items() if score < top}


def grade_class(course: Path, assignments: list[str], jobs: int = 2) -> dict[tuple, Result]:
    """Grade every submission with the course's class run; read the gradebook and its report."""
    import pytest
    from nbgrader.api import Gradebook

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: grading refuses to run students' code without its "
                    "sandbox (apt-get install bubblewrap; .ci/run does it)")
    done = course_command(course, "grade", *assignments, "--jobs", str(jobs))
    assert done.returncode == 0, f"the class run failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    reports = sorted((course / "reports").glob("grading-*.json"))
    report = json.loads(reports[-1].read_text())
    results = {}
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        for outcome in report["outcomes"]:
            key = (outcome["assignment"], outcome["student"])
            result = Result(outcome["status"], flags=outcome["flags"], faults=outcome["faults"],
                            reason=outcome["reason"])
            if outcome["status"] == "graded":
                submission = gradebook.find_submission(*key)
                result.score, result.max_score = submission.score, submission.max_score
                result.cells = {grade.name: (grade.score, grade.max_score)
                                for notebook in submission.notebooks for grade in notebook.grades}
            results[key] = result
    results["__output__"] = done.stdout
    return results
