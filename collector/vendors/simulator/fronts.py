"""Which simulated HTTP API fronts a vendor: chosen by its scenario `protocol`.

Apart from http_api.py so the cloud APIs (which extend the aggregator front) and the
aggregator front do not import each other.
"""

from __future__ import annotations

import ssl

from collector.vendors.simulator.cloud_api import AliyunSmsApiSimulator, TencentSmsApiSimulator
from collector.vendors.simulator.http_api import HttpVendorSimulator
from collector.vendors.simulator.network import CarrierNetwork
from collector.vendors.simulator.scenario import VendorProtocol


def http_front(
    network: CarrierNetwork,
    vendor: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: ssl.SSLContext | None = None,
) -> HttpVendorSimulator:
    """The simulated HTTP API of `vendor`, shaped by its scenario `protocol`; HTTPS with
    the server context `tls`."""
    cls = {
        VendorProtocol.ALIYUN: AliyunSmsApiSimulator,
        VendorProtocol.TENCENT: TencentSmsApiSimulator,
    }.get(network.vendor(vendor).protocol, HttpVendorSimulator)
    return cls(network, vendor, host=host, port=port, tls=tls)
