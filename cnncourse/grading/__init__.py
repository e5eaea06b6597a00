"""Autograding for the course's exercises: fair checks, rules enforced at run time, a sandbox.

Student-facing (used in the exercise notebooks):

:class:`Checker`
    The rules of one exercise and the calls through which its tests run the student's code
    (:mod:`cnncourse.grading.checker`).
``check_array``, ``check_shape``, ``check_equal``, ``check_scalar``, ``check_raises``
    Comparisons whose messages say what was expected, what came back and the likely cause
    (:mod:`cnncourse.grading.checks`).

Instructor-facing (``python -m cnncourse.grading``, or ``make release/grade/feedback/export``):
the sandboxed, parallel class run on top of nbgrader (:mod:`cnncourse.grading.classrun`), the
nbgrader preprocessors it configures (:mod:`cnncourse.grading.preprocessors`), the sandbox
(:mod:`cnncourse.grading.sandbox`) and tamper evidence (:mod:`cnncourse.grading.guard`).
"""

from cnncourse.grading.checker import Checker
from cnncourse.grading.checks import (CheckFailure, check_array, check_equal, check_raises,
                                      check_scalar, check_shape, check_true, same_values)

__all__ = ["Checker", "CheckFailure", "check_array", "check_equal", "check_raises", "check_scalar",
           "check_shape", "check_true", "same_values"]
