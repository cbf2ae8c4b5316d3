"""`smsprobe-collector cost` and `smsprobe-collector invoice import|list`.

    smsprobe-collector cost --config collector.toml --since -30d [--until now]
        [--vendor acme] [--format text|json|csv] [--trial 1000000 [--rate 0.98]
        [--coefficient 0.98]]
    smsprobe-collector invoice import --config collector.toml --vendor cheap cdr.csv
    smsprobe-collector invoice list --config collector.toml [--vendor cheap]

Exit codes: 0 done; 2 usage or configuration error, or an invoice file refused (the
message names its line and column; nothing of it is stored); 1 the ledger failed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from agent.common.logs import configure_logging
from collector.audit.record import entry, record, record_in
from collector.billing.invoice import InvoiceError, parse_invoice
from collector.billing.load import load_period
from collector.billing.settings import load_billing
from collector.billing.statement import VendorStatement
from collector.billing.text import CSV_HEADER, csv_rows, statement_lines, trial_lines
from collector.billing.trial import Trial, cost_trial
from collector.ledger import LedgerError, open_ledger
from collector.ledger.audit import AuditKind
from collector.reports.config import iso
from collector.reports.options import load_settings, parse_period


def _trial(st: VendorStatement, n: int, rate: float | None, coefficient: float | None) -> Trial:
    """The trial at --rate (honest DLRs), else at the vendor's measured arrival rate and
    DLR-delivered share; priced at its average price per part sent in the period."""
    share = None if rate is not None else st.success_share
    r = rate if rate is not None else (st.arrival_rate or 0.0)
    price = st.charge["on_submit"] / st.submitted_parts if st.submitted_parts else 0.0
    coef = st.coefficient if st.model == "coefficient" else coefficient
    return cost_trial(n, r, round(price, 6), success_share=share, coefficient=coef)


@click.command("cost")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--since", required=True, help="ISO-8601 (zone-less: [reports].timezone), -30d.")
@click.option("--until", default="now", show_default=True, help="Same forms as --since.")
@click.option("--vendor", default=None, help="Only this vendor.")
@click.option("--format", "fmt", type=click.Choice(("text", "json", "csv")), default="text",
              show_default=True)  # fmt: skip
@click.option(
    "--trial",
    "trial_n",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Also the buyer's cost trial: N single-part messages under each model.",
)
@click.option(
    "--rate",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Arrival rate of the trial (default: each vendor's measured rate).",
)
@click.option(
    "--coefficient",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Coefficient of the trial for vendors not billed by coefficient.",
)
def cost_command(
    config_path: str,
    since: str,
    until: str,
    vendor: str | None,
    fmt: str,
    trial_n: int | None,
    rate: float | None,
    coefficient: float | None,
) -> None:
    """Per vendor: what each billing model charges for the period's probes, what the vendor
    billed (its own figures, imported invoices), what arrived is worth: the over-charge.

    Exit codes: 0 done; 2 usage or configuration error; 1 the ledger failed. See
    docs/billing.md."""
    configure_logging("warning")
    config, reports = load_settings(config_path)
    billing = load_billing(config)
    since_ns, until_ns = parse_period(since, until, reports)
    try:
        ledger = open_ledger(config.ledger.url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    try:
        period = load_period(ledger, billing, since_ns=since_ns, until_ns=until_ns, vendor=vendor)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    finally:
        ledger.close()
    items = period.statements
    trials = {st.vendor: _trial(st, trial_n, rate, coefficient) for st in items} \
        if trial_n else {}  # fmt: skip
    since_text, until_text = iso(since_ns, reports.tz), iso(until_ns, reports.tz)
    if fmt == "json":
        doc: dict[str, Any] = {
            "since": since_text,
            "until": until_text,
            "vendors": [st.to_dict() for st in items],
        }
        if trials:
            doc["trial"] = {v: t.to_dict() for v, t in trials.items()}
        click.echo(json.dumps(doc, indent=1, ensure_ascii=False))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(csv_rows(items))
        click.echo(buf.getvalue(), nl=False)
    else:
        out = [f"cost {since_text} .. {until_text}"]
        if not items:
            out.append("no probes in the period")
        for st in items:
            out += statement_lines(st)
            if st.vendor in trials:
                out += trial_lines(st.vendor, st.currency, trials[st.vendor])
        click.echo("\n".join(out))


@click.group("invoice")
def invoice_group() -> None:
    """A vendor's invoice or CDR file (CSV) into the ledger, to check its bill."""


