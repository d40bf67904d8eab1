"""Every row of the op table is complete and consistent: its columns agree with each other.

The table is the only place the harness keeps a fact about an op, so a wrong or missing column
would mislead every check at once. Each row's float64 function is held against its mpmath
reference, its partial derivatives against high-precision numerical differentiation (and against
torch's autograd where torch is installed), in-place rows against their plain rows.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path
from typing import Any

import mpmath
import pytest

from conformance.ops import FORMS, MPMATH, OPS, Op, variant_is_valid

HAS_TORCH = importlib.util.find_spec("torch") is not None

# Ordinary and extreme operands: signed zeros, subnormals, tiny, huge, near exp's overflow.
GRID = sorted(
    {
        s * x
        for x in (
            0.0,
            5e-324,
            1e-300,
            1.5e-154,
            1e-20,
            1e-8,
            0.1,
            0.5,
            0.75,
            1.0,
            1.25,
            2.0,
            3.0,
            7.5,
            20.0,
            355.0,
            709.0,
            1e10,
            1e154,
            1e300,
        )
        for s in (1.0, -1.0)
    }
)
SECOND = (-2.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
"""Second operands of binary ops (kept small: exponents, divisors)."""

BINARY = [op for op in OPS.values() if op.arity == 2]


def _operands(op: Op) -> list[tuple[float, float]]:
    if op.arity == 1:
        return [(a, 0.0) for a in GRID + [p for p in op.specials if math.isfinite(p)]]
    return [(a, b) for a in GRID for b in SECOND] + [(b, a) for a in GRID for b in SECOND]


def _exact(op: Op, a: float, b: float) -> Any:
    """The op's value at 400 bits, or None where it is not a real number."""
    with mpmath.workprec(400):
        try:
            y = op.mpmath(mpmath.mpf(a), mpmath.mpf(b))
        except (ZeroDivisionError, ValueError, OverflowError):
            return None
        if not isinstance(y, mpmath.mpf) or not mpmath.isfinite(y):
            return None
        return y


def _ulps(got: float, exact: Any) -> float:
    if not math.isfinite(got):
        return math.inf
    spacing = math.ulp(float(exact)) if float(exact) != 0.0 else 5e-324
    with mpmath.workprec(400):
        return float(abs(mpmath.mpf(got) - exact) / spacing)


@pytest.mark.parametrize("name", OPS)
def test_each_row_names_its_forms_and_how_to_call_and_render_it(name: str) -> None:
    op = OPS[name]
    assert op.name == name
    assert op.forms and set(op.forms) <= set(FORMS)
    assert op.arity == (1 if op.forms == ("v",) else 2)
    assert op.description
    text = op.source.format(out="t", a="x", b="y")
    assert "t" in text and "x" in text and (op.arity == 1 or "y" in text)
    assert op.method or op.dunder, "a row must say how Python calls it: a method or an operator"


@pytest.mark.parametrize("name", OPS)
def test_each_rows_float64_value_is_its_mpmath_reference_rounded(name: str) -> None:
    op = OPS[name]
    checked = 0
    for a, b in _operands(op):
        exact = _exact(op, a, b)
        big, small = mpmath.ldexp(1, 1024), mpmath.ldexp(1, -1022)
        if exact is None or abs(exact) >= big or (exact != 0 and abs(exact) < small):
            continue  # not a normal float64: the oracle maps these through the ieee column
        got = op.ieee(a, b)
        # libm's functions are faithful (one unit in the last place); torch's sigmoid formula
        # rounds twice more.
        assert _ulps(got, exact) <= 2.0, f"{name}({a!r}, {b!r}) = {got!r}, exact {exact}"
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("name", OPS)
def test_each_rows_ieee_value_is_torchs_where_the_result_is_not_finite(name: str) -> None:
    torch = pytest.importorskip("torch", reason="compares the ieee column with torch")
    op = OPS[name]
    operands = [*_operands(op), (math.inf, 2.0), (-math.inf, 0.5), (math.nan, 1.0), (2.0, math.inf)]
    for a, b in operands:
        ta = torch.tensor(a, dtype=torch.float64)
        tb = torch.tensor(b, dtype=torch.float64)
        want = float(op.torch(ta, tb) if op.arity == 2 else op.torch(ta))
        got = op.ieee(a, b)
        same = got == want or (math.isnan(got) and math.isnan(want))
        if not math.isfinite(want) or not math.isfinite(got):
            assert same, f"{name}({a!r}, {b!r}): ieee {got!r}, torch {want!r}"
        elif want == 0.0:
            assert got == 0.0, f"{name}({a!r}, {b!r}): ieee {got!r}, torch {want!r}"


