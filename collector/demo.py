"""`smsprobe-collector demo`: the whole system on embedded defaults, as deployed.

Separate processes, the way they run in production: one modem-simulator process (eight
simulated USB modems on pseudo-terminals), the vendor simulator (three vendors: `acme`
honest and fast, shaped like Alibaba Cloud SMS — signed requests, approved templates — ,
`cheap` a 253-style HTTP aggregator faking DELIVRD for most lost messages, `bolt` over SMPP
and slow at peak), the collector (SQLite ledger, real mTLS with certificates made
here), and two agents with four modems each (China Mobile, China Unicom, China Telecom and
an MVNO line). Probes run at an accelerated rate for `--duration` seconds, progress shows
live, then the last probes are judged and DIR receives verdicts.jsonl, summary.json,
truth.jsonl (the simulator's ground truth) and the ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from collector.ports import free_port
from collector.reports.figures import aggregate

PY = sys.executable
SIGNATURE = "探针科技"


@dataclass(frozen=True)
class DemoModem:
    name: str
    agent: str
    profile: str
    msisdn: str  # national
    imsi: str
    iccid: str
    imei: str
    operator: str


AGENTS = {"east-1": ("hangzhou-idc", "east"), "west-1": ("chengdu-idc", "west")}


def demo_modems() -> list[DemoModem]:
    out = []
    lines = (
        ("cm", "138", "46000", "898600"),
        ("cu", "130", "46001", "898601"),
        ("ct", "189", "46011", "898611"),
        ("mvno", "170", "46001", "898601"),  # a 170 MVNO number riding on Unicom's network
    )
    profiles = {
        "east-1": ("quectel_ec25", "simcom_sim7600", "huawei_e3372", "ublox_lara_r2"),
        "west-1": ("quectel_eg25", "huawei_me909", "generic", "simcom_sim800"),
    }
    for a, agent in enumerate(AGENTS):
        for i, (kind, prefix, plmn, iccid_prefix) in enumerate(lines):
            n = a * 10 + i + 1
            out.append(
                DemoModem(
                    name=f"{agent}-{kind}",
                    agent=agent,
                    profile=profiles[agent][i],
                    msisdn=f"{prefix}{n:08d}",
                    imsi=f"{plmn}{n:010d}",
                    iccid=f"{iccid_prefix}{n:013d}",
                    imei=f"86{n:013d}",
                    operator=plmn,
                )
            )
    return out


class Proc:
    """A child process whose output goes to a log file; its stdout lines can be awaited."""

    def __init__(
        self, name: str, argv: list[str], log_dir: Path, *, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[str] = self.log_path.open("w")
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_json(self, predicate: Any, timeout_s: float) -> dict[str, Any]:
        """The first JSON line on stdout that satisfies predicate."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    with contextlib.suppress(json.JSONDecodeError):
                        obj = json.loads(line)
                        if isinstance(obj, dict) and predicate(obj):
                            return obj
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise click.ClickException(
                        f"{self.name} did not become ready; see {self.log_path}"
                    )
                self._cond.wait(min(left, 0.5))

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(2)
        self._log.close()


def fleet_toml(modems: list[DemoModem], sims: Path, control_port: int, seed: int) -> str:
    parts = [
        f'control = "127.0.0.1:{control_port}"',
        f'transcript = "{sims / "at-transcript.log"}"',
        f"seed = {seed}",
        "",
        "[defaults]",
        "timing_scale = 0.1",
        "noise_interval_s = 20.0",
    ]
    for m in modems:
        parts += [
            "",
            "[[modem]]",
            f'name = "{m.name}"',
            f'profile = "{m.profile}"',
            f'link = "{sims / m.name}"',
            f'msisdn = "+86{m.msisdn}"',
            f'imsi = "{m.imsi}"',
            f'iccid = "{m.iccid}"',
            f'imei = "{m.imei}"',
            f'operator = "{m.operator}"',
        ]
    return "\n".join(parts) + "\n"


