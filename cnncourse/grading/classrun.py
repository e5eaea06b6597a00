"""The instructor's commands for a whole class, on top of nbgrader.

``python -m cnncourse.grading COMMAND`` (the Makefile's ``release``, ``grade``, ``feedback`` and
``export`` targets call these) from the course folder:

``release [A ...]``
    ``nbgrader generate_assignment`` into a temporary folder; ``exercises/A`` is replaced only when
    nbgrader succeeded, so a refused release leaves the released notebooks as they were.
``grade [A ...] [--student S ...] [--jobs N]``
    Autograde every submission in ``submitted/*/A``, ``N`` students at a time (default: the number
    of cores), each notebook in its own sandboxed kernel, all writing to the one gradebook (SQLite
    serialises the writes). A broken submission (invalid JSON, a kernel that dies) is that
    student's fault only: the run goes on over every student and assignment and ends with a
    summary (graded, failed with the reason, flagged for review). The exit status is non-zero only
    for the instructor's own errors (an unknown assignment, no sandbox). An assignment the gradebook
    does not know yet (a fresh clone) is added to it first, without touching ``exercises/``.
``feedback [A ...]``
    ``nbgrader generate_feedback``, then the MathJax copy each feedback page loads (no CDN).
``export [--to FILE]``
    ``nbgrader export`` with :class:`~cnncourse.grading.export.CourseExporter` (status and flags
    columns, a timestamp), keeping every earlier export under ``reports/exports/``.

The outcome of every grading run is kept in ``reports/`` (``grading-<time>.json`` per run,
``status.json`` for the latest status of every submission), beside nbgrader's own state.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPORTS = "reports"


class InstructorError(Exception):
    """A mistake in the command or the course set-up (not a student's fault)."""


# ---------------------------------------------------------------------------------------- course
def course_root(path: str | os.PathLike | None = None) -> Path:
    root = Path(path or os.getcwd()).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise InstructorError(f"{root} is not a course folder (no nbgrader_config.py); run from the "
                              "repository root or pass --root")
    return root


def known_assignments(root: Path) -> list[str]:
    folder = root / "solutions"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def pick_assignments(root: Path, names) -> list[str]:
    known = known_assignments(root)
    if not names:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InstructorError(f"unknown assignment {', '.join(unknown)}; the course has: {', '.join(known)}")
    return list(names)


def submitted_students(root: Path, assignment: str) -> list[str]:
    folder = root / "submitted"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


def nbgrader_command(root: Path, *args: str, timeout: int = 3600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _last_error(output: str) -> str:
    lines = [line for line in output.splitlines() if "ERROR" in line or "Error" in line]
    return (lines[-1] if lines else output.strip().splitlines()[-1] if output.strip() else "").strip()


# ---------------------------------------------------------------------------------------- release
def _generate(root: Path, assignment: str, staging: Path) -> str:
    """``nbgrader generate_assignment`` into ``staging`` (and the gradebook), in this process: a
    subprocess per assignment would import nbgrader again each time. Returns nbgrader's error
    ("" on success)."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    config = _course_config(root)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.release_directory = str(staging)
    config.GenerateAssignment.force = True
    collect = _Collect()
    try:
        converter = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
        converter.log.addHandler(collect)
        converter.log.setLevel(logging.WARNING)
        converter.start()
    except BaseException as error:  # nbgrader raises once it has logged why it refused
        return _failure_reason(collect.messages, error)
    if not (staging / assignment).is_dir():
        return "nbgrader wrote no released folder"
    return ""


def release(root: Path, assignments: list[str]) -> int:
    """Generate each assignment into a temporary folder; swap it in only on success."""
    failed = 0
    for assignment in assignments:
        staging = Path(tempfile.mkdtemp(prefix=".release-", dir=root))
        try:
            error = _generate(root, assignment, staging)
            if error:
                failed += 1
                print(f"release {assignment}: REFUSED by nbgrader, exercises/{assignment} is unchanged\n"
                      f"  {error}")
                continue
            target = root / "exercises" / assignment
            target.parent.mkdir(exist_ok=True)
            backup = staging / "previous"
            if target.exists():
                target.rename(backup)
            (staging / assignment).rename(target)
            print(f"release {assignment}: exercises/{assignment} regenerated")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return 1 if failed else 0


def ensure_in_gradebook(root: Path, assignment: str) -> None:
    """Add the assignment to the gradebook (as generate_assignment does) without touching exercises/."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        try:
            gradebook.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    staging = Path(tempfile.mkdtemp(prefix=".release-", dir=root))
    try:
        error = _generate(root, assignment, staging)
        if error:
            raise InstructorError(f"nbgrader could not add {assignment} to the gradebook: {error}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------- grading
def _course_config(root: Path):
    """The course's nbgrader_config.py, as nbgrader's own commands would load it from ``root``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config())
    config.CourseDirectory.root = str(root)
    return config


def _config(root: Path, assignment: str, student: str, sandbox: bool, threads: int):
    config = _course_config(root)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = student
    # Several workers share the gradebook: wait for SQLite's write lock instead of failing.
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}?timeout=300"
    config.Autograde.force = True
    config.SandboxedExecute.sandbox = sandbox
    config.SandboxedExecute.threads = threads
    config.SandboxedExecute.course_root = str(root)
    return config


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def grade_one(root: str, assignment: str, student: str, sandbox: bool = True, threads: int = 1) -> dict:
    """Autograde one student's submission of one assignment (runs in a worker process)."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    started = time.monotonic()
    root_path = Path(root)
    config = _config(root_path, assignment, student, sandbox, threads)
    collect = _Collect()
    outcome = {"assignment": assignment, "student": student, "status": "graded", "reason": "",
               "flags": [], "faults": []}
    try:
        coursedir = CourseDirectory(config=config)
        converter = Autograde(coursedir=coursedir, config=config)
        converter.log.addHandler(collect)
        converter.log.setLevel(logging.WARNING)
        converter.start()
    except BaseException as error:  # nbgrader reports a failed student by raising at the end
        outcome["status"] = "failed"
        outcome["reason"] = _failure_reason(collect.messages, error)
    folder = root_path / "autograded" / student / assignment
    from cnncourse.grading.preprocessors import FINDINGS_DIR

    for path in sorted((folder / FINDINGS_DIR).glob("*.json")) if outcome["status"] == "graded" else []:
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        outcome["flags"] += record.get("flags", [])
        outcome["faults"] += record.get("faults", [])
    if outcome["status"] == "graded":
        from nbgrader.api import Gradebook

        import warnings

        with warnings.catch_warnings(), Gradebook(config.CourseDirectory.db_url) as gradebook:
            warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes on nbgrader's models
            submission = gradebook.find_submission(assignment, student)
            outcome["score"], outcome["max_score"] = submission.score, submission.max_score
    outcome["seconds"] = round(time.monotonic() - started, 2)
    return outcome


def _failure_reason(messages: list[str], error: BaseException) -> str:
    """The exception nbgrader logged for a submission it could not grade, in one line."""
    for message in reversed(messages):
        if "Traceback (most recent call last)" in message:
            lines = [line.strip() for line in message.splitlines() if line.strip()]
            if lines:
                last = lines[-1]
                kind, _, text = last.partition(": ")
                kind = kind.rsplit(".", 1)[-1]
                return (f"{kind}: {text}" if text else last)[:300]
    return f"{type(error).__name__}: {error}"[:300]


def _worker_init() -> None:
    logging.basicConfig(level=logging.ERROR)
    import nbgrader.converters  # noqa: F401  - import once per worker
    import cnncourse.grading.preprocessors  # noqa: F401


def grade(root: Path, assignments: list[str], students: list[str] | None = None, jobs: int | None = None,
          sandbox: bool = True, quiet: bool = False) -> dict:
    """Grade a class; return the run's report (also written to reports/)."""
    if sandbox:
        from cnncourse.grading.sandbox import SandboxUnavailable, check_available

        try:
            check_available()
        except SandboxUnavailable as error:
            raise InstructorError(str(error)) from None
    jobs = max(1, jobs or os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    work = []
    for assignment in assignments:
        ensure_in_gradebook(root, assignment)
        for student in students or submitted_students(root, assignment):
            if (root / "submitted" / student / assignment).is_dir():
                work.append((assignment, student))
    started = time.monotonic()
    outcomes = []
    if jobs == 1 or len(work) <= 1:
        _worker_init()
        for assignment, student in work:
            outcomes.append(grade_one(str(root), assignment, student, sandbox, threads))
            _progress(outcomes[-1], len(outcomes), len(work), quiet)
    else:
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init) as pool:
            futures = {pool.submit(grade_one, str(root), a, s, sandbox, threads): (a, s) for a, s in work}
            for future in as_completed(futures):
                assignment, student = futures[future]
                try:
                    outcome = future.result()
                except Exception as error:  # a worker that crashed: that student only
                    outcome = {"assignment": assignment, "student": student, "status": "failed",
                               "reason": f"the grading worker crashed: {error}", "flags": [], "faults": []}
                outcomes.append(outcome)
                _progress(outcome, len(outcomes), len(work), quiet)
    outcomes.sort(key=lambda o: (o["assignment"], o["student"]))
    report = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - (time.monotonic() - started))),
              "seconds": round(time.monotonic() - started, 2), "jobs": jobs, "sandbox": sandbox,
              "outcomes": outcomes}
    _save_report(root, report)
    if not quiet:
        print(summary(report))
    return report


