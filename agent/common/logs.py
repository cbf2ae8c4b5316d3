"""Logging set up once, at the CLI edge: structlog, JSON when not a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["auto", "json", "console"]
# Names our stdlib handler, so a second configure_logging replaces it instead of adding one.
_STDLIB_HANDLER = "smsprobe-structlog"


def configure_logging(level: str = "info", fmt: LogFormat = "auto") -> None:
    """Route structlog and stdlib logging (grpc, aiohttp, asyncio, ...) to stderr.

    `auto` renders JSON unless stderr is a terminal, so production logs are machine
    readable and a person at a terminal gets readable lines. Stdlib records go through the
    same processors and renderer, so a JSON log stays one JSON object per line whoever
    wrote the record. Calling it again replaces the previous set-up.
    """
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_STDLIB_HANDLER)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _STDLIB_HANDLER]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)


def mask_middle(value: str, head: int, tail: int = 2) -> str:
    """`head` leading and `tail` trailing characters stay, the rest becomes '*'; all of it
    when the value is too short to hide anything between them. The one masking of phone
    numbers: logs and displays (mask_msisdn) and the ledger's retention
    (collector/ledger/retention.py) differ only in how much they keep."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def mask_msisdn(number: str) -> str:
    """Keep the prefix and the last two digits: enough to tell SIMs apart in a log."""
    return mask_middle(number, 3)
