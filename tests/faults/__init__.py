"""Faults injected at the OS boundary: `FsFault` builds tests/faults/fsfault.c (an
LD_PRELOAD shim over write/pwrite/writev/fsync/fdatasync) with the system C compiler and
drives it through a control file that a running process re-reads (see the C file)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("fsfault.c")


def build_shim() -> Path:
    """The compiled shim, cached by the source's hash (parallel test workers share it)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"smsprobe-fsfault-{digest}.so"
    if not out.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("no C compiler (cc/gcc) to build the fault shim")
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(
            [cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(SOURCE), "-ldl", "-lpthread"],
            check=True,
        )
        tmp.replace(out)
    return out


class FsFault:
    """Faults for every file under `prefix` of the processes started with `env()`."""

    def __init__(self, prefix: Path, control: Path) -> None:
        self.prefix = prefix
        self.control = control
        self.shim = build_shim()
        self.set()

    def env(self) -> dict[str, str]:
        return {"LD_PRELOAD": str(self.shim), "SMSPROBE_FSFAULT_CTL": str(self.control)}

    def set(self, *, fsync_delay_ms: int = 0, fsync_errno: int = 0, write_errno: int = 0) -> None:
        text = (
            f"prefix={self.prefix}\nfsync_delay_ms={fsync_delay_ms}\n"
            f"fsync_errno={fsync_errno}\nwrite_errno={write_errno}\n"
        )
        tmp = self.control.with_suffix(".new")
        tmp.write_text(text)
        tmp.replace(self.control)  # a new inode: the shim sees the change at its next call


ERRNOS = {"ENOSPC": errno.ENOSPC, "EROFS": errno.EROFS, "EIO": errno.EIO}
