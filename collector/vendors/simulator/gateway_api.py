"""China carrier gateway face of a simulated vendor: CMPP 2.0/3.0, SGIP 1.2 or SMGP 3.0
(scenario `protocol = "cmpp2" | "cmpp3" | "sgip" | "smgp"`), with the same network behind
it as the HTTP and SMPP faces: same policy, fates, receipts and ground truth.

Long messages arrive as one submit per UDH part (TP_udhi); each part is answered with
its own message id as it comes, the message enters the network once every part is in,
and each part id later gets its own status report (as SMPP, smpp_api.py).

Receipts go out on a logged-in connection of the account (CMPP, SMGP; queued while none
is and sent on the next login), or, for SGIP, on a connection the simulated SMG opens to
the SP's own listener (`sgip_report_to`, SGIP 1.2 §3), bound with login type 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from collector.vendors.base import ContentProfile
from collector.vendors.cngw.link import ConnectionLostError, Link
from collector.vendors.cngw.server import GatewayServer, ServerConn
from collector.vendors.cngw.wire import GatewayDecodeError, Pdu
from collector.vendors.simulator.gateway_faces import Face, SubmitIn, face_for
from collector.vendors.simulator.network import Accepted, CarrierNetwork, SimulatedDlr
from collector.vendors.simulator.scenario import VendorScenario

__all__ = ["GatewayVendorSimulator"]

log = structlog.get_logger(__name__)


@dataclass
class _Pending:
    parts: dict[int, tuple[str, str]] = field(default_factory=dict)  # number -> (text, id)


class GatewayVendorSimulator:
    """One simulated vendor reached by CMPP, SGIP or SMGP; also its network `DlrOutlet`."""

    def __init__(self, network: CarrierNetwork, vendor: str, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:  # fmt: skip
        self._network = network
        self._vendor: VendorScenario = network.vendor(vendor)
        self.face: Face = face_for(self._vendor)
        self.server = GatewayServer(self.face.codec, self, host=host, port=port)
        self._numbers = itertools.count(1)
        self._pending: dict[tuple[str, int, int], _Pending] = {}
        # Receipts waiting for a logged-in client, each with what `emit` awaits: True once
        # the client acknowledged it, False when the simulator closes first.
        self._queue: deque[tuple[SimulatedDlr, asyncio.Future[bool]]] = deque()
        self._flushing = asyncio.Lock()
        self.quarantined: list[bytes] = []  # undecodable PDUs the clients sent (evidence)
        self.receipts_sent = 0
        self._closed = False
        network.set_outlet(vendor, self)

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()
        self._network.clock.anchor()
        log.info("sim_vendor_gateway_listening", vendor=self._vendor.name,
                 protocol=self._vendor.protocol.value, port=self.port)  # fmt: skip

    async def close(self) -> None:
        self._closed = True
        while self._queue:  # never sent: not in the truth
            _, done = self._queue.popleft()
            if not done.done():
                done.set_result(False)
        await self.server.close()

    # -- ServerHandler -----------------------------------------------------------------

    async def bad(self, conn: ServerConn, raw: bytes, exc: GatewayDecodeError) -> None:
        self.quarantined.append(raw)
        nack = self.face.nack(exc)
        if nack is not None:
            with contextlib.suppress(ConnectionLostError):
                conn.link.send(nack)

    def closed(self, conn: ServerConn) -> None:
        return None

    async def handle(self, conn: ServerConn, pdu: Pdu, raw: bytes) -> Pdu | None:
        face = self.face
        login = face.login(pdu, {self._vendor.account: self._vendor.password})
        if login is not None:
            resp, account = login
            if account is None:
                conn.link.send(resp)
                conn.link.abort()  # refused: the gateway hangs up (CMPP 2.0 §7.4.1.2)
                return None
            conn.account = account
            conn.receives = face.receives_reports(pdu)
            asyncio.get_running_loop().call_soon(self._kick)
            return resp
        if conn.account is None:
            conn.link.abort()  # anything before a login: not a client of ours
            return None
        submit = face.read_submit(pdu)
        if submit is not None:
            return self._submit(conn, pdu, submit)
        answer = face.answer(pdu)
        if face.is_terminate(pdu):
            if answer is not None:
                conn.link.send(answer)
            conn.link.abort()
            return None
        return answer

    def _submit(self, conn: ServerConn, pdu: Pdu, sub: SubmitIn) -> Pdu | None:
        now = self._network.clock.now()
        message_id = self.face.new_id(now, next(self._numbers), pdu)
        ids: tuple[str, ...] = (message_id,)
        text = sub.text
        if sub.concat is not None:
            ref, total, number = sub.concat
            key = (sub.destination, ref, total)
            pending = self._pending.setdefault(key, _Pending())
            pending.parts[number] = (sub.text, message_id)
            if len(pending.parts) < total:
                return self.face.submit_resp(pdu, message_id, None)
            del self._pending[key]
            ordered = [pending.parts[n] for n in sorted(pending.parts)]
            text = "".join(t for t, _ in ordered)
            ids = tuple(i for _, i in ordered)
        signature, content = "", text
        if text.startswith("【") and "】" in text:
            signature, content = text[1:].split("】", 1)
        outcome = self._network.submit(
            self._vendor.name, msisdn=sub.destination, content=content, signature=signature,
            profile=ContentProfile.NOTIFICATION, message_ids=ids,
        )  # fmt: skip
        if isinstance(outcome, Accepted):
            return self.face.submit_resp(pdu, message_id, None)
        check = outcome.check
        if check.reject is not None:
            return self.face.submit_resp(pdu, message_id, check.reject)
        if check.throttled_retry_s is not None:
            return self.face.submit_resp(pdu, message_id, "throttled")
        conn.link.abort()  # outage: the gateway drops the connection unanswered (ambiguous)
        return None

    # -- receipts (DlrOutlet) ----------------------------------------------------------

    async def emit(self, dlr: SimulatedDlr) -> bool:
        """True once the receipt went out and was acknowledged: one queued while no client
        is logged in waits for the next login, and is in the truth only when it was sent
        (a receipt still queued when the run ends was never sent)."""
        if self._closed:
            return False
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((dlr, done))
        await self._flush()
        return await done

    def _kick(self) -> None:
        if self._queue:
            task = asyncio.ensure_future(self._flush())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _flush(self) -> None:
        async with self._flushing:
            while self._queue:
                dlr, done = self._queue[0]
                if not await self._send_receipt(dlr):
                    return  # kept queued for the next login
                self._queue.popleft()
                self.receipts_sent += 1
                if not done.done():
                    done.set_result(True)

    async def _send_receipt(self, dlr: SimulatedDlr) -> bool:
        now = self._network.clock.now()
        if self.face.reports_inbound:
            return await self._send_sgip_report(dlr, now)
        conns = [
            c
            for c in self.server.conns
            if c.open and c.account == self._vendor.account and c.receives
        ]
        if not conns:
            return False
        conn = conns[0]
        pdu = self.face.receipt(self.face.sequence(conn.next_number(), now), dlr,
                                self._vendor.sender)  # fmt: skip
        return await self._request(conn.link, pdu)

    async def _request(self, link: Link, pdu: Pdu) -> bool:
        try:
            _, resp, _ = await link.request(pdu, 10.0)
        except (TimeoutError, ConnectionLostError):
            return False
        return self.face.receipt_acked(resp)

    async def _send_sgip_report(self, dlr: SimulatedDlr, now: datetime) -> bool:
        """SGIP 1.2 §3: the SMG connects to the SP, binds (login type 2), reports, unbinds."""
        target = self._vendor.sgip_report_to
        if target is None:
            return False
        host, _, port = target.rpartition(":")
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return False

        async def no_requests(link: Link, pdu: Pdu, raw: bytes) -> Pdu | None:
            return None

        async def ignore_bad(raw: bytes, exc: GatewayDecodeError) -> None:
            self.quarantined.append(raw)

        link = Link(self.face.codec, reader, writer, on_request=no_requests, on_bad=ignore_bad)
        seq = itertools.count(1)

        def next_seq() -> Hashable:
            return self.face.sequence(next(seq), now)

        try:
            bind = self.face.outbound_bind(next_seq(), self._vendor.account, self._vendor.password)
            _, resp, _ = await link.request(bind, 10.0)
            if not self.face.receipt_acked(resp):
                return False
            pdu = self.face.receipt(next_seq(), dlr, self._vendor.sender)
            ok = await self._request(link, pdu)
            with contextlib.suppress(TimeoutError, ConnectionLostError):
                await link.request(self.face.goodbye(next_seq()), 2.0)
            return ok
        except (TimeoutError, ConnectionLostError):
            return False
        finally:
            await link.close()
