"""HTTPS with a test CA (collector/certs.py): the official Alibaba (V3 and classic) and
Tencent SDKs, unchanged, trust the simulator only through their documented CA option,
and which environment variables each honours is pinned here; our adapter trusts it
through the vendor table's `ca_file`. A wrong CA fails with a clear error and nothing
reaches the simulated vendor. Each SDK call closes the SDK's connection pool after it
(through the SDK's attributes): a kept-alive TLS connection left to the garbage
collector would warn in whichever test runs next."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_dysmsapi20170525 import models as v3_models
from alibabacloud_dysmsapi20170525.client import Client as DysmsClient
from alibabacloud_tea_openapi import models as openapi_models
from aliyunsdkcore.client import AcsClient
from aliyunsdkdysmsapi.request.v20170525.SendSmsRequest import SendSmsRequest
from darabonba.core import DaraCore
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111.sms_client import SmsClient

from agent.common.tomlconfig import ConfigError
from collector.certs import CaPaths, create_ca
from collector.vendors.base import AuthFailedError, OutgoingSms
from collector.vendors.config import parse_http_vendor
from tests.collector.vendors.helpers import ACCOUNT, MSISDN_CMCC, PASSWORD, http_vendor_table, run
from tests.collector.vendors.test_cloud_sdk_peers import tc_send_request
from tests.collector.vendors.test_vendor_contract import NOTE, SIG, _receipts, rig

# Every variable a Python HTTPS client might read for its trust store.
CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "ALIBABA_CLOUD_CA_BUNDLE")
UNTRUSTED = "CERTIFICATE_VERIFY_FAILED"
NOT_PROVEN = re.compile(
    r": (unable to get local issuer certificate|certificate signature failure)$"
)


@dataclass(frozen=True)
class Pki:
    good: CaPaths  # the CA that issued the simulator's certificate (127.0.0.1, localhost)
    bad: CaPaths  # another CA

    def server(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.good.server_cert, self.good.server_key)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    return Pki(create_ca(root / "good"), create_ca(root / "bad"))


# ---------------------------------------------------------------- the SDKs' own options


def _alibaba_v3(hostport: str, ca: str | None, method: str) -> Any:
    """alibabacloud_dysmsapi20170525: `Config.ca` (also `RuntimeOptions.ca`)."""
    client = DysmsClient(
        openapi_models.Config(access_key_id=ACCOUNT, access_key_secret=PASSWORD,
                              endpoint=hostport, protocol="HTTPS", method=method, ca=ca)
    )  # fmt: skip
    request = v3_models.SendSmsRequest(
        phone_numbers=MSISDN_CMCC, sign_name=SIG, template_code="SMS_CODE_1",
        template_param=json.dumps({"token": "482913"}),
    )  # fmt: skip
    try:
        return client.send_sms(request).body.code
    finally:  # its HTTPS pools are process-wide (DaraCore._sessions): close them
        for session in DaraCore._sessions.values():
            session.close()
        DaraCore._sessions.clear()


def _alibaba_classic(hostport: str, ca: str | None, method: str) -> Any:
    """aliyun-python-sdk-core: `AcsClient(verify=...)`, else $ALIBABA_CLOUD_CA_BUNDLE."""
    request = SendSmsRequest()
    request.set_PhoneNumbers(MSISDN_CMCC)
    request.set_SignName(SIG)
    request.set_TemplateCode("SMS_CODE_1")
    request.set_TemplateParam(json.dumps({"token": "482913"}))
    request.set_protocol_type("https")
    request.set_method(method)
    request.set_endpoint(hostport)
    client = AcsClient(ACCOUNT, PASSWORD, "cn-hangzhou", verify=ca)
    try:
        return json.loads(client.do_action_with_exception(request))["Code"]
    finally:
        client.session.close()


def _tencent(hostport: str, ca: str | None, method: str) -> Any:
    """tencentcloud-sdk-python: `HttpProfile(certification=...)` (default: certifi's)."""
    http = HttpProfile(endpoint=hostport, reqMethod=method, certification=ca)
    client = SmsClient(
        credential.Credential(ACCOUNT, PASSWORD), "ap-guangzhou", ClientProfile(httpProfile=http)
    )
    try:
        answer = client.SendSms(tc_send_request("482913")).to_json_string()
        return json.loads(answer)["SendStatusSet"][0]["Code"]
    finally:
        client.request.conn._session.close()


# peer -> (the simulated cloud, how it sends, what it answers, env variables it honours)
SDKS: dict[str, tuple[str, Any, str, frozenset[str]]] = {
    # darabonba builds its TLS context with ssl.create_default_context(): OpenSSL reads
    # $SSL_CERT_FILE then (once per endpoint and process), before adding certifi's
    "alibaba-v3": ("aliyun", _alibaba_v3, "OK", frozenset({"SSL_CERT_FILE"})),
    "alibaba-classic": ("aliyun", _alibaba_classic, "OK", frozenset({"ALIBABA_CLOUD_CA_BUNDLE"})),
    "tencent": ("tencent", _tencent, "Ok", frozenset()),
}


def _outcome(send: Any, hostport: str, ca: str | None, method: str) -> str:
    try:
        return str(send(hostport, ca, method))
    except Exception as exc:  # each SDK wraps the requests/urllib3 error its own way
        return "untrusted" if UNTRUSTED in str(exc) else f"other: {exc!r}"


# The classic SDK's vendored urllib3 uses ssl.PROTOCOL_TLS and ssl.match_hostname.
@pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:ssl.match_hostname.. is deprecated:DeprecationWarning")
@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("peer", list(SDKS))
def test_official_sdk_over_https_trusts_the_test_ca_by_its_documented_option(
    peer: str, method: str, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt meets a fresh simulator (a new port): the V3 SDK keeps its HTTPS
    connections in a process-wide pool, and a connection it already trusted would be
    reused whatever the next call's CA says."""
    cloud, send, ok, honours = SDKS[peer]
    good, bad = str(pki.good.ca_cert), str(pki.bad.ca_cert)
    for name in CA_ENV:
        monkeypatch.delenv(name, raising=False)

    async def attempt(ca: str | None, env: str | None = None) -> tuple[str, int]:
        if env is not None:
            monkeypatch.setenv(env, good)
        try:
            async with rig(cloud, tls=pki.server(), dlr_push_url=None) as r:
                host = r.vendor.config.base_url.removeprefix("https://")  # type: ignore[attr-defined]
                outcome = await asyncio.to_thread(_outcome, send, host, ca, method)
                await r.network.wait_idle()
                return outcome, len(r.network.truth.records)
        finally:
            if env is not None:
                monkeypatch.delenv(env)

    async def scenario() -> dict[str, tuple[str, int]]:
        outcomes = {
            "option: the issuing CA": await attempt(good),
            "option: another CA": await attempt(bad),
            "nothing set": await attempt(None),
        }
        for name in CA_ENV:
            outcomes[f"${name}"] = await attempt(None, env=name)
        return outcomes

    sent, refused = (ok, 1), ("untrusted", 0)  # a refused handshake reached nothing
    assert run(scenario(), 90.0) == {
        "option: the issuing CA": sent,
        "option: another CA": refused,
        "nothing set": refused,
        **{f"${n}": sent if n in honours else refused for n in CA_ENV},
    }


# ---------------------------------------------------------------- our adapter: ca_file


@pytest.mark.parametrize("kind", ["aliyun", "tencent", "aliyun_v3"])
def test_adapter_over_https_with_ca_file(kind: str, pki: Pki) -> None:
    async def scenario() -> int:
        async with rig(kind, tls=pki.server(), ca_file=pki.good.ca_cert) as r:
            assert r.vendor.config.base_url.startswith("https://")  # type: ignore[attr-defined]
            result = await r.vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, NOTE, signature=SIG))
            await _receipts(kind, r, 1)  # pushed back, or pulled over HTTPS (aliyun_v3)
            assert [t.vendor_message_id for t in r.network.truth.records] == [result.message_ids[0]]
            return len(r.sink.dlrs)

    assert run(scenario()) == 1


