"""``--accuracy``: each op's worst error in ULPs against mpmath, for a backend and for torch.

Definition (errors never compound): for every op node of every generated program, its operands are
taken as the mpmath oracle's values rounded to float64 (constants as they are), and the node alone
is rebuilt as a one-op program (the same input twice where the original used one node twice, so
``a * a`` stays a square). The backend runs that program; its value is compared with the op's
exact value on those float64 operands, and the gradient of each Value operand with the mpmath
oracle's gradient of the same one-op program (the op's local partial derivative). The error of a
number ``got`` against an exact ``e`` is ``|got - e| / ulp(e)``, where ``ulp(e)`` is the spacing of
float64 numbers at ``e`` (2**-1074 at zero and below): a correctly rounded result scores at most
0.5. Nodes whose exact value or partials are not finite float64 numbers are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.backends.base import BackendBase, BackendError
from conformance.oracles.mpmath import MpmathOracle
from conformance.program import Node, Program

__all__ = ["OpAccuracy", "accuracy_table", "measure", "ulp_error"]


def ulp_error(got: float, exact: Any) -> float:
    """|got - exact| in float64 ulps at ``exact`` (an mpf); inf when got is not finite."""
    import mpmath

    if not math.isfinite(got):
        return math.inf
    with mpmath.mp.workprec(320):
        e = mpmath.mpf(exact)
        # 2**(k-1) <= |e| < 2**k  =>  ulp = 2**(k-53), never below the subnormal spacing.
        k = int(e._mpf_[2] + e._mpf_[3]) if e else -1074
        ulp_exp = max(k - 53, -1074)
        return float(abs(mpmath.mpf(got) - e) / mpmath.ldexp(1, ulp_exp))


@dataclass
class OpAccuracy:
    """Worst value and gradient errors (ULPs) of one op on one backend, with examples seen."""

    op: str
    nodes: int = 0
    value_ulps: float = 0.0
    grad_ulps: float = 0.0
    failures: int = 0
    worst_value_case: str = ""
    worst_grad_case: str = ""


@dataclass
class _Case:
    program: Program
    exact_value: Any
    exact_grads: dict[int, Any] = field(default_factory=dict)


def _one_op_programs(program: Program, oracle: MpmathOracle) -> list[tuple[str, Program]]:
    """Each op node of ``program`` as a one-op program on float64-rounded exact operands."""
    expected = oracle.run(program)
    out: list[tuple[str, Program]] = []
    for node in program.nodes:
        if node.op in ("input", "const"):
            continue
        nodes: list[Node] = []
        slots: dict[int, int] = {}
        for j in node.args:
            if j in slots:
                continue
            src = program.nodes[j]
            if src.op == "const":
                nodes.append(Node("const", value=src.value))
            else:
                x = expected.values[j]
                if not math.isfinite(x):
                    break
                nodes.append(Node("input", value=x))
            slots[j] = len(nodes) - 1
        else:
            nodes.append(Node(node.op, tuple(slots[j] for j in node.args)))
            out.append((node.op, Program(tuple(nodes), len(nodes) - 1)))
    return out


def measure(
    backends: dict[str, BackendBase],
    programs: Iterable[Program],
    oracle: MpmathOracle | None = None,
) -> dict[str, dict[str, OpAccuracy]]:
    """Per backend name, per op: the worst ULP errors over every op node of ``programs``."""
    oracle = oracle or MpmathOracle()
    results: dict[str, dict[str, OpAccuracy]] = {name: {} for name in backends}
    seen: set[str] = set()
    for program in programs:
        for op, single in _one_op_programs(program, oracle):
            key = single.to_json()
            if key in seen:
                continue
            seen.add(key)
            exact = oracle.run(single)
            out = single.output
            a = single.nodes[single.nodes[out].args[0]]
            b_node = single.nodes[single.nodes[out].args[-1]]
            value = oracle.exact_value(op, float(a.value), float(b_node.value))  # type: ignore[arg-type]
            if value is None or not exact.all_finite():
                continue
            for name, backend in backends.items():
                stats = results[name].setdefault(op, OpAccuracy(op))
                stats.nodes += 1
                try:
                    got = backend.run(single)
                except BackendError:
                    stats.failures += 1
                    continue
                case = " ".join(single.to_python())
                v_err = ulp_error(got.values.get(out, math.nan), value)
                if v_err > stats.value_ulps:
                    stats.value_ulps, stats.worst_value_case = v_err, case
                for i, g in exact.grads.items():
                    g_err = ulp_error(got.grads.get(i, math.nan), _mpf(g))
                    if g_err > stats.grad_ulps:
                        stats.grad_ulps, stats.worst_grad_case = g_err, case
    return results


def _mpf(x: float) -> Any:
    import mpmath

    return mpmath.mpf(x)


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf"
    return f"{x:.3g}" if x < 1e4 else f"{x:.2e}"


def accuracy_table(results: dict[str, dict[str, OpAccuracy]]) -> str:
    """The CLI's table: one row per op, value and gradient ULPs per backend."""
    names = list(results)
    ops = sorted({op for per_op in results.values() for op in per_op})
    header = ["op", "nodes"]
    for name in names:
        header += [f"{name} value", f"{name} grad"]
    rows = [header]
    for op in ops:
        first = results[names[0]].get(op, OpAccuracy(op))
        row = [op, str(first.nodes)]
        for name in names:
            s = results[name].get(op, OpAccuracy(op))
            failed = f" ({s.failures} failed)" if s.failures else ""
            row += [_fmt(s.value_ulps) + failed, _fmt(s.grad_ulps)]
        rows.append(row)
    widths = [max(len(r[k]) for r in rows) for k in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = (
        "worst error in ULPs of each op's float64 result on exact float64 operands, against mpmath"
        " (gradient: the op's local partials; 0.5 = correctly rounded)"
    )
    return note + "\n" + "\n".join(lines)


ACCURACY_PROGRAMS = {"quick": 50, "default": 300, "thorough": 2000}
"""Random programs whose op nodes the accuracy report measures, per profile."""


def generate(variants: list[tuple[str, str]], count: int, seed: int) -> list[Program]:
    """``count`` random programs over ``variants`` (the harness's strategy), reproducibly."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from conformance.strategies import programs as program_strategy

    collected: list[Program] = []

    @hseed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(program_strategy(ops=variants))
    def collect(program: Program) -> None:
        collected.append(program)

    collect()
    return collected


def run_accuracy(
    backend: BackendBase, *, profile: str = "default", seed: int = 0, with_torch: bool = True
) -> str:
    """The ``--accuracy`` report for ``backend`` (and torch where installed) as printable text."""
    from conformance.probe import probe

    if profile not in ACCURACY_PROGRAMS:
        raise ValueError(f"profile={profile!r}; expected one of {list(ACCURACY_PROGRAMS)}")
    found = probe(backend)
    supported, fatal = found.supported, found.fatal
    if fatal:
        return f"accuracy: nothing to measure ({fatal})"
    backends: dict[str, BackendBase] = {backend.name: backend}
    note = ""
    if with_torch:
        try:
            from conformance.oracles.torch import TorchOracle

            backends["torch"] = TorchOracle()
        except ImportError:
            note = "\n(torch is not installed: only the backend is measured)"
    programs = generate(supported, ACCURACY_PROGRAMS[profile], seed)
    return accuracy_table(measure(backends, programs)) + note
