"""A real headless Chromium driven over the DevTools protocol (CDP), for the report tests:
screenshots, print emulation, measurements by script, the fonts a node really uses, and
printing to PDF. Chromium must be installed (`make servers`): a missing browser fails."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed (apt-get install chromium; `make servers` does it)"
    return path


class Browser:
    """`async with Browser(tmp) as b: await b.send("Page.navigate", url=...)`."""

    def __init__(self, tmp: Path) -> None:
        self._profile = tmp / "chromium-profile"
        self._ids = itertools.count(1)
        self._proc: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._drain: asyncio.Task[None] | None = None
        self.stderr: list[str] = []

    async def __aenter__(self) -> Browser:
        self._profile.mkdir(parents=True, exist_ok=True)
        self._proc = await asyncio.create_subprocess_exec(
            chromium(), *FLAGS, f"--user-data-dir={self._profile}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._proc.stderr is not None
        port = await asyncio.wait_for(self._port(self._proc.stderr), 60)
        self._drain = asyncio.create_task(self._keep_draining(self._proc.stderr))
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        return self

    async def _port(self, stream: asyncio.StreamReader) -> int:
        while True:
            line = (await stream.readline()).decode(errors="replace")
            if not line:
                raise AssertionError("chromium exited: " + "".join(self.stderr[-20:]))
            self.stderr.append(line)
            if "DevTools listening on ws://" in line:
                return int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    async def _keep_draining(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():  # a full pipe would block the browser
            self.stderr.append(line.decode(errors="replace"))

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 15)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One command; events in between are skipped. A protocol error fails."""
        assert self._ws is not None
        call = next(self._ids)
        await self._ws.send_str(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            msg = await asyncio.wait_for(self._ws.receive(), 90)
            assert msg.type == aiohttp.WSMsgType.TEXT, f"{method}: {msg.type}"
            data = json.loads(msg.data)
            if data.get("id") == call:
                assert "error" not in data, f"{method}: {data['error']}"
                result: dict[str, Any] = data["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        """A script's value (awaited when it is a promise), as JSON."""
        done = await self.send("Runtime.evaluate", expression=expression,
                               returnByValue=True, awaitPromise=True)  # fmt: skip
        assert "exceptionDetails" not in done, done["exceptionDetails"]
        return done["result"].get("value")

    async def open(self, page: Path) -> None:
        """Navigate and wait until the page and its fonts are loaded."""
        await self.send("Page.enable")
        await self.send("Page.navigate", url=page.as_uri())
        for _ in range(600):
            if await self.evaluate("document.readyState") == "complete":
                break
            await asyncio.sleep(0.05)
        await self.evaluate("document.fonts.ready.then(() => true)")

    async def screenshot(self, out: Path) -> bytes:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        data = base64.b64decode(shot["data"])
        out.write_bytes(data)
        return data

    async def pdf(self, out: Path) -> bytes:
        done = await self.send("Page.printToPDF", preferCSSPageSize=True, printBackground=True)
        data = base64.b64decode(done["data"])
        out.write_bytes(data)
        return data

    async def fonts_for(self, selector: str) -> list[dict[str, Any]]:
        """The platform fonts that rendered the text of the first node matching selector."""
        await self.send("DOM.enable")
        await self.send("CSS.enable")
        root = await self.send("DOM.getDocument", depth=-1)
        node = await self.send("DOM.querySelector", nodeId=root["root"]["nodeId"],
                               selector=selector)  # fmt: skip
        assert node["nodeId"], selector
        fonts = await self.send("CSS.getPlatformFontsForNode", nodeId=node["nodeId"])
        return list(fonts["fonts"])
