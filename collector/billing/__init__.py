"""Billing: each vendor's terms ([billing]), what each model charges, imported invoices,
the over-charge in money and the buyer's cost trial (docs/billing.md)."""
