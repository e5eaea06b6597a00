"""``nbgrader export`` for the course: nbgrader's CSV columns plus status, flags and a timestamp.

* ``status``: ``graded``, ``graded with a fault``, ``failed`` (the submission could not be
  graded: its score is left empty, not 0), or ``no submission``;
* ``flags``: what the grader found for the instructor to review (tampering, edited locked cells,
  suspicious code), separated by `` | ``;
* ``exported_at``: when this file was written.

Every export is also kept as ``reports/exports/grades-<time>.csv``, so an export never loses an
earlier one.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

from cnncourse.grading.preprocessors import FINDINGS_DIR

COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
           "raw_score", "late_submission_penalty", "score", "max_score", "status", "flags", "exported_at"]


def _course_root(gradebook: Gradebook) -> Path:
    database = gradebook.engine.url.database
    return Path(database).resolve().parent if database else Path.cwd()


def _status(root: Path) -> dict:
    path = root / "reports" / "status.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def _flags(root: Path, assignment: str, student: str) -> list[str]:
    flags = []
    for path in sorted((root / "autograded" / student / assignment / FINDINGS_DIR).glob("*.json")):
        try:
            flags += json.loads(path.read_text()).get("flags", [])
        except ValueError:
            flags.append(f"unreadable grading record {path.name}")
    return flags


class CourseExporter(ExportPlugin):
    """CSV export with the grading status and review flags of every submission."""

    def export(self, gradebook: Gradebook) -> None:
        root = _course_root(gradebook)
        dest = Path(self.to or "grades.csv")
        if not dest.is_absolute():
            dest = Path.cwd() / dest
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        status = _status(root)
        rows = []
        only_students = {str(s) for s in self.student}
        only_assignments = {str(a) for a in self.assignment}
        for assignment in gradebook.assignments:
            if only_assignments and assignment.name not in only_assignments:
                continue
            for student in gradebook.students:
                if only_students and student.id not in only_students:
                    continue
                row = {"assignment": assignment.name, "duedate": assignment.duedate or "",
                       "student_id": student.id, "last_name": student.last_name or "",
                       "first_name": student.first_name or "", "email": student.email or "",
                       "max_score": assignment.max_score, "exported_at": stamp}
                outcome = status.get(assignment.name, {}).get(student.id)
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    submission = None
                if outcome is not None and outcome.get("status") == "failed":
                    # Submitted but not gradable (it may never have reached the gradebook, as an
                    # unreadable notebook does): flagged as failed, with no score, never as 0.
                    stamp_of = submission.timestamp if submission is not None else ""
                    row.update(timestamp=stamp_of or "", raw_score="", late_submission_penalty="",
                               score="", status=f"failed: {outcome.get('reason', '')}",
                               flags=" | ".join(outcome.get("flags", [])))
                elif submission is None:
                    row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0,
                               status="no submission", flags="")
                else:
                    penalty = submission.late_submission_penalty or 0.0
                    faults = (outcome or {}).get("faults", [])
                    row.update(timestamp=submission.timestamp or "", raw_score=submission.score,
                               late_submission_penalty=penalty,
                               score=max(0.0, submission.score - penalty),
                               status="graded with a fault: " + faults[0] if faults else "graded",
                               flags=" | ".join(_flags(root, assignment.name, student.id)))
                rows.append(row)
        archive = root / "reports" / "exports"
        archive.mkdir(parents=True, exist_ok=True)
        if dest.is_file():  # keep what was there, whatever wrote it
            shutil.copy2(dest, archive / f"{dest.stem}-before-{stamp.replace(':', '-')}{dest.suffix}")
        tmp = dest.with_name(dest.name + ".tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in COLUMNS})
        os.replace(tmp, dest)
        shutil.copy2(dest, archive / f"{dest.stem}-{stamp.replace(':', '-')}{dest.suffix}")
        self.log.info("Exported %d rows to %s", len(rows), dest)
