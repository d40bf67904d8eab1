"""Problems found by probing and by the ``ops`` check: one per op and kind of wrongness.

Variants of one op that go wrong the same way (``mul:vv``, ``mul:vc``, ``imul:vv`` all with a
wrong gradient) are one problem: one method of the engine is wrong. A wrong value absorbs the
wrong gradients of the same variant (they follow from it); a changed operand absorbs both. Where
``Value(x)`` itself does not keep ``x``, every op's failure follows from that, so they are folded
into that one problem.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable

from conformance.backends.base import (
    BackendBase,
    BackendError,
    Evaluation,
    TimeLimitExceeded,
    time_limit,
)
from conformance.checks.base import CheckContext, run_guarded
from conformance.checks.per_op import PerOpRun, VariantResult, single_op_program
from conformance.diagnosis.evidence import evidence
from conformance.diagnosis.graph import (
    EQUAL_VALUES,
    EQUAL_VALUES_WORDS,
    as_built,
    built_in_words,
    holds_equal_values,
)
from conformance.diagnosis.problems import Problem, Signature
from conformance.diagnosis.regions import finite, ordinary
from conformance.ops import OPS, Variant, family
from conformance.oracles.table import TableOracle
from conformance.probe import PROBE_LEAF, Gap, Probe, probe_program
from conformance.program import Node, Program
from conformance.reproducers.program import render
from conformance.tolerance import Mismatch

__all__ = [
    "NO_GRADIENT_SIGNATURE",
    "SEED_SIGNATURE",
    "api_problems",
    "excluded",
    "fatal_problem",
    "leaf_problem",
    "no_gradient_problem",
    "op_problems",
    "seed_problem",
    "spelling",
]


def spelling(name: str, form: str) -> str:
    """How a variant reads in Python: ``v.tanh()``, ``c - v``, ``t = a; t += b``."""
    op = OPS[name]
    if form == "v":
        a, b = "v", ""
    else:
        a, b = {"vv": ("a", "b"), "vc": ("v", "c"), "cv": ("c", "v")}[form]
    text = op.source.format(out="t", a=a, b=b).replace("\n", "; ")
    return text[4:] if text.startswith("t = ") and ";" not in text else text


def _operand_name(form: str, quantity: str) -> str:
    """The name a quantity's operand has in the variant's spelling."""
    index = 0 if quantity in ("grad a", "a") else 1
    if form == "v":
        return "v"
    return {"vv": ("a", "b"), "vc": ("v", "c"), "cv": ("c", "v")}[form][index]


def _what(
    form: str,
    quantity: str,
    severity: str,
    nonfinite_gradients: bool = True,
    at_nonfinite_operands: bool = False,
) -> str:
    if quantity in ("a", "b"):
        return f"changes {_operand_name(form, quantity)}"
    thing = "value" if quantity == "value" else f"gradient of {_operand_name(form, quantity)}"
    if severity == "semantics" and at_nonfinite_operands:
        return f"{thing} differs at inf or nan operands"
    if severity == "semantics":
        if quantity != "value" and not nonfinite_gradients:
            # The oracle leaves such gradients open (mpmath): it cannot say what torch gives.
            return f"{thing} differs where float64 may give inf or nan"
        return f"{thing} differs where torch gives inf or nan"
    return f"{thing} wrong"


GRADIENTS = ("grad a", "grad b")
"""The ops check's gradient quantities (of a variant's first and second operand)."""


def _main_quantity(result: VariantResult, status: str) -> tuple[str, str] | None:
    """(class, quantity) of a variant's main failure of this status: one wrong at ordinary
    operands before one wrong only at a kink or far out; then operand > value > grad."""
    order = [("operand", "a"), ("operand", "b"), ("value", "value")]
    order += [("gradient", q) for q in GRADIENTS]
    found = [(cls, q) for cls, q in order if result.status(q) == status]
    if status == "WRONG":
        found.sort(key=lambda pair: not result.wrong_at_ordinary_operands(pair[1]))
    return found[0] if found else None


EDGES = "edges"
"""The last key of an op problem's signature whose variants are wrong only at zero, tiny or
huge operands where other variants of the op are wrong at ordinary ones (``op:pow:gradient:edges``
beside ``op:pow:gradient``)."""


def op_problems(run: PerOpRun, ctx: CheckContext, replay: Callable[[str], str]) -> list[Problem]:
    """One problem per op and kind of wrongness (error or semantics) found by the ops check.

    Variants wrong at ordinary operands and variants of the same op wrong only at its edges
    (zero, tiny or huge operands) go wrong differently: ``c ** v``'s rule wrong everywhere and
    ``v ** c``'s overflowing at 1e-30 are two methods, two bugs, and neither hides the other."""
    groups: dict[tuple[str, str, str, bool], list[tuple[VariantResult, str]]] = {}
    for (variant_name, _), result in run.results.items():
        # `t *= b` runs `__mul__` where there is no `__imul__`: one method, one problem.
        name = family(variant_name)
        for status, severity in (("WRONG", "error"), ("warn", "semantics")):
            main = _main_quantity(result, status)
            if main is None:
                continue
            cls, quantity = main
            if severity == "error" and _merged_where_equal(result, quantity, ctx):
                # One bug whichever ops meet it: one group for every family.
                groups.setdefault(("", EQUAL_VALUES_KEY, severity, True), []).append(
                    (result, quantity)
                )
                break
            ordinary = severity == "error" and result.wrong_at_ordinary_operands(quantity)
            groups.setdefault((name, cls, severity, ordinary), []).append((result, quantity))
            if cls == "value" and severity == "error":
                for gradient in _gradients_of_their_own(result):
                    key = (name, "gradient", severity, True)
                    groups.setdefault(key, []).append((result, gradient))
            break  # a variant's errors absorb its semantics differences
    heads = {(r.variant, q) for members in groups.values() for r, q in members}
    problems = []
    for (name, cls, severity, ordinary), members in groups.items():
        if cls == EQUAL_VALUES_KEY:
            problems.append(_merged_problem(ctx, members, replay("ops")))
            continue
        split = not ordinary and (name, cls, severity, True) in groups
        elsewhere = heads - {(r.variant, q) for r, q in members}  # other problems say them
        problem = _problem(ctx, name, cls, severity, members, replay("ops"), elsewhere, edges=split)
        problems.append(problem)
    return problems


