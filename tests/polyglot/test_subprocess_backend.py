"""The subprocess backend against well-behaved and hostile processes, program by program."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.backends import TargetError
from conformance.backends.base import BackendError, BackendTimeout
from conformance.backends.subprocess import SubprocessBackend
from conformance.checks.base import CheckContext
from conformance.checks.deep import DEEP
from conformance.oracles.table import TableOracle
from conformance.program import Node, Program
from conformance.protocol import encode_line, encode_request
from tests.polyglot.conftest import REFERENCE_DRIVER

# y = 2.0 - tanh(x * 2.0) at x = 1.5: five nodes, a reflected op, an input used once.
WORKED = Program(
    (
        Node("input", value=1.5),
        Node("const", value=2.0),
        Node("mul", (0, 1)),
        Node("tanh", (2,)),
        Node("sub", (1, 3)),
    ),
    output=4,
)
# x * x + x: three nodes, the same node on both sides of an op.
SMALL = Program((Node("input", value=-0.75), Node("mul", (0, 0)), Node("add", (1, 0))), output=2)


def expected_worked() -> tuple[float, float]:
    """y and dy/dx of WORKED, by hand."""
    t = math.tanh(3.0)
    return 2.0 - t, -(1.0 - t * t) * 2.0


def is_gone(pid: int, within: float = 3.0) -> bool:
    """Whether no process (running or zombie) has this pid, waiting a little for init to reap."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def assert_runs_small(backend: SubprocessBackend) -> None:
    """The backend still answers correctly (after whatever happened before)."""
    evaluation = backend.run(SMALL)
    assert evaluation.values == {0: -0.75, 1: 0.5625, 2: -0.1875}
    assert evaluation.grads == {0: 2 * -0.75 + 1}


def test_the_c_engine_computes_the_worked_example(c_engines: dict[str, Path]) -> None:
    with SubprocessBackend(str(c_engines["good"])) as backend:
        evaluation = backend.run(WORKED)
        assert backend.engine == "micrograd-c"
        assert "tanh" in backend.ops and "idiv" in backend.ops
    y, dy = expected_worked()
    assert evaluation.values[4] == pytest.approx(y, rel=1e-15)
    assert evaluation.grads[0] == pytest.approx(dy, rel=1e-12)
    assert set(evaluation.values) == {0, 2, 3, 4} and set(evaluation.grads) == {0}


def test_the_python_reference_driver_computes_the_worked_example() -> None:
    with SubprocessBackend(REFERENCE_DRIVER) as backend:
        evaluation = backend.run(WORKED)
        assert backend.engine == "micrograd.engine:Value"
    y, dy = expected_worked()
    assert evaluation.values[4] == pytest.approx(y, rel=1e-15)
    assert evaluation.grads[0] == pytest.approx(dy, rel=1e-12)


def test_repeated_backward_passes_accumulate_in_the_c_engine(c_engines: dict[str, Path]) -> None:
    twice = Program(SMALL.nodes, SMALL.output, backward_passes=2)
    with SubprocessBackend(str(c_engines["good"])) as backend:
        assert backend.run(twice).grads[0] == 2 * (2 * -0.75 + 1)


def test_a_chain_of_100000_nodes_runs_in_the_c_engine(c_engines: dict[str, Path]) -> None:
    nodes = [Node("input", value=0.5)] + [Node("tanh", (i,)) for i in range(100_000)]
    with SubprocessBackend(str(c_engines["good"])) as backend:
        evaluation = backend.run(Program(tuple(nodes), output=100_000))
    assert len(evaluation.values) == 100_001
    assert 0.0 < evaluation.grads[0] < 1.0


def test_non_finite_results_cross_the_wire(c_engines: dict[str, Path]) -> None:
    program = Program((Node("input", value=0.0), Node("log", (0,))), output=1)
    with SubprocessBackend(str(c_engines["good"])) as backend:
        evaluation = backend.run(program)
    assert evaluation.values[1] == -math.inf and evaluation.grads[0] == math.inf


