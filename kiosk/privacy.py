"""Citizens' phone numbers: what we accept, how they are shown (masked), and who may
see one whole."""
from __future__ import annotations

import re

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{9,11}")  # 0 + area code (2-3 digits) + 7-8 digits
SEPARATORS = re.compile(r"[\s\-()（）]")


def normalize_phone(raw: str) -> str:
    """The digits of a mainland mobile or landline number; ValueError if it is neither.

    Accepts spaces, hyphens and brackets, and a +86 / 0086 prefix on mobiles.
    """
    digits = SEPARATORS.sub("", raw)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and MOBILE.fullmatch(digits[len(prefix):]):
            digits = digits[len(prefix):]
    if MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits):
        return digits
    raise ValueError("phone must be a mainland mobile (11 digits, 1[3-9]…) "
                     "or a landline (0 + area code + 7–8 digits)")


# Roles that may have a number shown whole (PIPL: callers phone citizens back; admins
# run the system). Even they see it masked until they ask, one number at a time.
WHOLE_PHONE_ROLES = frozenset({"admin", "caller"})


def may_see_whole_phone(role: str) -> bool:
    """Whether a back-office ``role`` may reveal a number whole (each reveal logged)."""
    return role in WHOLE_PHONE_ROLES


def mask_phone(phone: str | None) -> str | None:
    """``138****8000``: how every page, export and alert shows a number, for every
    role. Whole only on an explicit, audited reveal by a role ``may_see_whole_phone``
    allows, or in the operator's ``kiosk export-ratings --with-phone``."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "****" + phone[-4:]


def is_masked(phone: str) -> bool:
    return "*" in phone
