"""Meta-tests: the conformance harness run on deliberately broken engines."""
