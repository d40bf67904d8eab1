"""Runs a conformance check: probing, the per-op check, the composition checks, the Report.

The order is the diagnosis: probing decides what the engine supports (and finds missing number
forms); the ``ops`` check tries every supported variant alone; the composition checks then run
without the variants that already failed alone, so what they find is a bug of the graph
machinery. A composition check does not stop at its first failure: each failure is shrunk, given
a signature (``conformance.diagnosis.graph``) and recorded as a problem, and the search goes on
with a fresh seed, counting failures that are known bugs seen again, until its budget is spent or
it keeps finding only known bugs. Every distinct bug is reported once, with the checks that saw
it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import shlex
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, HypothesisWarning

from conformance.backends.base import BackendBase, BackendError, OracleBase
from conformance.backends.isolated import IsolatedBackend, can_isolate, compiled_engine
from conformance.backends.subprocess import DEFAULT_TIMEOUT
from conformance.checks import CHECKS, Check, CheckContext, Outcome, ProgramCheck, get_check
from conformance.checks.deep import ORACLE_NODES, DeepCheck
from conformance.checks.per_op import PerOpCheck, PerOpRun, judge_point, quantity_nodes
from conformance.checks.programs import RANDOM
from conformance.diagnosis.evidence import evidence
from conformance.diagnosis.graph import (
    Battery,
    describe,
    error_signature,
    op_alone,
    product_op,
    run_battery,
    signature_of,
)
from conformance.diagnosis.op_problems import (
    NO_GRADIENT_SIGNATURE,
    SEED_SIGNATURE,
    api_problems,
    excluded,
    fatal_problem,
    leaf_problem,
    no_gradient_problem,
    op_problems,
    seed_problem,
    told_apart,
)
from conformance.diagnosis.problems import Problem, Problems, Signature
from conformance.diagnosis.regions import finite
from conformance.diagnosis.variation import Variation, until_it_fails, variation
from conformance.failure_store import FailureStore
from conformance.ops import Variant, family
from conformance.oracles.table import TableOracle
from conformance.probe import Probe, probe
from conformance.profiles import BUDGETS, PROFILES
from conformance.program import Node, Program, ProgramError
from conformance.report import CheckResult, Failure, Report
from conformance.reproducers.program import render
from conformance.strategies import ProgramBatch
from conformance.tolerance import Mismatch, Verdict

__all__ = [
    "BUDGETS",
    "MAX_NEW_PROBLEMS",
    "PROFILES",
    "Throughput",
    "default_seed",
    "measure_throughput",
    "probe",
    "run_check",
    "run_checks",
    "throughput",
]

SHRINK_BUDGET = 20.0
"""Default seconds of shrinking per failure."""

CHECK_SHRINK_BUDGET = 30.0
"""At most this many seconds of shrinking per check, however many bugs it finds."""

CRASH_SHRINK_BUDGET = 2.0
"""At most this much shrinking for a hang, or for a crash or protocol break of a process
backend: every shrink step waits out a timeout or restarts a process, for little gain."""

SHRINK_RUNS = 4
"""Runs of a shrink candidate that passed, for an engine seen failing in some runs only."""

MAX_NEW_PROBLEMS = 6
"""A check stops searching after finding this many new problems."""

STALE_ROUNDS = 2
"""A check stops searching after this many rounds in a row found only known problems."""

MAX_ALONE = 40
"""At most this many ops of a new failing program are tried on their own (see ``_localize``)."""

BATTERY_SHARE = 0.1
"""At most this share of the run's time budget goes to the battery of textbook programs."""

MAX_KNOWN_HANGS = 3
"""A check stops after this many more programs hit a hang it already reported: each one
waits out the timeout, and a backward that hangs leaves nothing else of the check to learn."""


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


@dataclass
class _Search:
    """Mutable state of one check's search, across its rounds."""

    examples: int = 0
    unchecked: int = 0
    deadline: float = 0.0
    shrink_started: float = 0.0
    shrink_deadline: float = 0.0
    shrinking: bool = False
    out_of_time: bool = False
    known_hangs: int = 0
    last_failure: tuple[Any, Outcome] | None = None


def _settings(check: Check, count: int) -> settings:
    """Hypothesis settings for one round of ``check``: seeded, and writing nothing anywhere
    (``--database`` keeps failing programs itself: conformance.failure_store)."""
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


def replay_command(ctx: CheckContext, seed_value: int, check: str, semantics: bool = False) -> str:
    """The command that runs one check of this run again."""
    parts = ["python", "-m", "conformance", *ctx.backend.replay_args(), *ctx.replay_extra]
    parts += ["--seed", str(seed_value), "--profile", ctx.profile]
    if check != "probe":
        parts += ["--check", check]
    if ctx.strict or semantics:
        parts.append("--strict")
    return shlex.join(parts)


def _battery(ctx: CheckContext) -> Battery:
    """The run's battery (an empty one for a check run on its own: nothing is explained)."""
    return ctx.battery if ctx.battery is not None else Battery()


def _evaluator(check: Check, ctx: CheckContext) -> Callable[[Program], Outcome]:
    """How experiments on a failing program are judged: as the check judges (or as random)."""
    judge = check if isinstance(check, ProgramCheck) else RANDOM
    return lambda program: judge.evaluate(ctx, program, ctx.timeout)


