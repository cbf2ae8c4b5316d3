"""Processes read from /proc: a process tree and whether a process still runs."""

from __future__ import annotations

from pathlib import Path

# A pid alone may be reused; (pid, start time in clock ticks since boot) names one process.
ProcessId = tuple[int, int]


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of `pid`, None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces or ')'
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # exited, only waiting to be reaped
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[ProcessId, str]:
    """Every live process below `root`, with its command line."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[0], []).append(int(entry.name))
            starts[int(entry.name)] = stat[1]
    out: dict[ProcessId, str] = {}
    todo = list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        out[(pid, starts[pid])] = cmdline.strip()
        todo += parents.get(pid, [])
    return out


def alive(process: ProcessId) -> bool:
    stat = _stat(process[0])
    return stat is not None and stat[1] == process[1]
