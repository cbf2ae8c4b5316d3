"""`smsprobe-collector evidence export|verify`: signed evidence bundles for a vendor dispute.

    evidence export --config collector.toml --vendor acme --since -7d --out acme.zip
    evidence verify acme.zip --public-key signing.pub

verify exits 0 when signature, chain, completeness, agent signatures, every verdict
(re-judged from its facts) and every figure agree; 1 when a problem was found (each on its
own line); 2 when the input cannot be read at all.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.common.logs import configure_logging
from agent.common.tomlconfig import ConfigError
from collector.audit.record import entry, record_in
from collector.billing.settings import load_billing
from collector.billing.statement import Billed
from collector.certs import SIGNING_KEY
from collector.evidence.billing import FILE as BILLING_FILE
from collector.evidence.billing import billing_file
from collector.evidence.bundle import Encoded, write_bundle
from collector.evidence.pages import BundleReport
from collector.evidence.recompute import judging_from_json, judging_json
from collector.evidence.records import WINDOW_NS, export_records
from collector.evidence.signatures import key_files
from collector.evidence.verify import verify_bundle
from collector.judging import JudgingConfig
from collector.ledger import LedgerError, open_ledger
from collector.ledger.audit import AuditKind
from collector.probes.config import parse_probes
from collector.reports.config import iso
from collector.reports.figures import Cell, JudgedProbe, Thresholds
from collector.reports.options import Progress, load_settings, parse_period, software_version

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from collector.config import CollectorSettings
    from collector.reports.config import ReportsConfig

EXIT_OK, EXIT_PROBLEM, EXIT_UNREADABLE = 0, 1, 2


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def signing_key_candidates(
    config: CollectorSettings, reports: ReportsConfig, given: Path | None
) -> list[Path]:
    """Where the signing key may be, in order: --key, [reports].signing_key, next to the
    TLS certificate (`certs init` writes both into one directory), the config directory."""

    if given is not None:
        return [given]
    if reports.signing_key is not None:
        return [reports.signing_key]
    paths = []
    if config.tls.cert is not None:
        paths.append(config.tls.cert.parent / SIGNING_KEY)
    paths += [config.base_dir / SIGNING_KEY, config.base_dir / "certs" / SIGNING_KEY]
    return paths


def judging_settings(config: CollectorSettings) -> dict[str, Any]:
    """The settings the collector's judge runs with ([probes], agent canary deadline), for
    the manifest; exit 2 when [probes] is invalid (the judge would not have started)."""

    try:
        probes = parse_probes(
            config.raw_section("probes"), file=config.source, vendor_names=set(config.vendors)
        )
    except ConfigError as exc:
        _fail(str(exc), EXIT_UNREADABLE)
    deadline = config.agent_defaults.canary_deadline_s
    if probes is None:  # no [probes]: the judge's defaults
        return judging_json(JudgingConfig(canary_deadline_s=deadline))
    return judging_json(
        JudgingConfig(
            policy=probes.policy,
            health_max_silence_s=probes.health_max_silence_s,
            canary_deadline_s=deadline,
        )
    )


def load_signing_key(candidates: list[Path]) -> Ed25519PrivateKey:
    """The first existing candidate as an Ed25519 private key; ValueError says why not."""

    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        looked = ", ".join(str(p) for p in candidates)
        raise ValueError(
            f"no evidence signing key (looked at {looked}); create one with "
            "`smsprobe-collector certs init --dir DIR` and set [reports].signing_key "
            "or pass --key DIR/signing.key"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 key (use signing.key from `certs init`)")
    return key


@click.group("evidence")
def evidence_group() -> None:
    """Signed, hash-chained evidence bundles and their offline verification."""


@evidence_group.command("export")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--vendor", required=True, help="The vendor the evidence is about.")
@click.option("--since", required=True, help="ISO-8601 (zone-less: [reports].timezone), -7d.")
@click.option("--until", default="now", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ed25519 signing key (default: [reports].signing_key, then next to the TLS cert).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes building and encoding the records, a day each, side by side (1: in "
    "this process); pays off only with idle cores (docs/scale.md).",
)
def export_command(
    config_path: str,
    vendor: str,
    since: str,
    until: str,
    out: Path,
    key_path: Path | None,
    workers: int,
) -> None:
    """One record per probe of VENDOR in the period, the report, signed."""

    configure_logging("warning")
    config, reports = load_settings(config_path)
    billing = load_billing(config)
    since_ns, until_ns = parse_period(since, until, reports)
    judging = judging_settings(config)
    try:
        key = load_signing_key(signing_key_candidates(config, reports, key_path))
    except ValueError as exc:
        _fail(str(exc), EXIT_UNREADABLE)
    # A line when it starts, one a day of records (or every few seconds), then one when
    # the records are done and the figures and billing are computed (a month's take a
    # while): an operator sees where a long export is.
    days = max(-(-(until_ns - since_ns) // WINDOW_NS), 1)
    progress: list[Progress] = [Progress(f"evidence {vendor}", days + 1)]
    progress[0].advance(0, what="reading the ledger")

    def step(done: int, total: int) -> None:
        progress[0].advance(what="records")  # a day of them per step

    since_text, until_text = iso(since_ns, reports.tz), iso(until_ns, reports.tz)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    version = software_version()
    try:
        ledger = open_ledger(config.ledger.url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    signers: set[str] = set()
    billed: dict[str, Billed] = {}  # what imported invoices billed, by probe id

    def records() -> Iterator[dict[str, Any] | Encoded]:
        # A day of probes at a time, written to the bundle as they come (docs/scale.md).
        yield from export_records(
            ledger, config.ledger.url, workers=workers, signers=signers, billed=billed,
            vendor=vendor, since_ns=since_ns, until_ns=until_ns, give_up_s=reports.give_up_s,
            judging=judging_from_json(judging), progress=step,
        )  # fmt: skip

    # The pages (report.html, .md) and report.json's cells from one aggregation where
    # they are the same; money in the pages at each probe's own price, as the report's.
    pages = BundleReport(
        vendor, since_text, until_text, created, version, reports.thresholds,
        billing.base_prices(), billing.part_price,
    )  # fmt: skip

    def figures(
        judged: Sequence[JudgedProbe], thresholds: Thresholds, prices: Mapping[str, float]
    ) -> Mapping[str, Sequence[Cell]] | None:
        progress[0].advance(what="report figures and billing")  # the records are written
        return pages.json_tables(judged, thresholds, prices)

    def extra_files(judged: Sequence[JudgedProbe]) -> dict[str, bytes]:
        # The certificates of the agent keys that signed the quoted records, and the CA.
        keys = ledger.agent_keys(sorted(signers))
        # `billed` (billing.json): looked up by the message ids the records carried, as
        # they passed (not a second read of the probes with their raw exchanges)
        return {
            **pages.pages(judged),
            BILLING_FILE: billing_file(
                vendor, judged, billing.terms(vendor), billed, priced=vendor in billing.vendors
            ),
            **key_files(keys, _read_optional(config.tls.ca_cert)),
        }

    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as sink:
            written = write_bundle(
                sink,
                records(),
                signing_key=key,
                vendor=vendor,
                since=since_text,
                until=until_text,
                software_version=version,
                created_at=created,
                thresholds=reports.thresholds,
                prices=billing.base_prices(),
                extra_files=extra_files,
                judging=judging,
                report_tables=figures,
            )
        digest = _sha256_of(tmp)
    except LedgerError as exc:
        tmp.unlink(missing_ok=True)
        raise click.ClickException(f"ledger: {exc}") from exc
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from exc
    finally:
        ledger.close()
        for p in progress:
            p.close()
    if not written.records:
        click.echo(f"warning: no probes of {vendor} in the period; the bundle says so", err=True)
    # No bundle leaves without its line in the audit log.
    arguments = {
        "vendor": vendor,
        "since": since_text,
        "until": until_text,
        "out": str(out.resolve()),
        "records": written.records,
        "bundle_sha256": digest,
    }
    try:
        summary = f"evidence export of {vendor}"
        record_in(config.ledger.url, entry(AuditKind.EVIDENCE_EXPORT, summary, arguments))
        tmp.replace(out)
    except (LedgerError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise click.ClickException(f"not exported: {exc}") from exc
    click.echo(f"wrote {written.records} records of {vendor} to {out}", err=True)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@evidence_group.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The collector's signing.pub, obtained out of band (the bundle's copy only with "
    "--trust-bundle-key).",
)
@click.option(
    "--agents-ca",
    "agents_ca",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The agents' CA certificate, obtained out of band: every agent key that signed a "
    "record must be certified by it (default: the bundle's copy).",
)
@click.option(
    "--trust-bundle-key",
    is_flag=True,
    help="Without --public-key, accept the bundle's own signing.pub (it proves nothing "
    "about who made the bundle).",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept arrivals and health samples without an agent-signed record (records "
    "from agents that do not sign); otherwise each is refused.",
)
@click.option(
    "--allow-legacy",
    is_flag=True,
    help="Accept a bundle made before verify re-judged verdicts (no judging settings in "
    "its manifest): its verdicts are then taken as the collector states them.",
)
def verify_command(
    bundle: Path,
    public_key: Path | None,
    agents_ca: Path | None,
    trust_bundle_key: bool,
    allow_unsigned: bool,
    allow_legacy: bool,
) -> None:
    """Check signature, hash chain, completeness and recompute every figure, offline."""

    try:
        data = bundle.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {bundle}: {exc.strerror}", EXIT_UNREADABLE)
    if not zipfile.is_zipfile(bundle):
        _fail(f"{bundle} is not a zip file (not an evidence bundle)", EXIT_UNREADABLE)
    pem: bytes | None = None
    if public_key is not None:
        try:
            pem = public_key.read_bytes()
            key = serialization.load_pem_public_key(pem)
        except OSError as exc:
            _fail(f"cannot read public key {public_key}: {exc.strerror}", EXIT_UNREADABLE)
        except ValueError as exc:
            _fail(f"{public_key} is not a PEM public key: {exc}", EXIT_UNREADABLE)
        if not isinstance(key, Ed25519PublicKey):
            _fail(f"{public_key} is not an Ed25519 public key (signing.pub)", EXIT_UNREADABLE)
    ca_pem: bytes | None = None
    if agents_ca is not None:
        try:
            ca_pem = agents_ca.read_bytes()
            x509.load_pem_x509_certificate(ca_pem)
        except OSError as exc:
            _fail(f"cannot read {agents_ca}: {exc.strerror}", EXIT_UNREADABLE)
        except ValueError as exc:
            _fail(f"{agents_ca} is not a PEM certificate: {exc}", EXIT_UNREADABLE)
    result = verify_bundle(
        data,
        pem,
        agents_ca=ca_pem,
        trust_bundle_key=trust_bundle_key,
        allow_unsigned=allow_unsigned,
        allow_legacy=allow_legacy,
    )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.problems:
        for problem in result.problems:
            click.echo(f"PROBLEM: {problem}")
        click.echo(f"{len(result.problems)} problem(s) in {bundle}", err=True)
        sys.exit(EXIT_PROBLEM)
    verdicts = (
        "every verdict (re-judged from its facts)"
        if result.verdicts_recomputed
        else "verdicts NOT re-judged (legacy bundle)"
    )
    if result.verdicts_recomputed and result.not_rejudged:
        verdicts = (
            f"every verdict (re-judged from its facts, except {result.not_rejudged} whose "
            "facts retention masked)"
        )
    click.echo(
        f"OK: {result.record_count} records; signature, hash chain, file digests, agent "
        f"signatures, {verdicts} and every figure agree"
    )


def _read_optional(path: Path | None) -> bytes | None:
    """A file for the bundle's convenience copy; None when not configured or unreadable."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None
