from __future__ import annotations

from collector.correlation.content import classify, strip_signatures
from collector.correlation.model import ContentVerdict

EXPECTED = "【某某科技】您的验证码为482913，5分钟内有效。"


def test_identical_and_whitespace_or_width_only_changes_are_intact() -> None:
    assert classify(EXPECTED, EXPECTED)[0] is ContentVerdict.INTACT
    assert classify(EXPECTED, " 【某某科技】您的验证码为４８２９１３，5分钟内有效。 ")[0] is (
        ContentVerdict.INTACT
    )


def test_signature_replaced_moved_or_injected() -> None:
    for received in (
        "【另一家】您的验证码为482913，5分钟内有效。",
        "您的验证码为482913，5分钟内有效。【某某科技】",
        "【渠道商】【某某科技】您的验证码为482913，5分钟内有效。",
    ):
        verdict, diff = classify(EXPECTED, received)
        assert verdict is ContentVerdict.SIGNATURE_CHANGED, received
        assert diff


def test_truncated() -> None:
    verdict, diff = classify(EXPECTED, "【某某科技】您的验证码为482913，5分")
    assert verdict is ContentVerdict.TRUNCATED
    assert "-[钟内有效。]" in diff


def test_suffix_and_link_rewrite_are_modifications_with_a_diff() -> None:
    verdict, diff = classify(EXPECTED, EXPECTED + "拒收请回复R")
    assert verdict is ContentVerdict.MODIFIED and "+[拒收请回复R]" in diff
    link = "【A】详情 https://m.example.cn/bill/view 。"
    verdict, diff = classify(link, "【A】详情 https://t.cn/xyz 。")
    assert verdict is ContentVerdict.MODIFIED and "bill/view→xyz" in diff


def test_strip_signatures_only_at_the_ends() -> None:
    assert strip_signatures("【A】正文【B】中间文字【C】") == "正文【B】中间文字"