EQUAL_VALUES_KEY = "merged where equal"
"""The group of the variants whose failures are an engine's merging of nodes that hold equal
numbers, met in the op's operands (``a + b`` at a == b) or in the nodes it builds the op of
(``a + (-b)`` at b = -a)."""


def _merged_where_equal(result: VariantResult, quantity: str, ctx: CheckContext) -> bool:
    """Whether a variant fails only where its operands, or the nodes the engine builds it of,
    hold two equal numbers, in an engine that merges such nodes (the battery found it, and
    the build): ``a + b`` at a == b, ``a - b`` as ``a + (-b)`` at b = -a. Its failures are
    that bug's, not the op's."""
    battery = ctx.battery
    name, form = result.variant
    if battery is None or not battery.merges_equal:
        return False
    points = result.failing(quantity)
    return bool(points) and all(
        holds_equal_values(as_built(single_op_program(name, form, *point), battery.built))
        for point in points
    )


def _gradients_of_their_own(result: VariantResult) -> list[str]:
    """The gradients of a variant with a wrong value that are wrong mostly where the value is
    right, at ordinary operands: a rule wrong on its own (sigmoid' as x * (1 - x) beside a
    sigmoid that overflows below -709), not a gradient that follows from the value."""
    value_wrong = {point for point, finding, _ in result.findings["value"] if finding.failing}
    arity = OPS[result.variant[0]].arity
    own = []
    for gradient in GRADIENTS:
        points = [p for p in result.failing(gradient) if ordinary(p[:arity])]
        # Most of them: ``c - v`` as ``v - c`` has a right value where c == v, and a gradient
        # wrong there too, which follows from the same swap.
        if 2 * sum(p not in value_wrong for p in points) > len(points):
            own.append(gradient)
    return own


NO_GRADIENT_SIGNATURE = Signature("graph", ("no-gradient",))
"""The signature of a ``backward()`` after which no op's operands have a gradient."""


