"""The rating vocabulary: scores, channels and standard reason codes.

This is the one source of truth for labels and national codes; templates, exports,
charts and the API all read from here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    value: int  # stored score, 5 = 非常满意
    zh: str
    en: str
    gbt_code: int  # GB/T 39046 满意度代码, 1 = 非常满意

    @property
    def is_good(self) -> bool:
        """好评: 基本满意 or better."""
        return self.value >= 3

    @property
    def is_bad(self) -> bool:
        """差评: 不满意 or 非常不满意."""
        return is_bad(self.value)

    @property
    def points(self) -> int:
        """Its share of 满意度 (非常满意 100 … 非常不满意 0)."""
        return satisfaction_points(self.value)


SCORES: dict[int, Score] = {
    s.value: s
    for s in (
        Score(5, "非常满意", "Very satisfied", 1),
        Score(4, "满意", "Satisfied", 2),
        Score(3, "基本满意", "Basically satisfied", 3),
        Score(2, "不满意", "Dissatisfied", 4),
        Score(1, "非常不满意", "Very dissatisfied", 5),
    )
}
BAD_SCORE_MAX = 2


def is_bad(score: int) -> bool:
    """Whether a stored score counts as 差评."""
    return score <= BAD_SCORE_MAX


def satisfaction_points(score: int) -> int:
    """What one rating adds to 满意度 (0–100): (score − 1) × 25. Satisfaction is the
    mean of these over the counted ratings."""
    return (score - 1) * 25


@dataclass(frozen=True)
class Channel:
    code: str
    gbt_code: int  # GB/T 39046 评价渠道
    zh: str
    en: str


CHANNELS: dict[str, Channel] = {
    c.code: c
    for c in (
        Channel("web", 1, "PC端", "PC"),
        Channel("app", 2, "移动端", "Mobile app"),
        Channel("qr", 3, "二维码", "QR code"),
        Channel("kiosk", 4, "窗口评价器", "Hall tablet"),
        Channel("terminal", 5, "其他大厅终端", "Other hall terminal"),
        Channel("phone", 6, "电话", "Telephone"),
        Channel("sms", 7, "短信", "SMS"),
    )
}

# A rating's flags (Rating.flags, codes joined by ';'): what integrity checks and
# decisions found. A flag marks; whether the rating counts is Rating.counted.
UNPROMPTED = "unprompted"  # a kiosk tap with no service event open (一次一评)
MISUSE = "misuse"  # a repeat press from one device or phone within the interval
SUSPECT = "suspect"  # a burst or an out-of-hours rating, for a supervisor
APPEAL = "appeal"  # excluded by an upheld appeal (kiosk/followups.py)
# A supervisor's decision on a misuse or suspect rating, kept beside the flag it
# answers (kiosk/integrity.py; who and when: the audit log).
KEPT = "kept"  # 计入 (a misuse press restored, a suspect one confirmed)
EXCLUDED = "excluded"  # 不计入
FLAGS = {UNPROMPTED: ("未经邀请", "Unprompted"), MISUSE: ("重复按键", "Repeated press"),
         SUSPECT: ("可疑", "Suspect"), APPEAL: ("申诉成立", "Appeal upheld"),
         KEPT: ("核查计入", "Reviewed: counted"), EXCLUDED: ("核查不计入", "Reviewed: excluded")}


def codes(joined: str | None) -> list[str]:
    """The codes of a column that holds them joined by ';' (flags, reasons)."""
    return [c for c in (joined or "").split(";") if c]


def counts(flags: str | None, require_prompt: bool) -> bool:
    """Whether a rating with these flags counts: the one rule the writer and the
    supervisors' decisions follow. An upheld appeal or a supervisor's 不计入 excludes
    it; an unprompted kiosk press does not count while REQUIRE_PROMPT is on; a
    supervisor's 计入 restores a misuse press; misuse is out otherwise; everything else
    counts (suspect included)."""
    marks = codes(flags)
    if APPEAL in marks or EXCLUDED in marks:
        return False
    if UNPROMPTED in marks and require_prompt:
        return False
    if KEPT in marks:
        return True
    return MISUSE not in marks


def with_flag(flags: str | None, code: str, on: bool = True) -> str:
    """``flags`` with ``code`` set (once, after the others) or, ``on`` false, cleared."""
    kept = [c for c in codes(flags) if c != code]
    return ";".join([*kept, code] if on else kept)

# Standard reasons for on-site service (DOMAIN.md). Admins may add more codes in the
# database; a code never changes meaning once used.
STANDARD_REASONS: tuple[tuple[str, str, str], ...] = (
    ("attitude", "服务态度", "Service attitude"),
    ("efficiency", "办事效率", "Efficiency"),
    ("competence", "业务水平", "Competence"),
    ("guidance", "一次性告知不到位", "Incomplete one-time guidance"),
    ("timeliness", "超时/办理时限", "Exceeded time limit"),
    ("waiting", "等候时间长", "Long wait"),
    ("facilities", "环境设施", "Environment and facilities"),
    ("other", "其他", "Other"),
)
