"""micrograd: a small, fast, PyTorch-exact scalar autograd engine with a tiny neural-net library.

``from micrograd import Value`` (or ``from micrograd.engine import Value``, micrograd 0.1.0's path);
networks live in :mod:`micrograd.nn`, the demo in :mod:`micrograd.demo`, graph pictures in
:mod:`micrograd.viz`.
"""

from micrograd.engine import Value

__all__ = ["Value"]
