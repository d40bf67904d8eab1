"""Standalone, runnable scripts that show a failure: how each backend is driven (``recipes``),
a failing program (``program``), a failing training trajectory (``training``)."""
