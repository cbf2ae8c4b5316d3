"""The [timeseries] section: which sink, where, and how often to write.

[timeseries]
api = "v1"                  # v1: InfluxDB 1.x /write; v2: InfluxDB 2.x/3.x API
url = "http://127.0.0.1:8086"
database = "smsprobe"       # v1 (alias: bucket for v2)
retention_policy = ""       # v1
username = ""               # v1
password = ""               # v1
bucket = "smsprobe"         # v2
org = ""                    # v2
token = ""                  # v2
interval_s = 5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from agent.common.tomlconfig import Table
from collector.timeseries.sinks import (
    InfluxV1Config,
    InfluxV1Sink,
    InfluxV2Config,
    InfluxV2Sink,
    TimeSeriesSink,
)


@dataclass(frozen=True, slots=True)
class TimeSeriesConfig:
    sink: InfluxV1Config | InfluxV2Config
    interval_s: float = 5.0
    # [reports.lines]: national MSISDN -> kind of line, over the derived one (probe `line`)
    lines: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def make_sink(self) -> TimeSeriesSink:
        if isinstance(self.sink, InfluxV1Config):
            return InfluxV1Sink(self.sink)
        return InfluxV2Sink(self.sink)


def parse_timeseries(
    raw: Mapping[str, Any], *, file: str, lines: Mapping[str, str] | None = None
) -> TimeSeriesConfig | None:
    """None when the section is absent or empty (time series off). `lines`: the
    `[reports.lines]` overrides, so probe points carry the kind of line reports show."""
    if not raw:
        return None
    t = Table(raw, file=file, path="timeseries")
    api = t.get_choice("api", ("v1", "v2"), "v1")
    url = t.get_str("url", non_empty=True, expected="an http(s) URL")
    if not url.startswith(("http://", "https://")):
        raise t.error("url", "an http(s) URL", url)
    timeout = t.get_float("timeout_s", 10.0, min_value=0.1)
    interval = t.get_float("interval_s", 5.0, min_value=0.1)
    sink: InfluxV1Config | InfluxV2Config
    if api == "v1":
        sink = InfluxV1Config(
            url=url,
            database=t.get_str("database", non_empty=True),
            retention_policy=t.get_str("retention_policy", ""),
            username=t.get_str("username", ""),
            password=t.get_str("password", ""),
            timeout_s=timeout,
        )
    else:
        sink = InfluxV2Config(
            url=url,
            bucket=t.get_str("bucket", non_empty=True),
            org=t.get_str("org", ""),
            token=t.get_str("token", ""),
            timeout_s=timeout,
        )
    t.finish()
    return TimeSeriesConfig(sink, interval, MappingProxyType(dict(lines or {})))
