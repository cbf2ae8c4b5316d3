"""The SP's report listener (SGIP 1.2 §3): the SMG connects to the SP, binds with login
type 2 and the name/password agreed for that direction, sends Report (and MO Deliver)
PDUs, and unbinds. Anything before a good bind is refused and the connection closed;
reports are handed to the adapter, which stores them before the Report_Resp goes out.
"""

from __future__ import annotations

import contextlib

import structlog

from collector.vendors.cngw.adapter import BadHandler, DeliverHandler
from collector.vendors.cngw.link import NotSentError
from collector.vendors.cngw.server import GatewayServer, ServerConn
from collector.vendors.cngw.wire import GatewayDecodeError, Pdu
from collector.vendors.sgip.dialect import LOGIN_SMG_TO_SP, SgipDialect, check_bind, error_name
from collector.vendors.sgip.pdu import Bind, Command, Result, SgipCodec

__all__ = ["SgipReportListener"]

log = structlog.get_logger("collector.vendors.sgip.receiver")


class SgipReportListener:
    """A `ReportReceiver`: listens on host:port for the SMG's report connections."""

    def __init__(self, dialect: SgipDialect, *, host: str, port: int, login_name: str,
                 password: str) -> None:  # fmt: skip
        self._dialect = dialect
        self._accounts = {login_name: password}
        self._server = GatewayServer(SgipCodec(), self, host=host, port=port)
        self._on_deliver: DeliverHandler | None = None
        self._on_bad: BadHandler | None = None
        self.binds_refused = 0

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self, on_deliver: DeliverHandler, on_bad: BadHandler) -> None:
        self._on_deliver, self._on_bad = on_deliver, on_bad
        await self._server.start()
        log.info("sgip_report_listener_started", port=self.port)

    async def close(self) -> None:
        await self._server.close()

    # -- ServerHandler -----------------------------------------------------------------

    async def handle(self, conn: ServerConn, pdu: Pdu, raw: bytes) -> Pdu | None:
        if pdu.command == Command.BIND and isinstance(pdu.body, Bind):
            result = check_bind(pdu.body, LOGIN_SMG_TO_SP, self._accounts)
            resp = Pdu(Command.BIND_RESP, pdu.sequence, Result(result))
            if result == 0:
                conn.account = pdu.body.login_name
                return resp
            self.binds_refused += 1
            log.warning("sgip_report_bind_refused", reason=error_name(result),
                        login_type=pdu.body.login_type, peer=str(conn.link.peer))  # fmt: skip
            with contextlib.suppress(NotSentError):
                conn.link.send(resp)
            conn.link.abort()
            return None
        if conn.account is None:
            log.warning("sgip_report_before_bind", command=hex(pdu.command))
            conn.link.abort()  # not a bound SMG: nothing it says is evidence
            return None
        d = self._dialect
        if d.is_deliver(pdu):
            ok = True
            try:
                assert self._on_deliver is not None
                await self._on_deliver(pdu, raw)
            except Exception as exc:  # not stored: a failure result makes the SMG resend
                log.error("sgip_report_handler_failed", error=repr(exc))
                ok = False
            return d.deliver_response(pdu, ok)
        answer = d.answer(pdu)
        if d.is_terminate(pdu):
            with contextlib.suppress(NotSentError):
                if answer is not None:
                    conn.link.send(answer)
            conn.link.abort()
            return None
        return answer

    async def bad(self, conn: ServerConn, raw: bytes, exc: GatewayDecodeError) -> None:
        if conn.account is None:
            log.warning("sgip_report_unbound_garbage", raw=raw.hex())
            conn.link.abort()
            return
        if self._on_bad is not None:
            await self._on_bad(raw, exc)
        if exc.command == Command.REPORT and exc.sequence is not None:
            # quarantined (durable): acknowledge so the SMG does not resend it forever
            with contextlib.suppress(NotSentError):
                conn.link.send(Pdu(Command.REPORT_RESP, exc.sequence, Result(0)))

    def closed(self, conn: ServerConn) -> None:
        return None