def _numerical_partials(op: Op, a: float, b: float) -> tuple[Any, Any]:
    """Central differences of the mpmath reference, a 2**-80 relative step, 3000 bits (so that a
    perturbation survives next to a number 2**2000 times larger: cos(1e-300 +- h) - 1)."""
    with mpmath.workprec(3000):
        x, y = mpmath.mpf(a), mpmath.mpf(b)

        def along(k: int) -> Any:
            h = mpmath.ldexp(abs((x, y)[k]) or 1, -80)
            up = op.mpmath(x + h, y) if k == 0 else op.mpmath(x, y + h)
            down = op.mpmath(x - h, y) if k == 0 else op.mpmath(x, y - h)
            return (up - down) / (2 * h)

        return along(0), (along(1) if op.arity == 2 else mpmath.mpf(0))


def _checkable(op: Op, a: float, b: float) -> bool:
    """Off kinks, inside the domain, within numerical differentiation's reach."""
    form = "v" if op.arity == 1 else "vv"
    if not variant_is_valid(op, form, a, b) or abs(a) > 1e10 or abs(b) > 1e10:
        return False
    # Conventions at kinks are torch's choice, checked against torch below.
    return not (op.kink(a, b) or (op.has_kinks and abs(a) < 1e-10))


@pytest.mark.parametrize("name", OPS)
def test_each_rows_partials_are_the_derivatives_of_its_mpmath_reference(name: str) -> None:
    op = OPS[name]
    checked = 0
    for a, b in _operands(op):
        if not _checkable(op, a, b):
            continue
        with mpmath.workprec(3000):  # tanh(709) is 1 - 6e-616: its partial needs the bits
            x, y = mpmath.mpf(a), mpmath.mpf(b)
            got = op.partials(x, y, op.mpmath(x, y), MPMATH)
        want = _numerical_partials(op, a, b)
        for k in range(op.arity):
            assert abs(got[k] - want[k]) <= 1e-15 * abs(want[k]), (
                f"{name}({a!r}, {b!r}) partial {k}: formula {got[k]}, numerical {want[k]}"
            )
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("name", [name for name, op in OPS.items() if op.bounded_partials])
def test_rows_that_claim_bounded_partials_have_partials_within_1_everywhere(name: str) -> None:
    op = OPS[name]
    for a, b in _operands(op):
        x, y = mpmath.mpf(a), mpmath.mpf(b)
        partials = op.partials(x, y, op.mpmath(x, y), MPMATH)[: op.arity]
        assert all(abs(p) <= 1 for p in partials), (name, a, b, partials)


@pytest.mark.parametrize(
    ("name", "k"),
    [(n, k) for n, op in OPS.items() for k in (0, 1) if op.partial_factors[k] and not op.inplace],
)
def test_a_claimed_partial_factor_is_within_2_to_the_10_of_the_partial_everywhere(
    name: str, k: int
) -> None:
    op = OPS[name]
    compared = 0
    for a, b in _operands(op):
        y = _exact(op, a, b)
        if y is None:
            continue
        x, z = mpmath.mpf(a), mpmath.mpf(b)
        try:
            partial = op.partials(x, z, y, MPMATH)[k]
            factor = op.partial_factors[k](x, z, y)  # type: ignore[misc]
        except ZeroDivisionError:  # a pole: no partial to compare
            continue
        if not (mpmath.isfinite(partial) and mpmath.isfinite(factor)) or factor == 0:
            continue
        assert abs(partial) <= 2**10 * abs(factor), (name, k, a, b, partial, factor)
        compared += partial != 0
    assert compared > 10