def no_gradient_problem(run: PerOpRun) -> Problem | None:
    """The problem of a ``backward()`` that propagates nothing (or None): of at least two op
    families, every one tried alone leaves every operand's gradient at 0 wherever torch's is
    not 0. One fault of ``backward()`` itself (its loop never calls the nodes' rules), which the
    ops check would otherwise report once per op."""
    families: set[str] = set()
    points = 0
    for (name, _), result in run.results.items():
        graded = [q for q in GRADIENTS if q in result.findings]
        if not graded:
            continue
        for quantity in graded:
            for _, finding, _ in result.findings[quantity]:
                if finding.got is None and finding.failing:
                    return None  # a rule ran, and raised: backward() does run the rules
                if finding.got is not None and finding.got != 0.0:
                    return None  # some gradient arrives: the machinery runs
                points += finding.failing
        families.add(family(name))
    if len(families) < 2 or not points:
        return None
    ops = ", ".join(sorted(families))
    return Problem(
        NO_GRADIENT_SIGNATURE,
        "backward() propagates no gradient: every op tried alone leaves its operands' gradients "
        f"at 0 where torch's are not ({ops}); backward() never runs the ops' rules (or they "
        "never reach the operands)",
        checks=["ops"],
    )


def _problem(
    ctx: CheckContext,
    name: str,
    cls: str,
    severity: str,
    members: list[tuple[VariantResult, str]],
    replay: str,
    elsewhere: set[tuple[Variant, str]],
    *,
    edges: bool = False,
) -> Problem:
    result, quantity = members[0]
    variant_name, form = result.variant
    status = "wrong" if severity == "error" else "semantics"
    regions = result.regions.get(quantity, [])
    variants = [f"{r.variant[0]}:{r.variant[1]}" for r, _ in members]
    head = f"{variant_name}:{form} ({spelling(variant_name, form)})"
    if len(members) > 1:
        head = f"{name} ({', '.join(variants)})"
    nonfinite = ctx.oracle.determines_nonfinite_gradients
    operands = not any(map(finite, result.failing(quantity, status)))
    summary = f"{head}: {_what(form, quantity, severity, nonfinite, operands)}"
    if regions:
        summary += ": " + "; ".join(regions[:3])
    if len(regions) > 3:
        summary += f"; and {len(regions) - 3} more regions"
    details = []
    for member, _ in members:
        n, f = member.variant
        for quantity_name, phrases in member.regions.items():
            if (member, quantity_name) == (result, quantity):
                continue  # the summary says it
            if (member.variant, quantity_name) in elsewhere:
                continue
            if phrases and member.status(quantity_name) in ("WRONG", "warn"):
                what = _what(f, quantity_name, "error").removesuffix(" wrong")
                more = f"; and {len(phrases) - 4} more regions" if len(phrases) > 4 else ""
                details.append(f"{n}:{f} {what}: " + "; ".join(phrases[:4]) + more)
    # What this problem covers: every quantity of its variants but those other problems head.
    covered = [
        f
        for member, _ in members
        for q, found in member.findings.items()
        if (member.variant, q) not in elsewhere
        for _, f, _ in found
        if f.failing
    ]
    raised = {f.raised for f in covered if f.raised[0]}
    # An op that returns None shows in programs as protocol:<op> (graph.error_signature).
    no_value = {f.no_value for f in covered if f.no_value}
    key = (name, cls) if severity == "error" else (name, cls, "semantics")
    problem = Problem(
        Signature("op", (*key, EDGES) if edges else key),
        summary,
        severity=severity,
        ops=variants,
        checks=["ops"],
        details=details[:12],
        replay=replay,
        aliases=[
            *(Signature("raises", pair) for pair in sorted(raised)),
            *(Signature("protocol", (op,)) for op in sorted(no_value)),
        ],
    )
    witness = result.witness(quantity, status)
    if witness is not None:
        problem.summary = summary = summary + _hiding(ctx, variant_name, form, witness)
        _attach(problem, ctx, variant_name, form, witness, summary, replay)
    return problem


def _merged_problem(
    ctx: CheckContext, members: list[tuple[VariantResult, str]], replay: str
) -> Problem:
    """The merging of nodes that hold equal numbers, as the ops check met it in ops alone or in
    the nodes an op is built of: one problem, the one programs show (``graph:equal-values``)."""
    result, quantity = members[0]
    name, form = result.variant
    variants = [f"{r.variant[0]}:{r.variant[1]}" for r, _ in members]
    points = sum(len(r.failing(q)) for r, q in members)
    battery = ctx.battery
    built = battery.built if battery is not None else set()
    builds = sorted({family(r.variant[0]) for r, _ in members} & built)
    how = " and ".join(f"{OPS[f].description} as {built_in_words(f)}" for f in builds)
    summary = (
        EQUAL_VALUES_WORDS
        + (f"; the engine builds {how}, as micrograd does" if how else "")
        + f": {', '.join(variants)}: {_what(form, quantity, 'error')} at {points} points "
        + "tried, each where two of its nodes hold equal numbers"
    )
    problem = Problem(EQUAL_VALUES, summary, ops=variants, checks=["ops"], replay=replay)
    witness = result.witness(quantity)
    if witness is not None:
        _attach(problem, ctx, name, form, witness, summary, replay)
    return problem


