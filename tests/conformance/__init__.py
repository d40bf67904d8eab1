"""Tests of the conformance harness itself."""
