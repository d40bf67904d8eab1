"""The runner, the public API, the CLI, the reproducer and the pytest plugin, end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import conformance
import conformance.checks.deep as deep_module
from conformance.backends import TargetError, load_backend
from conformance.cli import main
from conformance.probe import probe

# No torch needed: conformance.check falls back to the mpmath oracle where torch is missing.

ENGINES = Path(__file__).resolve().parents[1] / "meta_tests" / "engines"
GOOD = f"{ENGINES / 'plain.py'}:Value"
BROKEN = ENGINES / "broken.py"
LIMITED = ENGINES / "limited.py"
HOSTILE = ENGINES / "hostile.py"
FAST = ["random", "reuse", "reflected", "kinks", "inplace"]


def test_a_correct_engine_is_conformant_on_every_program_check():
    report = conformance.check(GOOD, profile="quick", seed=1, checks=FAST)
    assert report.ok, report.failure_text()
    assert [c.name for c in report.checks] == FAST
    assert all(c.status == "passed" and c.examples > 0 for c in report.checks)


def test_the_deep_check_grows_chains_to_100000_ops_on_a_correct_engine():
    report = conformance.check(GOOD, profile="quick", seed=2, checks=["deep"])
    assert report.ok, report.failure_text()
    assert report.checks[0].examples == 2
    assert "chains of 10,000, 100,000 ops" in report.checks[0].note


def test_a_wrong_derivative_fails_with_a_shrunk_runnable_reproducer(tmp_path):
    report = conformance.check(
        f"{BROKEN}:WrongMulDerivative", profile="quick", seed=3, checks=["random"]
    )
    assert not report.ok
    failure = report.checks[0].failures[0]
    assert failure.program is not None and len(failure.program.nodes) <= 4
    assert "--seed 3" in failure.replay and "--check random" in failure.replay
    script = tmp_path / "repro.py"
    script.write_text(failure.reproducer)
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 1
    assert "MISMATCH" in run.stdout


def test_a_recursive_backward_fails_the_deep_check_with_a_compact_reproducer(tmp_path, monkeypatch):
    # A recursive sort fails near depth 1,000: a 20,000-node chain shows it in a fifth of the time.
    monkeypatch.setitem(deep_module.DEPTHS, "quick", (20_000,))
    report = conformance.check(
        f"{BROKEN}:RecursiveTopoSort", profile="quick", seed=4, checks=["deep"]
    )
    failure = report.checks[0].failures[0]
    assert "RecursionError" in failure.summary
    [problem] = report.problems.items
    assert re.fullmatch(r"on a chain of [\d,]+ ops", problem.details[0]), problem.details
    assert len(failure.reproducer) < 20_000  # a loop over repeated blocks, not 100,000 lines
    script = tmp_path / "repro.py"
    script.write_text(failure.reproducer)
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert "RecursionError" in run.stderr


def test_the_kink_convention_is_checked_only_by_the_kinks_check():
    target = f"{BROKEN}:ReluGradOneAtZero"
    random_dags = conformance.check(target, profile="quick", seed=5, checks=["random"])
    kinks = conformance.check(target, profile="default", seed=5, checks=["kinks"])
    assert random_dags.ok
    assert kinks.checks[0].status == "failed"
    assert "expected 0.0, got 1.0" in kinks.checks[0].failures[0].summary


def test_semantics_checks_warn_and_fail_only_when_strict():
    lenient = conformance.check(GOOD, profile="quick", seed=6, checks=["nonfinite"])
    strict = conformance.check(GOOD, profile="quick", seed=6, checks=["nonfinite"], strict=True)
    assert lenient.ok and lenient.checks[0].status == "warned"
    assert not strict.ok and strict.checks[0].status == "failed"


def test_probing_skips_missing_ops_with_the_reason_and_never_crashes():
    backend = load_backend(f"{LIMITED}:NoTranscendentals")
    found = probe(backend)
    assert found.fatal is None
    assert ("add", "vv") in found.supported and ("mul", "vc") in found.supported
    assert ("exp", "v") in found.skipped and "exp" in found.skipped[("exp", "v")]
    assert ("add", "cv") in found.skipped  # no __radd__
    report = conformance.check(
        f"{LIMITED}:NoTranscendentals", profile="quick", seed=7, checks=["random", "kinks"]
    )
    # Missing ops are skipped; a missing number form of + and * is micrograd's API broken.
    assert {str(p.signature) for p in report.problems} == {"api:add:cv", "api:mul:cv"}
    assert not report.ok
    assert report.checks[0].status == "passed"
    assert report.checks[1].status == "skipped" and "kink" in report.checks[1].note


def test_an_unloadable_target_raises_target_error_naming_it():
    with pytest.raises(TargetError, match="no_such_module"):
        load_backend("no_such_module:Value")
    with pytest.raises(TargetError, match="has no attribute 'Nope'"):
        load_backend(f"{ENGINES / 'plain.py'}:Nope")
    with pytest.raises(TargetError, match="does not exist"):
        load_backend("missing/file.py:Value")
    with pytest.raises(TargetError, match="not a Value class"):
        load_backend(f"{ENGINES / 'plain.py'}:math")


def test_an_adapter_object_is_checked_like_a_class():
    from tests.meta_tests.engines import plain

    class Adapter:
        name = "adapter-over-the-tiny-engine"

        def leaf(self, x):
            return plain.Value(x)

        def data(self, v):
            return v.data

        def grad(self, v):
            return v.grad

        def backward(self, v):
            v.backward()

        def apply(self, op, *args):
            return args[0].exp() if op == "exp" else NotImplemented

    report = conformance.check(Adapter(), profile="quick", seed=8, checks=["random"])
    assert report.ok, report.failure_text()


def test_cli_exit_codes(tmp_path, capsys):
    assert main([GOOD, "--profile", "quick", "--check", "random", "--seed", "1", "-q"]) == 0
    bad = f"{BROKEN}:Float32EveryNode"
    out = tmp_path / "report.json"
    assert (
        main([bad, "--profile", "quick", "--check", "random", "--seed", "1", "--json", str(out)])
        == 1
    )
    report = json.loads(out.read_text())
    assert report["target"] == bad and report["seed"] == 1 and report["profile"] == "quick"
    assert {"python", "hypothesis", "torch"} <= set(report["versions"])
    # Value(x) rounds x to float32: one problem, and no program can be judged past it.
    (problem,) = report["problems"]
    assert problem["signature"] == "leaf:value"
    assert "import Float32EveryNode as TARGET" in problem["reproducer"]
    assert report["checks"][0]["status"] == "skipped"
    assert "Value(x) does not keep x" in report["checks"][0]["note"]
    assert main(["no_such_module:Value"]) == 2
    assert "no_such_module" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([GOOD, "--profile", "nope"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main([GOOD, "--check", "nope"])
    assert exit_info.value.code == 2
    assert "unknown check 'nope'" in capsys.readouterr().err


def test_the_pytest_plugin_runs_checks_as_items_and_prints_the_header(tmp_path):
    (tmp_path / "test_empty.py").write_text("def test_nothing():\n    pass\n")
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)]
    args += ["--conformance-target", f"{BROKEN}:ReluGradOneAtZero", "--conformance-seed", "9"]
    args += ["--conformance-profile", "quick"]
    args += ["--conformance-check", "ops", "--conformance-check", "random"]
    run = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1, run.stdout
    assert "conformance: target" in run.stdout and "seed 9" in run.stdout and "oracle" in run.stdout
    # test_nothing, the probe and random pass; ops fails, naming relu's gradient once.
    assert "conformance::ops" in run.stdout and "3 passed" in run.stdout, run.stdout
    assert "1 failed" in run.stdout
    failures = run.stdout.split("short test summary")[0]
    assert failures.count("op:relu:gradient:") == 1


def test_the_pytest_plugin_turns_an_xfail_listed_problem_into_an_xfail(tmp_path):
    (tmp_path / "test_empty.py").write_text("def test_nothing():\n    pass\n")
    (tmp_path / "xfails.txt").write_text("op:relu:gradient   # relu'(0) = 1, on purpose\n")
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)]
    args += ["--conformance-target", f"{BROKEN}:ReluGradOneAtZero", "--conformance-seed", "9"]
    args += ["--conformance-profile", "quick", "--conformance-check", "ops"]
    args += ["--conformance-xfail", str(tmp_path / "xfails.txt")]
    run = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert "2 passed, 1 xfailed" in run.stdout, run.stdout


def test_the_pytest_plugin_does_nothing_without_a_target(tmp_path):
    (tmp_path / "test_empty.py").write_text("def test_nothing():\n    pass\n")
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)]
    run = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and "1 passed" in run.stdout
    assert "conformance:" not in run.stdout and "conformance::" not in run.stdout


def test_a_hanging_backend_is_a_failure_of_that_program_not_a_stuck_run():
    report = conformance.check(
        f"{HOSTILE}:HangsOnBigGraphs",
        profile="quick",
        seed=10,
        checks=["random"],
        timeout=0.2,
        shrink_seconds=2.0,
    )
    assert not report.ok
    assert "timed out after 0.2 s" in report.checks[0].failures[0].summary


def test_an_adapter_failure_gets_a_reproducer_driving_the_adapter(tmp_path):
    adapter_file = tmp_path / "my_adapter.py"
    adapter_file.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ENGINES.parents[2])!r})\n"
        "from tests.meta_tests.engines.broken import WrongMulDerivative\n"
        "class Adapter:\n"
        "    def leaf(self, x): return WrongMulDerivative(x)\n"
        "    def data(self, v): return v.data\n"
        "    def grad(self, v): return v.grad\n"
        "    def backward(self, v): v.backward()\n"
    )
    report = conformance.check(
        f"{adapter_file}:Adapter", profile="quick", seed=11, checks=["random"]
    )
    failure = report.checks[0].failures[0]
    assert "TARGET.leaf" in failure.reproducer or "leaf = TARGET.leaf" in failure.reproducer
    script = tmp_path / "repro.py"
    script.write_text(failure.reproducer)
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 1 and "MISMATCH" in run.stdout


def test_a_run_writes_nothing_in_its_working_directory_unless_asked(tmp_path):
    command = [sys.executable, "-m", "conformance", f"{BROKEN}:WrongMulDerivative", "-q"]
    command += ["--profile", "quick", "--seed", "1", "--check", "random"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_database_keeps_failing_programs_until_the_engine_passes_them(tmp_path):
    work, database = tmp_path / "work", tmp_path / "db"
    work.mkdir()

    def run(target: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "conformance", target, "-q", "--profile", "quick"]
        command += ["--seed", "1", "--check", "random", "--database", str(database)]
        return subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)

    assert run(f"{BROKEN}:WrongMulDerivative").returncode == 1
    stored = list((database / "random").glob("*.json"))
    assert stored, "the failing program was not kept"
    # The same program, judged first on the next run: the fixed engine passes it, so it goes.
    fixed = run(f"{ENGINES / 'reference.py'}:Value")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert not list((database / "random").glob("*.json"))
    assert list(work.iterdir()) == []


def test_a_batch_is_judged_row_by_row_and_a_failing_row_is_pinned_into_the_program():
    from conformance.checks import CheckContext
    from conformance.checks.programs import RANDOM
    from conformance.oracles import load_oracle
    from conformance.program import Node, Program
    from conformance.strategies import ProgramBatch

    tanh = Program((Node("input", value=0.5), Node("tanh", (0,))), output=1)
    batch = ProgramBatch(tanh, ((0.5,), (-1.0,), (400.0,), (1.0,)))
    backend = load_backend(f"{BROKEN}:TanhViaExpOverflows")
    ctx = CheckContext(backend, load_oracle("auto"), [("tanh", "v")], "quick")
    outcome = RANDOM.run_example(ctx, batch)
    assert outcome.failed and outcome.runs == 3  # rows 1 and 2 pass; the third overflows
    assert outcome.program is not None and outcome.program.nodes[0].value == 400.0
    assert RANDOM.run_example(ctx, ProgramBatch(tanh, ((0.5,), (1.0,)))).runs == 2


def test_a_check_counts_each_program_of_its_batches_once(monkeypatch):
    from conformance.checks import CheckContext
    from conformance.checks.programs import RANDOM
    from conformance.oracles import load_oracle
    from conformance.runner import run_check

    backend = load_backend(GOOD)
    ctx = CheckContext(backend, load_oracle("auto"), probe(backend).supported, "quick")
    ran = []
    run = backend.run
    monkeypatch.setattr(backend, "run", lambda program: ran.append(program) or run(program))
    result = run_check(RANDOM, ctx, seed_value=1, budget=None)
    assert result.status == "passed"
    # Every program counts once; some unchecked ones (the oracle's numbers not all finite)
    # never reach the engine.
    assert result.examples >= RANDOM.example_count("quick")
    assert result.examples - result.unchecked <= len(ran) <= result.examples
    assert len({p.nodes for p in ran}) > len({tuple(n.op for n in p.nodes) for p in ran})
