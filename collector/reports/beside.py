"""Work run in a process of its own beside the caller's, on another core: for a section of
the `report` command that reads the ledger apart from the figures (the channel figures of a
month: 1–3 s of SQL that the figures' Python would otherwise wait for; threads do not
overlap them, the figures hold the GIL).

The process is spawned, not forked: it opens its own ledger connection and never shares
the caller's (a forked SQLite or PostgreSQL connection must not be used, or closed, by
two processes). The work and its arguments must pickle (a module-level function). An
exception the work raises is raised again by `result`, with its type and message. If the
process dies before it answers (killed, out of memory), `result` logs a warning and does
the work in the caller instead: the same answer, later."""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Generic, TypeVar

import structlog

from agent.common.logs import configure_logging

log = structlog.get_logger(__name__)

T = TypeVar("T")


def _serve(send: Connection, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """In the spawned process: the work's ("ok", result) or ("error", exception)."""
    configure_logging("warning")  # on stderr, as the report command logs (stdout: reports)
    try:
        answer: tuple[str, Any] = ("ok", work(*args))
    except Exception as exc:  # every failure goes back to the caller
        answer = ("error", exc)
    try:
        send.send(answer)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an unpicklable answer
        what = answer[1] if answer[0] == "error" else exc
        send.send(("error", RuntimeError(f"{type(what).__name__}: {what}")))
    finally:
        send.close()


class Beside(Generic[T]):
    """`work(*args)` started in a spawned process; `result()` waits for its answer. Use as
    a context manager (or call `close`) so a process whose answer is no longer wanted (the
    caller failed first) is stopped rather than left running."""

    def __init__(self, work: Callable[..., T], *args: Any) -> None:
        self._work, self._args = work, args
        context = multiprocessing.get_context("spawn")
        self._answers, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, args=(send, work, args), daemon=True)
        self._process.start()
        send.close()  # the child holds the only sending end: its death reads as EOF

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def result(self) -> T:
        try:
            kind, value = self._answers.recv()
        except (EOFError, OSError):
            self._process.join()
            log.warning("beside_process_lost", work=getattr(self._work, "__name__", "?"),
                        exitcode=self._process.exitcode, then="done in this process")  # fmt: skip
            return self._work(*self._args)
        finally:
            self._answers.close()
        self._process.join()
        if kind == "error":
            raise value
        result: T = value
        return result

    def close(self) -> None:
        """Stop the process if it still runs (its answer will not be read)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._answers.close()

    def __enter__(self) -> Beside[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