def test_an_op_missing_from_the_hello_is_unsupported_without_asking(
    hostile: Callable[..., str],
) -> None:
    # The hostile driver would crash on any request: an answer here proves nothing was sent.
    with SubprocessBackend(hostile("segfault")) as backend:
        backend.ops = backend.ops - {"tanh"}
        with pytest.raises(BackendError, match="unsupported op 'tanh'") as info:
            backend.run(WORKED)
        assert info.value.kind == "unsupported"
        assert backend.starts == 1


@pytest.mark.parametrize(
    ("mode", "kind", "pattern"),
    [
        ("segfault", "error", r"killed by signal SIGSEGV"),
        ("abort", "error", r"killed by signal SIGABRT"),
        ("rust-stack-overflow", "error", r"SIGABRT.*overflowed its stack"),
        ("exit", "error", r"exited with status 3"),
        ("garbage", "protocol", r"not JSON: b'Segmentation fault\? no"),
        ("wrong-id", "protocol", r"answered id 100\d to request \d"),
        ("wrong-type", "protocol", r"expected a 'result' or 'error' message, got type 'hello'"),
        ("short-values", "protocol", r"'values' must be a list of 5 numbers .* got a list of 4"),
    ],
)
def test_a_misbehaving_process_fails_that_program_and_is_restarted(
    hostile: Callable[..., str], mode: str, kind: str, pattern: str
) -> None:
    with SubprocessBackend(hostile(mode, min_nodes=5), timeout=5) as backend:
        assert_runs_small(backend)
        first_pid = backend.pid
        assert first_pid is not None
        with pytest.raises(BackendError) as info:
            backend.run(WORKED)
        message = str(info.value)
        assert re.search(pattern, message, re.DOTALL), message
        assert "restarted" in message
        assert info.value.kind == kind
        assert is_gone(first_pid), "the dead process was not reaped (zombie) or not killed"
        assert_runs_small(backend)
        # Found dead after an answered program, the program ran again alone on a fresh process
        # (was the death the previous program's?), died again, and a third process serves on.
        expected_starts = 3 if kind == "error" else 2
        assert backend.starts == expected_starts and backend.pid != first_pid


@pytest.mark.parametrize("mode", ["hang", "partial-line", "deaf"])
def test_a_hanging_process_times_out_and_is_restarted(
    hostile: Callable[..., str], mode: str
) -> None:
    with SubprocessBackend(hostile(mode, min_nodes=5), timeout=0.5) as backend:
        if mode != "deaf":
            assert_runs_small(backend)
        # A deaf process never reads: the big request fills the pipe, and sending must time out too.
        big = Program(
            (Node("input", value=0.5), *(Node("neg", (i,)) for i in range(200_000))), output=200_000
        )
        started = time.monotonic()
        with pytest.raises(BackendTimeout, match=r"timed out after 0\.5 s") as info:
            backend.run(big if mode == "deaf" else WORKED)
        assert time.monotonic() - started < 3.0
        assert info.value.kind == "timeout"
        if mode != "deaf":  # a restarted deaf process would only hang again
            assert_runs_small(backend)
            # It hung after answering a program: once more alone on a fresh process (was it
            # releasing the previous one?), hung again, so a third process serves on.
            assert backend.starts == 3


def test_a_hung_process_is_killed_with_its_children(hostile: Callable[..., str]) -> None:
    with SubprocessBackend(hostile("hang-with-child", min_nodes=5), timeout=0.5) as backend:
        with pytest.raises(BackendTimeout) as info:
            backend.run(WORKED)
        child = re.search(r"child pid (\d+)", str(info.value))
        assert child is not None, f"the stderr tail is missing from: {info.value}"
        assert is_gone(int(child.group(1))), "the hung process's child survived"
        assert_runs_small(backend)


def test_closing_leaves_no_process_behind(hostile: Callable[..., str]) -> None:
    backend = SubprocessBackend(hostile("segfault", min_nodes=5))
    backend.run(SMALL)
    with pytest.raises(BackendError):
        backend.run(WORKED)
    backend.run(SMALL)
    backend.close()
    assert len(backend.pids) == 3  # the program that died ran twice: see the test above
    assert all(is_gone(pid) for pid in backend.pids)


