"""data_coding 0 is the "SMSC default alphabet" (SMPP 3.4 §5.2.19): the simulator reads it
as GSM 03.38 septets one per octet unless a vendor is set to Latin-1. Proved with
independent ESMEs (PyPI smpplib, npm `smpp`) and our own adapter: the GSM characters that
differ from ASCII/Latin-1 (@ is 0x00, _ is 0x11, $ is 0x02) reach the handset intact."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.gsm

from collector.vendors.base import OutgoingSms
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.smpp_api import SmppVendorSimulator
from collector.vendors.simulator.truth import TruthLog
from collector.vendors.smpp.adapter import SmppVendor, SmppVendorConfig
from collector.vendors.smpp.client import SmppClientConfig
from tests.collector.vendors.helpers import (
    ACCOUNT,
    MSISDN_CMCC,
    PASSWORD,
    ListDlrSink,
    run,
    scenario_doc,
    vendor_scenario,
)

TEXT = "Code 482913 @home_$5 ok"
PEERS = Path(__file__).resolve().parents[3] / "peers"


def _smpplib_submit(port: int, text: str) -> Any:
    """Bind as a transmitter, submit `text` (receipt requested), unbind; the
    submit_sm_resp."""
    [part], encoding, esm_class = smpplib.gsm.make_parts(text)
    if "@" in text:
        assert (encoding, part[text.index("@")]) == (0, 0x00)  # GSM 03.38: @ as 0x00
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    resps: list[Any] = []
    client.set_message_sent_handler(lambda pdu: resps.append(pdu))
    client.connect()
    try:
        client.bind_transmitter(system_id=ACCOUNT, password=PASSWORD)
        client.send_message(
            dest_addr_ton=1, dest_addr_npi=1, destination_addr=MSISDN_CMCC,
            short_message=part, esm_class=esm_class, data_coding=encoding,
            registered_delivery=1,
        )  # fmt: skip
        while not resps:
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return resps[0]


async def _npm_submit(port: int, text: str) -> str:
    if not (PEERS / "node_modules" / "smpp").is_dir():
        raise RuntimeError("run `cd tests/peers && npm install` first")
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(PEERS / "smpp_submit.js"), str(port),
        ACCOUNT, PASSWORD, MSISDN_CMCC, text,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):  # node start-up on a loaded CI host
        out, _ = await proc.communicate()
    return out.decode().strip()


async def _with_simulator(alphabet: str, peer: str) -> tuple[str, list[str]]:
    doc = scenario_doc(
        {"v": vendor_scenario(protocol="smpp", signature_required=False,
                              smpp_default_alphabet=alphabet)}
    )  # fmt: skip
    modems = RecordingModemSink()
    net = CarrierNetwork(parse_scenario(doc), modems, TruthLog())
    front = SmppVendorSimulator(net, "v")
    await front.start()
    try:
        if peer == "smpplib":
            resp = await asyncio.to_thread(_smpplib_submit, front.port, TEXT)
            answer = str(resp.status)
        elif peer == "npm-smpp":
            answer = await _npm_submit(front.port, TEXT)
        else:
            vendor = SmppVendor(
                SmppVendorConfig(
                    name="v",
                    client=SmppClientConfig(
                        host="127.0.0.1", port=front.port, system_id=ACCOUNT, password=PASSWORD
                    ),
                )
            )
            await vendor.start(ListDlrSink())
            try:
                result = await vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, TEXT))
                answer = result.message_ids[0]
            finally:
                await vendor.close()
        # Not wait_idle: the receipt waits for a receiver that never binds (the peers
        # submit as transmitters and leave), so it is never sent.
        await modems.wait_for(1, 20.0)
    finally:
        await net.close()
        await front.close()
    return answer, [d.sms.text for d in modems.delivered]


@pytest.mark.parametrize("peer", ["smpplib", "npm-smpp", "our-adapter"])
def test_gsm_default_alphabet_reaches_the_handset_intact(peer: str) -> None:
    answer, delivered = run(_with_simulator("gsm7", peer), 60.0)
    expected = {"smpplib": "0", "npm-smpp": "SUBMITTED "}[peer] if peer != "our-adapter" else ""
    assert answer.startswith(expected) and answer != "", answer  # ESME_ROK / a message id
    assert delivered == [TEXT]


def test_a_latin1_smsc_reads_the_same_bytes_otherwise() -> None:
    """The setting is what decides: the same smpplib bytes on a Latin-1 SMSC."""
    _, delivered = run(_with_simulator("latin1", "smpplib"), 60.0)
    assert delivered == ["Code 482913 \x00home\x11\x025 ok"]
