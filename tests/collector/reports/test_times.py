"""Times shown to people are at second precision in the stated zone; stored ones keep ns."""

from datetime import UTC
from zoneinfo import ZoneInfo

from collector.reports.config import at_second, iso, parse_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT_NS = 1_500_000_000_123_456_789  # 2017-07-14T02:40:00.123456789Z


def test_at_second_cuts_the_fraction_in_the_zone() -> None:
    assert at_second(AT_NS, SHANGHAI) == "2017-07-14T10:40:00+08:00"
    assert at_second(AT_NS) == "2017-07-14T02:40:00+00:00"


def test_iso_keeps_the_fraction_for_machines() -> None:
    assert iso(AT_NS) == "2017-07-14T02:40:00.123456+00:00"
    assert parse_time(iso(AT_NS), UTC) == AT_NS - 789