def _known(ctx: CheckContext, problems: Problems, outcome: Outcome) -> Problem | None:
    """The known problem an (unshrunk) failure is, where it can be told without shrinking."""
    told = _told_apart(ctx, problems, outcome)
    if told is not None:
        return told
    if outcome.verdict.error is not None:
        return problems.get(error_signature(outcome), _variant_names(outcome.program))
    if outcome.program is None:
        return None
    values = outcome.expected.values if outcome.expected is not None else None
    for signature in _battery(ctx).classify(outcome.program, values):
        known = problems.get(signature)
        if known is not None:
            return known
    return None


def run_check(
    check: Check,
    ctx: CheckContext,
    *,
    seed_value: int,
    budget: float | None,
    count: int | None = None,
    shrink_seconds: float = SHRINK_BUDGET,
    problems: Problems | None = None,
) -> CheckResult:
    """Run one check: search, shrink and record each new bug, go on until the budget is spent."""
    started = time.perf_counter()
    problems = Problems() if problems is None else problems
    result = CheckResult(check.name, "passed", description=check.description)
    strategy = check.lacking(ctx) or check.strategy(ctx)
    if isinstance(strategy, str):
        result.status, result.note = "skipped", strategy
        return result
    n = check.example_count(ctx.profile) if count is None else count
    state = _Search(deadline=started + budget if budget is not None else float("inf"))
    shrink_left = max(0.0, min(shrink_seconds * 3, CHECK_SHRINK_BUDGET))
    found: list[Problem] = []
    store = FailureStore(ctx.database) if ctx.database is not None else None
    if store is not None and isinstance(check, ProgramCheck):
        found += _replay_stored(check, ctx, store, seed_value, problems, result)
    unexplained: list[str] = []
    stale = rounds = 0
    harness_error = ""
    while state.examples < n and not state.out_of_time:
        before = state.examples
        final, harness_error = _search_round(
            check, ctx, strategy, state, seed_value + rounds, n - state.examples,
            min(shrink_seconds, shrink_left), problems,
        )  # fmt: skip
        rounds += 1
        found += _judge_released(check, ctx, seed_value, problems, result, unexplained)
        if final is None:
            # A batch holds fewer programs than its rows where some left the ops' domains: a
            # round that ran short goes on with a fresh seed, unless it ran nothing new.
            if harness_error or state.examples == before:
                break
            continue
        own = max(0.0, state.shrink_deadline - time.perf_counter())
        example, outcome = final
        if isinstance(example, ProgramBatch) and outcome.program is not None:
            example = outcome.program  # the failing row, pinned into the program
        example, outcome = check.shrink(
            dataclasses.replace(ctx, shrink_seconds=own), example, outcome
        )
        example, outcome = _prune(check, ctx, example, outcome)
        shrink_left -= time.perf_counter() - state.shrink_started
        problem = _record(check, ctx, seed_value, example, outcome, problems, result)
        if problem in found or problem.seen > 1:
            stale += 1
        else:
            found.append(problem)
            stale = 0
        if stale >= STALE_ROUNDS or len(found) >= MAX_NEW_PROBLEMS or shrink_left <= 0:
            break
    result.examples = state.examples
    result.unchecked = state.unchecked
    result.problems = [str(p.signature) for p in problems if check.name in p.checks]
    if store is not None and isinstance(check, ProgramCheck):
        for problem in found:
            if problem.program is not None:
                store.keep(check.name, problem.program)
    found += _judge_released(check, ctx, seed_value, problems, result, unexplained)
    notes = [check.note(ctx), *unexplained]
    if harness_error:
        result.status, result.incomplete = "failed", True
        notes.append(harness_error)
    if state.known_hangs >= MAX_KNOWN_HANGS:
        result.status, result.incomplete = "failed", True
        notes.append(
            f"stopped after {state.examples} of {n} examples: {state.known_hangs} more programs"
            " hung on a reported hang, so the rest of this check could not run"
        )
    elif state.out_of_time and not found:
        notes.append(f"time budget reached after {state.examples} of {n} examples")
    if result.examples == 0 and result.status == "passed" and not result.problems:
        # Nothing was checked: never a pass (a deep chain that never ran would hide a bug).
        result.status, result.incomplete = "failed", True
        notes.append(f"no example ran (0 of {n}): nothing was checked")
    result.note = "; ".join(x for x in (result.note, *notes) if x)
    result.seconds = time.perf_counter() - started
    _settle_status(result, problems, ctx.strict)
    return result


def _replay_stored(
    check: ProgramCheck,
    ctx: CheckContext,
    store: FailureStore,
    seed_value: int,
    problems: Problems,
    result: CheckResult,
) -> list[Problem]:
    """Judge the programs earlier runs stored (``--database``) before generating anything: the
    problems they still show; those that pass now are forgotten."""
    found: list[Problem] = []
    for program in store.programs(check.name):
        try:
            outcome = check.run_example(ctx, program)
        except ProgramError:  # stored by a harness with another op table
            store.forget(check.name, program)
            continue
        if not outcome.failed:
            store.forget(check.name, program)
            continue
        _judged_failure(check, ctx, seed_value, program, outcome, problems, result, found)
    return found


