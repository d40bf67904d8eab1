"""A scalar autograd engine: micrograd's ``Value``, exact to PyTorch float64 and fast.

Each op below is its forward computation, which records the node's children, op label and
derivative rule, followed directly by that rule (``_backward_<op>``, a plain method called on the
output node): the derivative written as PyTorch's own formula (``derivatives.yaml``), conventions
at kinks and poles included. Fused n-ary nodes (``sum``, ``linear``) come last, then ``backward``.
Values and gradients agree with torch float64 to the last bit, or within a few units in the last
place where torch's vectorised CPU kernels round differently from the correctly rounded libm.

Why no closures: micrograd 0.1.0 stores a ``_backward`` closure per node that refers back to the
node, a reference cycle for every node; the cyclic garbage collector then dominates training time.
Here a node stores a plain module-level function, so graphs are freed by reference counting the
moment they become unreachable.

Numerics follow IEEE 754 like torch: no op raises ``OverflowError``, ``ZeroDivisionError`` or
``ValueError``, and none returns a complex number; you get ``inf`` and ``nan`` where torch does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice

Number = int | float
Rule = Callable[["Value"], None]

__all__ = ["Number", "Value"]

_INF = math.inf
_NAN = math.nan


# -------------------------------------------------------------------------------------------------
# IEEE 754 scalar functions. Python's float ops raise where C and torch return inf/nan; these don't.
# -------------------------------------------------------------------------------------------------


def _to_float(x: object, role: str) -> float:
    """Return ``x`` as a float, or raise ``TypeError`` naming it if it is not an int or a float."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{role} must be an int or a float, got {x!r} of type {type(x).__name__}")
    if isinstance(x, float):
        return x
    try:
        return float(x)
    except OverflowError:  # an int beyond float64 rounds to infinity under IEEE round-to-nearest
        return _INF if x > 0 else -_INF


def _is_odd_integer(y: float) -> bool:
    """Whether ``y`` is an odd integer (which keeps the sign of a negative base in ``x ** y``)."""
    return math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0.0


def _div(x: float, y: float) -> float:
    """IEEE division: ``x / 0`` is a signed infinity, ``0 / 0`` is nan."""
    try:
        return x / y
    except ZeroDivisionError:
        if x == 0.0 or x != x:
            return _NAN
        return math.copysign(_INF, x) * math.copysign(1.0, y)


def _pow(x: float, y: float) -> float:
    """C's ``pow``: overflow is a signed infinity; a negative base to a fractional power is nan."""
    try:
        return math.pow(x, y)
    except OverflowError:
        return -_INF if x < 0.0 and _is_odd_integer(y) else _INF
    except ValueError:
        if x == 0.0:  # zero to a negative power is a pole, signed like the base for odd exponents
            return math.copysign(_INF, x) if _is_odd_integer(y) else _INF
        return _NAN


def _pow_scalar(x: float, e: float) -> float:
    """``x ** e`` for a number exponent, with torch's special cases (``x ** 0.5`` is sqrt)."""
    if e == 2.0:
        return x * x
    if e == 0.5:  # sqrt(-inf) is nan where pow(-inf, 0.5) is inf
        return math.sqrt(x) if x >= 0.0 else _NAN
    if e == -0.5:
        return _div(1.0, math.sqrt(x)) if x >= 0.0 else _NAN
    return _pow(x, e)


def _exp(x: float) -> float:
    """``exp`` that overflows to inf."""
    try:
        return math.exp(x)
    except OverflowError:
        return _INF


def _log(x: float) -> float:
    """``log`` that gives -inf at 0 and nan below it."""
    try:
        return math.log(x)
    except ValueError:
        return -_INF if x == 0.0 else _NAN


def _sin(x: float) -> float:
    """``sin`` that gives nan at +-inf."""
    return math.sin(x) if x - x == 0.0 else _NAN


def _cos(x: float) -> float:
    """``cos`` that gives nan at +-inf."""
    return math.cos(x) if x - x == 0.0 else _NAN


def _sqrt(x: float) -> float:
    """``sqrt`` that gives nan below 0 (and keeps -0.0)."""
    return math.sqrt(x) if x >= 0.0 or x != x else _NAN


def _relu(x: float) -> float:
    """``max(x, 0)`` as torch's clamp computes it: -0.0 and nan stay as they are."""
    return 0.0 if x < 0.0 else x


