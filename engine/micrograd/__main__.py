"""``python -m micrograd``: run the demo notebook's training loop (see ``micrograd.demo``)."""

from micrograd.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