def _judged_failure(
    check: Check,
    ctx: CheckContext,
    seed_value: int,
    program: Program,
    outcome: Outcome,
    problems: Problems,
    result: CheckResult,
    found: list[Problem],
) -> None:
    """A failure of a program judged outside the search: a sighting of a known problem, or a new
    one recorded (and added to ``found``)."""
    known = _known(ctx, problems, outcome)
    if known is not None:
        known.saw(check.name)
        return
    problem = _record(check, ctx, seed_value, program, outcome, problems, result)
    if problem not in found:
        found.append(problem)


def _judge_released(
    check: Check,
    ctx: CheckContext,
    seed_value: int,
    problems: Problems,
    result: CheckResult,
    unexplained: list[str],
) -> list[Problem]:
    """Judge again the programs after whose answer the engine's process died (found dead only
    at a later program): each release is now verified, so a death is this program's failure.
    A death that does not happen again is noted in ``unexplained``, not dropped."""
    found: list[Problem] = []
    judge = check if isinstance(check, ProgramCheck) else ProgramCheck(check.name, "", {})
    for program, how in ctx.backend.take_released_deaths():
        outcome = judge.run_example(ctx, program)
        if not outcome.failed:
            unexplained.append(
                f"the engine's process died after answering a {len(program)}-node program that "
                f"passed when run again ({how.splitlines()[0]})"
            )
            continue
        _judged_failure(judge, ctx, seed_value, program, outcome, problems, result, found)
    return found


