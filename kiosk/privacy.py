"""Citizens' phone numbers: what we accept, how they are shown (masked), and who may
see one whole. Stored sealed (kiosk/phonekeys.py); plain only in memory."""
from __future__ import annotations

import logging
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

log = logging.getLogger(__name__)

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{9,11}")  # 0 + area code (2-3 digits) + 7-8 digits
SEPARATORS = re.compile(r"[\s\-()（）.]")
INTERNATIONAL = re.compile(r"\+[1-9]\d{3,16}")
MAINLAND = 86
BAD_PHONE = ("phone must be a mainland mobile (11 digits, 1[3-9]…) or landline (0 + area "
             "code + 7–8 digits); numbers outside the mainland need + and their country "
             "or region code, e.g. +852 9123 4567")
UNREADABLE = "****"  # shown when a stored number does not open (logged)


def normalize_phone(raw: str) -> str:
    """The form we store a number in; ValueError with a readable sentence otherwise.

    Mainland numbers keep the form people know: a mobile as its 11 digits, a landline
    as 0 + area code + number (a +86 / 0086 prefix is dropped). Every other number
    (Hong Kong, Macao, Taiwan, abroad) must come with + (or 00) and its code, and is
    stored as E.164 (``+85291234567``) once ``phonenumbers`` finds it a valid number.
    Mainland numbers are checked against DOMAIN.md's rules rather than the package's
    number ranges, so a newly issued 1xx range is not refused while the package lags.
    """
    text = SEPARATORS.sub("", raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        if MOBILE.fullmatch(text) or LANDLINE.fullmatch(text):
            return text
        raise ValueError(BAD_PHONE)
    if not INTERNATIONAL.fullmatch(text):
        raise ValueError(BAD_PHONE)
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException:
        raise ValueError(BAD_PHONE) from None
    if number.country_code == MAINLAND:
        national = phonenumbers.national_significant_number(number)
        if MOBILE.fullmatch(national):
            return national
        if LANDLINE.fullmatch("0" + national):
            return "0" + national
        raise ValueError(BAD_PHONE)
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"phone {text} is not a valid +{number.country_code} number; "
                         "please check the digits")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


# Roles that may have a number shown whole (PIPL: callers phone citizens back; admins
# run the system). Even they see it masked until they ask, one number at a time.
WHOLE_PHONE_ROLES = frozenset({"admin", "caller"})


def may_see_whole_phone(role: str) -> bool:
    """Whether a back-office ``role`` may reveal a number whole (each reveal logged)."""
    return role in WHOLE_PHONE_ROLES


def mask_phone(phone: str | None) -> str | None:
    """How every page, export and alert shows a (plain) number, for every role:
    ``138****8000``, ``010****5678``, and for numbers outside the mainland the country
    or region code and the last four digits, ``+852****4567``. Whole only on an
    explicit, audited reveal by a role ``may_see_whole_phone`` allows, or in the
    operator's ``kiosk export-ratings --with-phone``."""
    if not phone:
        return phone
    if phone.startswith("+"):
        try:
            code = phonenumbers.parse(phone, None).country_code
        except NumberParseException:
            code = None
        return f"+{code}****{phone[-4:]}" if code else "+****" + phone[-4:]
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "****" + phone[-4:]


def is_masked(phone: str) -> bool:
    return "*" in phone


def shown_phone(sealed: str | None, whole: bool) -> str | None:
    """A stored (sealed) number as a page, JSON or CSV shows it: whole when ``whole``
    (the caller has checked the role and logs the reveal), masked otherwise. Opens it
    with the current app's key; a number no key opens shows as ``****`` (logged),
    never a traceback."""
    if not sealed:
        return None
    plain = unseal_phone(sealed)
    if plain is None:
        return UNREADABLE
    return plain if whole else mask_phone(plain)


def masked_phone(sealed: str | None) -> str | None:
    """``shown_phone(sealed, whole=False)``, for templates."""
    return shown_phone(sealed, whole=False)


def unseal_phone(sealed: str) -> str | None:
    """The plain number of a stored one (a plain one left from before ``kiosk init-db``
    sealed it passes through); None when no key opens it."""
    from . import phonekeys

    if not phonekeys.is_sealed(sealed):
        return sealed
    try:
        return phonekeys.keyring().unseal(sealed)
    except phonekeys.PhoneKeyError:
        log.exception("a stored phone number does not open")
        return None
