"""Deliberately broken micrograd-style engines: each one is the reference ``Value`` with ONE bug.

Every class below re-states one method (or one attribute) of ``reference.Value`` with a single
wrong line, marked ``# BUG``. The registry ``BUGS`` at the bottom names each class, says in one line
what real ports got wrong (with a public source where one was found), and which harness checks are
designed to catch it; ``test_broken_engines_are_caught.py`` runs the harness on every one.

The harness loads these by file path (``.../broken.py:GradAssignedNotAccumulated``), and so do its
reproducer scripts: as a file inside the ``tests`` package, imported by its dotted name.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .reference import Number, Value, ieee_div, ieee_exp, ieee_log, ieee_pow

# === Gradient bookkeeping =========================================================================


class GradAssignedNotAccumulated(Value):
    """``mul`` assigns its operands' gradients (``=``) instead of accumulating them (``+=``)."""

    def __mul__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad = other.data * out.grad  # BUG: = instead of +=
            other.grad = self.data * out.grad  # BUG: = instead of +=

        out._backward = _backward
        return out


class ExpGradAssigned(Value):
    """``exp`` assigns its operand's gradient (``=``), as Karpathy's lecture once did."""

    def exp(self) -> Value:
        out = self._result(ieee_exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad = out.data * out.grad  # BUG: = instead of +=

        out._backward = _backward
        return out


class ReluGradAssigned(Value):
    """``relu`` assigns its operand's gradient (``=``): the lecture's bug, in the net's own op."""

    def relu(self) -> Value:
        """``max(self, 0)``."""
        out = self._result(0.0 if self.data < 0.0 else self.data, (self,), "relu")

        def _backward() -> None:
            self.grad = (out.data > 0.0) * out.grad  # BUG: = instead of +=

        out._backward = _backward
        return out


class PowGradAssigned(Value):
    """``x ** c`` assigns its operand's gradient (``=``): ``x ** 2 + x`` loses the sum's 1."""

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self._pow_value(other)
        exponent = float(other)
        out = self._result(ieee_pow(self.data, exponent), (self,), f"**{exponent:g}")

        def _backward() -> None:
            if exponent != 0.0:
                self.grad = exponent * ieee_pow(self.data, exponent - 1.0) * out.grad  # BUG: =

        out._backward = _backward
        return out


class SameOperandSkipped(Value):
    """``a + a`` and ``a * a`` skip the second operand when it is the same object as the first."""

    def __add__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            if other is not self:  # BUG: "already handled", but a + a has derivative 2
                other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            if other is not self:  # BUG: a * a has derivative 2a, not a
                other.grad += self.data * out.grad

        out._backward = _backward
        return out


class ChildrenInASet(Value):
    """Children kept in a set (like micrograd's ``_prev``) while ``+`` loops over the children."""

    @staticmethod
    def _store_children(children: tuple[Value, ...]) -> tuple[Value, ...]:
        return tuple(set(children))  # BUG: a set drops the second `a` of `a + a`


class ValueEqualityMergesNodes(Value):
    """``==`` and ``hash`` compare data, so the visited set merges distinct equal-valued nodes."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Value) and self.data == other.data  # BUG: equality by value

    def __hash__(self) -> int:
        return hash(self.data)


class InplaceAddMutatesOperand(Value):
    """``x += y`` changes ``x.data`` in place and returns ``x``: every other user of x changes."""

    def __iadd__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        self.data += other.data  # BUG: mutates a node that may be an input or shared
        return self


class Float32EveryNode(Value):
    """Every node's value is rounded to float32 (a port built on float32 storage)."""

    def __init__(self, data: Number, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        super().__init__(data, _children, _op)
        self.data = struct.unpack("f", struct.pack("f", self.data))[0]  # BUG: float32 rounding


class BackwardNeverSeeds(Value):
    """``backward()`` never sets the output's own gradient to 1: every gradient stays 0."""

    def backward(self) -> None:
        """Propagate from the output, whose gradient nobody set."""
        for node in reversed(self._topological_order()):  # BUG: no `self.grad = 1.0` first
            node._backward()


class PowForgetsReturn(Value):
    """``v ** c`` builds its node and never returns it (the method ends without ``return out``)."""

    def __pow__(self, other: Value | Number) -> Value:
        super().__pow__(other)  # BUG: the result is dropped; the caller gets None
        return None  # type: ignore[return-value]


# === Reflected operators (a number on the left) ===================================================


class RsubSwapped(Value):
    """``2 - a`` is computed as ``a - 2`` (``__rsub__ = __sub__``)."""

    def __rsub__(self, other: Number) -> Value:
        return self - other  # BUG: operands swapped


class RtruedivSwapped(Value):
    """``2 / a`` is computed as ``a / 2`` (``__rtruediv__ = __truediv__``)."""

    def __rtruediv__(self, other: Number) -> Value:
        return self / other  # BUG: operands swapped


class RaddInfiniteRecursion(Value):
    """``__radd__`` written as ``other + self``, which calls ``__radd__`` again: RecursionError."""

    def __radd__(self, other: Number) -> Value:
        return other + self  # BUG: recurses forever for a number on the left


# === A wrong derivative for each op ===============================================================


class WrongAddDerivative(Value):
    """``add`` forgets the second operand's gradient."""

    def __add__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad  # BUG: `other.grad += out.grad` is missing

        out._backward = _backward
        return out


class WrongSubDerivative(Value):
    """``sub`` gives the subtrahend ``+grad`` instead of ``-grad``."""

    def __sub__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data - other.data, (self, other), "-")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad  # BUG: the sign

        out._backward = _backward
        return out


class WrongMulDerivative(Value):
    """``mul`` multiplies by the other operand's *grad* instead of its *data*."""

    def __mul__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.grad * out.grad  # BUG: other.grad for other.data
            other.grad += self.data * out.grad

        out._backward = _backward
        return out


class WrongDivDerivative(Value):
    """``div`` gives the denominator ``+a/b**2`` instead of ``-a/b**2``."""

    def __truediv__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(ieee_div(self.data, other.data), (self, other), "/")

        def _backward() -> None:
            self.grad += ieee_div(out.grad, other.data)
            other.grad += ieee_div(out.grad * out.data, other.data)  # BUG: the sign

        out._backward = _backward
        return out


class WrongNegDerivative(Value):
    """``neg`` passes the gradient through unchanged."""

    def __neg__(self) -> Value:
        out = self._result(-self.data, (self,), "neg")

        def _backward() -> None:
            self.grad += out.grad  # BUG: d(-x)/dx is -1

        out._backward = _backward
        return out


class WrongPowConstDerivative(Value):
    """``x ** n`` uses ``n * x ** n`` (the wrong exponent) instead of ``n * x ** (n - 1)``."""

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self._pow_value(other)
        exponent = float(other)
        out = self._result(ieee_pow(self.data, exponent), (self,), f"**{exponent:g}")

        def _backward() -> None:
            if exponent != 0.0:
                self.grad += exponent * ieee_pow(self.data, exponent) * out.grad  # BUG: n, not n-1

        out._backward = _backward
        return out


class WrongPowValueDerivative(Value):
    """``x ** y`` with a Value exponent forgets the ``log(x)`` factor of the exponent's gradient."""

    def _pow_value(self, other: Value) -> Value:
        out = self._result(ieee_pow(self.data, other.data), (self, other), "**")

        def _backward() -> None:
            if other.data != 0.0:
                self.grad += other.data * ieee_pow(self.data, other.data - 1.0) * out.grad
            other.grad += out.data * out.grad  # BUG: missing * log(self.data)

        out._backward = _backward
        return out


class WrongRpowDerivative(Value):
    """``c ** x`` is differentiated as ``x ** c`` (power rule instead of ``c ** x * log(c)``)."""

    def __rpow__(self, other: Number) -> Value:
        base = float(other)
        out = self._result(ieee_pow(base, self.data), (self,), "rpow")

        def _backward() -> None:
            self.grad += base * ieee_pow(self.data, base - 1.0) * out.grad  # BUG: d(x**c)/dx

        out._backward = _backward
        return out


class WrongExpDerivative(Value):
    """``exp`` multiplies by the input ``x`` instead of the output ``e ** x``."""

    def exp(self) -> Value:
        """``e ** self``."""
        out = self._result(ieee_exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += self.data * out.grad  # BUG: self.data for out.data

        out._backward = _backward
        return out


class WrongLogDerivative(Value):
    """``log`` multiplies by ``x`` instead of dividing by it."""

    def log(self) -> Value:
        """The natural logarithm."""
        out = self._result(ieee_log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += self.data * out.grad  # BUG: x for 1/x

        out._backward = _backward
        return out


class WrongTanhDerivative(Value):
    """``tanh`` uses ``1 - x**2`` of the input instead of ``1 - tanh(x)**2`` of the output."""

    def tanh(self) -> Value:
        """The hyperbolic tangent."""
        out = self._result(math.tanh(self.data), (self,), "tanh")

        def _backward() -> None:
            self.grad += (1.0 - self.data**2) * out.grad  # BUG: input for output

        out._backward = _backward
        return out


class WrongReluDerivative(Value):
    """``relu`` passes the gradient through for negative inputs too."""

    def relu(self) -> Value:
        """``max(self, 0)``."""
        out = self._result(0.0 if self.data < 0.0 else self.data, (self,), "relu")

        def _backward() -> None:
            self.grad += out.grad  # BUG: no mask

        out._backward = _backward
        return out


class WrongSigmoidDerivative(Value):
    """``sigmoid`` uses ``s(1-s)`` of the input ``x`` instead of the output ``s``."""

    def sigmoid(self) -> Value:
        """The logistic function."""
        out = self._result(1.0 / (1.0 + ieee_exp(-self.data)), (self,), "sigmoid")

        def _backward() -> None:
            self.grad += self.data * (1.0 - self.data) * out.grad  # BUG: input for output

        out._backward = _backward
        return out


class WrongSinDerivative(Value):
    """``sin`` differentiated as ``-cos`` (cos's derivative's sign carried over)."""

    def sin(self) -> Value:
        """The sine."""
        out = self._result(math.sin(self.data), (self,), "sin")

        def _backward() -> None:
            self.grad -= math.cos(self.data) * out.grad  # BUG: -cos for cos

        out._backward = _backward
        return out


# === Kinks and numerics ===========================================================================


class ReluGradOneAtZero(Value):
    """``relu'(0) = 1`` (``>=`` for ``>``) where torch says 0."""

    def relu(self) -> Value:
        """``max(self, 0)``."""
        out = self._result(0.0 if self.data < 0.0 else self.data, (self,), "relu")

        def _backward() -> None:
            if not self.data < 0.0:  # BUG: < for <=, so the kink x = 0 passes the gradient
                self.grad += out.grad

        out._backward = _backward
        return out


class AbsGradOneAtZero(Value):
    """``abs'(0) = 1`` (the sign of ``x >= 0``) where torch says ``sgn(0) = 0``."""

    def abs(self) -> Value:
        """``|self|``."""
        out = self._result(abs(self.data), (self,), "abs")

        def _backward() -> None:
            sign = 1.0 if self.data >= 0.0 else -1.0  # BUG: >= for >, so abs'(0) = 1
            self.grad += sign * out.grad

        out._backward = _backward
        return out


class SqrtViaExpLog(Value):
    """``sqrt`` as ``exp(0.5 * log(x))`` with ``math.log``: a domain error at 0 (and below)."""

    def sqrt(self) -> Value:
        """The square root."""
        out = self._result(math.exp(0.5 * math.log(self.data)), (self,), "sqrt")  # BUG

        def _backward() -> None:
            self.grad += ieee_div(out.grad, 2.0 * out.data)

        out._backward = _backward
        return out


class TanhViaExpOverflows(Value):
    """``tanh`` as ``(e**2x - 1) / (e**2x + 1)`` with ``math.exp``: OverflowError for x > ~355.

    The same formula also cancels catastrophically near 0 (``e**2x - 1`` for tiny x).
    """

    def tanh(self) -> Value:
        """The hyperbolic tangent."""
        e = math.exp(2.0 * self.data)  # BUG: overflows where tanh is simply 1
        out = self._result((e - 1.0) / (e + 1.0), (self,), "tanh")

        def _backward() -> None:
            self.grad += (1.0 - out.data * out.data) * out.grad

        out._backward = _backward
        return out


class SigmoidViaExpOverflows(Value):
    """``sigmoid`` as ``1 / (1 + math.exp(-x))``: OverflowError for x < -709 where torch gives 0."""

    def sigmoid(self) -> Value:
        """The logistic function."""
        out = self._result(1.0 / (1.0 + math.exp(-self.data)), (self,), "sigmoid")  # BUG

        def _backward() -> None:
            self.grad += out.data * (1.0 - out.data) * out.grad

        out._backward = _backward
        return out


class PowViaExpLog(Value):
    """``x ** n`` as ``exp(n * log(x))``: a math domain error for every negative base."""

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self._pow_value(other)
        exponent = float(other)
        data = math.exp(exponent * math.log(self.data))  # BUG: log of a negative base
        out = self._result(data, (self,), f"**{exponent:g}")

        def _backward() -> None:
            if exponent != 0.0:
                self.grad += exponent * ieee_pow(self.data, exponent - 1.0) * out.grad

        out._backward = _backward
        return out


class PowGradNanAtZeroToTheZero(Value):
    """``x ** c``'s rule without torch's mask for c = 0: at ``0 ** 0`` it is ``0 * 0.0 ** -1``,
    ``0 * inf``, a nan gradient, as IEEE ``pow`` gives it in Rust and C ports."""

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self._pow_value(other)
        exponent = float(other)
        out = self._result(ieee_pow(self.data, exponent), (self,), f"**{exponent:g}")

        def _backward() -> None:
            self.grad += exponent * ieee_pow(self.data, exponent - 1.0) * out.grad  # BUG: no mask

        out._backward = _backward
        return out


# === Graph traversal ==============================================================================


class BackwardNeverRunsRules(Value):
    """``backward()`` names each node's rule without calling it: no gradient reaches anything."""

    def backward(self) -> None:
        """Seed the output, then walk the nodes."""
        order = self._topological_order()
        self.grad = 1.0
        for node in reversed(order):
            node._backward  # BUG: the rule is looked up, never called (`node._backward()`)  # noqa: B018


class TopoSortWithoutDedup(Value):
    """The order lists a node once per path to it, so a shared node runs ``_backward`` twice."""

    def _topological_order(self) -> list[Value]:
        order: list[Value] = []
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in self._walked(node))  # BUG: no visited set
        return order

    @staticmethod
    def _walked(node: Value) -> Iterable[Value]:
        """A node's operands, in the order the sort walks them."""
        return node._prev


class SetOrderedTopoWithoutDedup(TopoSortWithoutDedup):
    """TopoSortWithoutDedup's sort, walking each node's operands as a set (Karpathy's
    ``_prev = set(children)``): whether a shared node's rule runs before all of its users have
    added their gradient follows the set's order, which follows memory addresses, so one program
    fails in some runs and passes in others. ``a - b`` is micrograd's ``a + (-b)``, as in the
    ports that have this bug: ``c - c`` holds ``c`` at two depths, and fails by the sort alone."""

    @staticmethod
    def _walked(node: Value) -> Iterable[Value]:
        """The operands as a set: in the order of their memory addresses."""
        return set(node._prev)

    def __sub__(self, other: Value | Number) -> Value:
        """micrograd's ``a - b``: no rule of its own."""
        return self + (-other)


class RecursiveTopoSort(Value):
    """The topological sort recurses once per graph level: RecursionError on a deep chain."""

    def _topological_order(self) -> list[Value]:
        order: list[Value] = []
        visited: set[Value] = set()

        def visit(node: Value) -> None:
            if node not in visited:
                visited.add(node)
                for child in node._prev:
                    visit(child)  # BUG: Python's recursion limit is ~1000 frames
                order.append(node)

        visit(self)
        return order


class BreadthFirstOrder(Value):
    """Backward runs in breadth-first order from the output, which is not a topological order."""

    def _topological_order(self) -> list[Value]:
        seen: set[Value] = {self}
        order: list[Value] = []
        queue: deque[Value] = deque([self])
        while queue:
            node = queue.popleft()
            order.append(node)
            for child in node._prev:
                if child not in seen:
                    seen.add(child)
                    queue.append(child)
        order.reverse()  # BUG: a node may run before all of its users have added their gradient
        return order


class DepthFirstPreorder(Value):
    """Backward runs each node where a depth-first walk from the output first meets it, a
    visited set stopping the walk's second path: a node met through its first user runs before
    its other users have added their gradient. Which programs fail follows operand order:
    ``b + b * b`` does, ``b * b + b`` does not."""

    def _topological_order(self) -> list[Value]:
        seen: set[Value] = set()
        met: list[Value] = []
        stack: list[Value] = [self]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                met.append(node)
                stack.extend(reversed(node._prev))  # the first operand is walked first
        return met[::-1]  # BUG: backward runs the order met, which is not topological


# === Semantics: reported by the harness, failing only with strict =============


class BackwardResetsLeafGradients(Value):
    """Every ``backward()`` zeroes every gradient, leaves too: a second pass does not accumulate."""

    def backward(self) -> None:
        """Gradients of this pass only."""
        order = self._topological_order()
        for node in order:
            node.grad = 0.0  # BUG (semantics): torch accumulates into leaves
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


class BackwardKeepsIntermediateGradients(Value):
    """``backward()`` never resets intermediate gradients (micrograd 0.1.0): pass 2 over-counts."""

    def backward(self) -> None:
        """Seed the output and propagate, over whatever the nodes held before."""
        order = self._topological_order()
        self.grad = 1.0  # BUG (semantics): stale intermediate gradients are propagated again
        for node in reversed(order):
            node._backward()


class DivisionByZeroRaises(Value):
    """``x / 0`` raises ZeroDivisionError (plain Python ``/``) where torch gives inf or nan."""

    def __truediv__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data / other.data, (self, other), "/")  # BUG (semantics)

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad -= out.grad * out.data / other.data

        out._backward = _backward
        return out


class ExpRecordsNoOperand(Value):
    """``exp`` records no operand (``_children=()``, or a port's ``children=self.children``): its
    rule still reaches a leaf operand, but a computed one's own rule never runs."""

    def exp(self) -> Value:
        """``e ** self``."""
        out = self._result(ieee_exp(self.data), (), "exp")  # BUG: (self,) forgotten

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out


class ReluSwallowsNan(Value):
    """``relu`` as ``max(0.0, x)``: ``max`` keeps its first argument when no later one compares
    greater, so ``relu(nan)`` is 0 where torch's is nan, and a nan loss goes unnoticed."""

    def relu(self) -> Value:
        """``max(0.0, self)``."""
        out = self._result(max(0.0, self.data), (self,), "relu")  # BUG (semantics)

        def _backward() -> None:
            if not self.data <= 0.0:
                self.grad += out.grad

        out._backward = _backward
        return out


class MulCallsFloatMethod(Value):
    """``mul`` as ``self.data.__mul__(other)``: right for a number, but float's own method,
    given a Value, returns NotImplemented, and the product keeps that as its number."""

    def __mul__(self, other: Value | Number) -> Value:
        product = self.data.__mul__(other)  # BUG: a Value operand's number is other.data
        other = self._lift(other)
        out = self._result(0.0, (self, other), "*")
        out.data = product

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out


class MulRuleStoredAsBackward(Value):
    """``mul`` stores its rule as ``out.backward``, not ``out._backward``: the instance attribute
    hides ``Value.backward()`` on every product, and the rule backward() calls stays a no-op."""

    def __mul__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out.backward = _backward  # type: ignore[method-assign]  # BUG: out._backward
        return out


class SigmoidSignFlipped(Value):
    """``sigmoid`` as ``1 / (1 + e ** x)``: the exponent's sign lost, so it computes
    ``sigmoid(-x)``; its rule, written on the output, looks right."""

    def sigmoid(self) -> Value:
        """The logistic function, of the wrong sign of its operand."""
        out = self._result(1.0 / (1.0 + ieee_exp(self.data)), (self,), "sigmoid")  # BUG: -x

        def _backward() -> None:
            self.grad += out.data * (1.0 - out.data) * out.grad

        out._backward = _backward
        return out


class ReluComputesTanh(Value):
    """``relu``'s forward is another op's (``tanh``), its rule relu's: a method copied from its
    neighbour and only half edited."""

    def relu(self) -> Value:
        """A rectifier whose number is tanh's."""
        out = self._result(math.tanh(self.data), (self,), "relu")  # BUG: max(x, 0)

        def _backward() -> None:
            if not self.data <= 0.0:
                self.grad += out.grad

        out._backward = _backward
        return out


# === The registry =================================================================================


@dataclass(frozen=True)
class Bug:
    """A broken engine: its class, what real ports got wrong, and the check built to catch it."""

    engine: type[Value]
    what: str
    source: str
    caught_by: str
    witness: Callable[[Any], list[float]]
    strict_only: bool = False
    problems: tuple[str, ...] = ()
    """The signatures a full run names it by (``conformance.diagnosis``): one per method the
    bug is in (SameOperandSkipped has it in ``+`` and in ``*``)."""

    @property
    def name(self) -> str:
        """The class name, which is also the target name in ``broken.py:<name>``."""
        return self.engine.__name__


# Witnesses: one small hand-written program per bug, run on any engine class, returning the
# output's value followed by the inputs' gradients. On a correct engine they equal torch's; on the
# broken one they differ or raise: each engine really has its bug, independently of the harness.


def _unary(method: str, x: float) -> Callable[[Any], list[float]]:
    """``Value(x).<method>()``, its value and its input's gradient."""

    def witness(v: Any) -> list[float]:
        a = v(x)
        out = getattr(a, method)()
        out.backward()
        return [out.data, a.grad]

    return witness


def _binary(
    build: Callable[[Any, Any], Any], x: float = 2.0, y: float = 3.0
) -> Callable[[Any], list[float]]:
    """``build(Value(x), Value(y))``, its value and both inputs' gradients."""

    def witness(v: Any) -> list[float]:
        a, b = v(x), v(y)
        out = build(a, b)
        out.backward()
        return [out.data, a.grad, b.grad]

    return witness


def _exp_plus_operand(v: Any) -> list[float]:
    a = v(0.5)
    out = a.exp() + a
    out.backward()
    return [out.data, a.grad]


def _relu_plus_operand(v: Any) -> list[float]:
    a = v(0.5)
    out = a.relu() + a
    out.backward()
    return [out.data, a.grad]


def _pow_plus_operand(v: Any) -> list[float]:
    a = v(3.0)
    out = a**2.0 + a
    out.backward()
    return [out.data, a.grad]


def _pow_at_zero_to_the_zero(v: Any) -> list[float]:
    a = v(0.0)
    out = a**0.0
    out.backward()
    return [out.data, a.grad]


def _returned(v: Any) -> list[float]:
    a = v(2.0)
    out = a**3.0
    if out is None:  # the op gave nothing back: no number to compare
        return []
    out.backward()
    return [out.data, a.grad]


def _reused_operands(v: Any) -> list[float]:
    a, b = v(2.0), v(3.0)
    out = a * b + a * a + (a + a)
    out.backward()
    return [out.data, a.grad, b.grad]


def _equal_valued_nodes(v: Any) -> list[float]:
    a = v(2.0)
    out = (a * 3.0) * (a + 4.0)  # two distinct nodes that both hold 6.0
    out.backward()
    return [out.data, a.grad]


def _augmented_assignment(v: Any) -> list[float]:
    a, b = v(2.0), v(3.0)
    t = a
    t += b
    out = t * a
    out.backward()
    return [out.data, a.grad, b.grad]


def _shared_intermediate(v: Any) -> list[float]:
    a = v(2.0)
    b = a * 3.0
    out = b + b * b  # b's user b * b is one level deeper than its user `+`
    out.backward()
    return [out.data, a.grad]


def _diamond(v: Any) -> list[float]:
    a = v(2.0)
    b = a * a
    out = b + b
    out.backward()
    return [out.data, a.grad]


def _difference_of_a_shared_node(v: Any) -> list[float]:
    a = v(0.75)
    c = a * 2.0
    out = c + -c  # c is the output's operand and its operand's operand
    out.backward()
    return [out.data, a.grad]


def _in_any_of_many_runs(
    witness: Callable[[Any], list[float]], runs: int = 64
) -> Callable[[Any], list[float]]:
    """``witness`` run ``runs`` times, the run with the largest numbers: an engine that gets the
    program wrong in some runs only shows it (every run of a deterministic engine is the same)."""

    def in_any_run(v: Any) -> list[float]:
        return max(witness(v) for _ in range(runs))

    return in_any_run


def _deep_chain(v: Any) -> list[float]:
    a = v(0.5)
    out = a
    for _ in range(5_000):
        out = out + 1.0
    out.backward()
    return [out.data, a.grad]


def _backward_twice(v: Any) -> list[float]:
    a, b = v(2.0), v(3.0)
    out = (a * b) * a
    out.backward()
    out.backward()
    return [out.data, a.grad, b.grad]


def _sqrt_at_a_dead_relu(v: Any) -> list[float]:
    a = v(-1.0)
    out = a.relu().sqrt()  # torch: value 0, gradient 0 (relu masks sqrt's infinite one)
    out.backward()
    return [out.data, a.grad]


def _divide_by_zero(v: Any) -> list[float]:
    a, b = v(1.0), v(0.0)
    out = a / b
    out.backward()
    return [out.data, a.grad, b.grad]


def _exp_of_a_sum(v: Any) -> list[float]:
    a, b = v(0.5), v(0.25)
    out = (a + b).exp()
    out.backward()
    return [out.data, a.grad, b.grad]


def _product_of_values(v: Any) -> list[float]:
    a, b = v(2.0), v(3.0)
    out = a * b
    out.backward()
    number = out.data if isinstance(out.data, (int, float)) else math.nan  # NotImplemented
    return [number, a.grad, b.grad]


def _relu_of_nan(v: Any) -> list[float]:
    out = v(math.nan).relu()
    out.backward()
    return [float(math.isnan(out.data))]  # nan compares unequal to itself: say whether it is


BUGS: tuple[Bug, ...] = (
    Bug(
        GradAssignedNotAccumulated,
        "`self.grad = ...` instead of `+=`; Karpathy's lecture video itself had it for exp",
        "karpathy/nn-zero-to-hero#52; callummcdougall/ARENA_2.0#18",
        "reuse",
        _reused_operands,
        problems=("graph:mul",),
    ),
    Bug(
        ExpGradAssigned,
        "`self.grad = ...` in a one-operand op (exp): `exp(a) + a` loses the sum's share",
        "karpathy/nn-zero-to-hero#52; zerotropism/micrograd (GitHub) has exactly this",
        "reuse",
        _exp_plus_operand,
        problems=("graph:exp",),
    ),
    Bug(
        ReluGradAssigned,
        "`self.grad = ...` in relu: `relu(a) + a` loses the sum's share where a > 0",
        "karpathy/nn-zero-to-hero#52 (the same slip, in the op every MLP uses)",
        "reuse",
        _relu_plus_operand,
        problems=("graph:relu",),
    ),
    Bug(
        PowGradAssigned,
        "`self.grad = ...` in `x ** c`: `x ** 2 + x` loses the sum's share",
        "AnmolS99/micrograd (GitHub), whose `/` (micrograd's `a * b ** -1`) inherits it",
        "repeated-backward",
        _pow_plus_operand,
        problems=("graph:pow",),
    ),
    Bug(
        SameOperandSkipped,
        "a port short-circuits `other is self`, so x*x and x+x get half the gradient",
        "the issue's own list (a+a, a*a)",
        "reuse",
        _reused_operands,
        problems=("graph:add", "graph:mul"),
    ),
    Bug(
        ChildrenInASet,
        "micrograd's `_prev = set(children)`: harmless with closures, wrong once `+` loops over it",
        "karpathy/micrograd engine.py (`self._prev = set(_children)`)",
        "reuse",
        _binary(lambda a, b: a + a + b),
        problems=("graph:add",),
    ),
    Bug(
        ValueEqualityMergesNodes,
        "a port defines __eq__/__hash__ on data, so `visited` merges distinct equal-valued nodes",
        "the issue's 'distinct nodes holding equal values'",
        "random",
        _equal_valued_nodes,
        problems=("graph:equal-values",),
    ),
    Bug(
        InplaceAddMutatesOperand,
        "`__iadd__` mutates self.data (like torch's in-place ops) instead of building a new node",
        "pytorch/pytorch#10586 ('in-place operator += breaks autograd')",
        "inplace",
        _augmented_assignment,
        problems=("op:add:operand",),
    ),
    Bug(
        BackwardNeverSeeds,
        "backward() without `self.grad = 1` (the port seeds it by hand before calling)",
        "Boerseth/laim (GitHub), whose backward() recurses from an unseeded output",
        "probe",
        _binary(lambda a, b: a * b),
        problems=("leaf:gradient",),
    ),
    Bug(
        PowForgetsReturn,
        "an op method without `return out`: `v ** c` is None",
        "AleksaZatezalo/gpt-2 (GitHub): its `__pow__` ends after `out._backward = _backward`",
        "ops",
        _returned,
        problems=("op:pow:value",),
    ),
    Bug(
        Float32EveryNode,
        "a port on float32 storage (numpy float32 / C float) rounds every node",
        "the issue's tolerance requirement",
        "probe",
        _unary("exp", 0.1),
        problems=("leaf:value",),
    ),
    Bug(
        RsubSwapped,
        "`__rsub__ = __sub__`, so 2 - a gives a - 2",
        "dlsyscourse/hw1#21; bpesquet/pyfit#1 (Karpathy: 'a - b != b - a')",
        "reflected",
        _binary(lambda a, b: 2.0 - a * b),
        problems=("op:sub:value",),
    ),
    Bug(
        RtruedivSwapped,
        "`__rtruediv__ = __truediv__`, so 2 / a gives a / 2",
        "tiandiweizun/autodiff#1 (__rsub__/__rtruediv__ written reversed)",
        "reflected",
        _binary(lambda a, b: 2.0 / (a * b)),
        problems=("op:div:value",),
    ),
    Bug(
        RaddInfiniteRecursion,
        "`__radd__` returns `other + self`, which calls __radd__ again",
        "karpathy/micrograd#76",
        "reflected",
        _binary(lambda a, b: 2.0 + a * b),
        problems=("op:add:value",),
    ),
    Bug(
        WrongAddDerivative,
        "add forgets the second operand's gradient",
        "KhawajaAbaid/micrograd_c#1 (binary-op backward wrong for the second value)",
        "random",
        _binary(lambda a, b: a + b),
        problems=("op:add:gradient",),
    ),
    Bug(
        WrongSubDerivative,
        "sub gives the subtrahend +grad",
        "KhawajaAbaid/micrograd_c#1; AayushSameerShah/Neural-Net-Zero-to-Hero-with-Andrej#1",
        "random",
        _binary(lambda a, b: a - b),
        problems=("op:sub:gradient",),
    ),
    Bug(
        WrongMulDerivative,
        "mul uses other.grad where other.data is meant",
        "the most common transcription slip in the lecture's code",
        "random",
        _binary(lambda a, b: a * b),
        problems=("op:mul:gradient",),
    ),
    Bug(
        WrongDivDerivative,
        "div's denominator gradient has the wrong sign",
        "apache/singa#484 (Div backward wrong, caught in review); tobegit3hub/miniflow#3",
        "random",
        _binary(lambda a, b: a / b),
        problems=("op:div:gradient",),
    ),
    Bug(
        WrongNegDerivative,
        "neg passes the gradient through unchanged",
        "-",
        "random",
        _unary("__neg__", 2.0),
        problems=("op:neg:gradient",),
    ),
    Bug(
        WrongPowConstDerivative,
        "x**n differentiated as n*x**n (wrong exponent)",
        "tenstorrent/tt-metal#5082 (pow grad differs from torch)",
        "random",
        _binary(lambda a, b: (a * b) ** 3),
        problems=("op:pow:gradient",),
    ),
    Bug(
        WrongPowValueDerivative,
        "the exponent's gradient misses the log(base) factor",
        "karpathy/micrograd#41, #36 (Value ** Value PRs)",
        "random",
        _binary(lambda a, b: a**b),
        problems=("op:pow:gradient",),
    ),
    Bug(
        WrongRpowDerivative,
        "c**x differentiated as x**c",
        "tenstorrent/tt-metal#52144 ('rpow_bw differentiates x**e instead of e**x')",
        "random",
        _binary(lambda a, b: 2.0 ** (a * b), 0.5, 1.5),
        problems=("op:pow:gradient",),
    ),
    Bug(
        WrongExpDerivative,
        "exp multiplies by the input x instead of the output e**x",
        "karpathy/nn-zero-to-hero#52 (a user proposed exactly this 'fix')",
        "random",
        _unary("exp", 2.0),
        problems=("op:exp:gradient",),
    ),
    Bug(
        WrongLogDerivative,
        "log multiplies by x instead of dividing",
        "karpathy/micrograd#100 (log backward wrong in review)",
        "random",
        _unary("log", 2.0),
        problems=("op:log:gradient",),
    ),
    Bug(
        WrongTanhDerivative,
        "tanh' as 1 - x**2 of the input instead of the output",
        "-",
        "random",
        _unary("tanh", 0.5),
        problems=("op:tanh:gradient",),
    ),
    Bug(
        WrongReluDerivative,
        "relu passes the gradient for negative inputs too",
        "hiive/mlrose#5; pytorch/tutorials#269 (relu masks)",
        "random",
        _unary("relu", -1.0),
        problems=("op:relu:gradient",),
    ),
    Bug(
        WrongSigmoidDerivative,
        "sigmoid' as x(1-x) of the input instead of s(1-s) of the output",
        "-",
        "random",
        _unary("sigmoid", 0.5),
        problems=("op:sigmoid:gradient",),
    ),
    Bug(
        WrongSinDerivative,
        "sin' as -cos (the derivative of cos, with its sign)",
        "-",
        "random",
        _unary("sin", 0.5),
        problems=("op:sin:gradient",),
    ),
    Bug(
        ReluGradOneAtZero,
        "relu'(0) = 1 where torch says 0",
        "KhawajaAbaid/micrograd_c#4; uptake/numpynet#35",
        "kinks",
        _unary("relu", 0.0),
        problems=("op:relu:gradient",),
    ),
    Bug(
        AbsGradOneAtZero,
        "abs'(0) = 1 (x >= 0 taken as positive) where torch's sgn(0) is 0",
        "-",
        "kinks",
        _unary("abs", 0.0),
        problems=("op:abs:gradient",),
    ),
    Bug(
        SqrtViaExpLog,
        "sqrt(x) as exp(0.5 * log(x)): math domain error at 0, where torch's value is 0",
        "-",
        "ops",
        _sqrt_at_a_dead_relu,
        problems=("op:sqrt:value",),
    ),
    Bug(
        TanhViaExpOverflows,
        "tanh via math.exp(2x): OverflowError: math range error for large x",
        "karpathy/micrograd#29 and #74 (conscell: 'x=1000 ... OverflowError')",
        "random",
        _unary("tanh", 400.0),
        problems=("op:tanh:value",),
    ),
    Bug(
        SigmoidViaExpOverflows,
        "sigmoid via math.exp(-x): OverflowError for x < -709",
        "hail-is/hail#10606; onera/acetone#16",
        "random",
        _unary("sigmoid", -800.0),
        problems=("op:sigmoid:value",),
    ),
    Bug(
        PowViaExpLog,
        "x**n as exp(n*log(x)): a domain error for negative bases",
        "tenstorrent/tt-metal#54440 (pow_bw via exp((n-1)*log x) wrong for negative bases)",
        "random",
        _binary(lambda a, b: (a - b) ** 2),
        problems=("op:pow:value",),
    ),
    Bug(
        PowGradNanAtZeroToTheZero,
        "x**c's derivative without torch's mask at c = 0: 0 * 0.0**-1 = 0 * inf, nan at 0**0",
        "panzi/rust-micrograd, romanschejbal/micrograd-rs, sebinsua/micrograd-rs (GitHub)",
        "ops",
        _pow_at_zero_to_the_zero,
        problems=("op:pow:gradient",),
    ),
    Bug(
        BackwardNeverRunsRules,
        "`node._backward` without the call's parentheses: every gradient stays 0",
        "Oscar-Henry/MicroMNIST (GitHub): its backward() loop reads `node._backward`",
        "ops",
        _binary(lambda a, b: a * b),
        problems=("graph:no-gradient",),
    ),
    Bug(
        TopoSortWithoutDedup,
        "no visited set: a node reached by two paths runs backward twice",
        "karpathy/micrograd#64 (Karpathy: breaks when a non-leaf is re-used); sebgao/cTensor#5",
        "reuse",
        _diamond,
        problems=("graph:any-op",),
    ),
    Bug(
        SetOrderedTopoWithoutDedup,
        "a set's order and no visited set: a node reached by two paths may run backward before "
        "all its users added their gradient, as memory addresses fall",
        "Alexmsit/micrograd and ent0n29/tonygrad (GitHub): build_topo's child loop outside "
        "`if v not in visited`, over `_prev = set(_children)`",
        "reuse",
        _in_any_of_many_runs(_difference_of_a_shared_node),
        problems=("graph:any-op",),
    ),
    Bug(
        RecursiveTopoSort,
        "recursive build_topo: RecursionError beyond ~1000 levels",
        "karpathy/micrograd#90; karpathy/micrograd#21",
        "deep",
        _deep_chain,
        problems=("raises:RecursionError:visit",),
    ),
    Bug(
        BreadthFirstOrder,
        "backward in BFS order, which is not topological",
        "karpathy/micrograd#91 (BFS trace proposed); SethHWeidman/DLFS_code#13",
        "reuse",
        _shared_intermediate,
        problems=("graph:any-op",),
    ),
    Bug(
        DepthFirstPreorder,
        "backward in the order a depth-first walk first meets the nodes (a visited set stops "
        "the second path), which is not topological",
        "lucasdelimanogueira/PyNorch#90 (a diamond's second path stopped by the visited set); "
        "karpathy/micrograd#96 (a depth-first walk proposed)",
        "reuse",
        _shared_intermediate,
        problems=("graph:any-op",),
    ),
    Bug(
        BackwardResetsLeafGradients,
        "backward() made 'idempotent' by zeroing all grads; torch accumulates into leaves",
        "karpathy/micrograd#53 and PR #54 (closed after discussion)",
        "repeated-backward",
        _backward_twice,
        strict_only=True,
        problems=("semantics:repeated-backward",),
    ),
    Bug(
        BackwardKeepsIntermediateGradients,
        "intermediate grads never reset, so a second backward() over-counts (micrograd 0.1.0)",
        "karpathy/micrograd#102",
        "repeated-backward",
        _backward_twice,
        strict_only=True,
        problems=("semantics:repeated-backward",),
    ),
    Bug(
        DivisionByZeroRaises,
        "plain Python `/` raises ZeroDivisionError where torch returns inf (1/0) or nan (0/0)",
        "karpathy/micrograd#41 review (conscell: math domain errors vs torch's nan)",
        "nonfinite",
        _divide_by_zero,
        strict_only=True,
        problems=("op:div:value:semantics",),
    ),
    Bug(
        ExpRecordsNoOperand,
        "an op that records no operand, or its operand's operands: fine on a leaf, and the"
        " nodes before a computed operand never run",
        "GlaIZier/micrograd (GitHub): `__pow__` builds its node with `children=self.children`",
        "random",
        _exp_of_a_sum,
        problems=("graph:exp",),
    ),
    Bug(
        ReluSwallowsNan,
        "relu as `max(0, x)` (or `x if x > 0 else 0`): relu(nan) is 0 where torch's is nan",
        "10 of the 20 Python ports tried here that have relu, pacanada/nanograd and"
        " evintunador/autograd_engine_tutorial among them (GitHub)",
        "ops",
        _relu_of_nan,
        strict_only=True,
        problems=("op:relu:value:semantics",),
    ),
    Bug(
        MulCallsFloatMethod,
        "`self.data.__mul__(other)`: float's method returns NotImplemented for a Value operand,"
        " and the product keeps it as its number",
        "GeraldCSC/autograd_simple (GitHub): `+` and `*` call `self.val.__add__(other)`",
        "ops",
        _product_of_values,
        problems=("op:mul:value",),
    ),
    Bug(
        MulRuleStoredAsBackward,
        "`out.backward = _backward` in `*`: the attribute hides backward() on every product, and"
        " the product's `_backward` stays a no-op",
        "EltonJacob/Autograd_engine (GitHub): its `__mul__` ends with `out.backward = _backward`",
        "ops",
        _binary(lambda a, b: a * b),
        problems=("op:mul:gradient",),
    ),
    Bug(
        SigmoidSignFlipped,
        "sigmoid as `1 / (1 + exp(x))`: the exponent's sign lost, so it computes sigmoid(-x)",
        "cccbook/py2cs (GitHub): its micrograd's sigmoid",
        "ops",
        _unary("sigmoid", 1.0),
        problems=("op:sigmoid:value",),
    ),
    Bug(
        ReluComputesTanh,
        "relu's forward computes another op (tanh) under relu's rule",
        "mxmasterton/autograd (GitHub): its `relu()` returns `math.tanh` of its operand",
        "ops",
        _unary("relu", 0.5),
        problems=("op:relu:value",),
    ),
)
