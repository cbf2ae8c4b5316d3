"""Points/s through our InfluxDB v1 sink vs a raw line-protocol POST of the same points.

Starts a real InfluxDB 1.x (Debian `influxdb`) on a free loopback port, writes the same
points at the same batch size both ways, alternating rounds so drift hits both equally,
and prints one JSON line. Both sides start from the same `Point`s: ours renders them with
the sink's escaping encoder and posts with aiohttp; the raw baseline renders them with the
plainest f-string (no escaping, no checks) and posts over a kept-alive http.client
connection — what a person writes by hand against the /write API.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import pathlib
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from collector.timeseries.points import Point, make_point
from collector.timeseries.sinks import InfluxV1Config, InfluxV1Sink
from tests.servers.influx import influx_server

BATCH = 5000
BATCHES = 8
ROUNDS = 4


def make_points(n: int, base_ns: int) -> list[Point]:
    vendors = ("acme", "bolt", "cheap")
    carriers = ("china_mobile", "china_unicom", "china_telecom")
    return [
        make_point(
            "probe",
            {
                "vendor": vendors[i % 3],
                "carrier": carriers[(i // 3) % 3],
                "region": "east",
                "site": "hz-1",
                "agent": f"agent-{i % 4}",
                "profile": "verification_code",
            },
            {
                "latency_s": 2.5 + (i % 97) / 10,
                "vendor_delay_s": 1.0 + (i % 13) / 10,
                "carrier_delay_s": 1.5,
                "delivered": 1,
                "verdict": "delivered",
                "dlr_status": "consistent",
                "fake_dlr": 0,
                "intact": 1,
            },
            base_ns + i * 1000,
        )
        for i in range(n)
    ]


async def ours(url: str, db: str, batches: list[list[Point]]) -> float:
    sink = InfluxV1Sink(InfluxV1Config(url, db))
    start = time.perf_counter()
    for batch in batches:
        await sink.write(batch)
    elapsed = time.perf_counter() - start
    await sink.close()
    return sum(len(b) for b in batches) / elapsed


def _plain(value: float | int | str) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value}i" if isinstance(value, int) else repr(value)


def raw(port: int, db: str, batches: list[list[Point]]) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = "/write?" + urllib.parse.urlencode({"db": db, "precision": "ns"})
    start = time.perf_counter()
    for batch in batches:
        body = "\n".join(
            p.measurement
            + "".join(f",{k}={v}" for k, v in p.tags)
            + " "
            + ",".join(f"{k}={_plain(v)}" for k, v in p.fields)
            + f" {p.time_ns}"
            for p in batch
        ).encode()
        conn.request("POST", path, body=body)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 204:
            raise RuntimeError(f"raw write failed: HTTP {resp.status}")
    elapsed = time.perf_counter() - start
    conn.close()
    return sum(len(b) for b in batches) / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for server in influx_server(pathlib.Path(tmp)):
            ours_rates, raw_rates = [], []
            for r in range(ROUNDS):
                # Distinct timestamps per round and side: every write is new data, not an overwrite.
                base = time.time_ns() - 10 * 86400 * 10**9 + r * 10**15
                ours_batches = [make_points(BATCH, base + b * BATCH * 1000) for b in range(BATCHES)]
                raw_batches = [
                    make_points(BATCH, base + 5 * 10**14 + b * BATCH * 1000) for b in range(BATCHES)
                ]
                server.create_database("bench")
                # Alternate who goes first: InfluxDB warms up (shards, caches) within a round.
                if r % 2:
                    raw_rates.append(raw(server.port, "bench", raw_batches))
                    ours_rates.append(asyncio.run(ours(server.url, "bench", ours_batches)))
                else:
                    ours_rates.append(asyncio.run(ours(server.url, "bench", ours_batches)))
                    raw_rates.append(raw(server.port, "bench", raw_batches))
            best_ours, best_raw = max(ours_rates), max(raw_rates)
            print(
                json.dumps(
                    {
                        "bench": "influx_write",
                        "server": "influxdb 1.x /write",
                        "batch": BATCH,
                        "points": BATCH * BATCHES * ROUNDS,
                        "ours_points_per_s": round(best_ours),
                        "raw_points_per_s": round(best_raw),
                        "ratio": round(best_ours / best_raw, 3),
                    }
                )
            )


if __name__ == "__main__":
    main()
