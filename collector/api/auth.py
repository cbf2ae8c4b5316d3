"""Who is calling: the agent id from the verified client certificate, checked against the
agent_id in every request (agent.proto: "an agent can only report as itself").

The TLS stack has already verified the chain against our CA (require_client_auth); here
we read the identity from gRPC's auth context. An agent certificate (collector/certs.py)
carries its id as subject CN *and* as a SAN URI `smsprobe://agent/ID`; both must agree,
so a certificate made for some other purpose by the same CA is not an agent identity.

Revocation is a deny list of agent ids or certificate fingerprints (`sha256:<hex>`),
reloadable at runtime (SIGHUP). Pure apart from the small parse cache: the servicer hands
in `context.auth_context()`, tests hand in dicts.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from cryptography import x509

from collector.certs import agent_ids_in_cert, cert_fingerprint

log = structlog.get_logger("collector.api.auth")

AuthContext = Mapping[str, Sequence[bytes]]


class DenyReason(enum.StrEnum):
    NO_CERTIFICATE = "no_certificate"
    NOT_AN_AGENT_CERTIFICATE = "not_an_agent_certificate"
    AGENT_ID_MISMATCH = "agent_id_mismatch"
    REVOKED = "revoked"
    MISSING_AGENT_ID = "missing_agent_id"


class AuthError(Exception):
    """The caller may not act as the agent it names. `unauthenticated` distinguishes "we
    do not know who you are / your certificate is revoked" from "you are someone else"."""

    def __init__(self, reason: DenyReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def unauthenticated(self) -> bool:
        return self.reason in (DenyReason.NO_CERTIFICATE, DenyReason.REVOKED)


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    agent_id: str
    fingerprint: str  # "sha256:<hex>" of the DER certificate; "" when insecure


def _first(ctx: AuthContext, key: str) -> bytes:
    values = ctx.get(key) or ()
    return values[0] if values else b""


def peer_certificate(ctx: AuthContext) -> bytes:
    """The client certificate (PEM) the TLS stack verified; b"" without one."""
    return _first(ctx, "x509_pem_cert")


def _normalize_deny(entry: str) -> str:
    """Agent ids compare exactly; fingerprints as lowercase hex, with or without the
    colons `openssl x509 -fingerprint -sha256` prints."""
    entry = entry.strip()
    if entry.lower().startswith("sha256:"):
        return "sha256:" + entry[len("sha256:") :].replace(":", "").lower()
    return entry


class Authenticator:
    """Maps a peer to an agent id and enforces the deny list."""

    def __init__(self, *, insecure: bool = False, deny: Iterable[str] = ()) -> None:
        self.insecure = insecure
        self._deny: frozenset[str] = frozenset()
        self.set_deny(deny)
        # PEM -> identity: a busy stream would otherwise parse the certificate per batch.
        self._cache: OrderedDict[bytes, PeerIdentity | AuthError] = OrderedDict()

    def set_deny(self, deny: Iterable[str]) -> None:
        self._deny = frozenset(_normalize_deny(d) for d in deny)

    @property
    def deny(self) -> frozenset[str]:
        return self._deny

    def _from_cert(self, pem: bytes) -> PeerIdentity | AuthError:
        cached = self._cache.get(pem)
        if cached is not None:
            self._cache.move_to_end(pem)
            return cached
        result: PeerIdentity | AuthError
        try:
            cert = x509.load_pem_x509_certificate(pem)
            cn, ids = agent_ids_in_cert(cert)
            fingerprint = cert_fingerprint(cert)
        except ValueError as exc:
            result = AuthError(
                DenyReason.NOT_AN_AGENT_CERTIFICATE, f"unreadable client certificate: {exc}"
            )
        else:
            if len(ids) != 1 or ids[0] != cn:
                result = AuthError(
                    DenyReason.NOT_AN_AGENT_CERTIFICATE,
                    f"client certificate CN={cn!r} SAN agent ids={list(ids)!r} is not an agent "
                    "certificate (needs CN=ID and one SAN URI smsprobe://agent/ID)",
                )
            else:
                result = PeerIdentity(agent_id=cn, fingerprint=fingerprint)
        self._cache[pem] = result
        if len(self._cache) > 1024:
            self._cache.popitem(last=False)
        return result

    def peer_identity(self, ctx: AuthContext) -> PeerIdentity | None:
        """The verified identity, or None in insecure mode. Raises AuthError."""
        if self.insecure:
            return None
        pem = _first(ctx, "x509_pem_cert")
        if not pem:
            raise AuthError(DenyReason.NO_CERTIFICATE, "no client certificate presented")
        result = self._from_cert(pem)
        if isinstance(result, AuthError):
            raise result
        return result

    def authorize(self, ctx: AuthContext, claimed_agent_id: str) -> str:
        """The agent id this request may act as: the certificate's, equal to the claim."""
        if not claimed_agent_id:
            raise AuthError(DenyReason.MISSING_AGENT_ID, "request has no agent_id")
        peer = self.peer_identity(ctx)
        if peer is not None and peer.agent_id != claimed_agent_id:
            raise AuthError(
                DenyReason.AGENT_ID_MISMATCH,
                f"certificate is for agent {peer.agent_id!r} but the request claims "
                f"{claimed_agent_id!r}: an agent can only report as itself",
            )
        if claimed_agent_id in self._deny or (peer is not None and peer.fingerprint in self._deny):
            raise AuthError(DenyReason.REVOKED, f"agent {claimed_agent_id!r} is revoked")
        return claimed_agent_id
