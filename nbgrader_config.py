"""nbgrader configuration: the repository root is the course directory.

Instructors run nbgrader's own commands from the repository root (or the Makefile targets, which
add a parallel class run, safe releases and a richer export on top): ``solutions/`` holds the
source notebooks with full solutions and hidden tests, and ``nbgrader generate_assignment NAME``
writes the student version to ``exercises/NAME``.

Grading runs every notebook in a sandboxed kernel (bubblewrap; see cnncourse.grading.sandbox),
with guarded test cells, short per-cell timeouts and faults that stay with their student; the
feedback never shows hidden tests and loads MathJax from its own folder.
"""

import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, GetGrades, IgnorePattern, LimitOutput,
                                    OverwriteKernelspec, SaveAutoGrades)

from cnncourse.grading.export import CourseExporter
from cnncourse.grading.preprocessors import (FeedbackStyle, HideHiddenTests, RestoreCells,
                                             SandboxedExecute)

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "cnncourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# Several grading workers share the gradebook: SQLite waits for its write lock.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db") + "?timeout=300"

# The stub that replaces every solution region in the released notebooks.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograding: restore deleted/edited locked cells, then run in the sandbox.
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreCells,
                                      CheckCellMetadata]
c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
c.SandboxedExecute.test_timeout = 30      # seconds per graded test cell
c.SandboxedExecute.cell_timeout = 60      # seconds per other cell (metadata.cnncourse.timeout overrides)
c.SandboxedExecute.memory_limit = 6.0     # GiB of address space per kernel
c.SandboxedExecute.cpu_limit = 900        # CPU seconds per notebook
c.SandboxedExecute.course_root = ROOT
c.SandboxedExecute.error_on_timeout = {
    "ename": "CellTimeout",
    "evalue": "the cell did not finish within its time limit (an endless loop, or code far "
              "slower than needed)",
    "traceback": ["CellTimeout: the cell did not finish within its time limit"],
}

# Feedback: hidden tests out, MathJax from the feedback folder, messages wrap.
c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor, FeedbackStyle]
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(__import__("cnncourse.grading").grading.__file__), "templates"),
    os.path.join(os.path.dirname(__import__("nbgrader").__file__), "server_extensions", "formgrader",
                 "templates"),
]

# Export: status (graded / failed / no submission), review flags and a timestamp.
c.ExportApp.plugin_class = CourseExporter
