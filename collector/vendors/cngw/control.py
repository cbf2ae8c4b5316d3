"""The link-control half of a dialect, the same in all three protocols but for the command
ids: active test (CMPP 2.0 §7.4.3.9, SMGP 3.0 §5.2.4; SGIP has none), terminate (CMPP
Terminate, SMGP Exit, SGIP Unbind) and which commands carry a delivery or report."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import ClassVar

from collector.vendors.cngw.wire import Pdu

__all__ = ["ControlCommands", "LinkControl"]


@dataclass(frozen=True, slots=True)
class ControlCommands:
    terminate: int
    terminate_resp: int
    deliver: tuple[int, ...]
    active_test: int | None = None  # None: the protocol has no active test (SGIP)
    active_test_resp: int = 0
    active_test_resp_body: object = None


class LinkControl:
    """Mixin for a dialect: its `control` table gives the command ids."""

    control: ClassVar[ControlCommands]

    def active_test(self, sequence: Hashable) -> Pdu | None:
        c = self.control
        return None if c.active_test is None else Pdu(c.active_test, sequence)

    def terminate(self, sequence: Hashable) -> Pdu:
        return Pdu(self.control.terminate, sequence)

    def answer(self, pdu: Pdu) -> Pdu | None:
        c = self.control
        if c.active_test is not None and pdu.command == c.active_test:
            return Pdu(c.active_test_resp, pdu.sequence, c.active_test_resp_body)
        if pdu.command == c.terminate:
            return Pdu(c.terminate_resp, pdu.sequence)
        return None

    def is_terminate(self, pdu: Pdu) -> bool:
        return pdu.command == self.control.terminate

    def is_deliver(self, pdu: Pdu) -> bool:
        return pdu.command in self.control.deliver
