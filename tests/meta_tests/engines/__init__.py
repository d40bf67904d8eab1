"""Engines for the meta-tests: a correct reference, a torch-backed Value, and broken variants."""