@pytest.mark.parametrize(
    ("mode", "pattern"),
    [
        ("bad-hello", r"speaks protocol version 99; this harness speaks version 1"),
        ("no-hello", r"timed out after 0\.5 s waiting for its hello message"),
        ("print-banner", r"not JSON: b'Welcome to my engine!'"),
    ],
)
def test_a_process_that_cannot_say_hello_is_not_a_loadable_target(
    hostile: Callable[..., str], mode: str, pattern: str
) -> None:
    with pytest.raises(TargetError, match=pattern):
        SubprocessBackend(hostile(mode), timeout=5, start_timeout=0.5)


def test_a_command_that_does_not_exist_is_not_a_loadable_target(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"cannot start .*no-such-engine"):
        SubprocessBackend(str(tmp_path / "no-such-engine"))


def test_bad_arguments_are_rejected_with_the_value() -> None:
    with pytest.raises(ValueError, match="needs a command"):
        SubprocessBackend("   ")
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got 0"):
        SubprocessBackend(REFERENCE_DRIVER, timeout=0)


def test_a_request_is_one_json_line_in_the_documented_shape() -> None:
    line = encode_line(encode_request(WORKED, 7))
    assert line == (
        b'{"type":"run","id":7,"nodes":[["input",1.5],["const",2.0],["mul",0,1],["tanh",2],'
        b'["sub",1,3]],"output":4,"backward_passes":1}\n'
    )


def test_an_engine_error_keeps_the_process(tmp_path: Path) -> None:
    engine = tmp_path / "fragile.py"
    engine.write_text(
        "from micrograd.engine import Value as Base\n"
        "class Value(Base):\n"
        "    def tanh(self):\n"
        "        raise RecursionError('maximum recursion depth exceeded')\n"
    )
    # Only the inputs are instances of the subclass: tanh must be applied to one.
    program = Program((Node("input", value=0.5), Node("tanh", (0,))), output=1)
    with SubprocessBackend(f"{REFERENCE_DRIVER} {engine}:Value") as backend:
        with pytest.raises(BackendError, match="RecursionError: maximum recursion depth") as info:
            backend.run(program)
        assert info.value.kind == "error" and info.value.exception_type == "RecursionError"
        assert_runs_small(backend)
        assert backend.starts == 1


def test_an_interrupted_exchange_drops_the_process(hostile: Callable[..., str]) -> None:
    # KeyboardInterrupt stands for any BaseException (a time limit) raised while we wait.
    with SubprocessBackend(hostile("hang", min_nodes=5), timeout=5) as backend:
        first_pid = backend.pid
        assert first_pid is not None

        def interrupted(seconds: float, what: str, deadline: float | None = None) -> object:
            raise KeyboardInterrupt

        backend._receive = interrupted  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            backend.run(SMALL)
        assert backend.pid is None and is_gone(first_pid)
        del backend._receive
        assert_runs_small(backend)