def _progress(outcome: dict, done: int, total: int, quiet: bool) -> None:
    if quiet:
        return
    mark = {"graded": "ok", "failed": "FAILED"}[outcome["status"]]
    score = f" {outcome.get('score', 0):g}/{outcome.get('max_score', 0):g}" if outcome["status"] == "graded" else ""
    flag = " flagged" if outcome["flags"] else ""
    print(f"[{done}/{total}] {outcome['assignment']} {outcome['student']}: {mark}{score}{flag}", flush=True)


def _save_report(root: Path, report: dict) -> None:
    folder = root / REPORTS
    folder.mkdir(exist_ok=True)
    stamp = report["started"].replace(":", "-")
    (folder / f"grading-{stamp}.json").write_text(json.dumps(report, indent=1))
    status_path = folder / "status.json"
    status = json.loads(status_path.read_text()) if status_path.is_file() else {}
    for outcome in report["outcomes"]:
        status.setdefault(outcome["assignment"], {})[outcome["student"]] = dict(outcome, graded_at=report["started"])
    tmp = status_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=1))
    tmp.replace(status_path)


def summary(report: dict) -> str:
    outcomes = report["outcomes"]
    graded = [o for o in outcomes if o["status"] == "graded"]
    failed = [o for o in outcomes if o["status"] == "failed"]
    flagged = [o for o in outcomes if o["flags"]]
    faulted = [o for o in graded if o["faults"]]
    lines = [f"Graded {len(graded)} of {len(outcomes)} submissions in {report['seconds']:.1f} s "
             f"({report['jobs']} at a time, sandbox {'on' if report['sandbox'] else 'OFF'})."]
    if failed:
        lines.append(f"Failed ({len(failed)}): could not be graded; marked as failed in the export:")
        lines += [f"  {o['assignment']} {o['student']}: {o['reason']}" for o in failed]
    if faulted:
        lines.append(f"Graded with a fault ({len(faulted)}): points earned before the fault are kept:")
        lines += [f"  {o['assignment']} {o['student']}: {o['faults'][0]}" for o in faulted]
    if flagged:
        lines.append(f"Flagged for review ({len(flagged)}):")
        for o in flagged:
            lines += [f"  {o['assignment']} {o['student']}: {flag}" for flag in o["flags"][:4]]
    if not outcomes:
        lines.append("There was nothing to grade (no submitted/<student>/<assignment> folder).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- feedback
def mathjax_source(root: Path) -> Path:
    """The MathJax 3 copy made by `make assets` (in the course folder or beside the package)."""
    import cnncourse

    repository = Path(cnncourse.__file__).resolve().parent.parent
    for candidate in (root / "_vendor" / "mathjax", root / "node_modules" / "mathjax" / "es5",
                      repository / "_vendor" / "mathjax"):
        if (candidate / "tex-chtml.js").is_file():
            return candidate
    raise InstructorError("MathJax is missing: run `make assets` (it copies MathJax from npm)")


def _link_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        relative = path.relative_to(source).as_posix()
        if path.is_file() and (relative == "tex-chtml.js" or relative.startswith("output/chtml/fonts/woff-v2/")):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not destination.exists():
                try:
                    os.link(path, destination)
                except OSError:
                    shutil.copy2(path, destination)


def feedback(root: Path, assignments: list[str]) -> int:
    source = mathjax_source(root)
    status = 0
    for assignment in assignments:
        done = nbgrader_command(root, "generate_feedback", assignment, "--force")
        if done.returncode != 0:
            status = 1
            print(f"feedback {assignment}: nbgrader failed: {_last_error(done.stdout + done.stderr)}")
        pages = sorted((root / "feedback").glob(f"*/{assignment}/*.html"))
        for folder in sorted({p.parent for p in pages}):
            _link_tree(source, folder / "mathjax")
        print(f"feedback {assignment}: {len(pages)} pages in feedback/*/{assignment}/")
    return status


# ---------------------------------------------------------------------------------------- export
def export(root: Path, to: str = "grades.csv") -> int:
    done = nbgrader_command(root, "export", "--to", to)
    if done.returncode != 0:
        print(f"export failed: {_last_error(done.stdout + done.stderr)}")
        return 1
    print(f"grades exported to {to} (earlier exports are kept in {REPORTS}/exports/)")
    return 0


# ---------------------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncourse.grading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="the course folder (default: the current folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("release", help="regenerate exercises/ from solutions/")
    p.add_argument("assignments", nargs="*")
    p = commands.add_parser("grade", help="autograde submitted/ in parallel, sandboxed")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--student", action="append", default=None, help="only this student (repeatable)")
    p.add_argument("--jobs", type=int, default=None, help="students graded at a time (default: cores)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run kernels without the sandbox (only for your own notebooks, never a class)")
    p = commands.add_parser("feedback", help="write feedback/ pages")
    p.add_argument("assignments", nargs="*")
    p = commands.add_parser("export", help="write grades.csv with status and flags")
    p.add_argument("--to", default="grades.csv")
    args = parser.parse_args(argv)
    try:
        root = course_root(args.root)
        if args.command == "release":
            return release(root, pick_assignments(root, args.assignments))
        if args.command == "grade":
            if args.jobs is not None and args.jobs < 1:
                raise InstructorError(f"--jobs must be at least 1, got {args.jobs}")
            grade(root, pick_assignments(root, args.assignments), args.student, args.jobs,
                  sandbox=not args.no_sandbox)
            return 0
        if args.command == "feedback":
            return feedback(root, pick_assignments(root, args.assignments))
        if args.command == "export":
            return export(root, args.to)
    except InstructorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
