"""Runs the checks under a profile: probing, Hypothesis, shrinking, reproducers, the Report."""

from __future__ import annotations

import dataclasses
import os
import random
import shlex
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.errors import Flaky, HypothesisWarning

from conformance.backends.base import BackendBase, BackendError, OracleBase
from conformance.checks import CHECKS, Check, CheckContext, Outcome, get_check, run_guarded
from conformance.ops import Variant, all_variants
from conformance.profiles import BUDGETS, PROFILES
from conformance.program import Node, Program
from conformance.report import CheckResult, Failure, Report
from conformance.reproducers.program import render

__all__ = [
    "BUDGETS",
    "PROFILES",
    "default_seed",
    "probe",
    "run_checks",
    "throughput",
]

SHRINK_BUDGET = 20.0
"""Default seconds of shrinking per failing check."""

CRASH_SHRINK_BUDGET = 2.0
"""At most this much shrinking for a hang, or for a crash or protocol break of a process
backend: every shrink step waits out a timeout or restarts a process, for little gain."""

_PROBE_VALUES = {"a": 0.75, "b": 1.25, "c": 2.0}


class _Failed(Exception):
    """Raised inside the Hypothesis test to report a failing example (so Hypothesis shrinks)."""

    def __init__(self, example: Any, outcome: Outcome) -> None:
        super().__init__(outcome.verdict.describe())
        self.example = example
        self.outcome = outcome


class _OutOfTime(BaseException):
    """Stops Hypothesis when the check's time budget is spent (a BaseException: not a failure)."""


def default_seed() -> int:
    """0 in CI (CI=true: derandomised, every build sees the same examples), else random."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return 0
    return random.SystemRandom().randrange(2**32)


def _probe_program(name: str, form: str) -> Program:
    nodes: list[Node] = [Node("input", value=_PROBE_VALUES["a"])]
    if form == "v":
        args: tuple[int, ...] = (0,)
    elif form == "vv":
        nodes.append(Node("input", value=_PROBE_VALUES["b"]))
        args = (0, 1)
    elif form == "vc":
        nodes.append(Node("const", value=_PROBE_VALUES["c"]))
        args = (0, 1)
    else:
        nodes.append(Node("const", value=_PROBE_VALUES["c"]))
        args = (1, 0)
    nodes.append(Node(name, args))
    return Program(tuple(nodes), len(nodes) - 1)


def probe(
    backend: BackendBase, timeout: float | None = 5.0
) -> tuple[list[Variant], dict[Variant, str], str | None]:
    """Which (op, form) pairs the backend supports, why the others are skipped, and a fatal error.

    Each variant is run in a tiny program. An AttributeError, TypeError, NotImplementedError or an
    error mentioning "support"/"implement" means not supported; any other failure leaves the
    variant in (the checks then report it). The fatal error is set when even ``Value(x)`` with
    ``backward()`` fails: then nothing can be checked.
    """
    leaf = Program((Node("input", value=_PROBE_VALUES["a"]),), 0)
    try:
        run_guarded(backend, leaf, timeout)
    except BackendError as exc:
        return [], {}, f"a single input Value with backward() fails: {exc}"
    supported: list[Variant] = []
    skipped: dict[Variant, str] = {}
    for name, form in all_variants():
        try:
            run_guarded(backend, _probe_program(name, form), timeout)
        except BackendError as exc:
            if exc.kind == "unsupported":
                skipped[(name, form)] = str(exc).splitlines()[0][:160]
                continue
        supported.append((name, form))
    return supported, skipped, None


@dataclass
class _Run:
    """Mutable state of one check's Hypothesis run."""

    examples: int = 0
    unchecked: int = 0
    failures_seen: int = 0
    first_failure_at: int = 0
    last_failure: tuple[Any, Outcome] | None = None
    deadline: float = 0.0
    shrink_deadline: float = 0.0
    out_of_time: bool = False


def _settings(check: Check, count: int) -> settings:
    phases = [Phase.generate, Phase.shrink] if check.hypothesis_shrinks else [Phase.generate]
    return settings(
        max_examples=max(1, count),
        database=None,
        deadline=None,
        derandomize=False,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )


def _replay_command(ctx: CheckContext, seed_value: int, check: Check) -> str:
    parts = ["python", "-m", "conformance", *ctx.backend.replay_args()]
    parts += ["--seed", str(seed_value)]
    parts += ["--profile", ctx.profile, "--check", check.name]
    if ctx.strict or check.semantics:
        parts.append("--strict")
    return shlex.join(parts)


def run_check(
    check: Check,
    ctx: CheckContext,
    *,
    seed_value: int,
    budget: float | None,
    count: int | None = None,
    shrink_seconds: float = SHRINK_BUDGET,
) -> CheckResult:
    """Run one check; its failure (if any) is shrunk and rendered with a reproducer."""
    started = time.perf_counter()
    result = CheckResult(check.name, "passed", description=check.description)
    strategy = check.lacking(ctx) or check.strategy(ctx)
    if isinstance(strategy, str):
        result.status, result.note = "skipped", strategy
        return result
    n = check.example_count(ctx.profile) if count is None else count
    state = _Run(deadline=started + budget if budget else float("inf"))

    def test(example: Any) -> None:
        now = time.perf_counter()
        if state.failures_seen == 0 and state.examples and now > state.deadline:
            state.out_of_time = True
            raise _OutOfTime()
        if state.failures_seen and now > state.shrink_deadline:
            raise _OutOfTime()
        outcome = check.run_example(ctx, example)
        if state.failures_seen == 0:
            state.examples += 1
            if outcome.verdict.status == "unchecked":
                state.unchecked += 1
        if outcome.failed:
            if state.failures_seen == 0:
                budget = _shrink_budget(ctx, outcome, shrink_seconds)
                state.shrink_deadline = time.perf_counter() + budget
            state.failures_seen += 1
            state.last_failure = (example, outcome)
            raise _Failed(example, outcome)

    wrapped = seed(seed_value)(_settings(check, n)(given(strategy)(test)))
    final: tuple[Any, Outcome] | None = None
    try:
        with warnings.catch_warnings():
            # Hypothesis warns about the repr of a 100,000-node failing example; we print our own.
            warnings.simplefilter("ignore", HypothesisWarning)
            wrapped()
    except _Failed as failed:
        final = (failed.example, failed.outcome)
    except (_OutOfTime, Flaky):
        final = state.last_failure
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        # An ExceptionGroup from Hypothesis (flaky replays) still leaves our last failure.
        final = state.last_failure
        if final is None:
            result.status = "failed"
            result.note = f"harness error: {type(exc).__name__}: {exc}"
    result.examples = state.examples
    result.unchecked = state.unchecked
    notes = [check.note(ctx)]
    if state.out_of_time and final is None:
        notes.append(f"time budget reached after {state.examples} of {n} examples")
    if final is not None:
        left = max(0.0, state.shrink_deadline - time.perf_counter())
        example, outcome = check.shrink(_ctx_with_shrink(ctx, left), *final)
        example, outcome = _prune(check, ctx, example, outcome)
        result.status = "warned" if check.semantics and not ctx.strict else "failed"
        replay = _replay_command(ctx, seed_value, check)
        result.failures.append(_failure(check, ctx, example, outcome, replay))
    elif result.examples == 0 and result.status == "passed":
        # Nothing was checked: never a pass (a deep chain that never ran would hide a bug).
        result.status = "failed"
        notes.append(f"no example ran (0 of {n}): nothing was checked")
    result.note = "; ".join(x for x in (result.note, *notes) if x)
    result.seconds = time.perf_counter() - started
    return result


def _prune(check: Check, ctx: CheckContext, example: Any, outcome: Outcome) -> tuple[Any, Outcome]:
    """The failing program without nodes the output does not depend on, if it still fails.

    Generated programs keep such nodes (their values are checked too), but a reproducer reads
    better without them; a failure that lives in a dead node's value keeps the full program.
    """
    if not isinstance(example, Program) or outcome.program is not example:
        return example, outcome
    smaller = example.pruned()
    if smaller is example:
        return example, outcome
    again = check.run_example(ctx, smaller)
    return (smaller, again) if again.failed else (example, outcome)


