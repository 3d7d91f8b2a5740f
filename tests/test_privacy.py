"""Phone numbers: what is accepted and how it is masked."""
from __future__ import annotations

import pytest

from kiosk.models import ROLES
from kiosk.privacy import mask_phone, may_see_whole_phone, normalize_phone


@pytest.mark.parametrize("raw, clean", [
    ("13800138000", "13800138000"),
    ("138 0013 8000", "13800138000"),
    ("+86 139-0000-1111", "13900001111"),
    ("0571-88001234", "057188001234"),
    ("010-6552 1234", "01065521234"),
    ("(0755)8765432", "07558765432"),
])
def test_accepted_numbers(raw, clean):
    assert normalize_phone(raw) == clean


@pytest.mark.parametrize("raw", ["12800138000", "1380013800", "138001380001", "110",
                                 "0571-123", "abc", "+1 415 555 0100"])
def test_rejected_numbers(raw):
    with pytest.raises(ValueError):
        normalize_phone(raw)


def test_mask():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("057188001234") == "057****1234"
    assert mask_phone(None) is None


def test_only_callers_and_admins_may_see_a_whole_number():
    assert [r for r in ROLES if may_see_whole_phone(r)] == ["admin", "caller"]
    assert may_see_whole_phone("") is False
