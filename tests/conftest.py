import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))

from nbgrader_course import ASSIGNMENTS  # noqa: E402


def pytest_report_header(config):
    return f"cnncourse assignments: {', '.join(ASSIGNMENTS)}"