def _search_round(
    check: Check,
    ctx: CheckContext,
    strategy: st.SearchStrategy[Any],
    state: _Search,
    round_seed: int,
    count: int,
    shrink_seconds: float,
    problems: Problems,
) -> tuple[tuple[Any, Outcome] | None, str]:
    """One Hypothesis run: the first failure that no known problem explains, shrunk."""
    state.shrinking = False
    state.last_failure = None

    def test(example: Any) -> None:
        now = time.perf_counter()
        if not state.shrinking and state.examples and now > state.deadline:
            state.out_of_time = True
            raise _OutOfTime()
        if state.shrinking and now > state.shrink_deadline:
            raise _OutOfTime()
        outcome = check.run_example(ctx, example)
        if not state.shrinking:
            state.examples += outcome.runs
            state.unchecked += outcome.unchecked
        elif not outcome.failed and _battery(ctx).varies and isinstance(check, ProgramCheck):
            # A smaller program of an engine that fails in some runs only: one pass is no proof.
            outcome = until_it_fails(outcome, lambda o: check.judge_again(ctx, o), SHRINK_RUNS - 1)
        if not outcome.failed:
            return
        known = _known(ctx, problems, outcome)
        if known is not None:
            if not state.shrinking:
                known.saw(check.name)
                if outcome.verdict.error_kind == "timeout":
                    state.known_hangs += 1
                    if state.known_hangs >= MAX_KNOWN_HANGS:
                        state.out_of_time = True
                        raise _OutOfTime()
            return
        if not state.shrinking:
            state.shrinking = True
            state.shrink_started = time.perf_counter()
            state.shrink_deadline = state.shrink_started + _shrink_budget(
                ctx, outcome, shrink_seconds
            )
        state.last_failure = (example, outcome)
        raise _Failed(example, outcome)

    per_example = -(-count // check.rows)  # examples count programs; a batch holds several
    wrapped = seed(round_seed)(_settings(check, per_example)(given(strategy)(test)))
    try:
        with warnings.catch_warnings():
            # Hypothesis warns about the repr of a 100,000-node failing example; we print our own.
            warnings.simplefilter("ignore", HypothesisWarning)
            wrapped()
    except _Failed as failed:
        return (failed.example, failed.outcome), ""
    except (_OutOfTime, Flaky):
        return state.last_failure, ""
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        # An ExceptionGroup from Hypothesis (flaky replays) still leaves our last failure.
        if state.last_failure is not None:
            return state.last_failure, ""
        return None, f"harness error: {type(exc).__name__}: {exc}"
    return None, ""


def _settle_status(result: CheckResult, problems: Problems, strict: bool) -> None:
    """failed / warned / expected / passed, from the problems this check saw."""
    if result.status == "skipped" or result.incomplete:
        return
    result.status = "passed"
    seen = [p for p in problems if result.name in p.checks]
    if any(p.severity == "error" and not p.expected for p in seen):
        result.status = "failed"
    elif any(p.severity == "semantics" and not p.expected for p in seen):
        result.status = "failed" if strict else "warned"
    elif seen:
        result.status = "expected"


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


def _record(
    check: Check,
    ctx: CheckContext,
    seed_value: int,
    example: Any,
    outcome: Outcome,
    problems: Problems,
    result: CheckResult,
) -> Problem:
    """Turn a shrunk failure into a problem (or a sighting of a known one)."""
    alone = _localize(ctx, outcome)
    signature = signature_of(
        outcome, _battery(ctx), check=check.name, known=lambda s: problems.get(s) is not None
    )
    if (
        isinstance(check, ProgramCheck)
        and problems.get(signature, _variant_names(outcome.program)) is None
    ):
        # The op on its own is the smallest witness of its own rule: show that.
        example, outcome = alone or _alone_witness(ctx, signature) or (example, outcome)
    known = problems.get(signature, _variant_names(outcome.program))
    if known is None and signature.kind == "hang" and outcome.program is not None:
        # A graph bug the battery knows (a topological sort without a visited set) can also
        # make a long graph take forever: a hang there is that bug, seen again.
        values = outcome.expected.values if outcome.expected is not None else None
        for candidate in _battery(ctx).classify(outcome.program, values):
            known = problems.get(candidate)
            if known is not None:
                known.details.append(f"also: {describe(signature, outcome, _battery(ctx))}")
                break
    if known is not None:
        known.saw(check.name)
        return known
    # A failure the battery explains as a graph bug is one, wherever it showed.
    severity = "error" if signature.kind == "graph" else outcome.verdict.severity
    replay = replay_command(ctx, seed_value, check.name, severity == "semantics")
    varies = _variation(check, ctx, outcome)
    if varies is not None and ctx.battery is not None:
        ctx.battery.varies = True
    failure = _failure(check, ctx, example, outcome, replay, varies)
    result.failures.append(failure)
    program = outcome.program
    problem = Problem(
        signature,
        describe(signature, outcome, _battery(ctx)),
        severity=severity,
        ops=sorted({f"{op}:{form}" for op, form in program.variants()}) if program else [],
        checks=[check.name],
        details=(
            (outcome.verdict.error or "").splitlines()[1:7]  # a crash: the stderr tail
            if outcome.verdict.error
            else [
                *([varies.in_words()] if varies else []),
                *outcome.verdict.describe().splitlines()[:6],
            ]
        ),
        reproducer=failure.reproducer,
        replay=replay,
        program=program,
    )
    if program is not None and outcome.expected is not None:
        shown = evidence(
            ctx.backend,
            program,
            outcome.expected.settled_by(ctx.oracle),
            mismatches=outcome.verdict.mismatches,
            error=outcome.verdict.error,
            check=check.name,
            replay=replay,
            summary=problem.summary,
            aliases=getattr(ctx.backend, "aliases", None),
        )
        problem.short, problem.wire = shown.short, shown.wire
    return problems.add(problem)


def _variant_names(program: Program | None) -> list[str] | None:
    """``program``'s variants as a problem lists them (``pow:vc``); None without a program."""
    return None if program is None else [f"{op}:{form}" for op, form in program.variants()]


def _told_apart(ctx: CheckContext, problems: Problems, outcome: Outcome) -> Problem | None:
    """The known problem of a variant kept in compositions although it fails alone at a kink or
    far out (``CheckContext.told_apart``), or differs in semantics at inf or nan operands, where
    one of its nodes fails alone at the operands it met in this program; else None: the failure
    is something else."""
    program, expected = outcome.program, outcome.expected
    if program is None or expected is None:
        return None
    if outcome.verdict.error_kind == "timeout":
        return None  # a hang is judged as a hang: no op alone is waited for again
    evaluate = _evaluator(RANDOM, ctx)
    merges_equal = ctx.battery is None or ctx.battery.merges_equal
    scale = product_op(ctx.supported, "vc")
    adjoint: list[float] | None = None
    tried = 0
    for k, node in enumerate(program.nodes):
        signature = ctx.told_apart.get((node.op, program.form(k)))
        semantic = False
        if signature is None and not finite([expected.values.get(j, 0.0) for j in node.args]):
            # relu(nan) giving 0 is the op's semantics difference (the ops check tries inf and
            # nan), wherever a program feeds it one.
            signature = _semantics_signature(problems, (node.op, program.form(k)))
            semantic = signature is not None
        if signature is None or problems.get(signature) is None:
            continue
        alone = op_alone(
            program, k, expected.values, same_value=not merges_equal, nonfinite=semantic
        )
        if alone is None:
            continue
        if adjoint is None:
            adjoint = TableOracle().evaluate(program)[1]
        # As it met the node: its operands, then the gradient that reached it (a huge one
        # overflows a rule that a gradient of 1 does not).
        upstream = adjoint[k] if k < len(adjoint) else 1.0
        tries = [alone]
        if scale is not None and math.isfinite(upstream) and upstream not in (0.0, 1.0):
            n = len(alone.nodes)
            tries.append(
                Program(
                    (*alone.nodes, Node("const", value=upstream), Node(scale, (n - 1, n))), n + 1
                )
            )
        for candidate in tries:
            if tried >= MAX_ALONE:  # a 100,000-node chain of them: its first ones will do
                return None
            tried += 1
            verdict = _as_an_op(evaluate(candidate), semantics=semantic).verdict
            if verdict.error_kind == "timeout":
                return None  # one wait of the timeout is enough
            if verdict.failed:
                return problems.get(signature)
    return None


def _semantics_signature(problems: Problems, variant: Variant) -> Signature | None:
    """The signature of the ops check's semantics problem naming ``variant``, if any."""
    name = f"{variant[0]}:{variant[1]}"
    for problem in problems:
        signature = problem.signature
        if signature.kind == "op" and problem.severity == "semantics" and name in problem.ops:
            return signature
    return None


def _as_an_op(outcome: Outcome, *, semantics: bool = False) -> Outcome:
    """A one-op program the program judge left unsettled, judged as the ops check judges it
    (where the variant's problems come from): ``Value(0.0) ** 0.0``'s gradient is nan where
    torch's is 0, under a scale (its second derivative) that is infinite, so no tolerance
    bounds it, but a nan there is wrong all the same. With ``semantics``, a semantics
    difference there fails it too (``relu(nan)`` giving 0). Any other outcome is returned as
    is."""
    program, expected, got = outcome.program, outcome.expected, outcome.got
    if outcome.verdict.status != "unchecked" or program is None or expected is None:
        return outcome
    operands = program.nodes[program.output].args
    if got is None or operands != tuple(range(program.output)):
        return outcome  # not one op on its own leaves: scaled by its upstream gradient, v / v
    form = program.form(program.output)
    findings = judge_point(program, form, expected, got)
    nodes = quantity_nodes(form)
    wrong = [
        Mismatch(
            "grad" if q.startswith("grad") else "value",
            nodes[q],
            math.nan if f.expected is None else f.expected,
            f.got,
            f.tolerance,
        )
        for q, f in findings.items()
        if f.status == "wrong" or (semantics and f.status == "semantics")
    ]
    if not wrong:
        return outcome
    verdict = Verdict("fail", wrong, note="judged as the ops check judges the op alone")
    if not any(f.status == "wrong" for f in findings.values()):
        verdict.severity = "semantics"
    return Outcome(verdict, program, expected, got)


def _localize(ctx: CheckContext, outcome: Outcome) -> tuple[Program, Outcome] | None:
    """Try each op of a wrongly computed program on its own, at the operands it met there; the
    first that fails alone is the bug (its own rule), and the run's battery learns it, so every
    program using that op is explained by it from then on. A check run without the ops check
    meets broken ops inside compositions: this names the op instead of the composition.
    Returns that op on its own and its failure, or None."""
    battery, program, expected = ctx.battery, outcome.program, outcome.expected
    if battery is None or battery.merges_equal or program is None or expected is None:
        return None
    if outcome.verdict.error is not None:
        return None
    evaluate = _evaluator(RANDOM, ctx)
    seen: set[str] = set()
    for k, node in enumerate(program.nodes):
        if node.op in ("input", "const") or family(node.op) in battery.fails_alone():
            continue
        if (node.op, program.form(k)) in ctx.told_apart:
            continue  # its failures alone are a known problem's, not its family's everywhere
        alone = op_alone(program, k, expected.values)
        if alone is None or alone.to_json() in seen:
            continue
        if len(seen) >= MAX_ALONE:  # an unshrunk 100,000-node chain: its first ops will do
            return None
        seen.add(alone.to_json())
        tried = _as_an_op(evaluate(alone))
        if tried.verdict.error_kind == "timeout":
            return None  # one wait of the timeout is enough
        if tried.failed and tried.verdict.error is None:
            battery.learn_alone(family(node.op), alone)
            return alone, tried
    return None


def _alone_witness(ctx: CheckContext, signature: Signature) -> tuple[Program, Outcome] | None:
    """The battery's one-op program of the op family a ``graph:<family>`` signature names as
    failing on its own, judged again (None for any other signature, or if it passes now)."""
    battery = ctx.battery
    if battery is None or signature.kind != "graph" or len(signature.key) != 1:
        return None
    program = battery.alone_at.get(signature.key[0])
    if program is None or signature.key[0] not in battery.fails_alone():
        return None
    outcome = _evaluator(RANDOM, ctx)(program)
    return (program, outcome) if outcome.failed else None


WITNESS_NODES = 200
"""Longer failing programs (the deep check's chains) are not run again."""


def _variation(check: Check, ctx: CheckContext, outcome: Outcome) -> Variation | None:
    """How a new problem's failing program varies from run to run (``variation``), where a
    run again can tell: wrong numbers (not an exception or a hang) in a program not too long."""
    program = outcome.program
    if (
        not isinstance(check, ProgramCheck)
        or program is None
        or outcome.expected is None
        or outcome.verdict.error is not None
        or len(program.nodes) > WITNESS_NODES
    ):
        return None
    semantics = outcome.verdict.severity == "semantics"
    # Judged as the failure was: a one-op program the program judge leaves open, as an op.
    return variation(
        outcome, lambda first: _as_an_op(check.judge_again(ctx, first), semantics=semantics)
    )


def _failure(
    check: Check,
    ctx: CheckContext,
    example: Any,
    outcome: Outcome,
    replay: str,
    varies: Variation | None = None,
) -> Failure:
    summary = "\n".join([*([varies.in_words()] if varies else []), outcome.verdict.describe()])
    program = outcome.program
    script = check.reproducer(ctx, example, outcome, replay)
    if script is None and program is not None and outcome.expected is not None:
        script = render(
            program,
            outcome.expected.settled_by(ctx.oracle),
            ctx.backend,
            check=check.name,
            replay=replay,
            summary=summary,
            mismatches=[(m.kind, m.node) for m in outcome.verdict.mismatches],
            runs=(varies.failed, varies.runs) if varies and varies.some_runs_pass else None,
        )
    if script is None:
        script = f"# no program to reproduce; replay with:\n# {replay}\n"
    return Failure(check.name, summary, script, replay, program)


def _run_ops(
    check: PerOpCheck,
    ctx: CheckContext,
    budget: float,
    report: Report,
    seed_value: int,
    root: Problem | None,
) -> tuple[CheckResult, dict[Variant, str], dict[Variant, Signature]]:
    """Run the ops check; with a ``root`` problem found by probing, fold into it what follows from
    it: every op problem for leaves stored wrong, every gradient problem for an unseeded one.
    Returns the result, the variants compositions leave out and those they tell apart."""
    started = time.perf_counter()
    result = CheckResult(check.name, "passed", description=check.description)
    run = check.run_all(ctx, started + budget)
    report.op_results = run.results
    found = op_problems(run, ctx, lambda name: replay_command(ctx, seed_value, name))
    if root is None:
        root = _machinery_root(run, found)
        if root is not None:
            report.problems.add(root)
            result.failures.append(
                Failure("ops", root.summary, root.reproducer, root.replay, root.program)
            )
    for problem in found:
        if root is not None and (
            root.signature not in GRADIENT_ROOTS or "gradient" in problem.signature.key
        ):  # one root cause, one problem
            root.details.append(f"as a result: {problem.summary}")
            root.saw("ops")
        else:
            report.problems.add(problem)
            result.failures.append(
                Failure("ops", problem.summary, problem.reproducer, problem.replay, problem.program)
            )
    result.examples = run.evaluated
    if run.unfinished:
        result.note = (
            f"time budget reached: {len(run.unfinished)} variants not (fully) tried "
            f"({', '.join(f'{n}:{f}' for n, f in run.unfinished[:6])})"
        )
    result.problems = [str(p.signature) for p in report.problems if "ops" in p.checks]
    result.seconds = time.perf_counter() - started
    _settle_status(result, report.problems, ctx.strict)
    return result, excluded(run), told_apart(run, report.problems)


GRADIENT_ROOTS = (SEED_SIGNATURE, NO_GRADIENT_SIGNATURE)
"""Root problems that explain the ops check's gradient findings only (its value findings stand)."""


def _machinery_root(run: PerOpRun, found: list[Problem]) -> Problem | None:
    """A ``backward()`` that propagates nothing, shown by the first op whose gradients it left at
    0 (or None)."""
    root = no_gradient_problem(run)
    example = next((p for p in found if "gradient" in p.signature.key and p.program), None)
    if root is not None and example is not None:
        root.program, root.short, root.wire = example.program, example.short, example.wire
        root.reproducer, root.replay = example.reproducer, example.replay
    return root


def _deep_backend(
    backend: BackendBase, workers: list[IsolatedBackend], timeout: float | None
) -> tuple[BackendBase | None, str]:
    """The backend the deep check runs on: a worker process for a Python target (a recursive
    sort with a raised recursion limit overflows the C stack on a long chain, which would take
    the harness down in-process), and why not, if it cannot have one."""
    if workers or not can_isolate(backend):
        return None, ""
    try:
        worker = IsolatedBackend(
            backend, timeout=timeout if timeout is not None else DEFAULT_TIMEOUT, asked=False
        )
    except Exception as exc:  # TargetError: the target loads here but not in a fresh process
        return None, f"ran in-process: a worker process could not load the target ({exc})"
    workers.append(worker)
    return worker, ""


def _run_deep(
    check: DeepCheck, ctx: CheckContext, budget: float, report: Report, seed_value: int
) -> CheckResult:
    started = time.perf_counter()
    result = CheckResult(check.name, "passed", description=check.description)
    reason = check.lacking(ctx) or check.strategy(ctx)
    if isinstance(reason, str):
        result.status, result.note = "skipped", reason
        return result
    run = check.grow(ctx, started + budget)
    result.examples = len(run.lengths)
    if run.lengths:
        longest = max(run.lengths)
        result.note = f"chains of {', '.join(f'{n:,}' for n in run.lengths)} ops"
        if longest > ORACLE_NODES:
            result.note += f" (beyond {ORACLE_NODES:,}: judged against the op table's float64)"
    if run.stopped:
        result.note = "; ".join(x for x in (result.note, run.stopped) if x)
    if run.failure is not None:
        program, outcome = run.failure
        # Within the check's own share of the budget: a chain that hangs waits out a timeout
        # per prefix tried, and the checks after this one would be left with nothing.
        left = max(0.0, started + budget - time.perf_counter())
        shrink_ctx = dataclasses.replace(
            ctx, shrink_seconds=min(left, _shrink_budget(ctx, outcome, ctx.shrink_seconds))
        )
        example, outcome = check.shrink(shrink_ctx, program, outcome)
        problem = _record(check, ctx, seed_value, example, outcome, report.problems, result)
        if problem.checks == ["deep"] and outcome.program is not None:
            # A chain's length is the finding (a recursive sort fails past some depth).
            ops = sum(n.op not in ("input", "const") for n in outcome.program.nodes)
            shorter = [f"{n:,}" for n in run.lengths if n < ops]
            passed = f"; chains of {', '.join(shorter)} ops passed" if shorter else ""
            problem.details.insert(0, f"on a chain of {ops:,} ops{passed}")
    result.problems = [str(p.signature) for p in report.problems if "deep" in p.checks]
    if not run.lengths:
        result.status, result.incomplete = "failed", True
        result.note = "no chain ran: nothing was checked"
    result.seconds = time.perf_counter() - started
    _settle_status(result, report.problems, ctx.strict)
    return result


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
    skip_ops: Sequence[Variant] = (),
    xfail: Sequence[str] = (),
    isolate: bool | None = None,
    database: str | None = None,
) -> Report:
    """Probe the backend, run the selected checks, and build the Report.

    ``isolate`` runs a Python target in a worker process (conformance.backends.isolated); None
    does so for an engine compiled into an extension module, whose crash would otherwise take
    the harness down with it. The deep check of a Python target runs in one anyway.
    ``database`` is a folder for each check's failing programs, replayed first
    (conformance.failure_store; nothing is written without it).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    if isolate and not can_isolate(backend):
        raise ValueError(
            f"isolation runs a Python TARGET in a worker process; {backend.name} is not one "
            "(an --exec engine already runs in its own process)"
        )
    worker_timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
    workers: list[IsolatedBackend] = []
    runs_in = ""
    if isolate:
        backend = IsolatedBackend(backend, timeout=worker_timeout)
        workers.append(backend)
    elif isolate is None and compiled_engine(backend):
        backend, runs_in = _isolated_by_default(backend, worker_timeout, workers)
    try:
        return _run_checks(
            backend,
            oracle,
            target=target,
            profile=profile,
            seed_value=seed_value,
            strict=strict,
            checks=checks,
            timeout=timeout,
            on_result=on_result,
            on_start=on_start,
            shrink_seconds=shrink_seconds,
            skip_ops=skip_ops,
            xfail=xfail,
            workers=workers,
            database=database,
            runs_in=runs_in,
        )
    finally:
        for worker in workers:
            worker.close()


def _isolated_by_default(
    backend: BackendBase, timeout: float, workers: list[IsolatedBackend]
) -> tuple[BackendBase, str]:
    """A compiled engine in a worker process, and the report's words for it (in-process, and
    why, when no worker can load it)."""
    try:
        worker = IsolatedBackend(backend, timeout=timeout, asked=False)
    except Exception as exc:  # TargetError: the target loads here but not in a fresh process
        return backend, f"this process: a worker process could not load the compiled engine ({exc})"
    workers.append(worker)
    return worker, (
        "a worker process, as a compiled engine: its crash fails one program, not the run"
        " (--no-isolate runs it in-process)"
    )


def _run_checks(
    backend: BackendBase,
    oracle: OracleBase,
    *,
    target: str,
    profile: str,
    seed_value: int | None,
    strict: bool,
    checks: Sequence[str] | None,
    timeout: float | None,
    on_result: Callable[[CheckResult], None] | None,
    on_start: Callable[[Report], None] | None,
    shrink_seconds: float,
    skip_ops: Sequence[Variant],
    xfail: Sequence[str],
    workers: list[IsolatedBackend],
    database: str | None,
    runs_in: str = "",
) -> Report:
    started = time.perf_counter()
    seed_value = default_seed() if seed_value is None else seed_value
    selected = [get_check(name) for name in checks] if checks else list(CHECKS)
    report = Report(
        target=target,
        backend=backend.name,
        oracle=oracle.description or oracle.name,
        seed=seed_value,
        profile=profile,
        strict=strict,
        target_file=backend.description,
        runs_in=runs_in,
    )
    found: Probe = probe(backend, timeout, skip=skip_ops)
    report.supported, report.skipped = found.supported, found.skipped
    skip_args = tuple(f"--skip-op={name}:{form}" for name, form in skip_ops)
    ctx = CheckContext(
        backend, oracle, found.supported, profile, timeout, strict, shrink_seconds, seed_value
    )
    ctx.replay_extra = skip_args
    ctx.database = database

    def replay(check: str) -> str:
        return replay_command(ctx, seed_value, check)

    report.replay = shlex.join(
        ["python", "-m", "conformance", *backend.replay_args(), *skip_args]
        + ["--seed", str(seed_value), "--profile", profile]
        + [arg for name in (checks or ()) for arg in ("--check", name)]
        + (["--strict"] if strict else [])
    )
    leaf = leaf_problem(found, backend, replay)
    seed = seed_problem(found, backend, replay)
    for problem in [p for p in (leaf, seed) if p] + api_problems(found, backend, replay):
        report.problems.add(problem)
    if on_start is not None:
        on_start(report)
    fatal = fatal_problem(found, backend, replay)
    if fatal is not None:
        report.problems.add(fatal)
        report.checks.append(
            CheckResult(
                "probe",
                "failed",
                note=found.fatal or "",
                description="basic API",
                problems=[str(fatal.signature)],
            )
        )
        report.seconds = time.perf_counter() - started
        return report
    # The budget counts from the start: probing and the battery (oracle work included) spend it too.
    budget_ends = started + BUDGETS[profile]
    battery_ends = started + BATTERY_SHARE * BUDGETS[profile]
    ctx.battery = run_battery(
        _evaluator(RANDOM, ctx),
        found.supported,
        deadline=battery_ends,
        again=lambda outcome: RANDOM.judge_again(ctx, outcome),
    )
    weights = {c.name: c.example_count(profile) * c.cost for c in selected}
    weight_left = sum(weights.values()) or 1
    # When Value(x) does not hold x, or backward() does not seed the gradient with 1, no
    # program can be judged: the problem found by probing says it all.
    root = leaf or seed
    no_leaf = "Value(x) does not keep x" if leaf else "backward() does not seed the gradient with 1"
    left_out: dict[Variant, str] = dict.fromkeys(found.supported, no_leaf) if root else {}
    told: dict[Variant, Signature] = {}
    for check in selected:
        # A share of what is left: time a check did not need goes to the ones after it.
        budget = max(0.0, budget_ends - time.perf_counter()) * weights[check.name] / weight_left
        weight_left -= weights[check.name]
        narrowed = dataclasses.replace(
            ctx,
            supported=[v for v in found.supported if v not in left_out],
            left_out=left_out,
            told_apart={v: s for v, s in told.items() if v not in left_out},
        )
        if isinstance(check, PerOpCheck):
            result, left_out, told = _run_ops(check, ctx, budget, report, seed_value, root)
            if root is not None:
                left_out = dict.fromkeys(found.supported, no_leaf)
        elif not narrowed.supported:
            why = "every op variant failed alone (see the ops check)"
            result = CheckResult(
                check.name,
                "skipped",
                description=check.description,
                note=f"{no_leaf}: no program can be judged" if root else why,
            )
        elif isinstance(check, DeepCheck):
            isolated, why = _deep_backend(backend, workers, timeout)
            # A chain's failure is shrunk by prefix, never told apart: no variant known to fail
            # alone goes into one, or its failure far out would be taken for the chain's.
            deep_ctx = dataclasses.replace(
                narrowed,
                supported=[v for v in narrowed.supported if v not in narrowed.told_apart],
                told_apart={},
            )
            deep_ctx = dataclasses.replace(deep_ctx, backend=isolated) if isolated else deep_ctx
            result = _run_deep(check, deep_ctx, budget, report, seed_value)
            if why:
                result.note = "; ".join(x for x in (result.note, why) if x)
        else:
            result = run_check(
                check,
                narrowed,
                seed_value=seed_value,
                budget=budget,
                shrink_seconds=shrink_seconds,
                problems=report.problems,
            )
        if left_out and not isinstance(check, PerOpCheck) and result.status != "skipped":
            result.note = "; ".join(
                x for x in (result.note, f"without {len(left_out)} variants that failed alone") if x
            )
        report.checks.append(result)
        if on_result is not None:
            on_result(result)
    report.printed = backend.printed
    report.apply_xfail(xfail)
    for result in report.checks:
        _settle_status(result, report.problems, strict)
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class Throughput:
    """What one throughput run measured: programs checked, wall and CPU seconds, their size."""

    programs: int
    seconds: float
    cpu_seconds: float
    nodes: int
    """Nodes in all the programs drawn (inputs and constants included)."""
    verdict: str

    @property
    def per_second(self) -> float:
        """Programs per wall-clock second."""
        return self.programs / self.seconds if self.seconds > 0 else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Programs per CPU second of this process (what load from other processes spares)."""
        return self.programs / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


