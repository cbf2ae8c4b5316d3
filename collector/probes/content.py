"""Probe content profiles: texts shaped like the real traffic of each kind.

The token hides where a real message of that kind carries a variable (the code, an order
number), so templates, signatures, prefixes and suffixes added on the way leave it intact.
Chinese rules shape the texts: a 【signature】 on everything, marketing only with the
unsubscribe suffix (拒收请回复R). Long probes carry the token in the first and the last part,
so a lost or unreassembled part is still attributed to its probe.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collector.correlation.tokens import TokenKind
from collector.vendors.base import ContentProfile, sms_parts

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


# -- the buyer's own templates ([probes.templates], collector/probes/config.py)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
BUILTIN = frozenset(PROFILES)


def from_template(
    name: str,
    category: Category,
    text: str,
    *,
    variables: Mapping[str, str] | None = None,
    link_domain: str = "",
    link_path: str = "",
) -> ProbeProfile:
    """A probe profile from a buyer's template. `{code}` (a 6-digit code) or `{order}` (an
    order number) marks where the real message carries its variable: the probe token goes
    there (every occurrence; one kind per template). `{link}` becomes
    https://<link_domain>/<link_path>, the buyer's own short-link domain; any other
    `{name}` comes from `variables`. Marketing gets the unsubscribe suffix if it lacks it.
    Raises ValueError saying what is wrong."""
    values = dict(variables or {})
    kinds = {m for m in _PLACEHOLDER.findall(text) if m in ("code", "order")}
    if len(kinds) != 1:
        raise ValueError("the text needs {code} or {order} (one of them) where the token goes")
    kind = TokenKind.CODE if kinds == {"code"} else TokenKind.ORDER

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in ("code", "order"):
            return "{token}"
        if key == "link":
            if not link_domain:
                raise ValueError("{link} needs link_domain")
            return f"https://{link_domain}/{link_path.lstrip('/')}"
        if key not in values:
            raise ValueError(
                f"{{{key}}} has no value in vars (known: {', '.join(values) or 'none'})"
            )
        return values[key]

    template = _PLACEHOLDER.sub(fill, text)
    if category is Category.MARKETING and UNSUBSCRIBE_SUFFIX not in template:
        template += UNSUBSCRIBE_SUFFIX
    return ProbeProfile(name, category, kind, template)


def long_variant(profile: ProbeProfile) -> ProbeProfile:
    """The same template made a multi-part message (`<name>_long`): filler after the body
    and the token again at the end, so each end part carries it."""
    body = profile.template.removesuffix(UNSUBSCRIBE_SUFFIX)
    suffix = UNSUBSCRIBE_SUFFIX if body != profile.template else ""
    template = f"{body}{_LONG_FILLER}。编号{{token}}{suffix}"
    return ProbeProfile(f"{profile.name}_long", profile.category, profile.token_kind, template)


def register(profiles: Sequence[ProbeProfile]) -> None:
    """Make the buyer's profiles known by name (the scheduler, runner and bursts look
    profiles up in PROFILES). A built-in name cannot be taken; a reload replaces them."""
    for p in profiles:
        if p.name in BUILTIN:
            raise ValueError(f"{p.name!r} is a built-in profile")
    for p in profiles:
        PROFILES[p.name] = p


def vendor_profile(profile: ProbeProfile) -> ContentProfile:
    """How a vendor API is told to treat a buyer's profile (its category, a long text,
    a link): the same classes as the built-in profiles."""
    if sms_parts(profile.render("0" * 11)) > 1:
        return ContentProfile.LONG
    if profile.category is Category.OTP:
        return ContentProfile.VERIFICATION_CODE
    if profile.category is Category.MARKETING:
        return ContentProfile.MARKETING
    return ContentProfile.LINK if "://" in profile.template else ContentProfile.NOTIFICATION
