"""Any-language engines: a backend served by another process over docs/PROTOCOL.md.

The process may be hostile. A crash, a hang past the timeout, garbage on stdout or a wrong message
makes *that program* fail with a BackendError that says what happened (with the tail of the
process's stderr); the process is killed with its whole process group, reaped, and started again
for the next program.

A process that dies *after* answering (a recursive destructor of a long graph, a double free when
the graph is released) is only found dead by the next request. That request is then run again on a
fresh process, followed by a one-node request that shows whether the process lived through
releasing it. If it did, the death belongs to the program answered before: it is handed to the
runner (``take_released_deaths``) to be judged again, and from then on every program is followed
by that one-node request, so each death is blamed on the program whose release caused it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import selectors
import shlex
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from typing import IO, Any

from conformance.backends.base import BackendBase, BackendError, BackendTimeout, Evaluation
from conformance.ops import OPS
from conformance.program import Node, Program
from conformance.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    decode_result,
    encode_line,
    encode_request,
)
from conformance.reproducers.recipes import HarnessRecipe, Recipe

DEFAULT_TIMEOUT = 10.0
"""Seconds a process may take to answer one program before it counts as hung."""

MIN_START_TIMEOUT = 10.0
"""Seconds a process may always take to say hello: starting (a JVM, a wrapper script) is slower
than answering, and a per-program timeout tuned for speed must not make every restart fail."""

MAX_LINE_BYTES = 256 * 1024 * 1024
"""A response line longer than this is garbage (a 100,000-node program answers in a few MB)."""

_STDERR_TAIL_CHARS = 1500

STDERR_CAP_BYTES = 1 << 20
"""The process's stderr is kept in a file of at most about this size (its tail)."""
_READ_CHUNK = 1 << 16


