"""Modem simulator: AT over a pseudo-terminal, faithful enough that a modem library cannot
tell it from a USB modem (docs/modems.md). A product, not a test helper.

Run it:
    smsprobe-agent sim-modem --profile quectel_ec25 --link /tmp/sims/m1 --control 127.0.0.1:7300
    smsprobe-agent sim-modem --fleet fleet.toml            # 8-16 modems, see fleet.py
  On start it prints one JSON line `{"event": "sim_modem_ready", "control": "h:p",
  "modems": [{name, msisdn, imsi, iccid, imei, link, tty, tcp, storage, ...}]}`.
  Open `link` (or `socket://host:port` with --listen) with pyserial as a real modem.

In-process (tests, demo):
    from agent.modem.simulator import (ModemSimulator, ModemSimulatorConfig, Identity, Timing,
        get_personality, ModemServer, serve_pty, Fleet, FleetConfig, ModemSpec, run_fleet,
        FleetThread,
        ModemSimulatorControl, ModemSimulatorControlSync, Fault)
    - `async with Fleet(FleetConfig(modems=(ModemSpec("m1", profile="quectel_ec25",
        link=tmp_path / "m1"),), control=("127.0.0.1", 0))) as fleet:` ports up, then
      `fleet.find("m1").simulator` (by name/msisdn/imsi/iccid/imei), `fleet.control_address`.
    - `await run_fleet(config, ready_event)` runs until cancelled;
      `await serve_pty(sim, link_path, listen=None)` serves one ModemSimulator until cancelled.
    - Blocking code: `with FleetThread(config) as sims:` then `sims.control.deliver(...)`,
      `sims.call(lambda fleet: ...)` (runs on the fleet's loop).
    - `ModemSimulator` alone is a pure state machine: `receive(bytes)`, `read_output() -> bytes`,
      `tick()`, `next_deadline()`, with an injected `Clock` (monotonic() and now()).

Control API (carrier network side; JSON lines over TCP, see control.py):
    async with ModemSimulatorControl(host, port) as ctl:
        await ctl.deliver(modem, sender, text, scts=None, message_class=None, encoding="auto")
            -> {"parts": n}   # queued at the simulated SMSC, split into parts when long
        await ctl.deliver_pdus(modem, [pdu_hex_with_smsc_field, ...]) -> {"parts": n}
        await ctl.set_fault(modem, "lost_urc", on=True, probability=1.0)
        await ctl.set_registration(modem, 0|1|2|3|5); await ctl.set_signal(modem, rssi)
        await ctl.power_cycle(modem); await ctl.unplug(modem, seconds)
        await ctl.status()  -> [{identity, link, tty, storage {"SM": [used, total], ...},
                                queued, counters {delivered, read, deleted, urc_sent,
                                urc_lost, duplicates, rejected_full, cmt, sent, ...}}]
        await ctl.transcript(modem, last=200) -> ["<time> < b'AT\\r'", ...]
        await ctl.truth(modem) -> [{truth_id, message_id, part_no, parts_total, pdu, routed,
                                   memory, index, delivered_at, read_at, deleted_at, ...}]
    `modem` is a name, msisdn (with or without +), imsi, iccid or imei.

Faults (--fault name[:k=v,...], or set_fault at run time): urc_mid_response, lost_urc,
garbage_bytes, slow_final(delay_s), missing_final, hang, hard_hang, port_vanish(after_s,
seconds, repeat_s), storage_full, parts_out_of_order, duplicate_delivery, not_registered
(stat), sim_missing, and from docs/modems.md: split_writes(max_delay_s),
duplicate_urc, reboot_mid_response (one-shot), slow_send(delay_s: AT+CMGS answered late,
as on a congested cell); most take `probability` (seeded: --seed reproduces a run).

Extra interfaces of the same device (ModemSpec.aux_ports=("nmea", "diag")): ptys linked
at `<link>-nmea` (streams $GPGGA/$GPRMC) and `<link>-diag` (binary answers, never OK), for
AT-port discovery; they vanish and come back with the AT port.
Example fleet: agent/modem/simulator/fleet.example.toml (10 modems, mixed profiles).
Scripted runs: `--scenario FILE.jsonl` (or `scenario = "..."` in the fleet TOML): timed
control requests `{"at_s": 2.0, "op": "set_fault", "modem": "m1", "name": "hang"}`.
AT transcript: always kept in memory (control op `transcript`), `--transcript FILE` too.
Benchmark: `python -m agent.modem.simulator.benchmark` prints one JSON line.

Behaviour worth knowing when driving it: like a USB ACM port, output produced while no
process holds the pty open is dropped (a +CMTI then is lost; sweep with AT+CMGL); after a
reboot or re-plug the modem ignores input until its first boot URC, so sync with `AT`
(retry) as a real agent must; AT+CFUN=1,1 on USB profiles (Quectel, SIMCom SIM7600,
Huawei, u-blox) makes the port vanish for `reenumerate_s` x `timing_scale` seconds.

Profiles (personalities.py): generic, quectel_ec25, quectel_eg25, simcom_sim7600,
simcom_sim800, huawei_e3372, huawei_me909, ublox_lara_r2.
"""

from agent.modem.simulator.config import (
    Clock,
    Identity,
    ModemSimulatorConfig,
    SystemClock,
    Timing,
)
from agent.modem.simulator.control import (
    ModemSimulatorControl,
    ModemSimulatorControlError,
    ModemSimulatorControlSync,
)
from agent.modem.simulator.faults import Fault, parse_fault
from agent.modem.simulator.fleet import (
    Fleet,
    FleetConfig,
    ModemSpec,
    PreloadMessage,
    build_modem_simulator,
    load_fleet,
    run_fleet,
)
from agent.modem.simulator.harness import FleetThread
from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.network import RetrySchedule
from agent.modem.simulator.personalities import Personality, get_personality, personality_names
from agent.modem.simulator.pty import ModemServer, serve_pty

__all__ = [
    "Clock",
    "Fault",
    "Fleet",
    "FleetConfig",
    "FleetThread",
    "Identity",
    "ModemServer",
    "ModemSimulator",
    "ModemSimulatorConfig",
    "ModemSimulatorControl",
    "ModemSimulatorControlError",
    "ModemSimulatorControlSync",
    "ModemSpec",
    "Personality",
    "PreloadMessage",
    "RetrySchedule",
    "SystemClock",
    "Timing",
    "build_modem_simulator",
    "get_personality",
    "load_fleet",
    "parse_fault",
    "personality_names",
    "run_fleet",
    "serve_pty",
]
