"""What a check is: a Hypothesis strategy of examples and how to judge one example."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.backends.adapter import classify
from conformance.backends.base import (
    BackendBase,
    BackendError,
    BackendTimeout,
    Evaluation,
    OracleBase,
    TimeLimitExceeded,
)
from conformance.ops import Variant
from conformance.program import Program
from conformance.strategies import ProgramBatch
from conformance.tolerance import Verdict, compare, compare_settled, compare_unsettled

if TYPE_CHECKING:
    from conformance.diagnosis.graph import Battery
    from conformance.diagnosis.problems import Signature

__all__ = [
    "Check",
    "CheckContext",
    "Outcome",
    "ProgramCheck",
    "run_guarded",
]


@dataclass
class CheckContext:
    """Everything a check needs: the backend, the oracle, probed support, the profile."""

    backend: BackendBase
    oracle: OracleBase
    supported: list[Variant]
    profile: str
    timeout: float | None = 5.0
    strict: bool = False
    shrink_seconds: float = 20.0
    """Seconds a check's own ``shrink`` may spend refining a failure (on top of Hypothesis's)."""
    seed: int = 0
    """The run's seed (checks that draw their own random numbers use it)."""
    battery: Battery | None = None
    """What the engine's textbook programs showed (for telling its failures apart: see
    conformance.diagnosis.graph)."""
    left_out: dict[Variant, str] = field(default_factory=dict)
    """Variants the backend has but this check runs without, and why (they failed alone)."""
    told_apart: dict[Variant, Signature] = field(default_factory=dict)
    """Variants kept although they failed alone, at a kink or far out only, with the signature
    of that problem: a composition that fails where one of them fails alone is that problem."""
    replay_extra: tuple[str, ...] = ()
    """Arguments every replay command of the run repeats (``--skip-op=pow:vv``)."""
    database: str | None = None
    """Folder of the failing programs of earlier runs (``--database``); None: nothing is
    written."""

    def supports(self, name: str, form: str | None = None) -> bool:
        """Whether the backend supports op ``name`` (in ``form``, if given)."""
        return any(n == name and (form is None or f == form) for n, f in self.supported)


@dataclass
class Outcome:
    """The judgement of one example, with what is needed to reproduce it."""

    verdict: Verdict
    program: Program | None = None
    expected: Evaluation | None = None
    got: Evaluation | None = None
    runs: int = 1
    """Programs judged for this example (a batch judges several; see ProgramBatch)."""
    unchecked_runs: int | None = None
    """Of those, how many the oracle could not settle (None: the verdict says, for one)."""

    @property
    def failed(self) -> bool:
        """True when the backend got this example wrong."""
        return self.verdict.failed

    @property
    def unchecked(self) -> int:
        """Programs of this example the oracle could not settle."""
        if self.unchecked_runs is not None:
            return self.unchecked_runs
        return 1 if self.verdict.status == "unchecked" else 0


def run_guarded(backend: BackendBase, program: Program, timeout: float | None) -> Evaluation:
    """backend.run(program) within ``timeout`` seconds; every failure becomes a BackendError.

    The backend enforces the limit (``run_limited``): in-process by an alarm, a subprocess
    backend by killing and restarting its process. Nothing the engine raises ends the run
    (``SystemExit`` included, as pytest treats it in a test); only Ctrl-C passes through.
    """
    try:
        result = backend.run_limited(program, timeout)
    except TimeLimitExceeded:
        raise BackendTimeout(timeout or 0.0) from None
    except BackendError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise classify(exc) from exc
    if not isinstance(result, Evaluation):
        raise BackendError(
            f"run() returned {type(result).__name__}, not an Evaluation", kind="protocol"
        )
    return result


