"""``python -m cnncourse.grading``: the instructor's commands (see cnncourse.grading.classrun)."""

import sys

from cnncourse.grading.classrun import main

sys.exit(main())
