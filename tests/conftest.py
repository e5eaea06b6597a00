import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))

from nbgrader_course import ASSIGNMENTS, make_course  # noqa: E402


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    """A throw-away course directory in which every assignment was just generated."""
    return make_course(tmp_path_factory.mktemp("course"))


def pytest_report_header(config):
    return f"cnncourse assignments: {', '.join(ASSIGNMENTS)}"
