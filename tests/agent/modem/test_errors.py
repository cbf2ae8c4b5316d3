"""+CME/+CMS classification: decided in errors.py only (TS 27.007 §9.2, TS 27.005 §3.2.5)."""

from __future__ import annotations

import pytest

from agent.modem.errors import (
    AtError,
    AtTimeoutError,
    CmeError,
    CmsError,
    ModemError,
    PortGoneError,
    error_from_final,
)


@pytest.mark.parametrize(
    ("final", "cls", "code", "transient"),
    [
        ("+CME ERROR: 14", CmeError, 14, True),  # SIM busy: normal right after boot
        ("+CME ERROR: 10", CmeError, 10, False),  # SIM not inserted: fatal until someone acts
        ("+CME ERROR: SIM busy", CmeError, 14, True),  # AT+CMEE=2 verbose
        ("+CME ERROR: SIM not inserted", CmeError, 10, False),
        ("+CMS ERROR: 500", CmsError, 500, True),  # vendor catch-all incl. "not ready"
        ("+CMS ERROR: 512", CmsError, 512, True),  # manufacturer specific
        ("+CMS ERROR: 302", CmsError, 302, True),  # before "SMS Ready"
        ("+CMS ERROR: 314", CmsError, 314, True),  # SIM busy
        ("+CMS ERROR: 330", CmsError, 330, True),  # SMSC unknown: SIM still loading
        ("+CMS ERROR: 321", CmsError, 321, False),  # invalid index
        ("+CMS ERROR: 322", CmsError, 322, False),  # memory full
        ("+CMS ERROR: 304", CmsError, 304, False),  # invalid PDU: our bug
        ("+CMS ERROR: unknown error", CmsError, 500, True),
        ("+CMS ERROR: something new", CmsError, None, False),
    ],
)
def test_classification(final: str, cls: type[AtError], code: int | None, transient: bool) -> None:
    err = error_from_final("AT+X", final)
    assert type(err) is cls
    assert isinstance(err, CmeError | CmsError)
    assert err.code == code
    assert err.transient is transient


def test_empty_slot_storage_full_and_sim_problem() -> None:
    assert error_from_final("AT+CMGD=3", "+CMS ERROR: 321").empty_slot
    assert error_from_final("AT+CMGR=3", "+CME ERROR: 21").empty_slot
    assert not error_from_final("AT+CMGR=3", "+CMS ERROR: 500").empty_slot
    assert error_from_final("x", "+CMS ERROR: 322").storage_full
    assert error_from_final("x", "+CME ERROR: 20").storage_full
    assert error_from_final("x", "+CMS ERROR: 310").sim_problem
    assert error_from_final("x", "+CME ERROR: 10").sim_problem


def test_plain_error_is_not_transient_and_keeps_command() -> None:
    err = error_from_final("AT+QCCID", "ERROR")
    assert type(err) is AtError
    assert not err.transient
    assert err.command == "AT+QCCID"


def test_tree_and_transient_for_link_errors() -> None:
    assert issubclass(CmeError, ModemError) and issubclass(PortGoneError, ModemError)
    assert PortGoneError("x").transient
    assert AtTimeoutError("AT", 1.0).transient
