r"""``python -m leading`` (and ``torchrun -m leading``): the command line."""

import sys

from leading.cli import main

if __name__ == "__main__":
    sys.exit(main())