def test_the_rows_without_bounded_partials_have_partials_beyond_1_somewhere() -> None:
    # (A missing claim costs the mpmath oracle checked programs, a wrong one false positives.)
    unbounded = [op.name for op in OPS.values() if not op.bounded_partials and not op.inplace]
    assert "mul" in unbounded and "add" not in unbounded and "tanh" not in unbounded
    for name in unbounded:
        op = OPS[name]
        largest = mpmath.mpf(0)
        for a, b in _operands(op):
            if _checkable(op, a, b):
                x, y = mpmath.mpf(a), mpmath.mpf(b)
                partials = op.partials(x, y, op.mpmath(x, y), MPMATH)[: op.arity]
                largest = max([largest, *(abs(p) for p in partials)])
        assert largest > 1, f"{name}'s partials stay within 1: it may claim bounded_partials"


@pytest.mark.parametrize("name", OPS)
def test_each_rows_float64_partials_err_no_more_than_its_error_model_admits(name: str) -> None:
    op = OPS[name]
    for a, b in _operands(op):
        y = op.ieee(a, b)
        low = op.partials_at(a, b, y)
        if not math.isfinite(y) or not all(math.isfinite(p) for p in low):
            continue
        with mpmath.workprec(300):
            high = op.partials(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(y), MPMATH)
        # The partial_scales' own terms (1 + y*y for tanh's 1 - y*y) bound the cancellation.
        extra = op.partial_scales_at(a, b, y, 0.0, 0.0)
        for k in range(op.arity):
            bound = 2.0**-50 * (abs(float(high[k])) + extra[k]) + 1e-300
            assert abs(low[k] - float(high[k])) <= bound, (
                f"{name}({a!r}, {b!r}) partial {k}: float64 {low[k]!r}, mpmath {high[k]}"
            )


@pytest.mark.parametrize("name", [n for n, op in OPS.items() if op.has_kinks])
def test_each_kinked_row_probes_its_kinks_and_follows_torchs_conventions_there(name: str) -> None:
    torch = pytest.importorskip("torch", reason="torch's conventions are the reference")
    op = OPS[name]
    points = [(a, b) for a in op.specials for b in (SECOND if op.arity == 2 else (0.0,))]
    at_kinks = [(a, b) for a, b in points if op.kink(a, b)]
    assert at_kinks, f"{name}: its specials must include its kinks"
    for a, b in at_kinks:
        ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        out = op.torch(ta, tb) if op.arity == 2 else op.torch(ta)
        out.backward()
        want = [float(ta.grad)] + ([float(tb.grad)] if op.arity == 2 else [])
        got = op.partials_at(a, b, float(out.detach()))
        for k, w in enumerate(want):
            if math.isfinite(w):
                assert got[k] == w, f"{name} at ({a!r}, {b!r}) partial {k}: {got[k]!r} vs {w!r}"


@pytest.mark.parametrize("name", [n for n, op in OPS.items() if op.inplace])
def test_an_in_place_row_means_what_its_plain_row_means(name: str) -> None:
    op = OPS[name]
    base = OPS[name[1:]]
    assert op.forms == ("vv", "vc")
    for column in ("ieee", "torch", "mpmath", "exact", "partials", "partial_scales", "kink"):
        assert getattr(op, column) == getattr(base, column), column
    assert op.dunder == "i" + base.dunder
    t = op.call(3.0, 2.0)
    assert t == base.call(3.0, 2.0)


@pytest.mark.parametrize("name", [n for n, op in OPS.items() if op.exact])
def test_an_exact_row_loses_no_bit_at_any_precision(name: str) -> None:
    op = OPS[name]
    a = mpmath.mpf(1e300) + mpmath.mpf(3e-300)  # exactly: about 2000 bits
    b = mpmath.mpf(-1e-200)
    with mpmath.workprec(53):
        low = op.mpmath(a, b)
    with mpmath.workprec(4000):
        high = op.mpmath(a, b)
    assert low == high


def test_the_protocol_docs_list_every_op_of_the_table_with_its_forms() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    rows = re.findall(r"^\| `(\w+)`\s*\| ((?:`\w+`(?:, )?)+)\s*\|", doc, re.MULTILINE)
    documented = {name: tuple(re.findall(r"`(\w+)`", forms)) for name, forms in rows}
    assert documented == {name: op.forms for name, op in OPS.items()}