def _shrink_budget(ctx: CheckContext, outcome: Outcome, shrink_seconds: float) -> float:
    """Seconds to shrink this failure: small for hangs and for crashes of a process backend."""
    kind = outcome.verdict.error_kind
    if kind == "timeout" or (ctx.backend.handles_timeout and kind in ("error", "protocol")):
        return min(shrink_seconds, CRASH_SHRINK_BUDGET)
    return shrink_seconds


def _ctx_with_shrink(ctx: CheckContext, seconds: float) -> CheckContext:
    """ctx with ``seconds`` left for a check's own shrinking."""
    return dataclasses.replace(ctx, shrink_seconds=seconds)


def _failure(
    check: Check, ctx: CheckContext, example: Any, outcome: Outcome, replay: str
) -> Failure:
    summary = outcome.verdict.describe()
    program = outcome.program
    script = check.reproducer(ctx, example, outcome, replay)
    if script is None and program is not None and outcome.expected is not None:
        script = render(
            program,
            outcome.expected,
            ctx.backend,
            check=check.name,
            replay=replay,
            summary=summary,
            mismatches=[(m.kind, m.node) for m in outcome.verdict.mismatches],
        )
    if script is None:
        script = f"# no program to reproduce; replay with:\n# {replay}\n"
    return Failure(check.name, summary, script, replay, program)


def run_checks(
    backend: BackendBase,
    oracle: OracleBase,
    *,
    target: str,
    profile: str = "default",
    seed_value: int | None = None,
    strict: bool = False,
    checks: Sequence[str] | None = None,
    timeout: float | None = 5.0,
    on_result: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[Report], None] | None = None,
    shrink_seconds: float = SHRINK_BUDGET,
) -> Report:
    """Probe the backend, run the selected checks, and build the Report."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    started = time.perf_counter()
    seed_value = default_seed() if seed_value is None else seed_value
    selected = [get_check(name) for name in checks] if checks else list(CHECKS)
    oracle_text = oracle.description or oracle.name
    report = Report(
        target=target,
        backend=backend.name,
        oracle=oracle_text,
        seed=seed_value,
        profile=profile,
        strict=strict,
    )
    supported, skipped, fatal = probe(backend, timeout)
    report.supported, report.skipped = supported, skipped
    if on_start is not None:
        on_start(report)
    if fatal is not None:
        report.checks.append(CheckResult("probe", "failed", note=fatal, description="basic API"))
        report.seconds = time.perf_counter() - started
        return report
    ctx = CheckContext(backend, oracle, supported, profile, timeout, strict, shrink_seconds)
    total_budget = BUDGETS[profile]
    weights = {c.name: c.example_count(profile) * c.cost for c in selected}
    total_weight = sum(weights.values()) or 1
    for check in selected:
        budget = total_budget * weights[check.name] / total_weight
        result = run_check(
            check,
            ctx,
            seed_value=seed_value,
            budget=budget,
            shrink_seconds=shrink_seconds,
        )
        report.checks.append(result)
        if on_result is not None:
            on_result(result)
    report.seconds = time.perf_counter() - started
    return report


def throughput(
    backend: BackendBase, oracle: OracleBase, *, examples: int = 2000, seed_value: int = 0
) -> float:
    """Programs per second of the ``random`` check under the default profile's settings.

    For benchmarks: probing is excluded, generation, both evaluations and comparison included.
    """
    supported, _, fatal = probe(backend)
    if fatal is not None:
        raise BackendError(fatal)
    ctx = CheckContext(backend, oracle, supported, "default")
    check = get_check("random")
    started = time.perf_counter()
    result = run_check(check, ctx, seed_value=seed_value, budget=None, count=examples)
    elapsed = time.perf_counter() - started
    return result.examples / elapsed if elapsed > 0 else 0.0
