"""SIM/ME message storage of the simulated modem (TS 27.005 §3.1; docs/modems.md, "Storage").

Pure data: no I/O, no clock. Indexes are allocated lowest-free first, starting at the
personality's index base; MT is the concatenation SM then ME (indexes of ME continue after
SM's last slot, as on modems that number MT that way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class MsgStat(IntEnum):
    """27.005 §3.1 <stat> in PDU mode; text mode uses the names (`"REC UNREAD"`)."""

    REC_UNREAD = 0
    REC_READ = 1
    STO_UNSENT = 2
    STO_SENT = 3

    @property
    def text(self) -> str:
        return self.name.replace("_", " ")


STAT_ALL = 4
TEXT_STATS = {"REC UNREAD": 0, "REC READ": 1, "STO UNSENT": 2, "STO SENT": 3, "ALL": STAT_ALL}


@dataclass
class StoredMessage:
    """One occupied slot. `pdu` includes the SMSC field; `tpdu_length` excludes it
    (TS 27.005 §3.1)."""

    pdu: bytes
    tpdu_length: int
    stat: MsgStat
    truth_id: int  # key into the ground-truth log (-1 for messages written by the TE)
    is_report: bool = False


@dataclass
class Memory:
    name: str  # "SM", "ME", "SR"
    capacity: int
    index_base: int
    slots: dict[int, StoredMessage] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return len(self.slots)

    def free_index(self) -> int | None:
        for index in range(self.index_base, self.index_base + self.capacity):
            if index not in self.slots:
                return index
        return None

    def store(self, message: StoredMessage) -> int | None:
        index = self.free_index()
        if index is not None:
            self.slots[index] = message
        return index


class Storages:
    """SM, ME and SR memories plus the MT view; all lookups by the 27.005 memory name."""

    def __init__(self, sm_capacity: int, me_capacity: int, sr_capacity: int, index_base: int):
        self.index_base = index_base
        self.memories: dict[str, Memory] = {
            "SM": Memory("SM", sm_capacity, index_base),
            "ME": Memory("ME", me_capacity, index_base),
            "SR": Memory("SR", sr_capacity, index_base),
        }

    def _mt_split(self, index: int) -> tuple[Memory, int]:
        sm = self.memories["SM"]
        if index < sm.index_base + sm.capacity:
            return sm, index
        return self.memories["ME"], index - sm.capacity

    def used_total(self, mem: str) -> tuple[int, int]:
        if mem == "MT":
            sm, me = self.memories["SM"], self.memories["ME"]
            return sm.used + me.used, sm.capacity + me.capacity
        memory = self.memories[mem]
        return memory.used, memory.capacity

    def get(self, mem: str, index: int) -> StoredMessage | None:
        if mem == "MT":
            memory, local = self._mt_split(index)
            return memory.slots.get(local)
        return self.memories[mem].slots.get(index)

    def valid_index(self, mem: str, index: int) -> bool:
        used_total = self.used_total(mem)
        return self.index_base <= index < self.index_base + used_total[1]

    def delete(self, mem: str, index: int) -> StoredMessage | None:
        if mem == "MT":
            memory, local = self._mt_split(index)
            return memory.slots.pop(local, None)
        return self.memories[mem].slots.pop(index, None)

    def items(self, mem: str) -> list[tuple[int, StoredMessage]]:
        """Occupied slots in index order (real modems sometimes list unordered)."""
        if mem == "MT":
            sm, me = self.memories["SM"], self.memories["ME"]
            out = sorted(sm.slots.items())
            out += [(i + sm.capacity, m) for i, m in sorted(me.slots.items())]
            return out
        return sorted(self.memories[mem].slots.items())

    def store(self, mem: str, message: StoredMessage) -> tuple[str, int] | None:
        """Store into `mem` (MT = SM first, then ME); returns (memory name, index) or None."""
        if mem == "MT":
            for name in ("SM", "ME"):
                index = self.memories[name].store(message)
                if index is not None:
                    return ("SM", index) if name == "SM" else ("ME", index)
            return None
        index = self.memories[mem].store(message)
        return None if index is None else (mem, index)

    def is_full(self, mem: str) -> bool:
        used, total = self.used_total(mem)
        return used >= total
