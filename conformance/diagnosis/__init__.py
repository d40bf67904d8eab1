"""Diagnosis: from failing examples to distinct, named problems (signatures, regions)."""
