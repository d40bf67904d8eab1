"""The Rust side over the wire: the driver crate, the reference engine and its planted bugs.

The cargo workspace in polyglot/rust is built once per session (a no-op when it is up to date;
cargo's build-directory lock serialises concurrent builds from several xdist workers). Each planted
bug is a cargo feature of the reference engine, built into its own target directory so that no
build overwrites another's binary. Without cargo, every test here is skipped and says why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import conformance
from conformance.backends.subprocess import SubprocessBackend

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = ROOT / "polyglot" / "rust"
TARGET = WORKSPACE / "target"
PROTOCOL_DOC = ROOT / "docs" / "PROTOCOL.md"
EXAMPLES = WORKSPACE / "driver" / "examples"
PROFILE = "quick"
SEED = 20240611
BUILD_TIMEOUT = 600

# feature -> (a check that must fail, an op its failing programs must contain)
BUGS = {
    "bug-inplace-overwrites": ("inplace", "iadd isub imul idiv"),
    "bug-tanh-exp-formula": ("random", "tanh"),
}

# The reproducer line of docs/PROTOCOL.md ("Reproducer lines").
REPRODUCER = (
    '{"type":"run","id":0,"nodes":[["input",1.5],["const",2.0],["mul",0,1]],"output":2,'
    '"backward_passes":1,"expect":{"values":[1.5,null,3.0],"grads":[2.0,null,null],'
    '"value_tolerances":[0.0,null,1e-15],"grad_tolerances":[1e-15,null,null]}}'
)


def find_cargo() -> str:
    """``cargo`` on PATH or where rustup installs it; skips the calling test without it."""
    cargo = shutil.which("cargo")
    if cargo is None and (Path.home() / ".cargo" / "bin" / "cargo").exists():
        cargo = str(Path.home() / ".cargo" / "bin" / "cargo")
    if cargo is None:
        pytest.skip(
            "cargo is not installed: cannot build polyglot/rust (install Rust >= 1.85, e.g. "
            "with rustup; the crates need no network)"
        )
    return cargo


def cargo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run cargo in the workspace; fail the test with cargo's output if it fails."""
    command = [find_cargo(), *args]
    result = subprocess.run(
        command,
        cwd=WORKSPACE,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="session")
def rust_binaries() -> dict[str, Path]:
    """The reference driver, the demo and one driver per planted bug, built once per session."""
    cargo("build", "--release", "--offline")
    binaries = {"reference": TARGET / "release" / "driver", "demo": TARGET / "release" / "demo"}
    for bug in BUGS:
        target_dir = TARGET / bug
        cargo(
            "build", "--release", "--offline", "-p", "micrograd-rs", "--bin", "driver",
            "--features", bug, "--target-dir", str(target_dir),
        )  # fmt: skip
        binaries[bug] = target_dir / "release" / "driver"
    return binaries


def check_binary(
    binary: Path, *, checks: list[str] | None = None, strict: bool = False
) -> tuple[conformance.Report, str]:
    """The harness's report on a driver binary, and the engine name from its hello."""
    with SubprocessBackend(str(binary), timeout=10.0) as backend:
        report = conformance.check(
            backend,
            profile=PROFILE,
            seed=SEED,
            strict=strict,
            checks=checks,
            timeout=5.0,
            shrink_seconds=5.0,
        )
        return report, backend.engine


def summary(report: conformance.Report) -> str:
    """What to print when an assertion on a report fails."""
    return f"{report.table()}\n{report.failure_text()}"


def test_the_rust_crates_pass_their_own_tests() -> None:
    result = cargo("test", "--offline")
    output = result.stdout + result.stderr
    passed = sum(int(n) for n in re.findall(r"test result: ok\. (\d+) passed", output))
    assert passed >= 40, output
    for name in (
        "a_million_node_chain_builds_differentiates_and_drops_on_a_small_stack",
        "every_op_in_every_form_matches_torch",
        "floats_round_trip_exactly_across_the_whole_range",
        "the_no_numbers_adapter_answers_unsupported_op_for_number_operands",
    ):
        assert f"{name} ... ok" in output, output