@pytest.mark.parametrize(
    ("trust", "says"),
    [("bad", "not trusted by ca_file {bad}"), (None, "not trusted by the system's CA")],
)
def test_adapter_with_a_wrong_ca_fails_clearly_and_sends_nothing(
    trust: str | None, says: str, pki: Pki
) -> None:
    ca_file = pki.bad.ca_cert if trust else None

    async def scenario() -> tuple[AuthFailedError, AuthFailedError, int]:
        async with rig("tencent", tls=pki.server(), ca_file=ca_file, pull=True) as r:
            with pytest.raises(AuthFailedError) as submit:
                await r.vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, NOTE, signature=SIG))
            with pytest.raises(AuthFailedError) as pull:
                await r.vendor.poll_dlrs()  # PullSmsSendStatus over the same trust
            return submit.value, pull.value, len(r.network.truth.records)

    submit, pull, reached = run(scenario())
    for error in (submit, pull):
        message = str(error)
        assert message.startswith("TLS: the certificate of 127.0.0.1:"), message
        assert says.format(bad=pki.bad.ca_cert) in message
        # both test CAs share a name: OpenSSL finds the wrong one by name (a bad signature)
        # or none at all (the system's store)
        assert NOT_PROVEN.search(message), message
    assert reached == 0


def test_ca_file_is_checked_when_the_config_is_read(tmp_path: Path, pki: Pki) -> None:
    file = str(tmp_path / "collector.toml")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")

    def problem(base_url: str, ca_file: str) -> str:
        table = http_vendor_table(base_url) | {"ca_file": ca_file}
        with pytest.raises(ConfigError) as info:
            parse_http_vendor("acme", table, file=file)
        return str(info.value)

    https = "https://sms.example.net"
    missing = problem(https, "nowhere.pem")
    assert "vendors.acme.ca_file" in missing and file in missing
    assert f"{tmp_path / 'nowhere.pem'}: cannot read it" in missing  # relative to the file
    assert "expected PEM CA certificates" in problem(https, str(junk))
    assert "base_url is not https://" in problem("http://sms.example.net", str(junk))
    ok = parse_http_vendor(
        "acme", http_vendor_table(https) | {"ca_file": str(pki.good.ca_cert)}, file=file
    )
    assert ok.ca_file == pki.good.ca_cert
