"""One masking of phone numbers (agent/common/logs.py mask_middle) behind both masks: a
log's mask_msisdn and the ledger retention's, whose stored format must not change (rows
masked by earlier runs must equal new ones of the same SIM)."""

from __future__ import annotations

from agent.common.logs import mask_middle, mask_msisdn
from collector.ledger import retention


def _log_format_as_released(number: str) -> str:
    return "*" * len(number) if len(number) <= 5 else number[:3] + "*" * (len(number) - 5) \
        + number[-2:]  # fmt: skip


def _retention_format_as_stored(value: str) -> str:
    if not retention.is_phone_number(value):
        return value
    plus = "+" if value.startswith("+") else ""
    digits = value.removeprefix("+")
    head = 4 if len(digits) > 8 else 0
    return plus + digits[:head] + "*" * (len(digits) - head - 2) + digits[-2:]


def test_both_masks_keep_their_formats() -> None:
    assert mask_msisdn("+8613800138000") == "+86*********00"
    assert mask_msisdn("10086") == "*****"
    assert retention.mask_msisdn("+8613800138000") == "+8613*******00"
    assert retention.mask_msisdn("13800138000") == "1380*****00"
    assert retention.mask_msisdn("10086") == "***86"
    assert retention.mask_msisdn("Taobao") == "Taobao"  # a sender name is no number
    for n in range(1, 22):
        digits = "".join(str((7 * i + 3) % 10) for i in range(n))
        for value in (digits, "+" + digits):
            assert mask_msisdn(value) == _log_format_as_released(value)
            assert retention.mask_msisdn(value) == _retention_format_as_stored(value)


def test_mask_middle_hides_all_of_a_value_too_short_to_keep_both_ends() -> None:
    assert mask_middle("123456", 2) == "12**56"
    assert mask_middle("1234", 2) == "****"
    assert mask_middle("12345", 0) == "***45"
