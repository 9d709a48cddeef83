import random
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
    normalize_account,
    normalize_phone,
    parse_resident_id,
    resident_id_check_char,
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


def test_check_characters_agree_with_the_weighted_sums_of_the_standards() -> None:
    """The one-call forms (base 13, base 34) give what the weight tables of GB 11643 and GB 32100 give."""
    id_weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    cc_weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    rng = random.Random(7)
    for _ in range(2000):
        digits = "".join(rng.choice("0123456789") for _ in range(17))
        total = sum(int(d) * w for d, w in zip(digits, id_weights, strict=True))
        assert resident_id_check_char(digits) == "10X98765432"[total % 11]
        code = "".join(rng.choice(alphabet) for _ in range(17))
        total = sum(alphabet.index(c) * w for c, w in zip(code, cc_weights, strict=True))
        assert credit_code_check_char(code) == alphabet[(31 - total % 31) % 31]
    for bad in ("1101051949123100", "1101051949123100\u0661", "110105194912310O2"):
        with pytest.raises(ValueError):
            resident_id_check_char(bad)
    with pytest.raises(ValueError):
        credit_code_check_char("9111000060003734I")


def test_only_ascii_digits_count_as_digits() -> None:
    """Full-width or Arabic-Indic digits are digits to str.isdigit and to \\d, not to an id or phone."""
    fullwidth = "１３８００１３８０００"
    with pytest.raises(ValueError):
        normalize_phone(fullwidth)
    assert not is_valid_resident_id("11010519491231002X".replace("1", "\u0661"))
    with pytest.raises(ValueError):
        normalize_account("\u0666222021234567890123")
    # a canonical mobile comes back as it is; anything around it is still cleaned or refused
    assert normalize_phone("13800138000") == "13800138000"
    assert normalize_phone(" 13800138000\n") == "13800138000"
    with pytest.raises(ValueError):
        normalize_phone("13800138000x")
