"""Benchmarks, the micrograd 0.1.0 comparison and the speed regression gate (docs/BENCHMARKS.md)."""
