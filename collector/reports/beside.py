"""Work run in a process of its own beside the caller's, on another core: for a section of
the `report` command that reads the ledger apart from the figures (the channel figures of a
month: 1–3 s of SQL that the figures' Python would otherwise wait for; threads do not
overlap them, the figures hold the GIL).

The process is a fresh interpreter (`python -c`), neither forked nor made by
multiprocessing's spawn: it shares no ledger connection with the caller (a forked SQLite or
PostgreSQL connection must not be used, or closed, by two processes) and never runs the
caller's main script again (spawn re-imports it). It is handed the caller's sys.path, then
the work and its arguments, pickled on its stdin (a module-level function); it answers on
its stdout, and logs on stderr. An exception the work raises is raised again by `result`,
with its type and message. If the process dies before it answers (killed, out of memory),
`result` logs a warning and does the work in the caller instead: the same answer, later;
so it does when no process can be started."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

import structlog

from agent.common.logs import configure_logging

log = structlog.get_logger(__name__)

T = TypeVar("T")

_BOOT = (
    "import pickle, sys; sys.path[:0] = pickle.load(sys.stdin.buffer); "
    "from collector.reports.beside import serve; serve()"
)


def serve() -> None:
    """In the process beside: read the work from stdin, write ("ok", result) or ("error",
    exception) to stdout."""
    configure_logging("warning")  # on stderr, as the report command logs
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever the work prints stays out of the answer
    work, args = pickle.load(sys.stdin.buffer)
    try:
        answer: tuple[str, Any] = ("ok", work(*args))
    except Exception as exc:  # every failure goes back to the caller
        answer = ("error", exc)
    try:
        data = pickle.dumps(answer)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an unpicklable answer
        what = answer[1] if answer[0] == "error" else exc
        data = pickle.dumps(("error", RuntimeError(f"{type(what).__name__}: {what}")))
    answers.write(data)
    answers.flush()


class Beside(Generic[T]):
    """`work(*args)` started in a process of its own; `result()` waits for its answer. Use
    as a context manager (or call `close`) so a process whose answer is no longer wanted
    (the caller failed first) is stopped rather than left running."""

    def __init__(self, work: Callable[..., T], *args: Any) -> None:
        self._work, self._args = work, args
        self._process: subprocess.Popen[bytes] | None
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except OSError as exc:  # no interpreter to start (or no process): `result` does it
            log.warning("beside_process_not_started", error=str(exc))
            self._process = None
            return
        assert self._process.stdin is not None
        try:
            pickle.dump(list(sys.path), self._process.stdin)
            pickle.dump((work, args), self._process.stdin)
            self._process.stdin.close()
        except BrokenPipeError:  # it died at once: `result` does the work here
            pass

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def result(self) -> T:
        if self._process is None:
            return self._work(*self._args)
        assert self._process.stdout is not None
        try:
            kind, value = pickle.load(self._process.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            self._process.wait()
            log.warning("beside_process_lost", work=getattr(self._work, "__name__", "?"),
                        exitcode=self._process.returncode, then="done in this process")  # fmt: skip
            return self._work(*self._args)
        finally:
            self._process.stdout.close()
        self._process.wait()
        if kind == "error":
            raise value
        result: T = value
        return result

    def close(self) -> None:
        """Stop the process if it still runs (its answer will not be read)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Beside[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
