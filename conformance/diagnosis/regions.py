"""Where an op goes wrong, in words: the regions of its operands where a quantity fails, and how.

Input: one finding per operand point (ok, wrong, a difference only where torch is inf/nan, or
unchecked). Output: phrases such as ``nan for x >= 355`` or ``raises OverflowError for |b| <=
1.5e-154``: runs of failing points on a sorted grid, merged across the sign where the failure is
symmetric, their edges refined by bisection where the caller can evaluate more points, and each
labelled with what the engine did there (raised, nan, 0, swapped operands, float32 rounding, a
relative error).
"""

from __future__ import annotations

import math
import struct
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Finding",
    "Tag",
    "describe_1d",
    "describe_2d",
    "extremeness",
    "finite",
    "number",
    "tag_of",
]


@dataclass(frozen=True)
class Finding:
    """What happened to one quantity (a value or a gradient) at one operand point."""

    status: str
    """``ok``, ``wrong`` (an error), ``semantics`` (differs only where torch is inf/nan),
    ``unchecked`` (the oracle could not settle it)."""
    expected: float | None = None
    got: float | None = None
    error: str = ""
    """The exception the engine raised (``OverflowError: math range error``), if it raised."""
    tolerance: float = 0.0
    raised: tuple[str, str] = ("", "")
    """(exception type, engine function that raised it), where the backend knows them."""
    no_value: str = ""
    """The op that returned no Value at all (a None), where that is what happened."""
    prevented: bool = False
    """Unchecked because the engine raised first in the other pass (a value whose backward
    raised): a point tried that bounds this quantity's regions along one operand, in none of
    them (a plane counts the points judged only)."""

    @property
    def failing(self) -> bool:
        """An error or a semantics difference."""
        return self.status in ("wrong", "semantics")


@dataclass(frozen=True)
class Tag:
    """What the engine did at a failing point: a category and, for errors, their size."""

    category: str
    size: float = 0.0

    def text(self) -> str:
        """``nan``, ``raises OverflowError``, ``relative error 8e-08``..."""
        if self.category == "relative error":
            return f"relative error {self.size:.2g}"
        return self.category


SLIP_SLOP = 1e-12
"""Relative difference within which an engine's number is labelled a slip's result (the operands
swapped, a unary op at -x, another op): a label only, whether it is wrong was judged before,
against torch's tolerance."""


