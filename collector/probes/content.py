"""Probe content profiles: texts shaped like the real traffic of each kind.

The token hides where a real message of that kind carries a variable (the code, an order
number), so templates, signatures, prefixes and suffixes added on the way leave it intact.
Chinese rules shape the texts: a 【signature】 on everything, marketing only with the
unsubscribe suffix (拒收请回复R). Long probes carry the token in the first and the last part,
so a lost or unreassembled part is still attributed to its probe.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from collector.correlation.tokens import TokenKind

UNSUBSCRIBE_SUFFIX = "拒收请回复R"


class Category(enum.Enum):
    """How vendors classify (and route, cap and price) a message."""

    OTP = "otp"
    NOTIFICATION = "notification"
    MARKETING = "marketing"


@dataclass(frozen=True, slots=True)
class ProbeProfile:
    name: str
    category: Category
    token_kind: TokenKind
    template: str  # `{token}` marks the variable; vendors approve the rest as a template

    def render(self, token: str) -> str:
        return self.template.replace("{token}", token)


_LONG_FILLER = (
    "您的保单已完成年度续期，保障范围与去年一致，电子保单已发送至您预留的邮箱，"
    "如需变更受益人、联系方式或缴费账户，请登录官方应用在“我的保单”中办理，"
    "或在工作日九点至十八点致电客服热线，我们将竭诚为您服务"
)

PROFILES: dict[str, ProbeProfile] = {
    p.name: p
    for p in (
        ProbeProfile(
            "verification_code",
            Category.OTP,
            TokenKind.CODE,
            "您的验证码为{token}，5分钟内有效，请勿泄露给他人。",
        ),
        ProbeProfile(
            "notification",
            Category.NOTIFICATION,
            TokenKind.ORDER,
            "您的订单{token}已发货，预计3日内送达，请注意查收。",
        ),
        ProbeProfile(
            "marketing",
            Category.MARKETING,
            TokenKind.ORDER,
            "会员专享：本周全场满199减50，活动编号{token}，详情见APP首页。" + UNSUBSCRIBE_SUFFIX,
        ),
        ProbeProfile(
            "link",
            Category.NOTIFICATION,
            TokenKind.ORDER,
            "您的账单{token}已生成，查看详情 https://m.example.cn/bill/view 。",
        ),
        ProbeProfile(
            "long_ucs2",
            Category.NOTIFICATION,
            TokenKind.ORDER,
            "保单{token}：" + _LONG_FILLER + "。单号{token}",
        ),
    )
}


def expected_text(profile: ProbeProfile, token: str, signature: str) -> str:
    """What a faithful route delivers: the signature in 【】 then the body."""
    return f"【{signature}】{profile.render(token)}" if signature else profile.render(token)
