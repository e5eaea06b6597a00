"""``python -m cnncourse COMMAND``: the package's command line (see :mod:`cnncourse.cli`)."""

import sys

from cnncourse.cli import main

if __name__ == "__main__":
    sys.exit(main())
