"""[retention] parsing: agent samples are trimmed after a week unless configured, their
age is checked like every key (file, key and what was expected), and masking numbers inside
free text and alert subjects keeps everything else."""

from __future__ import annotations

import json

import pytest

from agent.common.tomlconfig import ConfigError
from collector.ledger.retention import Action, DataKind, numbers_in_text, subject_sim
from collector.retention.config import AGENT_SAMPLES_DAYS, parse_retention


def _days(raw: dict[str, object]) -> dict[DataKind, float]:
    return {k.kind: k.after_days for k in parse_retention(raw, file="c.toml").kinds}


def test_agent_samples_trimmed_after_a_week_unless_configured() -> None:
    assert AGENT_SAMPLES_DAYS == 7.0
    assert _days({}) == {DataKind.AGENT_SAMPLES: 7.0}  # no section: still trimmed
    assert _days({"agent_samples": {"after_days": 2.5}}) == {DataKind.AGENT_SAMPLES: 2.5}
    both = _days({"texts": {"action": "mask", "after_days": 90}})
    assert both == {DataKind.TEXT: 90.0, DataKind.AGENT_SAMPLES: 7.0}


@pytest.mark.parametrize(
    ("section", "names"),
    [
        ({"after_days": 0}, "retention.agent_samples.after_days"),
        ({"after_days": 9, "action": "mask"}, "retention.agent_samples.action"),
        ({"after_days": 9, "keep": True}, "keep"),
    ],
)
def test_agent_samples_errors_name_the_file_and_key(section: dict[str, object], names: str
                                                    ) -> None:  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_retention({"agent_samples": section}, file="c.toml")
    assert "c.toml" in str(caught.value) and names in str(caught.value)


def test_numbers_in_free_text_and_alert_subjects() -> None:
    detail = "mobile +8613700003333 blacklisted (code 4011, port 2775, 2026)"
    masked = numbers_in_text(Action.MASK, detail)
    assert masked == "mobile +8613*******33 blacklisted (code 4011, port 2775, 2026)"
    assert numbers_in_text(Action.MASK, masked) == masked  # idempotent
    assert (
        numbers_in_text(Action.PURGE, masked)
        == numbers_in_text(Action.PURGE, detail)
        == ("mobile  blacklisted (code 4011, port 2775, 2026)")
    )
    subject = json.dumps({"sim": "13700004444", "vendor": "acme"}, sort_keys=True)
    assert json.loads(subject_sim(Action.MASK, subject)) == {"sim": "1370*****44", "vendor": "acme"}
    assert json.loads(subject_sim(Action.PURGE, subject)) == {"sim": "", "vendor": "acme"}
    other = json.dumps({"agent": "agent-1", "imei": "860000000000001"}, sort_keys=True)
    assert subject_sim(Action.MASK, other) == other  # an IMEI is not a SIM number