@dataclass
class Check:
    """A named check: how to draw examples and how to judge one.

    Subclasses implement ``strategy`` (or return a string saying why the check is skipped) and
    ``run_example``; ``shrink`` may refine a failure further than Hypothesis does.
    """

    name: str
    description: str
    examples: dict[str, int]
    semantics: bool = False
    """Reported, but failing the run only with --strict."""
    timeout_factor: float = 1.0
    """Multiplier on the per-program timeout (deep graphs need longer)."""
    hypothesis_shrinks: bool = True
    cost: float = 1.0
    """An example costs about as much as this many random programs (for the time budget)."""
    needs: tuple[Variant, ...] = ()
    """Op variants without which the check cannot run (it is then skipped, saying which)."""
    rows: int = 1
    """Programs an example holds at most (a ProgramBatch's rows): examples are counted in
    programs, so a round asks Hypothesis for about ``count / rows`` examples."""

    def lacking(self, ctx: CheckContext) -> str:
        """Why the check cannot run on this backend ("" when it can): the variants it lacks."""
        missing = [(n, f) for n, f in self.needs if not ctx.supports(n, f)]
        if not missing:
            return ""
        reasons: dict[str, list[str]] = {}
        for n, f in missing:
            reason = ctx.left_out.get((n, f), "not supported by the backend")
            reasons.setdefault(reason, []).append(f"{n}:{f}")
        return "; ".join(f"needs {', '.join(names)} ({why})" for why, names in reasons.items())

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """The examples to draw, or the reason this check cannot run on this backend."""
        raise NotImplementedError

    def run_example(self, ctx: CheckContext, example: Any) -> Outcome:
        """Judge one example."""
        raise NotImplementedError

    def shrink(self, ctx: CheckContext, example: Any, outcome: Outcome) -> tuple[Any, Outcome]:
        """A smaller failing example than Hypothesis found, if the check knows one."""
        return example, outcome

    def reproducer(
        self, ctx: CheckContext, example: Any, outcome: Outcome, replay: str
    ) -> str | None:
        """A script of the check's own for a failure, or None for the program reproducer."""
        return None

    def example_count(self, profile: str) -> int:
        """How many examples to run under ``profile``."""
        return self.examples.get(profile, self.examples.get("default", 100))

    def note(self, ctx: CheckContext) -> str:
        """What the report should say about how this check judged on ``ctx`` (or "")."""
        return ""


Judge = Callable[[Program, Evaluation, Evaluation | None, str | None], Verdict]