def _hiding(ctx: CheckContext, name: str, form: str, point: tuple[float, float]) -> str:
    """Where the op's result hides an API method behind an instance attribute (``out.backward
    = _backward``), the clause that says so; else ""."""
    ask = getattr(ctx.backend, "hidden_methods", None)
    if ask is None:
        return ""
    try:
        with time_limit(ctx.timeout):
            hidden = ask(single_op_program(name, form, *point))
    except TimeLimitExceeded:
        return ""
    return "".join(
        f"; its result has an instance attribute `{n}`, which hides the class's `{n}()` (an op "
        f"that stores its rule as `out.{n} = ...`)"
        for n in hidden
    )


def _attach(
    problem: Problem,
    ctx: CheckContext,
    name: str,
    form: str,
    point: tuple[float, float],
    summary: str,
    replay: str,
) -> None:
    """The witness program, its short reproducer, script and wire line."""
    program = single_op_program(name, form, *point)
    try:
        expected = ctx.oracle.run(program).settled_by(ctx.oracle)
    except BackendError:
        return
    error = None
    mismatches: list[Mismatch] = []
    try:
        got = run_guarded(ctx.backend, program, ctx.timeout)
    except BackendError as exc:
        error = str(exc)
        got = None
    if got is not None:
        mismatches = _mismatches(expected, got)
        if any(map(math.isnan, point)):  # a gradient at nan is a convention: not judged
            mismatches = [m for m in mismatches if m.kind == "value"]
    shown = evidence(
        ctx.backend,
        program,
        expected,
        mismatches=mismatches,
        error=error,
        check="ops",
        replay=replay,
        summary=summary,
        aliases=getattr(ctx.backend, "aliases", None),
    )
    problem.program = program
    problem.short, problem.reproducer, problem.wire = shown.short, shown.reproducer, shown.wire


def _mismatches(expected: Evaluation, got: Evaluation) -> list[Mismatch]:
    """Every number that is not the oracle's (exactly, or both nan): for the short reproducer."""
    found = []
    for kind, exp, have in (
        ("value", expected.values, got.values),
        ("grad", expected.grads, got.grads),
    ):
        for i, e in exp.items():
            g = have.get(i)
            if g is None or not (g == e or (math.isnan(g) and math.isnan(e)) or _close(g, e)):
                found.append(Mismatch(kind, i, e, g, 0.0))
    return found


def _close(g: float, e: float) -> bool:
    return math.isfinite(g) and math.isfinite(e) and abs(g - e) <= 2.0**-36 * max(abs(e), 1e-300)


def api_problems(probe: Probe, backend: BackendBase, replay: Callable[[str], str]) -> list[Problem]:
    """A problem per number form of ``+ - * /`` the engine lacks while it has the op."""
    problems = []
    for gap in probe.gaps:
        problem = _gap_problem(gap, replay("probe"))
        if problem.program is not None:
            problem.reproducer = _script(backend, problem.program, problem.summary, replay("probe"))
        problems.append(problem)
    return problems


def _script(backend: BackendBase, program: Program, summary: str, replay: str) -> str:
    """A standalone script for a problem found by probing (the op table's numbers expected)."""
    expected = TableOracle().run(program)
    return render(program, expected, backend, check="probe", replay=replay, summary=summary)