def _float32(x: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", x))[0])
    except OverflowError:
        return math.inf


def tag_of(finding: Finding, slips: Sequence[tuple[str, float]] = ()) -> Tag:
    """The tag of a failing finding; ``slips`` are what slips in the formula would give,
    labelled (``operands swapped``, ``sigmoid(-x)``, ``a + b``), in the order to name them
    where several fit."""
    if finding.error:
        if finding.raised[0]:
            return Tag(f"raises {finding.raised[0]}")
        if ":" not in finding.error:  # not an exception: what the engine gave instead
            return Tag(finding.error)
        name = finding.error.split(":", 1)[0].strip() or "an exception"
        return Tag(f"raises {name}")
    got, expected = finding.got, finding.expected
    if got is None or expected is None:
        return Tag("no number")
    if math.isnan(got):
        return Tag("nan")
    if math.isinf(got):
        return Tag("inf" if got > 0 else "-inf")
    if not math.isfinite(expected):
        return Tag(f"{'0' if got == 0.0 else 'a finite number'} instead of {expected!r}")
    tolerance = finding.tolerance
    # What a slip in the formula would give: the operands swapped (c / v as v / c), a unary
    # op at -x, another op. Computed otherwise (v * c ** -1 for v / c), it may round otherwise:
    # the engine's number is named by a slip within SLIP_SLOP of it, relatively. Not within
    # the tolerance, which is sized to torch's number: a tolerance sized to torch's -5e15 holds
    # the swapped operands' -4e-8 and 0 alike, one sized to tanh's -1 a 1e-16 and relu's 0.
    if got == 0.0 and expected != 0.0:
        return Tag("0")  # a 0 is a 0 (a rule that never ran)
    for label, x in slips:
        slop = SLIP_SLOP * abs(x)
        # A slip that gives torch's number, to within the tolerance, explains no error.
        if math.isfinite(x) and abs(got - x) <= slop and max(tolerance, slop) < abs(expected - x):
            return Tag(label)
    if expected != 0.0 and abs(got + expected) <= tolerance:
        return Tag("sign flipped")
    if expected == 0.0:
        return Tag("not 0 where torch gives 0", abs(got))
    relative = abs(got - expected) / abs(expected)
    if _float32(got) == got and 2.0**-30 < relative <= 2.0**-21:
        return Tag("rounded to float32")
    return Tag("relative error", relative)


def _summary(tags: Sequence[Tag]) -> str:
    """One label for the tags of a run of failing points."""
    relative = [t.size for t in tags if t.category == "relative error"]
    others = Counter(t.category for t in tags if t.category != "relative error")
    parts = [category for category, _ in others.most_common(3)]
    nonzero = [t.size for t in tags if t.category == "not 0 where torch gives 0"]
    if nonzero:
        label = f"up to {max(nonzero):.2g} where torch gives 0"
        parts = [label if p == "not 0 where torch gives 0" else p for p in parts]
    if relative:
        worst = max(relative)
        parts.append(
            # "up to": the worst point's error, not every point's (x for exp' is off by 0.6 at
            # 1 and by 1e306 at -700); an overflowed ratio is "more than".
            f"relative error up to {worst:.2g}"
            if worst < 1e300
            else "relative error up to more than 1e300"
        )
    return ", ".join(parts)


def number(x: float) -> str:
    """A number as regions print it: four significant digits."""
    if x == 0.0:
        return "0"
    return f"{x:.4g}"


def extremeness(x: float) -> float:
    """How far from ordinary magnitudes x is (0 at +-1; zero counts as fairly ordinary)."""
    if x == 0.0:
        return 2.0
    if not math.isfinite(x):
        return math.inf
    return abs(math.log2(abs(x)))


def finite(point: Sequence[float]) -> bool:
    """Whether every operand of ``point`` is finite (neither inf nor nan)."""
    return all(map(math.isfinite, point))


def _order_key(x: float) -> tuple[float, float]:
    return (x, math.copysign(1.0, x))  # -0.0 before 0.0


Refine = Callable[[float, float, str], float]
"""(last x outside, first x inside, category) -> the x inside the region (a failure of that
category) nearest to the one outside, found by bisection."""


def describe_1d(
    findings: Sequence[tuple[float, Finding, Tag | None]],
    name: str = "x",
    refine: Refine | None = None,
) -> list[str]:
    """Phrases for the failing regions along one coordinate, one per kind of failure:
    ``raises OverflowError for x >= 355``, ``0 for |x| <= 1e-16``, ``nan for x = -inf``. nan,
    which has no place on the line, gets a phrase of its own (``0 instead of nan for x = nan``)
    where the quantity fails nowhere on the line: else the line says what to mend."""
    checked = [(x, f, t) for x, f, t in findings if f.status != "unchecked" or f.prevented]
    fails_on_the_line = any(f.failing for x, f, _ in checked if not math.isnan(x))
    phrases: list[str] = []
    for category in _ranked([((x,), f, t) for x, f, t in checked]):
        inside = [(x, t is not None and t.category == category, t) for x, _, t in checked]
        line = [point for point in inside if not math.isnan(point[0])]
        phrases += _describe_category(line, name, category, refine)
        at_nan = [t for x, is_in, t in inside if is_in and t is not None and math.isnan(x)]
        if at_nan and not fails_on_the_line:
            phrases.append(f"{_summary(at_nan)} for {name} = nan")
    return phrases


ORDINARY = 20.0
"""Numbers within 2**-20 .. 2**20 of magnitude (``extremeness``), zero aside, are ordinary."""


def ordinary(point: Sequence[float]) -> bool:
    """Whether every operand of ``point`` is an ordinary number: nonzero (0 is a kink of many
    ops), neither tiny nor huge."""
    return all(x != 0.0 and extremeness(x) <= ORDINARY for x in point)


def _ranked(
    checked: Sequence[tuple[Sequence[float], Finding, Tag | None]],
) -> list[str]:
    """The failing categories, the one to lead with first: errors at ordinary operands (the bug
    users meet), then errors anywhere, then semantics differences; more points first."""
    rank: dict[str, tuple[int, int]] = {}
    for point, finding, tag in checked:
        if not finding.failing or tag is None:
            continue
        level = 2 if finding.status != "wrong" else 0 if ordinary(point) else 1
        best, count = rank.get(tag.category, (2, 0))
        rank[tag.category] = (min(best, level), count - 1)
    return sorted(rank, key=lambda category: rank[category])


def _describe_category(
    points: list[tuple[float, bool, Tag | None]], name: str, category: str, refine: Refine | None
) -> list[str]:
    status = {(x, math.copysign(1.0, x)): inside for x, inside, _ in points}
    symmetric = any(x < 0 for x, _, _ in points) and all(
        status.get((-x, -sign), inside) == inside for (x, sign), inside in status.items()
    )
    if symmetric:
        half = [(abs(x), inside, t) for x, inside, t in points if math.copysign(1.0, x) > 0]
        return _runs(half, f"|{name}|", category, refine)
    return _runs(points, name, category, refine)


def _runs(
    points: Sequence[tuple[float, bool, Tag | None]],
    name: str,
    category: str,
    refine: Refine | None,
) -> list[str]:
    ordered = sorted(points, key=lambda item: _order_key(item[0]))
    regions: list[str] = []
    tags: list[Tag] = []
    i = 0
    while i < len(ordered):
        if not ordered[i][1]:
            i += 1
            continue
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][1]:
            j += 1
        lo, hi = ordered[i][0], ordered[j][0]
        before = ordered[i - 1][0] if i > 0 else None
        after = ordered[j + 1][0] if j + 1 < len(ordered) else None
        if refine is not None and before is not None:
            lo = refine(before, lo, category)
        if refine is not None and after is not None:
            hi = refine(after, hi, category)
        tags += [t for _, _, t in ordered[i : j + 1] if t is not None]
        regions.append(_region(name, lo, hi, before, after))
        i = j + 1
    # One phrase per kind of failure: "raises TypeError for x <= 354.9 or x >= 8.988e+307".
    return [f"{_summary(tags)} for {' or '.join(regions)}"] if regions else []