# acme's approved templates: one per probe profile it sends, worded exactly like the profile
# (vendor ContentProfile value, template code, probe profile)
ACME_TEMPLATES = (
    ("verification_code", "SMS_ACME_CODE", "verification_code"),
    ("notification", "SMS_ACME_NOTE", "notification"),
    ("long", "SMS_ACME_LONG", "long_ucs2"),
)


# --trouble: what goes wrong with real vendors, timed from the vendor simulator's start
# (probing starts ~5-10 s in): acme withdraws its long template, cheap refuses everything
# for a while and later swallows messages (accepted, nothing arrives, no receipt), bolt
# throttles hard.
TROUBLE = {
    "acme": 'rejected_templates = ["SMS_ACME_LONG"]',
    "cheap": 'outages = [{ start_s = 10, end_s = 16, mode = "refuse" },'
    ' { start_s = 22, end_s = 30, mode = "blackhole" }]',
    "bolt": "throttle_tps = 0.5\nthrottle_burst = 2",
}


def scenario_toml(
    modems: list[DemoModem], webhook_port: int, seed: int, hour: int, *, trouble: bool = False
) -> str:
    from collector.probes.content import PROFILES

    extra = {vendor: (lines if trouble else "") for vendor, lines in TROUBLE.items()}

    hook = f"http://127.0.0.1:{webhook_port}/dlr"
    acme_templates = ", ".join(
        f'{code} = "{PROFILES[profile].template.replace("{token}", "${token}")}"'
        for _, code, profile in ACME_TEMPLATES
    )
    common = f"""sender_prefix = "10690"
dlr_push_retry_s = [1, 2, 4, 8, 15, 30]
signature_required = true
approved_signatures = ["{SIGNATURE}"]
code_daily_cap = 100000
marketing_hours = [8, 21]"""
    text = f"""seed = {seed}
speedup = 1.0

[vendors.acme]                 # honest and fast; Alibaba Cloud SMS API, templates only
protocol = "aliyun"
account = "acme"
password = "acme-secret"
dlr_push_url = "{hook}/acme"
sender_ext = "101"
templates = {{ {acme_templates} }}
{extra["acme"]}
{common}
[vendors.acme.knobs]
p_arrive = 0.995
latency = {{ dist = "lognormal", median_s = 2.0, sigma = 0.4 }}
dlr_latency = {{ dist = "lognormal", median_s = 1.5, sigma = 0.3 }}

[vendors.cheap]                # loses messages and reports most of them DELIVRD anyway
protocol = "http"
account = "cheap"
password = "cheap-secret"
dlr_push_url = "{hook}/cheap"
dlr_push_secret = "cheap-push"
sender_ext = "202"
{extra["cheap"]}
{common}
[vendors.cheap.knobs]
p_arrive = 0.85
p_fake_delivered = 0.8
latency = {{ dist = "lognormal", median_s = 3.0, sigma = 0.5 }}
dlr_latency = {{ dist = "lognormal", median_s = 1.0, sigma = 0.3 }}
rewrite = {{ p_apply = 0.1, signature = "append", replacement_signature = "通道" }}

[vendors.bolt]                 # SMPP; slow in the evening peak (the demo runs in its peak band)
protocol = "smpp"
account = "bolt"
password = "bolt-pw"
sender_ext = "303"
smpp_receipt_form = "data_sm"  # receipts arrive as data_sm, as some SMSCs send them
{extra["bolt"]}
{common}
[vendors.bolt.knobs]
p_arrive = 0.98
latency = {{ dist = "lognormal", median_s = 4.0, sigma = 0.5 }}
dlr_latency = {{ dist = "lognormal", median_s = 2.0, sigma = 0.3 }}
peak_bands = [{{ start_h = {hour}, end_h = {(hour + 2) % 24}, multiplier = 4.0 }}]
"""
    for m in modems:
        text += f'\n[[subscribers]]\nmsisdn = "{m.msisdn}"\nmodem = "{m.name}"\n'
    return text


DEMO_PROTOCOLS = {"acme": "aliyun", "cheap": "http", "bolt": "smpp"}
_PUSH_URL = re.compile(r"(?:\{webhook\}|http://127\.0\.0\.1:\d+/dlr)/")