@invoice_group.command("import")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--vendor", required=True, help="Whose file it is ([billing.vendors.X.invoice]).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_command(config_path: str, vendor: str, file: Path) -> None:
    """Read FILE with the vendor's column mapping and store every line, or none.

    Exit codes: 0 imported (or imported before); 2 usage or configuration error, or FILE
    refused (its line and column named, nothing stored); 1 the ledger failed, or the
    import could not be written to the audit log (kind invoice_import)."""
    configure_logging("warning")
    config, _ = load_settings(config_path)
    billing = load_billing(config)
    if vendor not in billing.vendors and vendor not in config.vendors:
        known = ", ".join(sorted({*billing.vendors, *config.vendors})) or "none"
        click.echo(f"error: --vendor: {vendor!r} is in neither [vendors] nor [billing.vendors] "
                   f"(known: {known})", err=True)  # fmt: skip
        sys.exit(2)
    try:
        data = file.read_bytes()
    except OSError as exc:
        click.echo(f"error: {file}: cannot read: {exc.strerror}", err=True)
        sys.exit(2)
    args: dict[str, Any] = {"vendor": vendor, "file": str(file.resolve()),
                            "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
    try:
        parsed = parse_invoice(data, billing.invoice_mapping(vendor), source=file.name)
    except InvoiceError as exc:
        click.echo(f"error: {exc}; nothing imported", err=True)
        try:  # a refused file is an operator action too; its refusal stands unaudited
            record_in(config.ledger.url, entry(AuditKind.INVOICE_IMPORT, f"invoice of "
                      f"{vendor} refused", args, outcome=f"refused: {exc}"))  # fmt: skip
        except LedgerError as audit_exc:
            click.echo(f"error: the refusal is NOT in the audit log: {audit_exc}", err=True)
        sys.exit(2)
    try:
        ledger = open_ledger(config.ledger.url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    try:
        invoice_id, new = ledger.import_invoice(
            vendor=vendor, source=file.name, sha256=parsed.sha256,
            currency=billing.terms(vendor).currency, lines=parsed.lines, at_ns=time.time_ns(),
        )  # fmt: skip
    except LedgerError as exc:
        ledger.close()
        raise click.ClickException(f"ledger: {exc}; nothing imported") from exc
    args.update(invoice_id=invoice_id, lines=len(parsed.lines), new=new)
    summary = f"invoice of {vendor}: {file.name}" + ("" if new else " (imported before)")
    try:
        record(ledger, entry(AuditKind.INVOICE_IMPORT, summary, args))
    except LedgerError as exc:
        raise click.ClickException(f"imported (invoice {invoice_id}) but NOT in the audit "
                                   f"log: {exc}") from exc  # fmt: skip
    finally:
        ledger.close()
    if new:
        click.echo(f"imported {len(parsed.lines)} lines of {file.name} for {vendor} "
                   f"(invoice {invoice_id})")  # fmt: skip
    else:
        click.echo(f"{file.name} was already imported for {vendor} (invoice {invoice_id}): "
                   "nothing added")  # fmt: skip


@invoice_group.command("list")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--vendor", default=None)
def list_command(config_path: str, vendor: str | None) -> None:
    """The imported files."""
    configure_logging("warning")
    config, reports = load_settings(config_path)
    try:
        ledger = open_ledger(config.ledger.url)
        try:
            headers = ledger.invoices(vendor)
        finally:
            ledger.close()
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    for h in headers:
        at = iso(h.imported_at_ns, reports.tz)
        click.echo(f"{h.invoice_id}\t{h.vendor}\t{h.source}\t{h.line_count} lines\t"
                   f"{h.currency}\t{at}\tsha256:{h.sha256[:16]}")  # fmt: skip