LARGEST = number(sys.float_info.max)
"""The largest finite double as regions print it (1.798e+308)."""


def _region(name: str, lo: float, hi: float, before: float | None, after: float | None) -> str:
    # A region that ends at the largest finite double next to a passing infinity is every
    # finite number that far out: "finite x >= 709.8", not "709.8 <= x <= 1.798e+308".
    finite = ""
    if after == math.inf and number(hi) == LARGEST:
        hi, after, finite = math.inf, None, "finite "
    if before == -math.inf and number(lo) == "-" + LARGEST:
        lo, before, finite = -math.inf, None, "finite "
    if finite:
        return _region(finite + name, lo, hi, before, after)  # the bound itself is now open
    if before is None and after is None:
        return f"every {name.replace('|', '')} tried"
    if lo == hi or number(lo) == number(hi):
        return f"{name} = {_bound(lo, before if before is not None else after)}"
    if before is None:
        return f"{name} <= {_bound(hi, after)}"
    if after is None:
        return f"{name} >= {_bound(lo, before)}"
    return f"{_bound(lo, before)} <= {name} <= {_bound(hi, after)}"


def _bound(x: float, outside: float | None) -> str:
    """``x``, a region's end, with the digits that tell it from ``outside``, the nearest point
    that passed: "x <= 0.9999999999999999" where x = 1 passed, not "x <= 1"."""
    text = number(x)
    if outside is None or not math.isfinite(outside) or number(outside) != text:
        return text
    for digits in (6, 8, 10, 12, 14, 16):
        text = f"{x:.{digits}g}"
        if f"{outside:.{digits}g}" != text:
            return text
    return repr(x)


