"""``python -m cnncourse.bench NAME [options]``: run one benchmark (``--list`` lists them)."""

import sys

from cnncourse.bench import available, run


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(__doc__.strip())
        print("benchmarks:", ", ".join(available()) or "(none)")
        return 0
    return run(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
