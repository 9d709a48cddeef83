from datetime import date

import pytest

from tests.builders import credit_code, resident_id
from tianwang.identifiers import (
    credit_code_check_char,
    is_valid_credit_code,
    is_valid_resident_id,
    mask_account,
    mask_id_number,
    mask_phone,
    normalize_phone,
    parse_resident_id,
)


def test_resident_id_known_values() -> None:
    assert is_valid_resident_id("11010519491231002X")
    assert is_valid_resident_id("11010519491231002x")
    assert not is_valid_resident_id("110105194912310021")  # wrong check digit
    assert parse_resident_id("11010519491231002X") == ("110105", date(1949, 12, 31), 0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1101051949123100", "18 characters"),
        ("99010519491231002X", "province"),
        ("110105194902300021", "calendar date"),
        (resident_id(birth=date(2099, 1, 1))[:17] + "0", "outside 1900 and today"),
        ("110105194912310021", "check digit"),
    ],
)
def test_resident_id_errors_say_why_without_the_value(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        parse_resident_id(value)
    assert value not in str(info.value)


def test_every_generated_id_checks() -> None:
    for seq in range(0, 1000, 37):
        assert is_valid_resident_id(resident_id(sequence=seq))


def test_credit_code() -> None:
    assert is_valid_credit_code("91110000600037341L")
    assert is_valid_credit_code(credit_code("91310115MA1K3Y5X0"))
    assert not is_valid_credit_code("91110000600037341M")
    assert not is_valid_credit_code("9111000060003734IL")  # I is not in the alphabet
    with pytest.raises(ValueError):
        credit_code_check_char("short")


def test_phones_and_masks() -> None:
    assert normalize_phone("+86 138 0013 8000") == "13800138000"
    assert normalize_phone("010-8888 6666") == "01088886666"
    with pytest.raises(ValueError, match="mobile") as info:
        normalize_phone("12345")
    assert "12345" not in str(info.value)
    assert mask_phone("13800138000") == "138****8000"
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_account("6222021234567890123") == "622202*********0123"