def describe_2d(
    findings: Sequence[tuple[tuple[float, float], Finding, Tag | None]],
    names: tuple[str, str] = ("a", "b"),
) -> list[str]:
    """Phrases for the failing points of a binary op, one per kind of failure: along the one
    operand that alone decides it where there is one, ``where a == b``, or a count. Points with
    an inf or nan operand are described apart (``raises ValueError for b = nan``), and only
    where the quantity fails at no finite point: else those say what to mend."""
    checked = [(p, f, t) for p, f, t in findings if f.status != "unchecked"]
    fails_at_finite_points = any(f.failing for p, f, _ in checked if finite(p))
    phrases: list[str] = []
    for category in _ranked(checked):
        inside = [(p, t is not None and t.category == category, t) for p, _, t in checked]
        if not fails_at_finite_points:
            phrases += _describe_nonfinite(inside, names)
            continue
        plane = [item for item in inside if finite(item[0])]
        if any(is_in for _, is_in, _ in plane):
            phrases += _describe_plane(plane, names, category)
    return phrases


def _describe_nonfinite(
    points: list[tuple[tuple[float, float], bool, Tag | None]], names: tuple[str, str]
) -> list[str]:
    """A kind of failure seen only where an operand is inf or nan: the operand value that alone
    decides it (``for b = nan``, ``for |a| = inf``), or a count with an example."""
    outside = [item for item in points if not finite(item[0])]
    inside = [p for p, is_in, _ in outside if is_in]
    tags = [t for _, is_in, t in outside if is_in and t is not None]
    if not inside:
        return []
    for axis in (1, 0):
        for values, where in _NONFINITE_WHERE:
            at = [is_in for p, is_in, _ in outside if _among(p[axis], values)]
            if all(at) and all(_among(p[axis], values) for p in inside):
                return [f"{_summary(tags)} for {where.format(names[axis])}"]
    a, b = inside[0]
    return [
        f"{_summary(tags)} at {len(inside)} of {len(outside)} points tried with an inf or nan "
        f"operand (e.g. {names[0]} = {number(a)}, {names[1]} = {number(b)})"
    ]


_NONFINITE_WHERE = (
    ((math.nan,), "{} = nan"),
    ((math.inf, -math.inf), "|{}| = inf"),
    ((math.inf,), "{} = inf"),
    ((-math.inf,), "{} = -inf"),
)


def _among(x: float, values: tuple[float, ...]) -> bool:
    return any(x == v or (math.isnan(x) and math.isnan(v)) for v in values)


def _describe_plane(
    points: list[tuple[tuple[float, float], bool, Tag | None]],
    names: tuple[str, str],
    category: str,
) -> list[str]:
    tags = [t for _, inside, t in points if inside and t is not None]
    if all(p[0] == p[1] for p, inside, _ in points if inside) and all(
        inside for p, inside, _ in points if p[0] == p[1]
    ):
        return [f"{_summary(tags)} where {names[0]} == {names[1]} (and only there)"]
    for axis in (1, 0):
        line: dict[tuple[float, float], tuple[float, bool, Tag | None]] = {}
        decided = True
        for p, inside, t in points:
            key = (p[axis], math.copysign(1.0, p[axis]))
            seen = line.setdefault(key, (p[axis], inside, t))
            if seen[1] != inside:
                decided = False
                break
            if inside and seen[2] is None:
                line[key] = (p[axis], inside, t)
        if decided:
            return _describe_category(list(line.values()), names[axis], category, None)
    inside_points = [p for p, inside, _ in points if inside]
    a, b = min(inside_points, key=lambda p: max(extremeness(p[0]), extremeness(p[1])))
    return [
        f"{_summary(tags)} at {len(inside_points)} of {len(points)} points tried "
        f"(e.g. {names[0]} = {number(a)}, {names[1]} = {number(b)})"
    ]
