"""Drive nbgrader as an instructor would, in a throw-away copy of the course directory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tools import env_with_tools

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def nbgrader(course: Path, *args: str, timeout: int = 900) -> str:
    """Run an nbgrader command from the course directory; fail with its output if it fails."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env_with_tools(),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def make_course(root: Path) -> Path:
    """A copy of the course directory with every assignment generated into exercises/."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions", root / "solutions")
    for assignment in ASSIGNMENTS:
        nbgrader(root, "generate_assignment", assignment, "--force")
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


@dataclass
class Result:
    score: float
    max_score: float
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)

    def lost(self) -> set[str]:
        return {name for name, (score, top) in self.cells.items() if score < top}


def autograde(course: Path, assignment: str, submissions: dict[str, dict[str, nbformat.NotebookNode]]
              ) -> dict[str, Result]:
    """Submit notebooks for several students, autograde them in one run, read the gradebook."""
    from nbgrader.api import Gradebook

    for student, nbs in submissions.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, nb in nbs.items():
            nbformat.write(nb, folder / name)
    nbgrader(course, "autograde", assignment, "--create", "--force")
    results = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in submissions:
            submission = gradebook.find_submission(assignment, student)
            cells = {grade.name: (grade.score, grade.max_score)
                     for notebook in submission.notebooks for grade in notebook.grades}
            results[student] = Result(submission.score, submission.max_score, cells)
    return results