def test_the_rust_reference_engine_is_conformant(rust_binaries: dict[str, Path]) -> None:
    report, engine = check_binary(rust_binaries["reference"], strict=True)
    assert report.ok, summary(report)
    assert engine == "micrograd-rs 0.1.0"
    assert {result.status for result in report.checks} == {"passed"}, summary(report)
    assert sum(result.examples for result in report.checks) >= 400


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_a_rust_engine_with_a_planted_bug_is_rejected_naming_the_check_and_the_op(
    rust_binaries: dict[str, Path], bug: str
) -> None:
    check, ops = BUGS[bug]
    report, engine = check_binary(
        rust_binaries[bug], checks=["random", "reuse", "reflected", "inplace", "kinks"]
    )
    assert not report.ok, summary(report)
    assert bug in engine  # the hello names the build
    # The problem the bug makes: seen by its check (whichever check recorded it first).
    problems = [p for p in report.problems if check in p.checks]
    assert problems, summary(report)
    for problem in problems:
        assert problem.program is not None
        assert {node.op for node in problem.program.nodes} & set(ops.split()), summary(report)
        named = f"{problem.summary}\n{problem.reproducer}"
        assert any(op in named for op in ops.split()), named


def test_a_reproducer_line_piped_into_the_driver_is_answered_with_its_expect_ignored(
    rust_binaries: dict[str, Path],
) -> None:
    result = subprocess.run(
        [str(rust_binaries["reference"])],
        input=REPRODUCER + "\n",
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # it exits at end of input
    hello, answer = (json.loads(line) for line in result.stdout.splitlines())
    assert hello["type"] == "hello" and hello["protocol"] == 1
    assert {"sin", "cos", "sqrt", "abs"} <= set(hello["ops"])
    assert answer == {
        "type": "result",
        "id": 0,
        "values": [1.5, None, 3.0],
        "grads": [2.0, None, None],  # (the input's only: the harness reads no other)
    }


def test_the_rust_demo_follows_the_python_engines_loss_trajectory(
    rust_binaries: dict[str, Path],
) -> None:
    from benchmarks.compare_micrograd010 import REL_TOL, make_spec, max_rel_diff
    from benchmarks.demo_child import run as run_python

    spec = make_spec("notebook", 4)
    result = subprocess.run(
        [str(rust_binaries["demo"])],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rust = json.loads(result.stdout)
    python = run_python(spec)
    assert set(rust) == set(python)
    assert rust["python"].startswith("rust ") and rust["gc_collections"] == [0, 0, 0]
    assert len(rust["losses"]) == 4 and rust["accuracies"] == python["accuracies"]
    assert max_rel_diff(rust["losses"], python["losses"]) <= REL_TOL


def test_the_rust_demo_names_what_is_wrong_with_a_spec(rust_binaries: dict[str, Path]) -> None:
    spec = {"loop": "notebook", "X": [[0.0, 1.0]], "y": [1], "weights": [0.5], "steps": 1}
    spec["alpha"] = 1e-4
    result = subprocess.run(
        [str(rust_binaries["demo"])],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "the network has 337 parameters, got 1 weights" in result.stderr


@pytest.mark.parametrize("example", ["owned_assign", "no_number_operands"])
def test_the_adapters_in_the_protocol_document_are_the_compiled_examples(example: str) -> None:
    source = (EXAMPLES / f"{example}.rs").read_text()
    adapter = re.search(r"// ANCHOR: adapter\n(.*)// ANCHOR_END: adapter\n", source, re.S)
    assert adapter is not None, f"{example}.rs has no adapter section"
    assert adapter.group(1) in PROTOCOL_DOC.read_text(), (
        f"docs/PROTOCOL.md must show examples/{example}.rs's adapter verbatim"
    )
