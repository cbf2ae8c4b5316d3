"""The collector's DLR push intake: an aiohttp server with one route per vendor, `/dlr/{vendor}`.

Order of business per request (persist before ack, docs/vendors.md):
size limit -> authentication: signature and/or source allowlist (401, logged, nothing kept)
-> parse (400 for a malformed body, kept raw in quarantine) -> store every DLR durably
through the `DlrSink`, and every item that cannot be read in its quarantine with the reason
-> only then the vendor's expected ack body with 200. A sink failure answers 500 so the
vendor pushes again; the ledger dedupes.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from aiohttp import web

from collector.vendors.base import (
    Clock,
    DlrPushEndpoint,
    DlrSink,
    PushRejectedError,
    wall_clock_ns,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DlrWebhookServer"]

DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB: Alibaba SmsReport batches are far smaller

log = structlog.get_logger(__name__)


class DlrWebhookServer:
    """Serves `/dlr/{vendor}` for every push-capable vendor. Bind to port 0 for a free port."""

    def __init__(
        self,
        endpoints: Iterable[DlrPushEndpoint],
        sink: DlrSink,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Clock = wall_clock_ns,
    ) -> None:
        self._endpoints: dict[str, DlrPushEndpoint] = {e.name: e for e in endpoints}
        self._sink = sink
        self._host = host
        self._port = port
        self._max_body = max_body_bytes
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("webhook server not started")
        return self._bound_port

    def add_endpoint(self, endpoint: DlrPushEndpoint) -> None:
        """Register a vendor after start (its push URL may be needed to configure it)."""
        self._endpoints[endpoint.name] = endpoint

    def url_for(self, vendor: str) -> str:
        return f"http://{self._host}:{self.port}/dlr/{vendor}"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self._max_body)
        app.router.add_route("*", "/dlr/{vendor}", self._handle)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        log.info("dlr_webhook_listening", host=self._host, port=self._bound_port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        vendor = request.match_info["vendor"]
        endpoint = self._endpoints.get(vendor)
        if endpoint is None:
            log.warning("dlr_push_unknown_vendor", vendor=vendor)
            return web.Response(status=404, text="unknown vendor")
        if request.content_length is not None and request.content_length > self._max_body:
            log.warning("dlr_push_too_large", vendor=vendor, bytes=request.content_length)
            return web.Response(status=413, text="body too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("dlr_push_too_large", vendor=vendor)
            return web.Response(status=413, text="body too large")
        received_at = self._clock()
        try:
            batch = endpoint.parse_push(
                method=request.method,
                headers=dict(request.headers),
                query=dict(request.query),
                body=body,
                received_at_ns=received_at,
                remote=request.remote,
            )
        except PushRejectedError as exc:
            event = {
                401: "dlr_push_unauthenticated",
                413: "dlr_push_too_large",
            }.get(exc.status, "dlr_push_malformed")
            log.warning(event, vendor=vendor, reason=str(exc), remote=request.remote)
            if exc.quarantine is not None:
                try:
                    await self._sink.quarantine(exc.quarantine)
                except Exception as store_exc:
                    log.error("dlr_quarantine_failed", vendor=vendor, error=repr(store_exc))
                    return web.Response(status=500, text="storage unavailable")
            return web.Response(status=exc.status, text=str(exc))
        except Exception as exc:
            # A parser bug must not answer with a traceback; the vendor retries later.
            log.error("dlr_push_parse_failed", vendor=vendor, error=repr(exc))
            return web.Response(status=500, text="could not process the push")
        try:
            for item in batch.quarantined:
                await self._sink.quarantine(item)
            for dlr in batch.dlrs:
                await self._sink.store(dlr)
        except Exception as exc:
            # Not stored = not acked: the vendor's retry schedule redelivers (2.1: 1/5/10 min).
            log.error("dlr_store_failed", vendor=vendor, error=repr(exc), count=len(batch.dlrs))
            return web.Response(status=500, text="storage unavailable")
        for item in batch.quarantined:
            log.warning("dlr_push_item_quarantined", vendor=vendor, reason=item.reason)
        log.info(
            "dlr_push_stored",
            vendor=vendor,
            count=len(batch.dlrs),
            quarantined=len(batch.quarantined),
        )
        ack = endpoint.push_ack
        return web.Response(status=200, body=ack.body, content_type=_mime(ack.content_type))


def _mime(content_type: str) -> str:
    # aiohttp wants the bare MIME type; a charset suffix in config would raise.
    return content_type.split(";", 1)[0].strip() or "text/plain"
