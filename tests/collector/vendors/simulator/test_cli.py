"""`smsprobe-collector sim-vendor` as a real process: ports printed, submits served, truth kept."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.certs import create_ca
from collector.vendors.base import OutgoingSms
from collector.vendors.config import parse_http_vendor
from collector.vendors.http import HttpVendor
from collector.vendors.simulator.cli import vendor_simulator_command
from collector.vendors.simulator.truth import read_truth
from tests.collector.vendors.helpers import MSISDN_CMCC, ListDlrSink, http_vendor_table, run

ROOT = Path(__file__).resolve().parents[4]
SCENARIO = """
seed = 1
speedup = 1000.0
[vendors.sim106]
account = "probe"
password = "secret"
sender_prefix = "10690"
[vendors.sim106.knobs]
p_arrive = 1.0
latency = { dist = "fixed", median_s = 1.0 }
[vendors.simsmpp]
protocol = "smpp"
[[subscribers]]
msisdn = "13800138000"
modem = "m1"
"""


@pytest.mark.parametrize("https", [False, True])
def test_sim_vendor_process_prints_ports_serves_and_writes_truth(
    tmp_path: Path, https: bool
) -> None:
    """With --tls-cert/--tls-key (the server pair `certs init` makes) the HTTP vendors
    serve HTTPS, and an adapter that trusts the CA by `ca_file` submits through it."""
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    truth = tmp_path / "truth.jsonl"
    tls_args: list[str] = []
    table_extra: dict[str, object] = {}
    if https:
        pki = create_ca(tmp_path / "pki")
        tls_args = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
        table_extra = {"ca_file": str(pki.ca_cert)}

    async def scenario_run() -> tuple[list[dict[str, object]], int]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collector.cli", "sim-vendor",
            "--scenario", str(scenario), "--truth", str(truth), "--log-level", "warning",
            *tls_args,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        lines: list[dict[str, object]] = []
        try:
            async with asyncio.timeout(20):
                while not lines or "ready" not in lines[-1]:
                    lines.append(json.loads(await proc.stdout.readline()))
            http = next(line for line in lines if line.get("protocol") == "http")
            assert str(http["url"]).startswith("https://" if https else "http://")
            table = http_vendor_table(str(http["url"])) | table_extra
            vendor = HttpVendor(parse_http_vendor("sim106", table))
            await vendor.start(ListDlrSink())
            try:
                await vendor.submit(
                    OutgoingSms("p1", MSISDN_CMCC, "您的工单已受理。", signature="探针科技")
                )
            finally:
                await vendor.close()
            deadline = time.monotonic() + 10
            while not (truth.exists() and truth.read_text(encoding="utf-8").strip()):
                assert time.monotonic() < deadline, "no ground truth written"
                await asyncio.sleep(0.02)  # another process writes it: poll with a deadline
        finally:
            if proc.returncode is None:
                proc.terminate()
            code = await proc.wait()
        return lines, code

    lines, code = run(scenario_run())
    assert code == 0
    protocols = {str(line.get("vendor")): line.get("protocol") for line in lines[:-1]}
    assert protocols == {"sim106": "http", "simsmpp": "smpp"}
    assert all(isinstance(line.get("port"), int) and line["port"] for line in lines[:-1])
    [record] = read_truth(truth)
    assert (record.vendor, record.fate, record.sender) == ("sim106", "delivered", "106900001")


def test_invalid_scenario_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[vendors.v]\nsender_prefix = 955\n", encoding="utf-8")
    result = CliRunner().invoke(vendor_simulator_command, ["--scenario", str(bad)])
    assert result.exit_code == 2
    assert "vendors.v.sender_prefix" in result.output


def test_tls_options_go_together_and_must_load(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    pki = create_ca(tmp_path / "pki")
    only_cert = CliRunner().invoke(
        vendor_simulator_command,
        ["--scenario", str(scenario), "--tls-cert", str(pki.server_cert)],
    )
    assert only_cert.exit_code == 2 and "--tls-cert and --tls-key go together" in only_cert.output
    wrong_key = CliRunner().invoke(
        vendor_simulator_command,
        ["--scenario", str(scenario), "--tls-cert", str(pki.server_cert),
         "--tls-key", str(pki.ca_key)],
    )  # fmt: skip
    assert wrong_key.exit_code == 2
    assert "expected a PEM certificate and its key" in wrong_key.output
