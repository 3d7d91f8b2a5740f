"""Languages: Chinese first, English on request (Flask-Babel catalogs in translations/).

Message ids are the Chinese text itself, so a string nobody has translated yet still
shows in Chinese, never as a code.
"""
from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, force_locale, lazy_gettext as _l

LANGUAGES = ("zh", "en")
DEFAULT = "zh"

babel = Babel()

# The rating pages switch language in the browser (instantly, and offline), so they
# get every string in both languages at once, keyed by name.
PAGE_STRINGS = {
    "prompt": _l("请对本次服务作出评价"),
    "prompt_sub": _l("轻触一下即可，您的评价帮助我们改进服务"),
    "on_duty": _l("挂牌服务"),
    "staff_no": _l("工号"),
    "duties": _l("岗位职责"),
    "nobody": _l("本窗口暂无工作人员挂牌"),
    # 事项公示 on the card (kiosk/items.py): a time limit reads "5 个工作日" or "即办".
    "window_items": _l("本窗口办理事项"),
    "workdays": _l("个工作日"),
    "instant": _l("即办"),
    "window": _l("窗口"),
    "thanks": _l("感谢您的评价！"),
    "thanks_sub": _l("祝您生活愉快"),
    "wrong_face": _l("按错了？"),
    "rate_again": _l("重新评价"),
    "suggest": _l("我有建议"),
    "sorry": _l("很抱歉给您带来不好的体验"),
    "why": _l("请告诉我们原因（可多选）"),
    "better": _l("您觉得哪里还可以做得更好？（可多选）"),
    "comment": _l("其他意见（选填）"),
    "phone": _l("联系电话（选填）"),
    "consent": _l("留下电话即表示您同意我们就本次评价与您联系；号码仅用于回访，不会公开。"),
    "submit": _l("提交"),
    "skip": _l("跳过"),
    "back": _l("返回"),
    "suggestions": _l("意见建议"),
    "suggest_title": _l("请写下您的意见或建议"),
    "suggest_contact": _l("联系电话（选填，便于我们答复您）"),
    "suggest_thanks": _l("已收到您的建议，谢谢！"),
    "need_text": _l("请先写下内容"),
    "bad_phone": _l("电话号码格式不正确，请检查或留空"),
    # The example number holds no-break spaces (\u00a0): it never breaks across lines.
    "phone_hint": _l("港澳台及境外号码请加“+区号”，如 +852 9123 4567"),
    "bad_phone_code": _l("电话号码格式不正确：港澳台及境外号码请加“+区号”，如 +852 9123 4567"),
    "queued": _l("待发送"),
    "offline": _l("离线"),
    "switch": _l("English"),
    "chars_left": _l("还可输入 {n} 字"),
    # The invitation of a service event (一次一评, static/kiosk/prompt.js).
    "invite": _l("请为本次服务评价"),
    "invite_ticket": _l("票号"),
    "wait_invite": _l("请等待工作人员邀请评价"),
    "unpaired": _l("本机未与窗口配对或已被停用：评价已暂存本机，请联系管理员重新配对"),
}


def page_strings() -> dict[str, dict[str, str]]:
    """Every page string in every language: ``{"zh": {...}, "en": {...}}``."""
    out = {}
    for lang in LANGUAGES:
        with force_locale(lang):
            out[lang] = {key: str(text) for key, text in PAGE_STRINGS.items()}
    return out


def select_locale() -> str:
    lang = request.args.get("lang")
    return lang if lang in LANGUAGES else DEFAULT


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_locale=DEFAULT)