class _Broken(Exception):
    """The process broke the protocol; it must be killed and restarted (internal).

    ``kind`` becomes the BackendError's kind: "protocol" (garbage, a wrong message), "timeout", or
    "error" (the process died)."""

    def __init__(self, message: str, kind: str = "protocol", phase: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.phase = phase


class _Died(Exception):
    """The process died, or stopped answering, before it answered the request in flight (the
    request's fault, or the previous one's release) or, with ``phase`` "release", while it
    released the request it answered (internal). ``kind``: "error" or "timeout"."""

    def __init__(self, description: str, kind: str, phase: str = "") -> None:
        super().__init__(description)
        self.description = description
        self.kind = kind
        self.phase = phase


PING = Program((Node("input", value=1.0),), output=0)
"""The request that follows an answer when releases are verified: one input, one backward()."""


def parse_command(command: str | Sequence[str]) -> list[str]:
    """Split an ``--exec`` command line like a POSIX shell (no shell runs it), or check an argv."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv or not all(isinstance(arg, str) for arg in argv) or not argv[0]:
        raise ValueError(f"--exec needs a command to run, got {command!r}")
    return argv


def _describe_exit(returncode: int) -> str:
    """How a process ended, in words (a negative code is the signal that killed it)."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
            what = signal.strsignal(sig) or sig.name
            return f"was killed by signal {sig.name} ({what})"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class SubprocessBackend(BackendBase):
    """A backend whose engine runs in another process (any language) and speaks docs/PROTOCOL.md."""

    handles_timeout = True
    """It kills and restarts a process that overruns ``timeout``: no in-process alarm on top."""

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        start_timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        verify_release: bool = False,
    ) -> None:
        """Start ``command`` and read its hello; TargetError if it cannot be started or greeted.

        ``timeout`` bounds each program; ``start_timeout`` the hello (default: the larger of
        ``timeout`` and MIN_START_TIMEOUT). ``verify_release``: follow every program with a
        one-node request from the start (it switches itself on when a process dies after
        answering, see the module docstring)."""
        if os.name != "posix":
            raise _start_error("--exec backends need a POSIX system (Linux, macOS, WSL)")
        if not (
            isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if start_timeout is None:
            start_timeout = max(float(timeout), MIN_START_TIMEOUT)
        if not (
            isinstance(start_timeout, (int, float))
            and not isinstance(start_timeout, bool)
            and start_timeout > 0
        ):
            raise ValueError(
                f"start_timeout must be a positive number of seconds, got {start_timeout!r}"
            )
        self.start_timeout = float(start_timeout)
        self.argv = parse_command(command)
        self.command = shlex.join(self.argv)
        self.timeout = float(timeout)
        self.cwd = cwd
        self.env = env
        self.engine = ""
        self.ops: frozenset[str] = frozenset()
        self.starts = 0
        self.pids: list[int] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buffer = bytearray()
        self._next_id = 1
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.verify_release = verify_release
        self._answered: Program | None = None  # the last program this process answered
        self._released_deaths: list[tuple[Program, str]] = []
        self._start()
        self.name = f"{self.engine} (exec: {self.command})"
        self.target = f"--exec {self.command}"

    def recipe(self) -> Recipe:
        """The script starts the same command through this backend class."""
        return HarnessRecipe(
            [
                "from conformance.backends.subprocess import SubprocessBackend",
                f"backend = SubprocessBackend({self.command!r}, timeout={self.timeout!r}"
                + (", verify_release=True)" if self.verify_release else ")"),
            ]
        )

    def replay_args(self) -> list[str]:
        """``--exec COMMAND``."""
        return ["--exec", self.command]

    # ------------------------------------------------------------------ process lifecycle

    def _start(self) -> None:
        """Launch the process in its own session and check its hello message."""
        # A file, not a pipe: a chatty process can never block on a stderr nobody reads. Opened
        # for appending, so that cutting it (_bound_stderr) moves the process's writes too.
        self._stderr = _append_only_temp_file()
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=self.cwd,
                env=self.env,
                bufsize=0,
                start_new_session=True,  # its own process group: we can kill its children too
            )
        except OSError as exc:
            self._stderr.close()
            self._stderr = None
            raise _start_error(f"cannot start {self.command!r}: {exc}") from None
        assert proc.stdin is not None and proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        self._proc = proc
        self._buffer = bytearray()
        self._answered = None
        self.starts += 1
        self.pids.append(proc.pid)
        self._finalizer = weakref.finalize(self, _kill, proc, self._stderr)
        try:
            hello = self._receive(self.start_timeout, "its hello message")
            self._check_hello(hello)
        except _Broken as exc:
            message = self._failure(str(exc), exc.kind)
            self._stop()
            raise _start_error(f"{self.command!r} did not start correctly: {message}") from None

    def _check_hello(self, hello: Any) -> None:
        """Validate the hello message and remember the engine's name and claimed ops."""
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise _Broken(f"the first message must be a hello, got {_shorten(hello)}")
        version = hello.get("protocol")
        if version != PROTOCOL_VERSION:
            raise _Broken(
                f"it speaks protocol version {version!r}; "
                f"this harness speaks version {PROTOCOL_VERSION}"
            )
        engine = hello.get("engine")
        ops = hello.get("ops")
        if not isinstance(engine, str) or not engine:
            raise _Broken(f"hello field 'engine' must be a non-empty string, got {engine!r}")
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise _Broken(f"hello field 'ops' must be a list of op names, got {_shorten(ops)}")
        self.engine = engine
        self.ops = frozenset(ops)
        # An op name the harness does not know (a typo, "ln" for "log") is never checked: say so.
        unknown = ", ".join(sorted(self.ops - set(OPS)))
        claims = f"; its hello claims ops this harness does not know, never checked: {unknown}"
        self.description = f"engine {engine!r}" + (claims if unknown else "")

    def _stop(self) -> None:
        """Kill the process and its group, reap it, and drop its pipes (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None
        self._stderr = None
        self._buffer = bytearray()
        self._answered = None

    def take_released_deaths(self) -> list[tuple[Program, str]]:
        """Programs after whose answer the process died (found out later), and how it died."""
        deaths, self._released_deaths = self._released_deaths, []
        return deaths

    def close(self) -> None:
        """End the process: close its stdin (a driver exits on EOF), then kill what is left."""
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout=min(1.0, self.timeout))
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._stop()

    def __enter__(self) -> SubprocessBackend:
        """Use as a context manager that closes the process on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the process."""
        self.close()

    @property
    def pid(self) -> int | None:
        """The pid of the running process, or None between a failure and the restart."""
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------------ running programs

    def run(self, program: Program) -> Evaluation:
        """Evaluate ``program`` in the process; any misbehaviour is a BackendError for it."""
        return self.run_limited(program, None)

    def run_limited(self, program: Program, seconds: float | None) -> Evaluation:
        """``run``, with ``seconds`` (default: the backend's timeout) before the process counts
        as hung and is killed."""
        limit = self.timeout if seconds is None else float(seconds)
        unclaimed = sorted(
            {n.op for n in program.nodes if n.op not in ("input", "const")} - self.ops
        )
        if unclaimed:
            raise BackendError(
                f"unsupported op {unclaimed[0]!r}: {self.engine!r} does not claim it in its hello",
                kind="unsupported",
            )
        # A process found dead (or hung) at this request may have died (or hung) releasing the
        # last one it answered.
        previous = self._answered
        suspect = None if self.verify_release else previous
        try:
            return self._exchange(program, limit)
        except _Died as death:
            if suspect is None:
                if previous is not None and death.kind == "error":
                    self._died_of_its_past(program, limit, death)
                raise _backend_error(death.description, death.kind, limit, death.phase) from None
            first = death.description
        # Whose? This program again, alone on a fresh process and checked to survive its release
        # (verify_release), decides: a failure now is this program's own.
        self.verify_release = True
        try:
            evaluation = self._exchange(program, limit)
        except _Died as death:
            raise _backend_error(death.description, death.kind, limit, death.phase) from None
        self._released_deaths.append((suspect, first))
        return evaluation

    def _died_of_its_past(self, program: Program, limit: float, death: _Died) -> None:
        """Raise for a process that died running ``program`` after others (whose releases it
        survived): that death, as the program's own if it dies again alone on a fresh process,
        else as one the programs before it built up (a leak, a reference-count error in compiled
        code), or a flaky one, in words that say so."""
        try:
            self._exchange(program, limit)
        except _Died as again:
            raise _backend_error(again.description, again.kind, limit, again.phase) from None
        error = _backend_error(
            f"{death.description}. Run again alone on a fresh process, this program passes: what"
            " killed the process built up over the programs before it (a leak, a reference-count"
            " error) or is flaky",
            death.kind,
            limit,
            death.phase,
        )
        error.brief += ", though not on a fresh one"
        raise error

    def _exchange(self, program: Program, limit: float) -> Evaluation:
        """Send ``program``, read its answer (and, with verify_release, see the process survive
        releasing it); _Died when the process dies or hangs before it answers."""
        if self._proc is None:
            try:
                self._start()
            except Exception as exc:  # TargetError: fails this program, the next one tries again
                raise BackendError(
                    f"could not restart the backend process: {exc}", fatal=True
                ) from None
        request_id = self._next_id
        self._next_id += 1
        request = encode_line(encode_request(program, request_id))
        deadline = time.monotonic() + limit
        try:
            self._send(request, deadline, limit)
            message = self._receive(limit, f"the answer to request {request_id}", deadline)
            self._answered = program
            try:
                return self._interpret(message, request_id, program)
            finally:
                if self.verify_release:
                    self._check_released(limit)
        except _Broken as exc:
            description = self._failure(str(exc), exc.kind)
            self._stop()
            if exc.kind in ("error", "timeout") and exc.phase in ("", "release"):
                raise _Died(description, exc.kind, exc.phase) from None
            raise _backend_error(description, exc.kind, limit, exc.phase) from None
        except BackendError:  # an error message: the process is fine and stays
            raise
        except BaseException:
            # Interrupted mid-exchange (Ctrl-C, a time limit around us): a late answer would be
            # read as the next request's, so this process cannot be trusted any more.
            self._stop()
            raise
        finally:
            self._bound_stderr()

    def _check_released(self, limit: float) -> None:
        """Send a one-node request after an answer: the process must live through releasing
        the program and read it within ``limit`` seconds (_Broken with phase "release" if not)."""
        request_id = self._next_id
        self._next_id += 1
        ping = encode_line(encode_request(PING, request_id))
        deadline = time.monotonic() + limit
        what = "the answer to a one-node request sent after it"
        try:
            self._send(ping, deadline, limit)
            message = self._receive(limit, what, deadline)
        except _Broken as exc:
            if exc.kind == "protocol":  # garbage about the one-node request: not this program's
                self._stop()
                return
            if exc.kind == "timeout":
                raise _Broken(
                    f"timed out after {limit:.3g} s after answering this program: it did not answer"
                    " a one-node request sent after it (hung while releasing it?)",
                    "timeout",
                    "release",
                ) from None
            event = "after answering this program, while releasing it: it did not answer a "
            raise _Broken(
                self._why_silent(event + "one-node request sent after it"), "error", "release"
            ) from None
        if not (isinstance(message, dict) and message.get("id") in (request_id, None)):
            self._stop()  # a wrong answer to the one-node request says nothing about this program

    def _interpret(self, message: Any, request_id: int, program: Program) -> Evaluation:
        """Turn a response into an Evaluation, or a BackendError for an error message."""
        if not isinstance(message, dict):
            raise _Broken(f"expected a JSON object, got {_shorten(message)}")
        kind = message.get("type")
        if kind not in ("result", "error"):
            raise _Broken(f"expected a 'result' or 'error' message, got type {kind!r}")
        answered = message.get("id")
        # An error about a request the driver could not read has id null (docs/PROTOCOL.md): it
        # is the answer to the one request in flight.
        if answered != request_id and not (kind == "error" and answered is None):
            raise _Broken(f"answered id {answered!r} to request {request_id}")
        if kind == "result":
            try:
                values, grads = decode_result(message, program)
            except ProtocolError as exc:
                raise _Broken(str(exc)) from None
            return Evaluation(values, grads)
        error_kind = message.get("kind")
        text = message.get("message", "")
        exception_type, phase, where = (
            value if isinstance(value, str) else ""
            for value in (message.get("exception"), message.get("phase"), message.get("where"))
        )
        if error_kind == "unsupported_op":
            op = message.get("op")
            raise BackendError(
                f"unsupported op {op!r}: {text}" if op else str(text),
                kind="unsupported",
                exception_type=exception_type,
            )
        returned, not_a_number = (
            value if isinstance(value, str) else ""
            for value in (message.get("returned"), message.get("not_a_number"))
        )
        if error_kind == "engine_error" and ((returned and where) or not_a_number):
            # An op that answered no Value (a None, a NULL), or a result that is no float: the
            # engine's fault, named as an in-process run names it, not an exception that probing
            # would take for "not supported".
            raise BackendError(
                f"the engine failed: {text}",
                kind="protocol",
                phase=phase or ("forward" if returned else ""),
                where=where if returned else "",
                not_a_number=not_a_number,
                brief=f"returns {returned}, not a Value" if returned else "",
            )
        if error_kind == "engine_error":
            raise BackendError(
                f"the engine failed: {text}",
                exception_type=exception_type,
                phase=phase,
                where=where,
            )
        if error_kind == "invalid_request":
            raise BackendError(
                f"the backend rejected the request as invalid: {text}",
                kind="protocol",
                fatal=True,
            )
        raise _Broken(f"error message with unknown kind {error_kind!r}: {_shorten(message)}")

    def _send(self, data: bytes, deadline: float, limit: float) -> None:
        """Write one request, never blocking past the deadline on a process that stopped reading."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        fd = proc.stdin.fileno()
        view = memoryview(data)
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_WRITE)
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise _Broken(
                        f"timed out after {limit:.3g} s while sending the request (hang?)",
                        "timeout",
                    )
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    # It stopped reading: it died or will; what it said last tells us more.
                    raise _Broken(self._why_silent("closed its stdin"), "error") from None
                view = view[written:]

    def _receive(self, seconds: float, what: str, deadline: float | None = None) -> Any:
        """Read one line from the process's stdout within ``seconds`` (or until ``deadline``)."""
        if deadline is None:
            deadline = time.monotonic() + seconds
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                end = self._buffer.find(b"\n")
                if end >= 0:
                    line = bytes(self._buffer[:end])
                    del self._buffer[: end + 1]
                    if line.strip():
                        return _parse_line(line)
                    continue
                if len(self._buffer) > MAX_LINE_BYTES:
                    raise _Broken(f"wrote more than {MAX_LINE_BYTES} bytes without a newline")
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise _Broken(
                        f"timed out after {seconds:.3g} s waiting for {what} (hang?)", "timeout"
                    )
                chunk = os.read(fd, _READ_CHUNK)
                if not chunk:
                    tail = f" after writing {bytes(self._buffer)[:80]!r}" if self._buffer else ""
                    event = f"closed its stdout{tail} instead of sending {what}"
                    raise _Broken(self._why_silent(event), "error")
                self._buffer += chunk

    def _why_silent(self, event: str) -> str:
        """Describe a process that stopped talking: its exit status if it ended (waits briefly)."""
        proc = self._proc
        assert proc is not None
        try:
            returncode = proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return f"the backend process {event}"
        return f"the backend process {_describe_exit(returncode)} ({event})"

    def _failure(self, problem: str, kind: str) -> str:
        """The full description of a broken exchange: the problem, the restart, the stderr tail."""
        if kind == "protocol":
            problem = f"the backend process broke the protocol: {problem}"
        elif kind == "timeout":
            problem = f"the backend process {problem}"
        text = f"{problem}; the process is restarted for the next program"
        tail = self._stderr_tail()
        return f"{text}. Its stderr ended with:\n{tail}" if tail else text

    def _bound_stderr(self) -> None:
        """Keep the stderr file under STDERR_CAP_BYTES: a process that writes megabytes per
        program must not fill the disk. The file is opened for appending, so after a cut the
        process's next writes land at its new end."""
        stderr = self._stderr
        if stderr is None:
            return
        try:
            size = os.fstat(stderr.fileno()).st_size
            if size <= STDERR_CAP_BYTES:
                return
            stderr.seek(size - _STDERR_TAIL_CHARS)
            tail = stderr.read()
            stderr.truncate(0)
            stderr.write(b"[... earlier stderr output dropped ...]\n" + tail)
            stderr.flush()
        except (OSError, ValueError):
            return

    def _stderr_tail(self) -> str:
        """The last lines the process wrote to stderr."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - _STDERR_TAIL_CHARS))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""


def _append_only_temp_file() -> IO[bytes]:
    """An anonymous temporary file whose descriptor has O_APPEND (shared with the child)."""
    fd, path = tempfile.mkstemp(prefix="conformance-exec-stderr-")
    try:
        os.unlink(path)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_APPEND)
        return os.fdopen(fd, "w+b")
    except BaseException:
        os.close(fd)
        raise


def _start_error(message: str) -> Exception:
    """The error for a command that cannot be started or greeted: the target is not loadable."""
    # Imported here: the backends package may import this module while it is being initialised.
    from conformance.backends import TargetError

    return TargetError(message)


def _backend_error(description: str, kind: str, timeout: float, phase: str = "") -> BackendError:
    """The BackendError for a broken exchange (a BackendTimeout for a hang): fatal, whatever
    the program's numbers (the process died, hung or answered garbage)."""
    if kind == "timeout":
        error = BackendTimeout(timeout)
        error.args = (description,)
        error.phase = phase
        return error
    return BackendError(description, kind=kind, phase=phase, fatal=True, brief=_brief(description))


