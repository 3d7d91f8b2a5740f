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
    ("+86 10 6552 1234", "01065521234"),
    ("+852 9123 4567", "+85291234567"),
    ("00853 6612 3456", "+85366123456"),
    ("+886 912-345-678", "+886912345678"),
    ("+1 (415) 555-2671", "+14155552671"),
])
def test_accepted_numbers(raw, clean):
    assert normalize_phone(raw) == clean


@pytest.mark.parametrize("raw", ["12800138000", "1380013800", "138001380001", "110",
                                 "0571-123", "abc", "852 9123 4567", "+852 123",
                                 "+1 000 000 0000", "+86 12345", "+999 1234 5678"])
def test_rejected_numbers(raw):
    with pytest.raises(ValueError, match="phone"):
        normalize_phone(raw)


def test_a_number_without_its_code_is_told_to_add_it():
    with pytest.raises(ValueError, match=r"\+852 9123 4567"):
        normalize_phone("9123 4567")


def test_mask():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("057188001234") == "057****1234"
    assert mask_phone("01065521234") == "010****1234"
    assert mask_phone("+85291234567") == "+852****4567"
    assert mask_phone("+14155552671") == "+1****2671"
    assert mask_phone(None) is None


def test_only_callers_and_admins_may_see_a_whole_number():
    assert [r for r in ROLES if may_see_whole_phone(r)] == ["admin", "caller"]
    assert may_see_whole_phone("") is False
