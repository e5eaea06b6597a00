"""Reference versions of the exercises' functions, one module per exercise.

Each module defines, under the task's own name and with the exercise's signature, what the
student is asked to write, by calling the package (never by re-implementing it). The tests of an
exercise compute expected values with them, and :class:`~cnncourse.grading.Checker` uses them as
stand-ins for a student's earlier function that gives wrong results, so that a later task is
graded on its own. Students may not call them (exercises forbid ``cnncourse``).
"""