_SIGNAL = re.compile(r"killed by signal (\w+)")
_STATUS = re.compile(r"exited with status (-?\d+)")


def _brief(description: str) -> str:
    """A broken exchange in a few words without its request numbers."""
    if description.startswith("the backend process broke the protocol"):
        return "breaks the wire protocol"
    signal_name = _SIGNAL.search(description)
    if signal_name:
        return f"kills the process ({signal_name.group(1)})"
    status = _STATUS.search(description)
    if status:
        return f"ends the process (exit status {status.group(1)})"
    return "the process dies"


def _parse_line(line: bytes) -> Any:
    """One protocol message; anything that is not a JSON value is garbage."""
    try:
        return json.loads(line)
    except ValueError:
        raise _Broken(f"wrote a line that is not JSON: {line[:120]!r}") from None


def _shorten(x: object) -> str:
    """A short repr for error messages."""
    text = repr(x)
    return text if len(text) <= 120 else text[:117] + "..."


def _kill(proc: subprocess.Popen[bytes], stderr: IO[bytes] | None) -> None:
    """Kill the process group, reap the process (no zombie), close pipes and the stderr file."""
    # The whole group: a driver script may have started the real engine as its child.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
        proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if stderr is not None:
        stderr.close()


__all__ = ["DEFAULT_TIMEOUT", "STDERR_CAP_BYTES", "SubprocessBackend", "parse_command"]
