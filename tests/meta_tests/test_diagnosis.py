"""The diagnosis: every distinct bug of an engine in one run, named once, and nothing else.

Multi-bug engines (``engines/multi.py``) combine two to five deliberately broken engines: a
default run must name each bug by its signature exactly once, each problem's reproducer must
fail when run alone, and pass when pointed at a correct engine. Engines with less than
micrograd's API must be judged by what they do: a refused ``v ** w`` is a skipped variant, a
missing ``__rmul__`` a problem.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import conformance

from .engines import broken as b
from .engines import multi
from .engines.broken import BUGS, Bug

ENGINES = Path(__file__).resolve().parent / "engines"
ROOT = ENGINES.parents[2]
SEED = 0


def _run_script(text: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(text)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("oracle", ["auto", "mpmath"])  # auto: torch where it is installed
@pytest.mark.parametrize("engine", list(multi.EXPECTED), ids=lambda engine: engine.__name__)
def test_a_default_run_names_each_bug_of_a_multi_bug_engine_exactly_once(
    engine: type, oracle: str, tmp_path: Path
) -> None:
    target = f"{ENGINES / 'multi.py'}:{engine.__name__}"
    report = conformance.check(target, profile="default", seed=SEED, oracle=oracle)
    signatures = [str(problem.signature) for problem in report.problems]
    torch_only = multi.TORCH_ONLY.get(engine, set()) if report.oracle.startswith("torch") else set()
    assert sorted(signatures) == sorted(multi.EXPECTED[engine] | torch_only), report.problem_text()
    assert not report.ok
    for number, problem in enumerate(report.problems, 1):
        assert problem.summary and problem.checks and problem.short, problem
        assert problem.reproducer, f"{problem.signature} has no reproducer"
        failing = _run_script(problem.reproducer, tmp_path, f"problem{number}")
        assert failing.returncode != 0, f"{problem.signature}: the reproducer passes\n{failing}"
        # The same script, pointed at the correct reference engine, passes.
        correct = problem.reproducer.replace(
            f"from tests.meta_tests.engines.multi import {engine.__name__} as TARGET",
            "from tests.meta_tests.engines.reference import Value as TARGET",
        )
        assert correct != problem.reproducer, "the reproducer does not import the target"
        passing = _run_script(correct, tmp_path, f"problem{number}_fixed")
        assert passing.returncode == 0, f"{problem.signature} on the reference:\n{passing}"


# Engines whose one bug is an op's derivative (a full run names it by the ops check), wrong on
# a stretch of operands that a quick run's compositions meet. PowGradNanAtZeroToTheZero is
# wrong at one point, 0 ** 0: a test of its own below runs the compositions long enough.
OP_RULE_BUGS = [
    bug
    for bug in BUGS
    if len(bug.problems) == 1
    and re.fullmatch(r"op:\w+:gradient", bug.problems[0])
    and bug.engine is not b.PowGradNanAtZeroToTheZero
]


@pytest.mark.slow
@pytest.mark.parametrize("bug", OP_RULE_BUGS, ids=lambda bug: bug.name)
def test_composition_checks_alone_name_a_broken_op_once_as_its_own_rule(
    bug: Bug, tmp_path: Path
) -> None:
    # Without the ops check, random and kinks programs are full of the broken op: every failing
    # program is that one bug, named after the op (not after each program's shape), and shown
    # as the op on its own.
    op = bug.problems[0].split(":")[1]
    report = conformance.check(
        bug.engine, profile="quick", seed=1, checks=["random", "kinks"], oracle="mpmath"
    )
    assert [str(p.signature) for p in report.problems] == [f"graph:{op}"], report.problem_text()
    (problem,) = report.problems
    assert "even with the op on its own" in problem.summary
    assert problem.program is not None and len(problem.program.nodes) <= 3, problem.reproducer
    failing = _run_script(problem.reproducer, tmp_path, "alone")
    assert failing.returncode != 0, f"the reproducer passes:\n{problem.reproducer}"


@pytest.mark.slow
def test_an_op_wrong_only_at_zero_to_the_zero_is_named_by_compositions_as_its_own_rule() -> None:
    # relu(x) ** 0.0 meets 0 ** 0 in the kinks check. The program judge cannot bound a gradient
    # there (its scale is infinite); the op alone is judged as the ops check judges it, and the
    # nan where torch gives 0 is the op's own rule.
    engine = b.PowGradNanAtZeroToTheZero
    report = conformance.check(engine, profile="default", seed=1, checks=["kinks"])
    assert [str(p.signature) for p in report.problems] == ["graph:pow"], report.problem_text()
    (problem,) = report.problems
    assert problem.short[:2] == ["v0 = Value(0.0)", "v2 = v0 ** 0.0"], problem.short
    assert "got nan (not a finite number)" in problem.details[0], problem.details


def test_swapped_operands_are_named_so_in_the_value_and_the_gradient_they_make() -> None:
    # 2 / v computed as v / 2 gives v / 2 and, for v, the gradient 1 / 2; 2 - v as v - 2 gives
    # a gradient whose sign alone is flipped, which is what its words say.
    div = conformance.check(b.RtruedivSwapped, profile="quick", seed=1, checks=["ops"])
    [problem] = div.problems.items
    assert problem.summary.startswith("div:cv (c / v): value wrong: operands swapped at")
    assert problem.details[0].startswith("div:cv gradient of v: operands swapped at")
    sub = conformance.check(b.RsubSwapped, profile="quick", seed=1, checks=["ops"])
    [problem] = sub.problems.items
    assert problem.summary.startswith("sub:cv (c - v): value wrong: operands swapped at")
    assert problem.details == ["sub:cv gradient of v: sign flipped for every v tried"]


def test_an_engine_refusing_a_value_exponent_with_a_bare_assert_is_conformant() -> None:
    report = conformance.check(f"{ENGINES / 'limited.py'}:BareAssertPower", profile="quick", seed=1)
    assert report.ok, report.problem_text()
    assert ("pow", "vv") in report.skipped and "AssertionError" in report.skipped[("pow", "vv")]
    assert ("pow", "vc") in report.supported


def test_a_bare_exception_is_not_supported_only_where_it_says_so() -> None:
    said = conformance.check(f"{ENGINES / 'limited.py'}:ExceptionPower", profile="quick", seed=1)
    assert said.ok, said.problem_text()
    assert "only float and int are supported" in said.skipped[("pow", "vv")]
    broken = f"{ENGINES / 'limited.py'}:BrokenExceptionPower"
    unsaid = conformance.check(broken, profile="quick", seed=1, checks=["ops"])
    assert ("pow", "vv") in unsaid.supported
    assert [str(p.signature) for p in unsaid.problems] == ["op:pow:value"]


def test_an_engine_without_rmul_fails_with_that_problem_named() -> None:
    report = conformance.check(
        f"{ENGINES / 'limited.py'}:NoReflectedMul", profile="quick", seed=1, checks=["random"]
    )
    assert not report.ok
    (problem,) = report.problems
    assert str(problem.signature) == "api:mul:cv"
    assert "__rmul__" in problem.summary and "2.0 * x" in problem.summary


def test_an_engine_without_division_is_conformant_and_the_header_says_what_was_checked() -> None:
    report = conformance.check(
        f"{ENGINES / 'limited.py'}:NoDivision", profile="quick", seed=1, checks=["random"]
    )
    assert report.ok, report.problem_text()
    assert {v for v in report.skipped if v[0] in ("div", "idiv")} == {
        ("div", "vv"),
        ("div", "vc"),
        ("div", "cv"),
        ("idiv", "vv"),
        ("idiv", "vc"),
    }
    checked, total = len(report.supported), len(report.supported) + len(report.skipped)
    assert f"checked {checked} of {total} op variants" in report.header()


def test_aliases_let_an_engine_use_its_own_method_names() -> None:
    target = f"{ENGINES / 'limited.py'}:OwnNames"
    plain = conformance.check(target, profile="quick", seed=1, checks=["ops"])
    assert ("log", "v") in plain.skipped and ("relu", "v") in plain.skipped
    aliased = conformance.check(
        target, profile="quick", seed=1, checks=["ops"], aliases=["log=ln", "relu=reLU"]
    )
    assert ("log", "v") in aliased.supported and ("relu", "v") in aliased.supported
    assert aliased.ok, aliased.problem_text()


def test_a_method_missing_under_its_name_but_there_in_another_spelling_names_the_alias() -> None:
    own_names = conformance.check(
        f"{ENGINES / 'limited.py'}:OwnNames", profile="quick", checks=["ops"], seed=1
    )
    assert own_names.skipped[("relu", "v")].endswith("(it has reLU: --alias relu=reLU)")
    assert "--alias" not in own_names.skipped[("log", "v")]  # ln is another word, not a spelling
    target = f"{ENGINES / 'limited.py'}:AbsByProtocol"
    plain = conformance.check(target, profile="quick", seed=1, checks=["ops"])
    assert plain.skipped[("abs", "v")].endswith("(it has __abs__: --alias abs=__abs__)")
    aliased = conformance.check(
        target, profile="quick", seed=1, checks=["ops"], aliases=["abs=__abs__"]
    )
    assert ("abs", "v") in aliased.supported and aliased.ok, aliased.problem_text()


def test_a_method_that_is_there_but_fails_gets_no_alias_hint() -> None:
    report = conformance.check(
        f"{ENGINES / 'limited.py'}:BrokenRelu", profile="quick", checks=["ops"], seed=1
    )
    assert ("relu", "v") in report.skipped
    assert "--alias" not in report.skipped[("relu", "v")]


def test_expected_failures_do_not_fail_the_run_and_a_stale_entry_is_reported() -> None:
    target = f"{ENGINES / 'broken.py'}:RsubSwapped"
    report = conformance.check(
        target, profile="quick", seed=1, checks=["ops"], xfail=["op:sub:value", "tanh"]
    )
    assert report.ok, report.problem_text()
    (problem,) = report.problems
    assert problem.expected
    assert report.unexpected_passes == ["tanh"]
    assert "expected to fail but did not: tanh" in report.problem_text()


def test_a_skipped_op_is_listed_and_never_tried() -> None:
    report = conformance.check(
        f"{ENGINES / 'broken.py'}:WrongTanhDerivative",
        profile="quick",
        seed=1,
        checks=["ops"],
        skip_ops=["tanh"],
    )
    assert report.ok
    assert report.skipped[("tanh", "v")] == "left out with --skip-op"


def test_an_op_returning_none_is_named_where_it_returns_not_where_the_none_is_used() -> None:
    target = f"{ENGINES / 'broken.py'}:PowForgetsReturn"
    report = conformance.check(target, profile="quick", seed=1, checks=["random"])
    [problem] = report.problems.items
    assert str(problem.signature) == "protocol:pow"
    assert problem.summary.startswith("pow returned None, not a Value")
    assert problem.short[-1].startswith("# pow returned None")  # a report, not "# raises ..."
    ops = conformance.check(target, profile="quick", seed=1, checks=["ops"])
    assert "returns None, not a Value for every" in ops.problems.items[0].summary


def test_an_op_storing_its_rule_as_backward_is_told_that_the_attribute_hides_the_method() -> None:
    report = conformance.check(
        f"{ENGINES / 'broken.py'}:MulRuleStoredAsBackward", profile="quick", seed=1, checks=["ops"]
    )
    [problem] = report.problems.items
    assert str(problem.signature) == "op:mul:gradient"
    assert "its result has an instance attribute `backward`, which hides" in problem.summary
    assert (
        "instance attribute"
        not in conformance.check(
            f"{ENGINES / 'broken.py'}:WrongMulDerivative", profile="quick", seed=1, checks=["ops"]
        )
        .problems.items[0]
        .summary
    )


def test_a_value_that_is_notimplemented_says_where_notimplemented_comes_from() -> None:
    report = conformance.check(
        f"{ENGINES / 'broken.py'}:MulCallsFloatMethod", profile="quick", seed=1, checks=["ops"]
    )
    [problem] = report.problems.items
    assert "NotImplemented, not a float (what float's own methods return" in problem.summary


def test_a_unary_op_that_flips_its_operands_sign_is_said_to_compute_the_op_at_minus_x() -> None:
    report = conformance.check(
        f"{ENGINES / 'broken.py'}:SigmoidSignFlipped", profile="quick", seed=1, checks=["ops"]
    )
    [problem] = report.problems.items
    assert problem.summary.startswith("sigmoid:v (v.sigmoid()): value wrong: sigmoid(-x) for")


def test_an_op_that_computes_another_op_is_said_to_compute_that_op() -> None:
    report = conformance.check(
        f"{ENGINES / 'broken.py'}:ReluComputesTanh", profile="quick", seed=1, checks=["ops"]
    )
    [problem] = report.problems.items
    assert problem.summary.startswith("relu:v (v.relu()): value wrong: tanh(x) for"), problem


def test_an_op_returning_none_is_one_problem_for_the_ops_and_the_program_checks() -> None:
    target = f"{ENGINES / 'broken.py'}:PowForgetsReturn"
    # (random first: after the ops check, programs leave the failing pow out)
    report = conformance.check(target, profile="quick", seed=1, checks=["random", "ops"])
    [problem] = report.problems.items
    assert str(problem.signature) == "protocol:pow"
    assert problem.checks == ["random", "ops"]


def test_an_op_returning_none_in_a_worker_process_is_named_as_it_is_in_process() -> None:
    target = f"{ENGINES / 'broken.py'}:PowForgetsReturn"
    report = conformance.check(target, profile="quick", seed=1, checks=["ops"], isolate=True)
    assert ("pow", "vv") not in report.skipped  # not taken for a missing op
    [problem] = report.problems.items
    assert str(problem.signature) == "op:pow:value"
    assert "returns None, not a Value for every" in problem.summary
    random = conformance.check(target, profile="quick", seed=1, checks=["random"], isolate=True)
    assert [str(p.signature) for p in random.problems.items] == ["protocol:pow"]


def test_an_engine_with_backward_spelled_otherwise_is_told_the_alias_and_about_adapters() -> None:
    target = f"{ENGINES / 'limited.py'}:BackwardsSpelledOut"
    report = conformance.check(target, profile="quick")
    [problem] = report.problems.items
    assert str(problem.signature) == "leaf:backward"
    assert problem.summary.startswith("`Value(0.75).backward()` fails: AttributeError")
    assert "try --alias backward=backwards, or TARGET can name an adapter" in problem.summary
    aliased = conformance.check(
        target, profile="quick", checks=["ops"], aliases=["backward=backwards"]
    )
    assert aliased.ok, aliased.problem_text()  # its one leaf now passes backward()


def test_a_backward_each_value_holds_for_itself_is_a_rule_not_the_backward_pass() -> None:
    target = f"{ENGINES / 'limited.py'}:RuleNamedBackward"
    [problem] = conformance.check(target, profile="quick").problems.items
    assert str(problem.signature) == "leaf:backward"
    assert "has no method 'backward': each Value holds its own `backward`" in problem.summary
    assert "try --alias backward=backprop, or" in problem.summary, problem.summary
    aliased = conformance.check(
        target, profile="quick", checks=["ops"], aliases=["backward=backprop"]
    )
    assert aliased.ok, aliased.problem_text()


def test_a_port_with_its_own_words_for_backward_data_and_grad_learns_all_three_at_once() -> None:
    target = f"{ENGINES / 'limited.py'}:OwnApi"
    [problem] = conformance.check(target, profile="quick").problems.items
    assert (
        "try --alias backward=backprop --alias data=value --alias 'grad=gradient()', or"
        in problem.summary
    )
    aliases = ["backward=backprop", "data=value", "grad=gradient()"]
    report = conformance.check(target, profile="quick", seed=1, aliases=aliases)
    assert report.ok, report.problem_text()
    assert {("add", "vv"), ("mul", "cv"), ("tanh", "v")} <= set(report.supported)


def test_a_port_with_terse_words_learns_them_by_prefix_and_by_the_number_it_holds() -> None:
    target = f"{ENGINES / 'limited.py'}:TerseApi"
    [problem] = conformance.check(target, profile="quick").problems.items
    hint = "try --alias backward=backward_pass --alias data=v --alias grad=grade, or"
    assert hint in problem.summary, problem.summary
    aliases = ["backward=backward_pass", "data=v", "grad=grade"]
    report = conformance.check(target, profile="quick", seed=1, aliases=aliases)
    assert report.ok, report.problem_text()


def test_a_method_read_as_a_number_gets_the_alias_that_calls_it() -> None:
    target = f"{ENGINES / 'limited.py'}:OwnApi"
    aliases = ["backward=backprop", "data=value", "grad=gradient"]
    report = conformance.check(target, profile="quick", aliases=aliases)
    [problem] = report.problems.items
    assert "is not a number: <bound method" in problem.summary
    assert "try --alias 'grad=gradient()', or" in problem.summary  # quoted for a shell


def test_reproducers_of_a_port_with_its_own_api_use_its_own_words(tmp_path: Path) -> None:
    target = f"{ENGINES / 'limited.py'}:OwnApiWrongTanh"
    aliases = ["backward=backprop", "data=value", "grad=gradient()"]
    report = conformance.check(target, profile="quick", seed=1, checks=["ops"], aliases=aliases)
    [problem] = report.problems.items
    assert str(problem.signature).startswith("op:tanh"), report.problem_text()
    short = "\n".join(problem.short)
    assert ".backprop()" in short and ".backward()" not in short
    assert re.search(r"# v\d+\.(value|gradient\(\)): torch", short), short
    assert "'--alias=grad=gradient()'" in problem.replay
    script = problem.reproducer
    assert "out.backprop()" in script and ".value" in script and ".gradient()" in script
    failing = _run_script(script, tmp_path, "own_api")
    assert failing.returncode == 1 and "MISMATCH" in failing.stdout, failing
