"""reports/beside.py with real processes: the work runs in another process and its answer
comes back; its exception is raised in the caller with its type and message; an
answer that cannot be pickled is an error naming why; a process killed with SIGKILL
before it answers leaves the work to the caller, with a warning; `close` stops a process
whose answer is no longer wanted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from collector.ledger import LedgerUnavailableError
from collector.reports.beside import Beside


def pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def fails(message: str) -> None:
    raise LedgerUnavailableError(message)


def unpicklable() -> object:
    return threading.Lock()


def waits_unless_in(parent: int, started: str) -> str:
    """Answers at once in the `parent` process; in any other, says it started and waits."""
    if os.getpid() == parent:
        return "done by the caller"
    Path(started).touch()
    time.sleep(600)
    return "done beside"


def started(flag: Path, beside: Beside[str]) -> int:
    """Waits for the process beside to say it started; its pid."""
    give_up = time.monotonic() + 60
    while not flag.exists():
        assert time.monotonic() < give_up, "the process beside never started"
        time.sleep(0.02)
    assert beside.pid is not None
    return beside.pid


def test_the_work_runs_in_another_process() -> None:
    with Beside(pid_and_square, 12) as beside:
        pid, square = beside.result()
    assert square == 144
    assert pid == beside.pid and pid != os.getpid()


def test_with_no_process_to_start_the_caller_does_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No interpreter at sys.executable (an OS error starting the process): a warning,
    and the work done in the caller."""
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with capture_logs() as logs, Beside(pid_and_square, 5) as beside:
        assert beside.pid is None
        assert beside.result() == (os.getpid(), 25)
    assert [e["event"] for e in logs] == ["beside_process_not_started"]


def test_an_exception_is_raised_in_the_caller() -> None:
    with (
        Beside(fails, "no route to the ledger") as beside,
        pytest.raises(LedgerUnavailableError, match="no route to the ledger"),
    ):
        beside.result()


def test_an_answer_that_cannot_be_pickled_is_an_error() -> None:
    with Beside(unpicklable) as beside, pytest.raises(RuntimeError, match="pickle"):
        beside.result()


def test_a_killed_process_leaves_the_work_to_the_caller(tmp_path: Path) -> None:
    flag = tmp_path / "started"
    with Beside(waits_unless_in, os.getpid(), str(flag)) as beside:
        os.kill(started(flag, beside), signal.SIGKILL)
        with capture_logs() as logs:
            assert beside.result() == "done by the caller"
    lost = [e for e in logs if e["event"] == "beside_process_lost"]
    assert lost and lost[0]["exitcode"] == -signal.SIGKILL
    assert lost[0]["work"] == "waits_unless_in"


def test_close_stops_a_process_whose_answer_is_not_wanted(tmp_path: Path) -> None:
    flag = tmp_path / "started"
    beside = Beside(waits_unless_in, os.getpid(), str(flag))
    pid = started(flag, beside)
    beside.close()
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(pid, 0)


def test_the_callers_main_script_is_not_run_again(tmp_path: Path) -> None:
    """A script with no `if __name__ == "__main__"` guard (a bench, a one-off) that uses
    Beside runs once: the process beside imports only what the work needs
    (multiprocessing's spawn would run the script again in it)."""
    runs = tmp_path / "runs"
    script = tmp_path / "one_off.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path[:0] = {[str(Path(__file__).resolve().parents[3])]!r}\n"
        "from collector.reports.beside import Beside\n"
        "from tests.collector.reports.test_beside import pid_and_square\n"
        f"with open({str(runs)!r}, 'a') as f:\n"
        "    f.write('ran\\n')\n"
        "with Beside(pid_and_square, 7) as beside:\n"
        "    pid, square = beside.result()\n"
        "print(square, pid != os.getpid())\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          check=True, cwd=tmp_path)  # fmt: skip
    assert done.stdout.split() == ["49", "True"]
    assert runs.read_text() == "ran\n"