def _gap_problem(gap: Gap, replay: str) -> Problem:
    name, form = gap.variant
    op = OPS[name]
    symbol = op.source.split()[3]  # "{out} = {a} * {b}"
    if form == "cv":
        spelled, missing = f"2.0 {symbol} x", f"the Value class has no `__r{op.dunder}__`"
        program = probe_program(name, form, 2.0, 0.75)
    else:
        spelled, missing = f"x {symbol} 2.0", f"`__{op.dunder}__` refuses a number"
        program = probe_program(name, form, 0.75, 2.0)
    exception = gap.error.split(":", 1)[0]
    if exception not in ("TypeError", "AttributeError", "NotImplementedError"):
        method = f"__r{op.dunder}__" if form == "cv" else f"__{op.dunder}__"
        missing = f"its `{method}` raises"
    return Problem(
        Signature("api", (name, form)),
        f"`{spelled}` raises {exception}: {missing} (micrograd's API takes numbers on either "
        f"side of {symbol})",
        ops=[f"{name}:{form}"],
        checks=["probe"],
        short=[*program.to_python("Value"), f"# raises {gap.error}"],
        replay=replay,
        program=program,
    )


def leaf_problem(
    probe: Probe, backend: BackendBase, replay: Callable[[str], str]
) -> Problem | None:
    """The problem of a ``Value(x)`` that does not keep ``x`` (or None)."""
    if probe.leaf is None:
        return None
    x, got = probe.leaf
    program = Program((Node("input", value=x),), 0)
    summary = f"Value(x) does not keep x: Value({x!r}).data is {got!r}"
    if got == _float32(x):
        summary += " (float32)"
    return Problem(
        Signature("leaf", ("value",)),
        summary + "; every other number follows from it",
        checks=["probe"],
        short=[f"v0 = Value({x!r})", f"# v0.data: {got!r}"],
        reproducer=_script(backend, program, summary, replay("probe")),
        replay=replay("probe"),
        program=program,
    )


SEED_SIGNATURE = Signature("leaf", ("gradient",))
"""The signature of a ``backward()`` that does not seed the gradient with 1."""


def seed_problem(
    probe: Probe, backend: BackendBase, replay: Callable[[str], str]
) -> Problem | None:
    """The problem of a ``backward()`` that does not give the Value it is called on a gradient of
    1 (or None): the seed of every other gradient."""
    if probe.seed is None:
        return None
    program = Program((Node("input", value=PROBE_LEAF),), 0)
    summary = (
        f"backward() does not seed the gradient with 1: after v = Value({PROBE_LEAF!r}); "
        f"v.backward(), v.grad is {probe.seed!r} (torch: 1.0); every gradient is scaled by it"
    )
    return Problem(
        SEED_SIGNATURE,
        summary,
        checks=["probe"],
        short=[
            f"v0 = Value({PROBE_LEAF!r})",
            "v0.backward()",
            f"# v0.grad: torch 1.0, got {probe.seed!r}",
        ],
        reproducer=_script(backend, program, summary, replay("probe")),
        replay=replay("probe"),
        program=program,
    )


def fatal_problem(
    probe: Probe, backend: BackendBase, replay: Callable[[str], str]
) -> Problem | None:
    """The problem of an engine on which not even ``Value(x).backward()`` works (or None):
    nothing else can be checked."""
    if probe.fatal is None:
        return None
    program = Program((Node("input", value=PROBE_LEAF),), 0)
    return Problem(
        Signature("leaf", ("backward",)),
        f"{probe.fatal}; nothing else can be checked",
        checks=["probe"],
        short=[f"v0 = Value({PROBE_LEAF!r})", "v0.backward()", f"# {probe.fatal[:150]}"],
        reproducer=_script(backend, program, probe.fatal, replay("probe")),
        replay=replay("probe"),
        program=program,
    )


def _float32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def excluded(run: PerOpRun) -> dict[Variant, str]:
    """The variants that went wrong alone at ordinary operands (errors only), and how: left out
    of compositions. One wrong only at a kink or far out (``0 ** 0``, ``a / 1e-300``, as in most
    ports) stays in: left out, its accumulation and its every ordinary use would go unchecked."""
    return {
        v: "it failed alone: see the ops check"
        for v, r in run.results.items()
        if r.wrong and not r.wrong_only_far_out
    }


def told_apart(run: PerOpRun, problems: Iterable[Problem]) -> dict[Variant, Signature]:
    """The variants wrong alone only at a kink or far out, each with the signature of the
    problem that says so: where a composition fails because of one, trying it alone at the
    operands it met there tells (conformance.runner)."""
    signatures: dict[Variant, Signature] = {}
    for problem in problems:
        for variant, result in run.results.items():
            name = f"{variant[0]}:{variant[1]}"
            if result.wrong_only_far_out and name in problem.ops and variant not in signatures:
                signatures[variant] = problem.signature
    return signatures
