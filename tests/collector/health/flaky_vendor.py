"""A stand-in 253-style HTTP SMS vendor as its own process, whose behaviour a test switches
at run time by writing one word to a file: `ok` (accept), `500` (HTTP 500), `hang` (never
answer: the collector times out). Ground truth: every submit it received is appended to
`<mode file>.log` as `<mode> <unix ns>`, so a test counts what really reached it.

    python -m tests.collector.health.flaky_vendor --port P --mode-file F
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import time
from pathlib import Path

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode-file", type=Path, required=True)
    args = parser.parse_args()
    mode_file: Path = args.mode_file
    log_path = mode_file.with_name(mode_file.name + ".log")
    ids = itertools.count(1)

    async def send(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            content = str(json.loads(raw).get("content", ""))
        except ValueError:
            content = raw.decode(errors="replace")
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        mode = mode_file.read_text().strip() if mode_file.exists() else "ok"
        with log_path.open("a") as log:
            log.write(f"{mode} {time.time_ns()} {digest}\n")
        if mode == "500":
            return web.Response(status=500, text="internal error")
        if mode == "hang":
            await asyncio.sleep(3600)
        body = {"code": "0", "data": {"msgid": f"m{next(ids)}", "fee": 1}}
        return web.Response(text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_post("/sms/send", send)
    print(json.dumps({"listening": args.port}), flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
