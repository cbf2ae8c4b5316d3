"""AT command-line syntax and final result codes of the simulated modem (TS 27.007 §4,
§9.2; TS 27.005 §3.2.5): argument splitting, the text-mode timestamp, error finals. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

CTRL_Z = 0x1A
ESC = 0x1B

# 27.007 §9.2 / 27.005 §3.2.5 verbose texts for AT+CMEE=2 (subset the simulator raises).
CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    13: "SIM failure",
    14: "SIM busy",
    21: "invalid index",
    30: "no network service",
    50: "incorrect parameters",
    100: "unknown",
}


CMS_TEXT = {
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    314: "SIM busy",
    321: "invalid memory index",
    322: "memory full",
    331: "no network service",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}


class FinalResultError(Exception):
    """A command failed; `kind` is "cme", "cms" or "plain" (bare ERROR)."""

    def __init__(self, kind: str, code: int = 0) -> None:
        super().__init__(f"{kind} {code}")
        self.kind = kind
        self.code = code


def cme(code: int) -> FinalResultError:
    return FinalResultError("cme", code)


def cms(code: int) -> FinalResultError:
    return FinalResultError("cms", code)


def plain_error() -> FinalResultError:
    return FinalResultError("plain")


def split_args(text: str) -> list[str]:
    """Comma-separated AT parameters; quotes protect commas; whitespace tolerated."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == "," and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    out.append("".join(current).strip())
    return [a[1:-1] if len(a) >= 2 and a[0] == a[-1] == '"' else a for a in out]


def int_arg(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise cme(50) from None


def text_scts(when: datetime) -> str:
    """Text-mode timestamp yy/MM/dd,hh:mm:ss±zz, zone in quarter hours (TS 27.005 §3.1 <scts>)."""
    offset = when.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    sign = "-" if quarters < 0 else "+"
    return when.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"


class PromptRequested(Exception):
    """The command switched to `> ` input mode (AT+CMGS / AT+CMGW)."""


EXT_RE = re.compile(r"([+^!$#%][A-Za-z0-9]+)(.*)", re.S)
BASIC_RE = re.compile(r"(&?[A-Za-z])(\d*)|(S\d+)(=\d*|\?)", re.I)

# A command handler: (kind, args) -> information lines; kind is action/read/test/set.
Handler = Callable[[str, list[str]], list[str]]
