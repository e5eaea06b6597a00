import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))

from nbgrader_course import ASSIGNMENTS  # noqa: E402


def pytest_report_header(config):
    return f"cnncourse assignments: {', '.join(ASSIGNMENTS)}"


# `make test` runs the suite on two workers (pytest-xdist, --dist loadgroup). Each module whose
# tests share one expensive session fixture (the built book, the class run of every assignment,
# the red-team class) runs on a single worker, so the fixture is made once; the book build, which
# executes one chapter at a time, then overlaps with the grading and the unit tests.
_GROUPS = {"test_book.py": "book", "test_site.py": "book", "test_exercises.py": "exercises",
           "test_grading_class.py": "red-team"}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        group = _GROUPS.get(item.path.name)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