def measure_throughput(
    backend: BackendBase, oracle: OracleBase, *, examples: int = 2000, seed_value: int = 0
) -> Throughput:
    """Check ``examples`` programs of the ``random`` check under the default profile's settings
    (probing excluded; drawing, both evaluations and the comparison included) and time it."""
    found = probe(backend)
    if found.fatal is not None:
        raise BackendError(found.fatal)
    ctx = CheckContext(backend, oracle, found.supported, "default")
    check = get_check("random")
    nodes = 0
    inner = check.run_example

    def counted(ctx: CheckContext, example: Any) -> Outcome:
        nonlocal nodes
        outcome = inner(ctx, example)
        size = len(example.program) if isinstance(example, ProgramBatch) else len(example)
        nodes += size * outcome.runs
        return outcome

    counting = dataclasses.replace(check)  # a copy whose examples also count their nodes
    counting.run_example = counted  # type: ignore[method-assign]
    started, cpu = time.perf_counter(), time.process_time()
    result = run_check(counting, ctx, seed_value=seed_value, budget=None, count=examples)
    return Throughput(
        result.examples,
        time.perf_counter() - started,
        time.process_time() - cpu,
        nodes,
        result.status,
    )


def throughput(
    backend: BackendBase, oracle: OracleBase, *, examples: int = 2000, seed_value: int = 0
) -> float:
    """Programs per second of the ``random`` check under the default profile's settings
    (``measure_throughput``, by wall clock)."""
    return measure_throughput(backend, oracle, examples=examples, seed_value=seed_value).per_second