def _sigmoid(x: float) -> float:
    """torch's ``1 / (1 + exp(-x))``; exp overflowing to inf makes it 0, never nan."""
    return 1.0 / (1.0 + _exp(-x))


# -------------------------------------------------------------------------------------------------
# The Value
# -------------------------------------------------------------------------------------------------


class Value:
    """A scalar in a computation graph: its ``data``, its ``grad``, and how it was made."""

    __slots__ = (
        "__weakref__", "_aux", "_backward", "_fanin", "_kids", "_mark", "_op", "_row", "data",
        "grad",
    )  # fmt: skip

    data: float
    grad: float
    _op: str  # what made this node ("+", "relu(linear)", ...); "" for a leaf
    _backward: Rule | None  # the derivative rule; None for a leaf
    _kids: tuple[Value, ...]  # the operands, in order (see `_prev`); () for a leaf, a fused neuron
    # A fused neuron stores no operand tuple of its own: its bias and weights are row `_row` of
    # the parameters of the `_Fanin` it shares with the other neurons of its layer call, its
    # inputs are that fan-in's inputs. Sharing them keeps the neuron small (the garbage collector
    # walks every tuple a node holds) and lets the backward pass walk them once. None otherwise.
    _fanin: _Fanin | None
    _row: int  # set only on fused neurons: the row's offset in `_fanin.params`
    _mark: object  # the token of the last backward pass that reached this node (a cheap "seen")
    _aux: float  # set only by `x ** c`: the exponent

    def __init__(self, data: Number) -> None:
        if type(data) is not float:  # the common case skips the checks
            if isinstance(data, Value):
                raise TypeError(
                    f"Value(data) needs a number, got the Value {data!r}; use it directly"
                )
            data = _to_float(data, "Value(data)")
        self.data = data
        self.grad = 0.0
        self._kids = ()
        self._fanin = self._mark = None
        self._op = ""
        self._backward = None

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The operands in order (a fused neuron's: its bias, its weights, its inputs)."""
        fanin = self._fanin
        if fanin is None:
            return self._kids
        return fanin.operands(self._row)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # --- arithmetic: each op, then its derivative rule -------------------------------------------

    def __add__(self, other: Value | Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(self.data + o.data, (self, o), "+", Value._backward_add)

    def __radd__(self, other: Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(o.data + self.data, (o, self), "+", Value._backward_add)

    def _backward_add(self) -> None:
        a, b = self._kids
        a.grad += self.grad
        b.grad += self.grad

    def __sub__(self, other: Value | Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(self.data - o.data, (self, o), "-", Value._backward_sub)

    def __rsub__(self, other: Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(o.data - self.data, (o, self), "-", Value._backward_sub)

    def _backward_sub(self) -> None:
        a, b = self._kids
        a.grad += self.grad
        b.grad += -self.grad

    def __mul__(self, other: Value | Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(self.data * o.data, (self, o), "*", Value._backward_mul)

    def __rmul__(self, other: Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(o.data * self.data, (o, self), "*", Value._backward_mul)

    def _backward_mul(self) -> None:
        a, b = self._kids
        g = self.grad
        a.grad += g * b.data
        b.grad += g * a.data

    def __truediv__(self, other: Value | Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(_div(self.data, o.data), (self, o), "/", Value._backward_div)

    def _backward_div(self) -> None:
        a, b = self._kids
        g = self.grad
        a.grad += _div(g, b.data)
        b.grad += -g * _div(_div(a.data, b.data), b.data)

    def __rtruediv__(self, other: Number) -> Value:
        # torch evaluates `c / x` as `reciprocal(x) * c`; mirroring it keeps its rounding.
        o = _operand(other)
        if o is None:
            return NotImplemented
        return self.reciprocal() * o

    def reciprocal(self) -> Value:
        """``1 / self``."""
        return _node(_div(1.0, self.data), (self,), "reciprocal", Value._backward_reciprocal)

    def _backward_reciprocal(self) -> None:
        self._kids[0].grad += -self.grad * (self.data * self.data)

    def __neg__(self) -> Value:
        return _node(-self.data, (self,), "neg", Value._backward_neg)

    def _backward_neg(self) -> None:
        self._kids[0].grad += -self.grad

    def __pos__(self) -> Value:
        return self

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return _node(_pow(self.data, other.data), (self, other), "**", Value._backward_pow)
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            return NotImplemented
        e = _to_float(other, "the exponent")
        out = _node(_pow_scalar(self.data, e), (self,), f"**{other}", Value._backward_pow_scalar)
        out._aux = e
        return out

    def __rpow__(self, other: Number) -> Value:
        o = _operand(other)
        if o is None:
            return NotImplemented
        return _node(_pow(o.data, self.data), (o, self), "**", Value._backward_pow)

    def _backward_pow(self) -> None:
        a, b = self._kids
        g = self.grad
        if b.data != 0.0:
            a.grad += g * (b.data * _pow(a.data, b.data - 1.0))
        # torch masks the partial, not the product: at 0 ** (y >= 0) it adds g * 0 (nan if g is inf)
        b.grad += g * (0.0 if a.data == 0.0 and b.data >= 0.0 else self.data * _log(a.data))

    def _backward_pow_scalar(self) -> None:
        e = self._aux
        if e != 0.0:  # torch: the derivative of x ** 0 is 0 everywhere, 0 ** -1 included
            x = self._kids[0]
            x.grad += self.grad * (e * _pow_scalar(x.data, e - 1.0))

    # --- functions: each, then its derivative rule -----------------------------------------------

    def exp(self) -> Value:
        """``e ** self``."""
        return _node(_exp(self.data), (self,), "exp", Value._backward_exp)

    def _backward_exp(self) -> None:
        self._kids[0].grad += self.grad * self.data

    def log(self) -> Value:
        """The natural logarithm; -inf at 0 and nan below, like torch."""
        return _node(_log(self.data), (self,), "log", Value._backward_log)

    def _backward_log(self) -> None:
        x = self._kids[0]
        x.grad += _div(self.grad, x.data)

    def tanh(self) -> Value:
        """The hyperbolic tangent (stable: ``tanh(1000) == 1.0``)."""
        return _node(math.tanh(self.data), (self,), "tanh", Value._backward_tanh)

    def _backward_tanh(self) -> None:
        t = self.data
        # (1 - t)(1 + t), not 1 - t*t: exact where |t| is near 1 (torch gets there with an fma).
        self._kids[0].grad += self.grad * ((1.0 - t) * (1.0 + t))

    def relu(self) -> Value:
        """``max(self, 0)``; its derivative at 0 is 0, as in torch."""
        return _node(_relu(self.data), (self,), "relu", Value._backward_relu)

    def _backward_relu(self) -> None:
        if not self.data <= 0.0:  # torch's threshold_backward: no gradient where the result is <= 0
            self._kids[0].grad += self.grad

    def sigmoid(self) -> Value:
        """The logistic function ``1 / (1 + exp(-self))``."""
        return _node(_sigmoid(self.data), (self,), "sigmoid", Value._backward_sigmoid)

    def _backward_sigmoid(self) -> None:
        y = self.data
        self._kids[0].grad += self.grad * (1.0 - y) * y

    def sin(self) -> Value:
        """The sine; nan at +-inf, like torch."""
        return _node(_sin(self.data), (self,), "sin", Value._backward_sin)

    def _backward_sin(self) -> None:
        x = self._kids[0]
        x.grad += self.grad * _cos(x.data)

    def cos(self) -> Value:
        """The cosine; nan at +-inf, like torch."""
        return _node(_cos(self.data), (self,), "cos", Value._backward_cos)

    def _backward_cos(self) -> None:
        x = self._kids[0]
        x.grad += self.grad * -_sin(x.data)

    def sqrt(self) -> Value:
        """The square root: nan below 0 and, as in torch, an infinite derivative at 0."""
        return _node(_sqrt(self.data), (self,), "sqrt", Value._backward_sqrt)

    def _backward_sqrt(self) -> None:
        self._kids[0].grad += _div(self.grad, 2.0 * self.data)  # torch: grad / (2 * result)

    def abs(self) -> Value:
        """The absolute value; its derivative at 0 is 0, as in torch."""
        return _node(math.fabs(self.data), (self,), "abs", Value._backward_abs)

    __abs__ = abs

    def _backward_abs(self) -> None:
        x = self._kids[0]
        # torch: grad * sgn(x), where sgn(0) and sgn(nan) are 0 (a product: inf * 0 is nan)
        x.grad += self.grad * (1.0 if x.data > 0.0 else -1.0 if x.data < 0.0 else 0.0)

    # --- fused n-ary primitives -------------------------------------------------------------------

    @staticmethod
    def sum(terms: Iterable[Value | Number]) -> Value:
        """The sum of ``terms`` as one node (numbers among them are constants)."""
        children = _values(terms, "Value.sum(terms)")
        return _node(math.fsum(c.data for c in children), children, "sum", Value._backward_sum)

    def _backward_sum(self) -> None:
        g = self.grad
        for child in self._kids:
            child.grad += g

    @staticmethod
    def linear(
        weights: Sequence[Value],
        inputs: Sequence[Value | Number],
        bias: Value | Number = 0.0,
        activation: str = "linear",
    ) -> Value:
        """``act(bias + sum(w * x for w, x in zip(weights, inputs)))`` as one node: a neuron.

        ``activation`` is ``"linear"`` (none), ``"relu"`` or ``"tanh"``.
        """
        if len(weights) != len(inputs):
            raise ValueError(
                f"Value.linear needs as many inputs as weights, got {len(inputs)} inputs "
                f"for {len(weights)} weights"
            )
        return Value.linear_layer([weights], [bias], inputs, activation)[0]

    @staticmethod
    def linear_layer(
        weights: Sequence[Sequence[Value]],
        biases: Sequence[Value | Number],
        inputs: Sequence[Value | Number],
        activation: str = "linear",
    ) -> list[Value]:
        """One ``Value.linear`` node per row of ``weights``, sharing the work on ``inputs``."""
        try:
            op, rule = _ACTIVATIONS[activation]
        except (KeyError, TypeError):
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            ) from None
        if len(weights) != len(biases):
            raise ValueError(
                f"Value.linear_layer needs one bias per weight row, got {len(biases)} biases "
                f"for {len(weights)} rows"
            )
        xs = _values(inputs, "Value.linear_layer(inputs)")
        bs = _values(biases, "Value.linear_layer(biases)")
        n = len(xs)
        xdata = [x.data for x in xs]
        relu = activation == "relu"
        tanh = activation == "tanh"
        params: list[Value] = []  # (b, *row) of each row in turn: the fan-in's parameters
        fanin = _Fanin(xs, params)
        outs = []
        offset = 0  # where the next row starts in `params`
        for row, b in zip(weights, bs, strict=True):
            # Left to right from the bias, as micrograd 0.1.0 adds (sum() rounds differently
            # from 3.12 on); a plain loop is also faster than sum(map(...)) on CPython 3.11+.
            if len(row) != n:
                raise ValueError(
                    f"Value.linear_layer needs as many inputs as weights in each row, got "
                    f"{n} inputs for a row of {len(row)} weights"
                )
            z = b.data
            try:
                # (lengths checked above; a zip(strict=...) keyword costs ~90 ns a call)
                for w, x in zip(row, xdata):  # noqa: B905
                    z += w.data * x
            except AttributeError:
                raise _not_a_value(row) from None
            if relu:
                z = 0.0 if z < 0.0 else z  # torch's clamp keeps -0.0 and nan as they are
            elif tanh:
                z = math.tanh(z)
            out = _new_value(Value)  # _node(...) inlined: this loop is the demo's hottest
            out.data = z
            out.grad = 0.0
            out._kids = ()
            out._fanin = fanin
            out._mark = None
            out._row = offset
            out._op = op
            out._backward = rule
            outs.append(out)
            params.append(b)
            params += row
            offset += n + 1
        return outs

    # The three rules below differ only in the activation's derivative; the loop that pushes the
    # gradient to the weights and inputs is written out in each because a call per neuron costs
    # as much as a sixth of the rule.
    #
    # A zero gradient pushes nothing: adding 0 * finite (a signed zero) leaves a gradient as it
    # was, and a finite output proves every operand finite (an inf or nan operand makes the
    # pre-activation inf or nan; operands are not to be changed between the forward and the
    # backward pass, which torch refuses too). The one difference is the sign of a zero: a leaf
    # whose grad was set to -0.0 by hand keeps it where -0.0 + 0.0 would give +0.0; every sum a
    # pass starts is +0.0 and never becomes -0.0. After the first few steps of the demo ~70% of
    # the samples are outside the SVM margin and send back zeros: this skips most of the pass.

    def _backward_linear(self) -> None:
        g = self.grad
        if g == 0.0 and -_INF < self.data < _INF:
            return
        fanin: _Fanin = self._fanin  # type: ignore[assignment]  # set on every fused neuron
        params = islice(fanin.params, self._row, None)
        next(params).grad += g  # the bias, then the weights (zip stops at the last input)
        for w, x in zip(params, fanin.xs):  # noqa: B905  (stops after the last input)
            w.grad += g * x.data
            x.grad += g * w.data

    def _backward_linear_relu(self) -> None:
        if self.data <= 0.0:  # torch's threshold_backward: a dead neuron passes nothing back
            return
        g = self.grad
        if g == 0.0 and self.data < _INF:
            return
        fanin: _Fanin = self._fanin  # type: ignore[assignment]  # set on every fused neuron
        params = islice(fanin.params, self._row, None)
        next(params).grad += g  # the bias, then the weights (zip stops at the last input)
        for w, x in zip(params, fanin.xs):  # noqa: B905  (stops after the last input)
            w.grad += g * x.data
            x.grad += g * w.data

    def _backward_linear_tanh(self) -> None:
        # (No zero shortcut: tanh's output is finite even where its operands are not.)
        t = self.data
        g = self.grad * ((1.0 - t) * (1.0 + t))  # as in _backward_tanh
        fanin: _Fanin = self._fanin  # type: ignore[assignment]  # set on every fused neuron
        params = islice(fanin.params, self._row, None)
        next(params).grad += g  # the bias, then the weights (zip stops at the last input)
        for w, x in zip(params, fanin.xs):  # noqa: B905  (stops after the last input)
            w.grad += g * x.data
            x.grad += g * w.data

    # --- backpropagation --------------------------------------------------------------------------

    def backward(self) -> None:
        """Add d(self)/d(leaf) into every leaf's ``grad``, as torch does with retain_graph."""
        if self._backward is None:  # a leaf is its own gradient
            self.grad += 1.0
            return
        order, carried = _topological_order(self)  # (it also zeroes the interior gradients)
        # Intermediate gradients belong to one pass; only leaves accumulate across passes. Like
        # torch, a leaf that already holds a gradient gets this pass's total added to it once.
        held = [(leaf, leaf.grad) for leaf in carried]
        for leaf in carried:
            leaf.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward(node)  # type: ignore[misc]  # only non-leaves are in `order`
        for leaf, before in held:
            leaf.grad = before + leaf.grad

    def _repr_svg_(self) -> str | None:
        """Jupyter's rich display: the graph as SVG if ``graphviz`` is installed, else the repr."""
        from micrograd.viz import repr_svg  # lazy: viz imports this module

        return repr_svg(self)


_new_value = object.__new__


class _Fanin:
    """What the neurons of one ``linear_layer`` call share: their parameters and their inputs.

    The backward pass walks a fan-in once, with the first of its neurons it reaches, instead of
    walking every weight and input again for each neuron (~64,000 edges a step in the demo, most
    of them leaves); and equal parameter lists (the same layer, sample after sample) once a pass.
    """

    __slots__ = ("mark", "params", "xs")

    # (b, *row) of each row in turn. A list, filled by `linear_layer` and never changed after it
    # returns; only its Values are shared (a tuple would be one more copy a layer call).
    params: list[Value]
    xs: tuple[Value, ...]  # the inputs, shared by every row
    mark: object  # the token of the last backward pass that walked this fan-in

    def __init__(self, xs: tuple[Value, ...], params: list[Value]) -> None:
        self.xs = xs
        self.params = params
        self.mark = None

    def operands(self, row: int) -> tuple[Value, ...]:
        """The operands of the neuron whose row starts at offset ``row``: b, weights, inputs."""
        n = len(self.xs)
        return (*self.params[row : row + n + 1], *self.xs)


def _node(data: float, prev: tuple[Value, ...], op: str, rule: Rule) -> Value:
    """Make an interior node without re-validating ``data`` (it is a float we computed)."""
    out = _new_value(Value)
    out.data = data
    out.grad = 0.0
    out._kids = prev
    out._fanin = out._mark = None
    out._op = op
    out._backward = rule
    return out


def _operand(x: object) -> Value | None:
    """``x`` as a Value (numbers become constant leaves), or None for anything else."""
    if isinstance(x, Value):
        return x
    if type(x) is not float:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return None
        x = _to_float(x, "an operand")
    return _constant(x)


def _constant(x: float) -> Value:
    """``Value(x)`` for a float ``x``, without re-checking it."""
    leaf = _new_value(Value)
    leaf.data = x
    leaf.grad = 0.0
    leaf._kids = ()
    leaf._fanin = leaf._mark = None
    leaf._op = ""
    leaf._backward = None
    return leaf


def _operand_or_raise(x: object, role: str) -> Value:
    """``x`` as a Value, or a ``TypeError`` naming ``role`` and ``x``."""
    o = _operand(x)
    if o is None:
        raise TypeError(f"{role} must hold Values or numbers, got {x!r} of type {type(x).__name__}")
    return o


def _values(items: Iterable[Value | Number], role: str) -> tuple[Value, ...]:
    """``items`` as a tuple of Values (numbers become constant leaves); ``TypeError`` otherwise."""
    values = tuple(items)
    types = set(map(type, values))  # the common cases are checked at C speed
    if types <= _JUST_VALUES:
        return values  # type: ignore[return-value]  # every item's type is Value
    if types <= _JUST_FLOATS:  # e.g. a data row fed to a network
        return tuple(map(_constant, values))  # type: ignore[arg-type]  # every item is a float
    return tuple([_operand_or_raise(v, role) for v in values])


_JUST_VALUES = frozenset({Value})
_JUST_FLOATS = frozenset({float})


def _not_a_value(row: Iterable[object]) -> TypeError:
    """The error for a weight row holding something other than Values, naming the culprit."""
    culprit = next(w for w in row if not isinstance(w, Value))
    return TypeError(
        f"Value.linear_layer(weights) must hold Values, got {culprit!r} of type "
        f"{type(culprit).__name__}"
    )


def _topological_order(root: Value) -> tuple[list[Value], set[Value]]:
    """Interior nodes reachable from ``root``, children before parents, and the leaves that
    already hold a gradient. Iterative (no recursion limit); each node is visited once, and its
    gradient zeroed on the way (a pass's intermediate gradients start from 0).

    Other leaves are left out: they have no rule to run. A node counts as visited when it holds
    this pass's token (cheaper than a set). A fused neuron's operands are walked once per fan-in,
    its parameters once per pass (see ``_Fanin``): a fused neuron whose fan-in was walked with a
    sibling is ready at once.
    """
    token = object()
    order: list[Value] = []
    carried: set[Value] = set()
    walked: dict[Value, list[list[Value]]] = {}  # parameter lists walked, by their first Value
    root._mark = token
    root.grad = 0.0
    fanin = root._fanin
    stack = [(root, iter(root._kids) if fanin is None else _fanin_operands(fanin, token, walked))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child._backward is not None:
                if child._mark is not token:
                    child._mark = token
                    child.grad = 0.0
                    fanin = child._fanin
                    if fanin is None:
                        stack.append((child, iter(child._kids)))
                    elif fanin.mark is token:  # a sibling's walk has been through its operands
                        order.append(child)
                        continue
                    else:
                        stack.append((child, _fanin_operands(fanin, token, walked)))
                    break
            elif child.grad:
                carried.add(child)
        else:
            stack.pop()
            order.append(node)
    return order, carried


def _fanin_operands(
    fanin: _Fanin, token: object, walked: dict[Value, list[list[Value]]]
) -> Iterator[Value]:
    """The operands of a fan-in the walk must visit, marking it walked: new parameters, inputs."""
    fanin.mark = token
    params = fanin.params
    # Equal parameter lists (the same layer, sample after sample) hold the same Values: walk them
    # once. Found by their first Value, then compared item by item (list ==, which takes the same
    # object as equal without calling __eq__; Value defines none, so this is identity), which is
    # cheaper than hashing a whole list of a few hundred Values as a set of tuples would.
    same_first = walked.get(params[0])  # (a fan-in with neurons has parameters)
    if same_first is None:
        walked[params[0]] = [params]
    elif params in same_first:
        return iter(fanin.xs)
    else:
        same_first.append(params)
    return chain(params, fanin.xs)


# activation name -> (op label, derivative rule)
_ACTIVATIONS: dict[str, tuple[str, Rule]] = {
    "linear": ("linear", Value._backward_linear),
    "relu": ("relu(linear)", Value._backward_linear_relu),
    "tanh": ("tanh(linear)", Value._backward_linear_tanh),
}
