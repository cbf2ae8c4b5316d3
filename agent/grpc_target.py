"""Is a string a collector address gRPC can dial? (pure; no name resolution)

`[collector] address` goes to `grpc.aio.secure_channel` unchanged, so it may be any
target gRPC's naming accepts (gRPC "Name Syntax", doc/naming.md in grpc/grpc):

    host:port                          DNS name, IPv4 or [IPv6] literal (default resolver)
    dns:[//authority/]host:port
    ipv4:a.b.c.d:port[,a.b.c.d:port...]   a fixed list, gRPC balances over it
    ipv6:[addr]:port[,[addr]:port...]
    unix:path  unix-abstract:name

gRPC would default a missing port to 443 and try an unresolvable name forever; an
agent config must say where its collector listens, so the port is required here.
"""

from __future__ import annotations

import ipaddress
import re

TARGET_FORMS = (
    "host:port (a DNS name, IPv4 or [IPv6] address; port 1-65535) "
    "or a gRPC dns:, ipv4:, ipv6: or unix: target"
)
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _port(text: str) -> bool:
    return _PORT.fullmatch(text) is not None and 1 <= int(text) <= 65535


def _ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _dns_name(text: str) -> bool:
    # RFC 1123 §2.1: letters, digits, hyphens; the last label is not all digits (so a
    # mistyped IPv4 address such as 10.0.0.300 is not taken for a name).
    labels = text.split(".")
    return (
        len(text) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def _split_port(text: str) -> tuple[str, str] | None:
    host, sep, port = text.rpartition(":")
    return (host, port) if sep and _port(port) else None


def _literal(host: str, version: int) -> bool:
    """An IPv4 address, or an IPv6 address in brackets as it must be before a port."""
    if version == 6:
        return host.startswith("[") and host.endswith("]") and _ip(host[1:-1], 6)
    return _ip(host, 4)


def is_host_port(text: str) -> bool:
    """`host:port` with a DNS name, an IPv4 address or a bracketed IPv6 address."""
    split = _split_port(text)
    return split is not None and (
        _literal(split[0], 4) or _literal(split[0], 6) or _dns_name(split[0])
    )


def _address_list(text: str, version: int) -> bool:
    splits = [_split_port(item) for item in text.split(",")]
    return all(split is not None and _literal(split[0], version) for split in splits)


def is_grpc_target(text: str) -> bool:
    """True if `text` is one of the forms in TARGET_FORMS."""
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        return False
    # gRPC reads `scheme:rest` as a URI when it knows the scheme, else as a dns: name.
    scheme, _, rest = text.partition(":")
    if scheme == "dns":
        if rest.startswith("//"):
            authority, slash, rest = rest[2:].partition("/")
            # The DNS server to ask (c-ares takes "IP:port"); empty means the system's.
            if not slash or (authority and not (is_host_port(authority) or _ip(authority, 4))):
                return False
        return is_host_port(rest)
    if scheme == "ipv4":
        return _address_list(rest, 4)
    if scheme == "ipv6":
        return _address_list(rest, 6)
    if scheme in ("unix", "unix-abstract"):
        return bool(rest.strip("/"))
    return is_host_port(text)
