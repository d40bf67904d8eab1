"""Entry point of `python -m conformance` and the `micrograd-conformance` script."""

from __future__ import annotations

import sys

from conformance.cli import main as _main

__all__ = ["main"]


def main() -> None:
    """Run the CLI and exit with its status."""
    sys.exit(_main())


if __name__ == "__main__":
    main()
