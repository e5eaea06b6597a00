"""Run the environment's command-line tools from the tests."""

import os
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def env_with_tools() -> dict:
    """The environment with this interpreter's bin first on PATH.

    nbgrader and jupyter-book start helpers (alembic, the kernel) by name.
    """
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    return env
