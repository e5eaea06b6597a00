"""nbgrader configuration: the repository root is the course directory.

Instructors run nbgrader's commands from the repository root (or through the Makefile):
``solutions/`` holds the source notebooks with full solutions and hidden tests, and
``nbgrader generate_assignment NAME`` writes the student version to ``exercises/NAME``.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "cnncourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# The stub that replaces every solution region in the released notebooks.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A cell that runs longer than this (seconds) fails while autograding.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