def test_a_reproducer_line_replays_on_a_driver_through_the_cli(
    c_engines: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conformance.cli import main
    from conformance.protocol import reproducer_line

    y, dy = expected_worked()
    line = reproducer_line(WORKED, {0: 1.5, 4: y}, {0: dy}, {0: 0.0, 4: 1e-15}, {0: 1e-13})
    wire = tmp_path / "worked.wire"
    wire.write_text(line + "\n")
    assert main(["--replay", str(wire), "--exec", str(c_engines["good"])]) == 0
    assert "on micrograd-c" in capsys.readouterr().out
    assert main(["--replay", str(wire), "--exec", str(c_engines["tanh-deriv"])]) == 1
    assert "grad of v0: expected" in capsys.readouterr().out


def test_a_death_after_answering_is_blamed_on_the_program_answered_not_the_next(
    hostile: Callable[..., str],
) -> None:
    with SubprocessBackend(hostile("die-after-answer", min_nodes=5), timeout=5) as backend:
        assert_runs_small(backend)
        assert backend.run(WORKED).values[4] == pytest.approx(expected_worked()[0], rel=1e-15)
        # Found dead at the next program, which then runs alone on a fresh process, survives
        # its release, and passes: the death is handed back as the previous program's.
        assert_runs_small(backend)
        ((program, how),) = backend.take_released_deaths()
        assert program == WORKED and "SIGABRT" in how
        assert backend.verify_release and backend.take_released_deaths() == []
        # From then on each program's release is verified, so the death is blamed on the spot.
        with pytest.raises(BackendError) as info:
            backend.run(WORKED)
        assert info.value.phase == "release" and info.value.kind == "error"
        assert "after answering this program, while releasing it" in str(info.value)
        assert "overflowed its stack" in str(info.value)
        assert_runs_small(backend)


def test_a_program_that_dies_itself_on_a_fresh_process_is_not_excused(
    hostile: Callable[..., str],
) -> None:
    with SubprocessBackend(hostile("segfault", min_nodes=5), timeout=5) as backend:
        assert_runs_small(backend)  # answered: the next death is at first a suspect's
        with pytest.raises(BackendError, match="SIGSEGV") as info:
            backend.run(WORKED)
        assert info.value.phase == "" and backend.take_released_deaths() == []


def test_a_hang_after_answering_is_a_timeout_while_releasing(hostile: Callable[..., str]) -> None:
    with SubprocessBackend(
        hostile("hang-after-answer", min_nodes=5), timeout=0.5, verify_release=True
    ) as backend:
        assert_runs_small(backend)
        with pytest.raises(BackendTimeout, match="hung while releasing it") as info:
            backend.run(WORKED)
        assert info.value.phase == "release"
        assert_runs_small(backend)


def test_a_run_names_a_death_after_answering_with_a_program_that_causes_it(
    hostile: Callable[..., str], tmp_path: Path
) -> None:
    from conformance.cli import main

    report = tmp_path / "report.json"
    command = hostile("die-after-answer", min_nodes=12)
    args = ["--exec", command, "--profile", "quick", "--check", "random", "--seed", "1", "-q"]
    assert main([*args, "--json", str(report)]) == 1
    problems = json.loads(report.read_text())["problems"]
    assert [p["signature"] for p in problems] == [
        "crash:release:the backend process was killed by signal SIGABRT"
    ]
    assert problems[0]["program_nodes"] >= 12  # the program whose release killed it, not the next
    wire = tmp_path / "problem.wire"
    wire.write_text(problems[0]["wire"] + "\n")
    assert main(["--replay", str(wire), "--exec", command]) == 1
    assert main(["--replay", str(wire), "--exec", REFERENCE_DRIVER]) == 0


def test_the_hello_names_the_engine_and_ops_the_harness_would_never_check(
    tmp_path: Path,
) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import json, sys\n"
        "hello = {'type': 'hello', 'protocol': 1, 'engine': 'typo', 'ops': ['add', 'ln']}\n"
        "print(json.dumps(hello), flush=True)\n"
        "sys.stdin.read()\n"
    )
    with SubprocessBackend(shlex.join([sys.executable, str(driver)])) as backend:
        assert backend.description == (
            "engine 'typo'; its hello claims ops this harness does not know, never checked: ln"
        )


def test_a_hang_while_releasing_is_not_blamed_on_the_next_program(
    hostile: Callable[..., str],
) -> None:
    with SubprocessBackend(hostile("hang-after-answer", min_nodes=5), timeout=0.5) as backend:
        backend.run(WORKED)  # answered; the process now hangs before reading the next request
        assert_runs_small(backend)  # timed out, then passed alone on a fresh process
        ((program, how),) = backend.take_released_deaths()
        assert program == WORKED and "timed out" in how
        with pytest.raises(BackendTimeout, match="hung while releasing it"):
            backend.run(WORKED)


def test_the_deep_check_waits_for_a_hanging_chain_once_and_leaves_the_backend_as_it_was(
    hostile: Callable[..., str],
) -> None:
    # A hang at a chain answered after another would be run again on a fresh process (was it
    # the release of the chain before?), a second wait of a timeout that grows with the chain.
    # The deep check has each release confirmed instead: the first wait is the only one.
    with SubprocessBackend(hostile("hang", min_nodes=5), timeout=0.5) as backend:
        ctx = CheckContext(backend, TableOracle(), [("mul", "vc"), ("tanh", "v")], "quick")
        assert_runs_small(backend)
        outcome = DEEP.evaluate(ctx, WORKED, 0.5)
        assert outcome.verdict.error_kind == "timeout", outcome.verdict
        assert backend.starts == 1  # the chain was not run again on a fresh process
        assert backend.verify_release is False
        assert_runs_small(backend)  # on the process started after the hang
        assert backend.starts == 2
