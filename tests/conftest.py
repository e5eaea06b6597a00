import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))

from nbgrader_course import ASSIGNMENTS  # noqa: E402


def pytest_report_header(config):
    return f"cnncourse assignments: {', '.join(ASSIGNMENTS)}"


# `make test` runs the suite on two workers (pytest-xdist, --dist loadfile): every test file runs
# on one worker, so the expensive session fixture of a file (the built book in test_book.py, the
# class run of every assignment in test_exercises.py, the red-team class in
# test_grading_class.py) is made once, and the book build, which executes one chapter at a time,
# overlaps with the grading and the unit tests. (--dist loadgroup would be finer, but with pytest 9.2
# and xdist 3.8 its groups were not applied: the group never reached the test ids.)
