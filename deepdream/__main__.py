"""``python -m deepdream``: the same as the ``deepdream`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
