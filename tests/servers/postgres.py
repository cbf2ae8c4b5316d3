"""A real PostgreSQL 15 for tests: Debian's binaries, a temp dir, a free loopback port.

Tests take it through the fixtures of tests/plugins/ledger.py (`postgres_server`, one
per pytest process; `postgres_url`, a fresh database per test); benchmarks call
`start_postgres()` directly. A machine without PostgreSQL fails loudly (`make servers`
installs it): a skipped ledger test would hide a broken backend.

As root, the server runs as user `postgres` (initdb refuses root), with its directory in
/tmp because pytest's own tmp dirs are private to root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from collector.ports import free_port

PG_BIN = Path(os.environ.get("SMSPROBE_PG_BIN", "/usr/lib/postgresql/15/bin"))
_START_ATTEMPTS = 3


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str], *, timeout_s: float = 60) -> None:
    done = subprocess.run(
        _as_postgres(argv), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )


@dataclass(frozen=True, slots=True)
class PostgresServer:
    host: str
    port: int
    base_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.base_dir, ignore_errors=True)


def start_postgres(*, durable: bool = False) -> PostgresServer:
    """initdb + pg_ctl start on a free port; raises RuntimeError when that is impossible.

    durable: fsync and synchronous commit on, as in production (benchmarks that compare
    with a synchronous=FULL SQLite); tests leave it off.
    """
    initdb = PG_BIN / "initdb"
    if not initdb.exists():
        raise RuntimeError(
            f"PostgreSQL is not installed ({initdb} missing): run `make servers` "
            "(apt-get install postgresql)"
        )
    base = Path(tempfile.mkdtemp(prefix="smsprobe-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres", group="postgres")
    try:
        _run([str(initdb), "-D", str(base / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"])
        last_error: Exception | None = None
        for _ in range(_START_ATTEMPTS):  # another process may grab the port first
            port = free_port()
            opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=50"
            if not durable:  # test data need not survive a power cut of the test machine
                opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            try:
                _run(
                    [
                        str(PG_BIN / "pg_ctl"),
                        "-D",
                        str(base / "data"),
                        "-o",
                        opts,
                        "-l",
                        str(base / "log"),
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ],
                    timeout_s=90,
                )
            except RuntimeError as exc:
                last_error = exc
                continue
            return PostgresServer(host="127.0.0.1", port=port, base_dir=base)
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {last_error}\n{log}")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
