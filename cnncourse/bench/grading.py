"""Class-run timing: N correct submissions graded sequentially and in parallel, sandbox on.

``python -m cnncourse.bench grading --students 50 300 [--jobs J] [--assignment 01-convolution]``
builds a throw-away copy of the course (config and solutions from the repository), releases the
assignment, submits the reference answers as N students, and times in the same run:

* stock nbgrader: ``nbgrader autograde`` with nbgrader's own preprocessors (no sandbox, no guard),
  one student after another, the oracle the course's grading replaces;
* the course's class run with ``--jobs 1`` (sandbox and guard on), sequential;
* the course's class run with ``--jobs J`` (default: the number of cores).

It prints one Markdown table per class size with the ratio sequential / parallel, and checks that
every submission got full marks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from cnncourse.bench import environment, format_table

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")

STOCK_CONFIG = """
# The benchmark's oracle: nbgrader's own preprocessors (no sandbox, no guard, no restored cells).
from nbgrader.preprocessors import Execute, OverwriteCells
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                      CheckCellMetadata]
c.Autograde.autograde_preprocessors = [Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _run(course: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(list(args), cwd=course, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def make_class(root: Path, assignment: str, students: int, stock: bool = False) -> Path:
    """A course folder with the assignment released and ``students`` correct submissions."""
    root.mkdir(parents=True)
    config = (REPO / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(config + (STOCK_CONFIG if stock else ""))
    shutil.copytree(REPO / "solutions" / assignment, root / "solutions" / assignment)
    _run(root, sys.executable, "-m", "cnncourse.grading", "release", assignment)
    for source_path in sorted((root / "solutions" / assignment).glob("*.ipynb")):
        source = nbformat.read(source_path, as_version=4)
        answers = {c.metadata["nbgrader"]["grade_id"]: "\n".join(
            line for line in c.source.splitlines() if not MARKER.match(line))
            for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
        released = nbformat.read(root / "exercises" / assignment / source_path.name, as_version=4)
        for cell in released.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answers[grade_id]
        for index in range(students):
            folder = root / "submitted" / f"student{index:03d}" / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(released, folder / source_path.name)
    return root


def _full_marks(root: Path, students: int) -> bool:
    report = json.loads(sorted((root / "reports").glob("grading-*.json"))[-1].read_text())
    outcomes = report["outcomes"]
    return len(outcomes) == students and all(
        o["status"] == "graded" and o.get("score") == o.get("max_score") and not o["flags"] for o in outcomes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncourse.bench grading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[50])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--assignment", default="01-convolution")
    parser.add_argument("--skip-stock", action="store_true", help="do not time stock nbgrader")
    args = parser.parse_args(argv)
    print(environment())
    print(f"assignment {args.assignment}; every submission is the reference answer; wall times in seconds\n")
    for count in args.students:
        rows = []
        with tempfile.TemporaryDirectory(prefix="cnncourse-bench-") as scratch:
            scratch = Path(scratch)
            timings = {}
            if not args.skip_stock:
                course = make_class(scratch / "stock", args.assignment, count, stock=True)
                timings["stock"] = _run(course, sys.executable, "-m", "nbgrader", "autograde",
                                        args.assignment, "--create", "--force")
            for jobs in (1, args.jobs):
                course = make_class(scratch / f"jobs{jobs}", args.assignment, count)
                timings[jobs] = _run(course, sys.executable, "-m", "cnncourse.grading", "grade",
                                     args.assignment, "--jobs", str(jobs))
                if not _full_marks(course, count):
                    print(f"WARNING: not every submission got full marks with --jobs {jobs}")
        if "stock" in timings:
            rows.append(["stock nbgrader autograde (no sandbox), sequential", count, timings["stock"],
                         timings["stock"] / count, ""])
        rows.append(["course class run, sandbox on, --jobs 1", count, timings[1], timings[1] / count, "1.00"])
        rows.append([f"course class run, sandbox on, --jobs {args.jobs}", count, timings[args.jobs],
                     timings[args.jobs] / count, f"{timings[1] / timings[args.jobs]:.2f}"])
        print(format_table(["grading", "submissions", "wall s", "s per submission", "speed-up vs --jobs 1"], rows))
        print()
    return 0
