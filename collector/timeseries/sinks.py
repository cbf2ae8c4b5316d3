"""Where points go: InfluxDB's 1.x `/write` API or the v2 API (influxdb-client).

Both raise `SinkUnavailableError` for what a retry may fix (connection refused, timeouts, 5xx,
429) and `SinkRejectedError` for what it never will (400: bad line protocol, a field type
conflict). The writer decides what to do with each; sinks never retry on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from collector.timeseries.points import Point, to_lines


class SinkError(Exception):
    """Root of the sink errors."""


class SinkUnavailableError(SinkError):
    """Transient: the server is down, slow or overloaded; retry the same batch later."""


class SinkRejectedError(SinkError):
    """Permanent: the server refused the data itself."""


class TimeSeriesSink(Protocol):
    async def write(self, points: Sequence[Point]) -> None: ...

    async def write_lines(self, body: bytes) -> None:
        """Points already encoded as line protocol (ns precision), newline-separated."""
        ...

    async def close(self) -> None: ...


def _classify(status: int, body: str) -> None:
    if status < 300:
        return
    detail = f"HTTP {status}: {body[:300]}"
    if status == 429 or status >= 500:
        raise SinkUnavailableError(detail)
    raise SinkRejectedError(detail)


@dataclass(frozen=True, slots=True)
class InfluxV1Config:
    url: str  # http://host:8086
    database: str
    retention_policy: str = ""
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0


class InfluxV1Sink:
    """InfluxDB 1.x: `POST /write?db=…&precision=ns`, 204 once durable."""

    def __init__(self, config: InfluxV1Config) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        params = {"db": config.database, "precision": "ns"}
        if config.retention_policy:
            params["rp"] = config.retention_policy
        if config.username:
            params["u"] = config.username
            params["p"] = config.password
        self._params = params

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._config.timeout_s)
            )
        return self._session

    async def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        await self.write_lines(to_lines(points))

    async def write_lines(self, body: bytes) -> None:
        for attempt in range(2):
            try:
                async with self._client().post(
                    self._config.url.rstrip("/") + "/write", params=self._params, data=body
                ) as resp:
                    text = await resp.text()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise SinkUnavailableError(
                    f"{self._config.url}: {exc or type(exc).__name__}"
                ) from exc
            if status == 404 and "database not found" in text and attempt == 0:
                # A fresh InfluxDB 1.x: create the database once instead of dropping points.
                await self.create_database()
                continue
            _classify(status, text)
            return

    async def create_database(self) -> None:
        """For tests and first runs: InfluxDB 1.x needs the database to exist."""
        try:
            async with self._client().post(
                self._config.url.rstrip("/") + "/query",
                data={"q": f'CREATE DATABASE "{self._config.database}"'},
            ) as resp:
                _classify(resp.status, await resp.text())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkUnavailableError(f"{self._config.url}: {exc or type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True, slots=True)
class InfluxV2Config:
    url: str
    bucket: str
    org: str = ""
    token: str = ""
    timeout_s: float = 10.0


class InfluxV2Sink:
    """InfluxDB 2.x/3.x (or any server speaking `/api/v2/write`) through influxdb-client."""

    def __init__(self, config: InfluxV2Config) -> None:
        self._config = config
        self._client: object | None = None

    async def write(self, points: Sequence[Point]) -> None:
        if points:
            await self.write_lines(to_lines(points))

    async def write_lines(self, body: bytes) -> None:
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self._config.url,
                token=self._config.token or "none",
                org=self._config.org or "-",
                timeout=int(self._config.timeout_s * 1000),
            )
        client: InfluxDBClientAsync = self._client  # type: ignore[assignment]
        try:
            await client.write_api().write(
                bucket=self._config.bucket,
                org=self._config.org or "-",
                record=body.decode(),  # ns precision: the client's default
            )
        except InfluxDBError as exc:
            status = exc.response.status if exc.response is not None else 503
            _classify(int(status), str(exc.message or exc))
            raise SinkUnavailableError(str(exc)) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkUnavailableError(f"{self._config.url}: {exc or type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()  # type: ignore[attr-defined]
            self._client = None
