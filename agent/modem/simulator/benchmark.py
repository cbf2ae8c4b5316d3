"""Benchmark: a fleet of simulated modems driven through real ptys; prints one JSON line.

    python -m agent.modem.simulator.benchmark [--modems 16] [--messages 50]

Each modem gets its own reader thread doing what an agent does per message: wait for
+CMTI, AT+CMGR, AT+CMGD. Measures fleet start-up time, end-to-end throughput, and the
latency from the control-API `deliver` to the +CMTI line read off the pty.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import serial

from agent.common.logs import configure_logging
from agent.modem.simulator.fleet import FleetConfig, ModemSpec
from agent.modem.simulator.harness import FleetThread


def _read_line(
    port: serial.Serial, buf: bytearray, prefix: bytes, deadline: float, urcs: list[bytes]
) -> bytes:
    """Next line starting with `prefix`; +CMTI lines seen meanwhile go to `urcs`."""
    if prefix == b"+CMTI:" and urcs:
        return urcs.pop(0)
    while True:
        while b"\r\n" in buf:
            line, _, rest = bytes(buf).partition(b"\r\n")
            buf[:] = rest
            if line.startswith(prefix):
                return line
            if line.startswith(b"+CMTI:"):
                urcs.append(line)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {prefix!r}")
        buf += port.read(port.in_waiting or 1)


def _agent(link: Path, count: int, seen_at: list[float]) -> None:
    port = serial.Serial(str(link), 115200, timeout=0.05)
    buf = bytearray()
    urcs: list[bytes] = []
    try:
        for cmd in (b"ATE0\r", b"AT+CNMI=2,1,0,0,0\r"):
            port.write(cmd)
            _read_line(port, buf, b"OK", time.monotonic() + 5, urcs)
        for _ in range(count):
            line = _read_line(port, buf, b"+CMTI:", time.monotonic() + 30, urcs)
            seen_at.append(time.monotonic())
            index = int(line.rsplit(b",", 1)[1])
            port.write(b"AT+CMGR=%d\r" % index)
            _read_line(port, buf, b"OK", time.monotonic() + 5, urcs)
            port.write(b"AT+CMGD=%d\r" % index)
            _read_line(port, buf, b"OK", time.monotonic() + 5, urcs)
    finally:
        port.close()


def run(modems: int, messages: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        specs = tuple(
            ModemSpec(
                name=f"b{n:02d}",
                profile="quectel_ec25",
                link=Path(tmp) / f"b{n:02d}",
                noise_interval_s=0.0,
                inter_part_s=0.0,
            )
            for n in range(modems)
        )
        t0 = time.monotonic()
        with FleetThread(FleetConfig(modems=specs, control=("127.0.0.1", 0))) as sims:
            startup_s = time.monotonic() - t0
            # Per modem, messages are delivered and indicated in order: pair them up.
            sent_at: dict[str, list[float]] = {s.name: [] for s in specs}
            seen_at: dict[str, list[float]] = {s.name: [] for s in specs}
            threads = [
                threading.Thread(target=_agent, args=(s.link, messages, seen_at[s.name]))
                for s in specs
            ]
            for thread in threads:
                thread.start()
            time.sleep(0.3)  # let every reader open its port and configure CNMI
            t1 = time.monotonic()
            control = sims.control
            deliver_s: list[float] = []
            for i in range(messages):
                for spec in specs:
                    t = time.monotonic()
                    sent_at[spec.name].append(t)
                    control.deliver(spec.name, "+8613912345678", f"bench {i}")
                    deliver_s.append(time.monotonic() - t)
            for thread in threads:
                thread.join(timeout=120)
            elapsed = time.monotonic() - t1
            truth_ok = all(
                s["counters"]["delivered"] == messages == s["counters"]["deleted"]
                for s in control.status()
            )
    total = modems * messages
    latencies = sorted(
        seen - sent
        for name, sends in sent_at.items()
        for sent, seen in zip(sends, seen_at[name], strict=False)
    )
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    return {
        "bench": "sim_modem_fleet",
        "modems": modems,
        "messages": total,
        "startup_s": round(startup_s, 3),
        "throughput_msg_s": round(total / elapsed, 1),
        "control_deliver_p50_ms": round(statistics.median(deliver_s) * 1000, 2),
        "deliver_to_cmti_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "deliver_to_cmti_p95_ms": round(p95 * 1000, 2),
        "ground_truth_consistent": truth_ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modems", type=int, default=16)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    configure_logging("warning")  # stderr; stdout carries only the JSON line
    print(json.dumps(run(args.modems, args.messages)))


if __name__ == "__main__":
    main()