@dataclass
class ProgramCheck(Check):
    """A check whose examples are programs, judged against the oracle with ``judge``."""

    make_strategy: (
        Callable[[CheckContext], st.SearchStrategy[Program] | st.SearchStrategy[ProgramBatch] | str]
        | None
    ) = None
    judge: Judge = compare

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """The program strategy, restricted to the backend's supported ops."""
        if self.make_strategy is None:
            raise NotImplementedError(f"check {self.name!r} has no strategy")
        return self.make_strategy(ctx)

    def _judge_for(self, ctx: CheckContext) -> Judge:
        """The judge, on values only where the oracle cannot settle non-finite gradients."""
        if self.judge is compare_settled and not ctx.oracle.determines_nonfinite_gradients:
            return _values_where_not_finite
        return self.judge

    def note(self, ctx: CheckContext) -> str:
        """Says when gradients are not compared (an oracle without non-finite gradients)."""
        if self._judge_for(ctx) is _values_where_not_finite:
            return f"values only: {ctx.oracle.name} does not determine non-finite gradients"
        return ""

    def run_example(self, ctx: CheckContext, example: Any) -> Outcome:
        """Run the program (or each program of a batch) on the oracle and the backend and
        compare."""
        timeout = None if ctx.timeout is None else ctx.timeout * self.timeout_factor
        if isinstance(example, ProgramBatch):
            return self.evaluate_batch(ctx, example, timeout)
        return self.evaluate(ctx, example, timeout)

    def evaluate(self, ctx: CheckContext, program: Program, timeout: float | None) -> Outcome:
        """Judge ``program`` with the backend given ``timeout`` seconds."""
        try:
            expected = ctx.oracle.run(program)
        except BackendError as exc:
            return Outcome(Verdict("unchecked", error=f"oracle failed: {exc}"), program)
        return self._judge_run(ctx, program, expected, timeout)

    def judge_again(self, ctx: CheckContext, outcome: Outcome) -> Outcome:
        """Run ``outcome``'s program on the backend once more, judged against the oracle numbers
        it was judged against (the oracle is not asked again): an engine whose order follows
        memory addresses may pass in one run what it failed in another."""
        if outcome.program is None or outcome.expected is None:
            return outcome
        timeout = None if ctx.timeout is None else ctx.timeout * self.timeout_factor
        return self._judge_run(ctx, outcome.program, outcome.expected, timeout)

    def evaluate_batch(
        self, ctx: CheckContext, batch: ProgramBatch, timeout: float | None
    ) -> Outcome:
        """Judge each program of ``batch`` (the oracle evaluates them at once) until one fails:
        its outcome, with that row's inputs pinned into the program, is the batch's."""
        expected_rows: list[Evaluation | BackendError] = []
        try:
            if isinstance(ctx.oracle, OracleBase):
                expected_rows = ctx.oracle.run_batch(batch.program, batch.rows)
            else:  # any object with run() is an oracle (docs/CONFORMANCE.md, "Extending")
                for program in batch.programs():
                    try:
                        expected_rows.append(ctx.oracle.run(program))
                    except BackendError as exc:
                        expected_rows.append(exc)
        except BackendError as exc:
            expected_rows = [exc] * len(batch.rows)
        runs = unchecked = 0
        outcome = None
        for program, expected in zip(batch.programs(), expected_rows, strict=True):
            runs += 1
            if isinstance(expected, BackendError):
                error = f"oracle failed: {expected}"
                outcome = Outcome(Verdict("unchecked", error=error), program)
            else:
                outcome = self._judge_run(ctx, program, expected, timeout)
            if outcome.verdict.status == "unchecked":
                unchecked += 1
            if outcome.failed:
                break
        assert outcome is not None  # a batch has at least its program's own row
        outcome.runs, outcome.unchecked_runs = runs, unchecked
        return outcome

    def _judge_run(
        self, ctx: CheckContext, program: Program, expected: Evaluation, timeout: float | None
    ) -> Outcome:
        """Run ``program`` on the backend and judge it against the oracle's ``expected``.

        A program the oracle does not settle in full runs too: a hang, a crash or a plainly
        wrong value there is an error like anywhere else (``compare_unsettled``)."""
        failure: BackendError | None = None
        try:
            got: Evaluation | None = run_guarded(ctx.backend, program, timeout)
        except BackendError as exc:
            got, failure = None, exc
        error = str(failure) if failure else None
        if self.judge is compare and not expected.all_finite():
            verdict = compare_unsettled(
                program,
                expected,
                got,
                error,
                phase=failure.phase if failure else "",
                nonfinite_gradients=getattr(ctx.oracle, "determines_nonfinite_gradients", True),
            )
        else:
            verdict = self._judge_for(ctx)(program, expected, got, error)
        if failure is not None:
            note_error(verdict, failure)
        if self.semantics and self.judge is compare:
            verdict.severity = "semantics"  # repeated backward passes: torch's accumulation
        if failure is not None and failure.fatal and verdict.failed:
            verdict.severity = "error"  # a hang or a dead process is no convention of torch's
        return Outcome(verdict, program, expected, got)


def note_error(verdict: Verdict, error: BackendError) -> None:
    """Copy what the backend's error says about its cause onto the verdict."""
    verdict.error_kind = error.kind
    verdict.error_type = error.exception_type
    verdict.error_where = error.where
    verdict.error_phase = error.phase


def _values_where_not_finite(
    program: Program, expected: Evaluation, got: Evaluation | None, error: str | None = None
) -> Verdict:
    """``compare_settled``, judging values only where the oracle's numbers are not finite."""
    return compare_settled(program, expected, got, error, gradients=False)
