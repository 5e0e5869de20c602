"""Entry point for `python -m mtlviz`."""

import sys

from mtlviz.cli import main

if __name__ == "__main__":
    sys.exit(main())