def custom_scenario(path: Path, webhook_port: int, trouble: bool) -> str:
    """`--scenario FILE`: the demo's three vendors with the user's knobs (start from a copy
    of a run's scenario.toml). DLR push URLs — `{webhook}/NAME` or a previous run's
    `http://127.0.0.1:PORT/dlr/NAME` — are pointed at this run's webhook server."""
    if trouble:
        raise click.UsageError("--trouble changes the embedded scenario; not with --scenario")
    try:
        text = path.read_text(encoding="utf-8")
        vendors = tomllib.loads(text).get("vendors", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--scenario") from None
    for name, protocol in DEMO_PROTOCOLS.items():
        got = vendors.get(name, {}).get("protocol", "http") if name in vendors else None
        if got != protocol:
            raise click.BadParameter(
                f'{path}: vendors.{name}: expected a vendor with protocol = "{protocol}" '
                f"(the demo's collector talks to acme, cheap and bolt as configured)",
                param_hint="--scenario",
            )
    return _PUSH_URL.sub(f"http://127.0.0.1:{webhook_port}/dlr/", text)


def http_vendor_toml(name: str, port: int) -> str:
    """The [vendors.NAME] table for one of the simulator's 253-style HTTP aggregators."""
    return f"""[vendors.{name}]
kind = "http"
base_url = "http://127.0.0.1:{port}"
vars = {{ account = "{name}", password = "{name}-secret" }}
redact_fields = ["password"]
[vendors.{name}.submit]
url = "/sms/send"
body = "json"
message_id_path = "data.msgid"
parts_path = "data.fee"
success_path = "code"
success_values = ["0"]
error_message_path = "error"
fields = {{ account = "{{var.account}}", password = "{{var.password}}", mobile = "{{to}}", content = "{{text}}", sign = "{{signature}}", category = "{{profile}}" }}
[vendors.{name}.errors]
101 = "auth"
103 = "throttled"
104 = "rejected.template"
105 = "rejected.signature"
106 = "rejected.number"
107 = "rejected.content"
108 = "throttled"
[vendors.{name}.dlr]
message_id = "msgid"
status = "status"
err = "err"
msisdn = "mobile"
done_at = "reportTime"
done_at_format = "yymmddhhmmss"
utc_offset_h = 8.0
[vendors.{name}.dlr_push]
format = "json"
signature = {{ secret = "{name}-push", header = "X-Signature", timestamp_header = "X-Timestamp", tolerance_s = 300 }}
"""


EXAMPLE_VENDORS = Path(__file__).parent / "vendors" / "example_vendors.toml"


def _toml_value(value: object) -> str:
    """A TOML inline value (strings as JSON strings, which TOML basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (
            f"{json.dumps(k, ensure_ascii=False)} = {_toml_value(v)}" for k, v in value.items()
        )
        return "{ " + ", ".join(pairs) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def aliyun_vendor_toml(name: str, port: int) -> str:
    """The [vendors.NAME] table for the simulator's Alibaba Cloud SMS API: the shipped example
    (collector/vendors/example_vendors.toml) with the simulator's address, keys and acme's
    template codes."""
    table = tomllib.loads(EXAMPLE_VENDORS.read_text(encoding="utf-8"))["vendors"]["aliyun"]
    table["base_url"] = f"http://127.0.0.1:{port}"
    table["auth"].update(key_id=name, secret=f"{name}-secret")
    table["templates"] = {profile: code for profile, code, _ in ACME_TEMPLATES}
    # Alibaba signs no receipt push: the simulator pushes from loopback, nothing else may.
    table["dlr_push"]["allow_from"] = ["127.0.0.1/32", "::1/128"]
    lines = [f"[vendors.{name}]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def collector_toml(out: Path, grpc_port: int, webhook_port: int, ports: dict[str, int],
                   duration_s: float, seed: int) -> str:  # fmt: skip
    pki = out / "pki"
    return f"""[server]
listen = "127.0.0.1:{grpc_port}"

[tls]
ca_cert = "{pki / "ca.pem"}"
cert = "{pki / "collector.pem"}"
key = "{pki / "collector.key"}"

[ledger]
url = "{out / "ledger.db"}"

[metrics]
listen = ""

[agents]
health_interval_s = 3
clock_sync_interval_s = 10
canary_interval_s = 20

{aliyun_vendor_toml("acme", ports["acme"])}
{http_vendor_toml("cheap", ports["cheap"])}
[vendors.bolt]
kind = "smpp"
host = "127.0.0.1"
port = {ports["bolt"]}
system_id = "bolt"
password = "bolt-pw"

[probes]
secret = "demo-secret-{seed}"
webhook_listen = "127.0.0.1:{webhook_port}"
deadline_s = 15
give_up_s = 30
dlr_due_s = 30
judge_interval_s = 1
poll_interval_s = 5
health_max_silence_s = 30
seed = {seed}
send_for_s = {duration_s}

[probes.vendors.acme]
profiles = ["verification_code", "notification", "long_ucs2"]
interval_s = 15
signature = "{SIGNATURE}"
rate_per_s = 20
burst = 20
price_per_part = 0.04
daily_cap_per_number = 100000

[probes.vendors.cheap]
profiles = ["verification_code", "notification", "link"]
interval_s = 15
signature = "{SIGNATURE}"
rate_per_s = 20
burst = 20
price_per_part = 0.025
daily_cap_per_number = 100000

[probes.vendors.bolt]
profiles = ["verification_code", "notification"]
interval_s = 15
signature = "{SIGNATURE}"
rate_per_s = 20
burst = 20
price_per_part = 0.035
daily_cap_per_number = 100000
"""


def timeseries_toml(url: str, api: str, bucket: str, org: str, token: str) -> str:
    name = "database" if api == "v1" else "bucket"
    text = f'\n[timeseries]\napi = "{api}"\nurl = "{url}"\n{name} = "{bucket}"\ninterval_s = 2\n'
    if api == "v2":
        text += f'org = "{org}"\ntoken = "{token}"\n'
    return text


def agent_toml(out: Path, agent: str, modems: list[DemoModem], grpc_port: int) -> str:
    site, region = AGENTS[agent]
    pki = out / "pki"
    text = f"""[agent]
id = "{agent}"
site = "{site}"
region = "{region}"

[outbox]
path = "{out / agent / "outbox.sqlite"}"

[receive]
sweep_interval_s = 10
health_interval_s = 3
command_timeout_s = 5

[collector]
address = "127.0.0.1:{grpc_port}"
ca_cert = "{pki / "ca.pem"}"
cert = "{pki / f"{agent}.pem"}"
key = "{pki / f"{agent}.key"}"

[log]
level = "info"
format = "json"
"""
    for m in modems:
        if m.agent == agent:
            text += f'\n[[modems]]\nport = "{out / "sims" / m.name}"\nprofile = "{m.profile}"\nimei = "{m.imei}"\n'
    return text


def export(out: Path, *, wait_judged_s: float, echo: Any) -> dict[str, Any]:
    """verdicts.jsonl and summary.json from the ledger."""
    from collector.ledger import open_ledger
    from collector.views import judged_probe

    ledger = open_ledger(str(out / "ledger.db"))
    try:
        probes = ledger.probes()
        verdicts = ledger.verdicts()
        with (out / "verdicts.jsonl").open("w") as f:
            for p in probes:
                v = verdicts.get(p.plan.probe_id)
                j = judged_probe(p, v)
                f.write(
                    json.dumps(
                        {
                            "probe_id": p.plan.probe_id,
                            "vendor": p.plan.vendor,
                            "vendor_message_ids": list(p.message_ids),
                            "msisdn": p.plan.msisdn,
                            "carrier": p.plan.carrier,
                            "mvno": p.plan.mvno,
                            "agent": p.plan.agent_id,
                            "profile": p.plan.profile,
                            "submitted_at": _iso(p.submitted_at_ns or p.plan.planned_at_ns),
                            "verdict": j.outcome,
                            "dlr": j.dlr,
                            "latency_s": j.latency_s,
                            "latency_uncertainty_s": j.latency_uncertainty_s,
                            "content": j.content,
                            "content_diff": v.verdict.content_diff if v else "",
                            "reasons": list(v.verdict.reasons) if v else [],
                            "error": p.error_kind,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        judged = [judged_probe(p, verdicts.get(p.plan.probe_id)) for p in probes]
        summary: dict[str, Any] = {"vendors": {}}
        for cell in aggregate(judged, group_by=("vendor",)):
            summary["vendors"][cell.key["vendor"]] = {
                "sent": cell.sent,
                "delivered": cell.delivered,
                "late": cell.late,
                "lost": cell.lost,
                "inconclusive": cell.inconclusive,
                "rejected": cell.rejected,
                "pending": cell.pending,
                "arrival_rate": cell.arrival_rate,
                "ci_low": cell.ci_low,
                "ci_high": cell.ci_high,
                "p50_latency_s": cell.latency_p50_s,
                "p95_latency_s": cell.latency_p95_s,
                "fake_dlr": cell.dlr["fake_success"],
                "sla": cell.sla,
            }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return summary
    finally:
        ledger.close()


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def progress_line(out: Path) -> tuple[str, int]:
    """One line of live figures from the ledger (read-only, WAL lets us read alongside)."""
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{out / 'ledger.db'}?mode=ro", uri=True, timeout=1)
        rows = db.execute(
            "SELECT p.vendor, COALESCE(v.outcome, CASE WHEN p.submit_status = 'rejected'"
            " THEN 'rejected' ELSE 'pending' END), COUNT(*) FROM probes p"
            " LEFT JOIN verdicts v ON v.probe_id = p.probe_id GROUP BY 1, 2"
        ).fetchall()
        agents = db.execute("SELECT COUNT(*) FROM agents WHERE connected = 1").fetchone()[0]
        sms = db.execute("SELECT COUNT(*) FROM sms").fetchone()[0]
        db.close()
    except sqlite3.Error:
        return "waiting for the collector's ledger…", 0
    by: dict[str, Counter[str]] = {}
    for vendor, outcome, n in rows:
        by.setdefault(vendor, Counter())[outcome] += n
    pending = sum(c["pending"] for c in by.values())
    parts = [f"agents {agents}/2", f"sms {sms}"]
    for vendor in sorted(by):
        c = by[vendor]
        parts.append(
            f"{vendor}: {sum(c.values())} sent {c['delivered']}✓ {c['late']}late "
            f"{c['lost']}✗ {c['inconclusive']}? {c['rejected']}rej {c['pending']}…"
        )
    return " | ".join(parts), pending


@click.command("demo")
@click.option("--duration", "duration_s", type=click.FloatRange(5, 3600), default=60.0,
              show_default=True, help="Seconds of probing (judging continues after).")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Vendor-simulator scenario for the demo's three vendors (edit a copy of a "
              "run's scenario.toml; DLR push URLs are pointed at this run).")  # fmt: skip
@click.option(
    "--influx-url", help="Also write the time series to this InfluxDB (http://host:port)."
)
@click.option("--influx-api", type=click.Choice(["v1", "v2"]), default="v1", show_default=True)
@click.option(
    "--influx-bucket", default="smsprobe", show_default=True, help="Bucket (v2) or database (v1)."
)
@click.option("--influx-org", default="", help="Organisation (v2).")
@click.option("--influx-token", default="", help="API token (v2).")
@click.option("--trouble", is_flag=True,
              help="Vendors misbehave: a withdrawn template, an outage, a black hole, hard "
              "throttling; every probe must still be classified as the simulator's truth says.")  # fmt: skip
@click.option("--restart-collector-after", "restart_after_s", type=float, default=None,
              help="Drill: SIGKILL the collector after this many seconds and start it again.")  # fmt: skip
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True)  # fmt: skip
def demo_command(
    duration_s: float,
    seed: int,
    scenario_path: Path | None,
    out_dir: Path,
    influx_url: str | None = None,
    influx_api: str = "v1",
    influx_bucket: str = "smsprobe",
    influx_org: str = "",
    influx_token: str = "",
    restart_after_s: float | None = None,
    trouble: bool = False,
) -> None:
    """Run the whole system on simulated vendors and modems, as separate processes."""
    from collector.certs import create_ca, issue_agent

    out = out_dir.resolve()
    if out.exists():
        for name in (
            "ledger.db",
            "ledger.db-wal",
            "ledger.db-shm",
            "verdicts.jsonl",
            "summary.json",
            "truth.jsonl",
        ):
            (out / name).unlink(missing_ok=True)
    for sub in ("logs", "sims", "pki", *AGENTS):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for agent in AGENTS:
        (out / agent / "outbox.sqlite").unlink(missing_ok=True)
    logs = out / "logs"
    echo = click.echo
    modems = demo_modems()

    echo(f"smsprobe demo → {out}")
    create_ca(out / "pki", force=True)
    for agent in AGENTS:
        issue_agent(out / "pki", agent, out=out / "pki")
    echo("  certificates: CA, collector, 2 agents (mTLS), evidence signing key")

    control_port, grpc_port, webhook_port = free_port(), free_port(), free_port()
    (out / "fleet.toml").write_text(fleet_toml(modems, out / "sims", control_port, seed))
    local_hour = datetime.now().astimezone().hour
    scenario = out / "scenario.toml"
    if scenario_path is None:
        scenario.write_text(scenario_toml(modems, webhook_port, seed, local_hour, trouble=trouble))
    else:
        scenario.write_text(custom_scenario(scenario_path, webhook_port, trouble))

    procs: list[Proc] = []
    # SIGTERM (timeout, CI, systemd) ends the run as Ctrl-C does: through the `finally`
    # below, which stops every process started. Each runs in its own session, so neither
    # signal reaches them unless passed on.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        sims = Proc(
            "sim-modem",
            [PY, "-m", "agent.cli", "sim-modem", "--fleet", str(out / "fleet.toml")],
            logs,
        )
        procs.append(sims)
        sims.wait_json(lambda o: o.get("event") == "sim_modem_ready", 60)
        echo(f"  modem simulator: {len(modems)} modems on ptys under {out / 'sims'}")

        vendors = Proc(
            "sim-vendor",
            [PY, "-m", "collector.cli", "sim-vendor", "--scenario", str(scenario),
             "--modem-control", f"127.0.0.1:{control_port}", "--truth", str(out / "truth.jsonl"),
             "--seed", str(seed)],
            logs,
        )  # fmt: skip
        procs.append(vendors)
        vendors.wait_json(lambda o: o.get("ready") is True, 60)
        ports = {
            str(o["vendor"]): int(o["port"])
            for line in vendors.lines
            if (o := _json(line)) is not None and "vendor" in o and "port" in o
        }
        echo("  vendor simulator: " + ", ".join(f"{k} :{v}" for k, v in sorted(ports.items())))

        collector_text = collector_toml(out, grpc_port, webhook_port, ports, duration_s, seed)
        if influx_url:
            collector_text += timeseries_toml(
                influx_url, influx_api, influx_bucket, influx_org, influx_token
            )
        (out / "collector.toml").write_text(collector_text)
        port_file = out / "collector.port"

        def start_collector(name: str) -> Proc:
            port_file.unlink(missing_ok=True)
            proc = Proc(
                name,
                [PY, "-m", "collector.cli", "serve", "--config", str(out / "collector.toml"),
                 "--port-file", str(port_file)],
                logs,
                env={"SMSPROBE_LOG_FORMAT": "json"},
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while not port_file.exists():
                if proc.proc.poll() is not None or time.monotonic() > deadline:
                    raise click.ClickException(f"collector did not start; see {proc.log_path}")
                time.sleep(0.1)
            return proc

        collector = start_collector("collector")
        procs.append(collector)
        echo(
            f"  collector: gRPC+mTLS :{grpc_port}, DLR webhooks :{webhook_port}, ledger {out / 'ledger.db'}"
        )

        for agent in AGENTS:
            (out / f"{agent}.toml").write_text(agent_toml(out, agent, modems, grpc_port))
            procs.append(
                Proc(
                    f"agent-{agent}",
                    [PY, "-m", "agent.cli", "run", "--config", str(out / f"{agent}.toml")],
                    logs,
                )
            )
        echo(f"  agents: {', '.join(AGENTS)} (4 modems each)\n")

        started = time.monotonic()
        tty = sys.stdout.isatty()
        last = ""
        judged_by = started + duration_s + 75  # give-up 30 s, DLRs due 30 s, margin
        while True:
            time.sleep(1.0)
            for p in procs:
                if p.proc.poll() is not None:
                    raise click.ClickException(
                        f"{p.name} exited ({p.proc.returncode}); see {p.log_path}"
                    )
            elapsed = time.monotonic() - started
            if restart_after_s is not None and elapsed >= restart_after_s:
                # The drill: SIGKILL mid-run, start again on the same ledger. Agents
                # reconnect and upload their backlog; vendors retry DLR pushes; SMPP
                # receipts wait for the next bind.
                restart_after_s = None
                os.killpg(collector.proc.pid, signal.SIGKILL)
                collector.stop()
                slot = procs.index(collector)  # keep the stop order: agents before collector
                procs.remove(collector)
                remaining = max(duration_s - elapsed, 1.0)
                (out / "collector.toml").write_text(
                    collector_toml(out, grpc_port, webhook_port, ports, remaining, seed)
                    + (
                        timeseries_toml(
                            influx_url, influx_api, influx_bucket, influx_org, influx_token
                        )
                        if influx_url
                        else ""
                    )
                )
                echo(f"[{elapsed:5.0f}s] collector killed (SIGKILL) and restarted")
                collector = start_collector("collector-restarted")
                procs.insert(slot, collector)
            line, pending = progress_line(out)
            phase = "probing" if elapsed < duration_s else "judging"
            text = f"[{elapsed:5.0f}s {phase}] {line}"
            if tty:
                echo("\r\x1b[2K" + text[: os.get_terminal_size().columns - 1], nl=False)
            elif text != last and int(elapsed) % 5 == 0:
                echo(text)
            last = text
            if elapsed > duration_s + 35 and pending == 0:
                break
            if time.monotonic() > judged_by:
                break
        if tty:
            echo("")
    finally:
        for p in reversed(procs):
            p.stop()

    summary = export(out, wait_judged_s=0, echo=echo)
    echo("\nper vendor:")
    for vendor, s in sorted(summary["vendors"].items()):
        rate = "—" if s["arrival_rate"] is None else f"{s['arrival_rate'] * 100:.1f} %"
        echo(
            f"  {vendor:6} sent {s['sent']:4}  arrival {rate:>7} [{s['ci_low'] * 100:.1f}–{s['ci_high'] * 100:.1f}]"
            f"  delivered {s['delivered']}  late {s['late']}  lost {s['lost']}  inconclusive {s['inconclusive']}"
            f"  rejected {s['rejected']}  fake DLR {s['fake_dlr']}  p95 {s['p95_latency_s']} s"
        )
    from collector.vendors.sim.truthcheck import compare, load_jsonl

    check = compare(load_jsonl(out / "verdicts.jsonl"), load_jsonl(out / "truth.jsonl"))
    echo(
        f"\nground truth check: {check.matched} probes compared with what the simulated network "
        f"did, {len(check.problems)} disagreements; provable fake DLRs caught "
        f"{check.fake_dlrs_caught}/{check.fake_dlrs_in_truth}"
    )
    for problem in check.problems:
        echo(f"  DISAGREES: {problem}")
    echo("\nfiles:")
    for name in ("verdicts.jsonl", "summary.json", "truth.jsonl", "ledger.db", "logs"):
        echo(f"  {out / name}")
    if check.problems or check.matched == 0:
        raise SystemExit(1)


def _terminated(signum: int, _frame: object) -> NoReturn:
    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise SystemExit(128 + signum)


def _json(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None
