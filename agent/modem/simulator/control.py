"""Control API of the simulated modems: the carrier network's side and test hooks.

Stdlib only: asyncio TCP, one JSON object per line each way. Request
`{"op": "<name>", ...}`; response `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
Modems are selected by name, msisdn (with or without `+`), imsi, iccid or imei.

| op               | request fields                                          | response        |
|------------------|---------------------------------------------------------|-----------------|
| status           | -                                                       | modems: [...]   |
| deliver          | modem, sender, text, scts?, message_class?, encoding?   | parts           |
| deliver_pdus     | modem, pdus: [hex incl. SMSC field]                     | parts           |
| set_fault        | modem, name, on?, params?                               | faults          |
| set_registration | modem, state (27.007 <stat>)                            | -               |
| set_signal       | modem, rssi (0-31, 99)                                  | -               |
| power_cycle      | modem                                                   | -               |
| unplug           | modem, seconds                                          | -               |
| truth            | modem                                                   | messages: [...] |
| sent             | modem                                                   | messages: [...] |
| transcript       | modem, last? (200)                                      | lines: [...]    |
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any, Protocol

import structlog

from agent.modem.simulator.faults import Fault
from agent.modem.simulator.modem import ModemSimulator

log = structlog.get_logger(__name__)

_MAX_LINE = 4 * 1024 * 1024


class ControlledModem(Protocol):
    """One running modem as the control API sees it (fleet.RunningModem)."""

    @property
    def simulator(self) -> ModemSimulator: ...


class ControlledFleet(Protocol):
    """What control requests act on (fleet.Fleet); a protocol so the fleet, which starts
    the control server, and this module do not import each other."""

    def find(self, key: str) -> ControlledModem: ...

    def describe(self) -> list[dict[str, Any]]: ...


class ModemSimulatorControlError(RuntimeError):
    """The control server refused a request (unknown modem, bad fault, ...)."""


class ControlServer:
    def __init__(self, fleet: ControlledFleet) -> None:
        self.fleet = fleet
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._client, host, port, limit=_MAX_LINE)
        sock = self._server.sockets[0].getsockname()
        log.info("sim_control_listening", host=sock[0], port=sock[1])
        return str(sock[0]), int(sock[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            for task in list(self._clients):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("request is not a JSON object")
                    response = {"ok": True, **self.handle(request)}
                except (ValueError, KeyError, TypeError) as exc:
                    response = {"ok": False, "error": str(exc)}
                except Exception as exc:
                    # A bug, not a bad request: keep serving, but say so loudly.
                    log.exception("sim_control_request_failed", request=line[:200])
                    response = {"ok": False, "error": f"internal error: {exc!r}"}
                writer.write(json.dumps(response).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        return handle_request(self.fleet, request)


def handle_request(fleet: ControlledFleet, request: dict[str, Any]) -> dict[str, Any]:
    """Apply one control request to the fleet (the server and scenario files share it)."""
    op = request.get("op")
    if op == "status":
        return {"modems": fleet.describe()}
    if not isinstance(op, str):
        raise ValueError("missing op")
    simulator = fleet.find(str(request["modem"])).simulator
    if op == "deliver":
        scts = request.get("scts")
        parts = simulator.deliver_text(
            str(request["sender"]),
            str(request["text"]),
            datetime.fromisoformat(scts) if scts else None,
            message_class=request.get("message_class"),
            encoding=str(request.get("encoding", "auto")),
        )
        log.debug("sim_sms_queued", modem=simulator.name, parts=parts)
        return {"parts": parts}
    if op == "deliver_pdus":
        return {"parts": simulator.deliver_pdus([str(p) for p in request["pdus"]])}
    if op == "set_fault":
        params = {str(k): float(v) for k, v in dict(request.get("params") or {}).items()}
        simulator.set_fault(Fault(str(request["name"])), bool(request.get("on", True)), **params)
        log.info(
            "sim_fault_set", modem=simulator.name, fault=request["name"], on=request.get("on", True)
        )
        return {"faults": simulator.faults.snapshot()}
    if op == "set_registration":
        simulator.set_registration(int(request["state"]))
        return {}
    if op == "set_signal":
        simulator.set_signal(int(request["rssi"]))
        return {}
    if op == "power_cycle":
        simulator.power_cycle()
        return {}
    if op == "unplug":
        simulator.request_unplug(float(request["seconds"]))
        return {}
    if op == "truth":
        return {"messages": simulator.truth_records()}
    if op == "sent":
        return {"messages": list(simulator.sent)}
    if op == "transcript":
        last = int(request.get("last", 200))
        kept = simulator.transcript.entries if simulator.transcript else ()
        entries = [e for e in kept if e[1] == simulator.name][-last:]
        return {
            "lines": [f"{w.isoformat(timespec='milliseconds')} {d} {b!r}" for w, _, d, b in entries]
        }
    raise ValueError(f"unknown op {op!r}")


class ModemSimulatorControl:
    """Async client of the control API; one connection, requests serialised."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> ModemSimulatorControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        async with self._lock:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(
                    self.host, self.port, limit=_MAX_LINE
                )
            assert self._reader is not None
            self._writer.write(json.dumps({"op": op, **fields}).encode() + b"\n")
            await self._writer.drain()
            line = await self._reader.readline()
        if not line:
            raise ModemSimulatorControlError("control connection closed")
        response: dict[str, Any] = json.loads(line)
        if not response.pop("ok", False):
            raise ModemSimulatorControlError(str(response.get("error")))
        return response

    async def deliver(
        self,
        modem: str,
        sender: str,
        text: str,
        scts: datetime | None = None,
        message_class: int | None = None,
        encoding: str = "auto",
    ) -> dict[str, Any]:
        return await self.call(
            "deliver",
            modem=modem,
            sender=sender,
            text=text,
            scts=scts.isoformat() if scts else None,
            message_class=message_class,
            encoding=encoding,
        )

    async def deliver_pdus(self, modem: str, pdus: list[str]) -> dict[str, Any]:
        return await self.call("deliver_pdus", modem=modem, pdus=pdus)

    async def set_fault(
        self, modem: str, name: str, on: bool = True, **params: float
    ) -> dict[str, Any]:
        return await self.call("set_fault", modem=modem, name=name, on=on, params=params)

    async def set_registration(self, modem: str, state: int) -> None:
        await self.call("set_registration", modem=modem, state=state)

    async def set_signal(self, modem: str, rssi: int) -> None:
        await self.call("set_signal", modem=modem, rssi=rssi)

    async def power_cycle(self, modem: str) -> None:
        await self.call("power_cycle", modem=modem)

    async def unplug(self, modem: str, seconds: float) -> None:
        await self.call("unplug", modem=modem, seconds=seconds)

    async def status(self) -> list[dict[str, Any]]:
        modems: list[dict[str, Any]] = (await self.call("status"))["modems"]
        return modems

    async def truth(self, modem: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = (await self.call("truth", modem=modem))["messages"]
        return messages

    async def sent(self, modem: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = (await self.call("sent", modem=modem))["messages"]
        return messages

    async def transcript(self, modem: str, last: int = 200) -> list[str]:
        lines: list[str] = (await self.call("transcript", modem=modem, last=last))["lines"]
        return lines


class ModemSimulatorControlSync:
    """Blocking wrapper for tests and scripts: one short connection per call."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            async with ModemSimulatorControl(self.host, self.port) as client:
                return await client.call(op, **fields)

        return asyncio.run(once())

    def deliver(
        self,
        modem: str,
        sender: str,
        text: str,
        scts: datetime | None = None,
        message_class: int | None = None,
        encoding: str = "auto",
    ) -> dict[str, Any]:
        return self.call(
            "deliver",
            modem=modem,
            sender=sender,
            text=text,
            scts=scts.isoformat() if scts else None,
            message_class=message_class,
            encoding=encoding,
        )

    def deliver_pdus(self, modem: str, pdus: list[str]) -> dict[str, Any]:
        return self.call("deliver_pdus", modem=modem, pdus=pdus)

    def set_fault(self, modem: str, name: str, on: bool = True, **params: float) -> None:
        self.call("set_fault", modem=modem, name=name, on=on, params=params)

    def set_registration(self, modem: str, state: int) -> None:
        self.call("set_registration", modem=modem, state=state)

    def set_signal(self, modem: str, rssi: int) -> None:
        self.call("set_signal", modem=modem, rssi=rssi)

    def power_cycle(self, modem: str) -> None:
        self.call("power_cycle", modem=modem)

    def unplug(self, modem: str, seconds: float) -> None:
        self.call("unplug", modem=modem, seconds=seconds)

    def status(self) -> list[dict[str, Any]]:
        modems: list[dict[str, Any]] = self.call("status")["modems"]
        return modems

    def truth(self, modem: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.call("truth", modem=modem)["messages"]
        return messages

    def sent(self, modem: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.call("sent", modem=modem)["messages"]
        return messages

    def transcript(self, modem: str, last: int = 200) -> list[str]:
        lines: list[str] = self.call("transcript", modem=modem, last=last)["lines"]
        return lines
