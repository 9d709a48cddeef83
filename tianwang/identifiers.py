"""Checks and normal forms for Chinese identifiers.

* Resident identity numbers (GB 11643-1999): 18 characters, a 6-digit region code,
  an 8-digit birth date, a 3-digit sequence (odd for men) and an ISO 7064 MOD 11-2
  check character.
* Unified social credit codes of organisations (GB 32100-2015): 18 characters from a
  31-letter alphabet with a MOD 31 check character.
* Mobile numbers (11 digits starting with 1[3-9]) and landlines (area code + number).

Every function raises :class:`ValueError` with a message that never contains the
value itself, so the message is safe to log.

Examples
--------
>>> resident_id_check_char("11010519491231002")
'X'
>>> is_valid_resident_id("11010519491231002X")
True
>>> normalize_phone("+86 138-0013-8000")
'13800138000'
>>> mask_phone("13800138000")
'138****8000'
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

__all__ = [
    "PROVINCE_CODES",
    "credit_code_check_char",
    "has_visible_text",
    "is_mobile",
    "is_valid_credit_code",
    "is_valid_resident_id",
    "mask_account",
    "mask_address",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalize_account",
    "normalize_address",
    "normalize_phone",
    "parse_resident_id",
    "printable",
    "resident_id_check_char",
]

#: First two digits of the region code of a resident id, by province-level division.
PROVINCE_CODES: frozenset[str] = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    ]
)

# GB 11643 weighs digit i (1-17) by 2**(18 - i) mod 11 (7, 9, 10, 5, ... 4, 2). As 13 = 2 mod 11,
# the weighted sum is 2 * (the 17 digits read in base 13) mod 11: one int() call.
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[0-9]{17}[0-9X]$")

_CC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 32100 weighs character i (0-16) by 3**i mod 31. Renamed to the consecutive digits of base 34
# (0-9, A-U) and read backwards in base 34 (34 = 3 mod 31), the 17 characters give the weighted sum
# mod 31 in one int() call.
_CC_AS_BASE34 = str.maketrans(_CC_ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTU")
_CC_RE = re.compile(r"^[0-9A-HJ-NP-RTUW-Y]{18}$")

# ASCII digits only, matched whole (fullmatch: "$" would also match before a final newline)
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE_RE = re.compile(r"0[0-9]{2,3}[0-9]{7,8}")
_PHONE_STRIP = re.compile(r"[\s\-()]")
_ACCOUNT_STRIP = re.compile(r"[\s\-]")
_ADDRESS_STRIP = re.compile(r"[\s,，.。;；:：、\-#/\\()（）]")
# Letters that render as blank space (Hangul fillers): a name made of them names no one.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def resident_id_check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits of an id."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected 17 digits")
    return _ID_CHECK[2 * int(first17, 13) % 11]


def parse_resident_id(value: str, *, today: date | None = None) -> tuple[str, date, int]:
    """Check a resident id and return ``(region_code, birth_date, sex)``.

    ``sex`` is 1 for men and 0 for women (odd and even sequence numbers).
    A lower-case ``x`` check character is accepted; callers store the upper-case form.

    Raises
    ------
    ValueError
        If the format, region, birth date or check character is wrong. The message
        says which, without the value.
    """
    value = value.strip().upper()
    if not _ID_RE.match(value):
        raise ValueError("must be 18 characters: 17 digits and a digit or X")
    if value[:2] not in PROVINCE_CODES:
        raise ValueError("region code does not start with a province code")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValueError("birth date digits are not a calendar date") from None
    today = today or date.today()
    if birth.year < 1900 or birth > today:
        raise ValueError("birth date is outside 1900 and today")
    if resident_id_check_char(value[:17]) != value[17]:
        raise ValueError("check digit does not match (GB 11643)")
    return value[:6], birth, int(value[16]) % 2


def is_valid_resident_id(value: str) -> bool:
    """Whether ``value`` is a well-formed resident id with a correct check digit."""
    try:
        parse_resident_id(value)
    except ValueError:
        return False
    return True


def credit_code_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a code."""
    if len(first17) != 17 or first17.strip(_CC_ALPHABET):
        raise ValueError("expected 17 characters of the credit-code alphabet")
    total = int(first17[::-1].translate(_CC_AS_BASE34), 34)
    return _CC_ALPHABET[-total % 31]


def is_valid_credit_code(value: str) -> bool:
    """Whether ``value`` is a unified social credit code with a correct check character."""
    value = value.strip().upper()
    return bool(_CC_RE.match(value)) and credit_code_check_char(value[:17]) == value[17]


def normalize_phone(value: str) -> str:
    """Return the canonical digits of a PRC mobile or landline number.

    Spaces, dashes and brackets are dropped, and a ``+86``/``0086``/``86`` country
    prefix in front of a mobile number is removed.
    """
    if _MOBILE_RE.fullmatch(value):  # the common case: already canonical
        return value
    digits = _PHONE_STRIP.sub("", value.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MOBILE_RE.fullmatch(digits) or _LANDLINE_RE.fullmatch(digits):
        return digits
    raise ValueError("is not a mainland mobile (1[3-9] + 9 digits) or landline (0 + area + number)")


def is_mobile(normalized_phone: str) -> bool:
    """Whether a normalised phone number is a mobile number."""
    return bool(_MOBILE_RE.fullmatch(normalized_phone))


def normalize_account(value: str) -> str:
    """Return the digits of a bank account or card number (8 to 30 digits)."""
    digits = value if value.isdigit() else _ACCOUNT_STRIP.sub("", value)
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 30:
        raise ValueError("must be 8 to 30 digits")
    return digits


def normalize_address(value: str) -> str:
    """Return the key form of an address: no whitespace or punctuation, upper-case Latin."""
    text = _ADDRESS_STRIP.sub("", value).upper()
    if not text:
        raise ValueError("is empty")
    return text


def has_visible_text(value: str) -> bool:
    """Whether ``value`` holds at least one visible letter or digit.

    Text made only of whitespace, punctuation, control characters, format characters
    (zero-width spaces and joiners, bidirectional marks) or blank filler letters does not.

    >>> has_visible_text("\\u200b\\u200d"), has_visible_text("，，"), has_visible_text("王五")
    (False, False, True)
    """
    return any(unicodedata.category(c)[0] in "LN" and c not in _BLANK_LETTERS for c in value)


def printable(value: str) -> str:
    """``value`` without control and format characters; other whitespace becomes a plain space.

    What masks are built from: a masked form must not carry a NUL, an escape sequence or
    a bidirectional override into a log line or a terminal.
    """
    if value.isprintable():  # the common case
        return value
    return "".join(c if c.isprintable() else " " for c in value if c.isprintable() or c.isspace())


def mask_id_number(value: str) -> str:
    """``110105194912310021`` → ``110***********0021``."""
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(value: str) -> str:
    """``13800138000`` → ``138****8000``; landlines keep the area code and last 2 digits."""
    if is_mobile(value):
        return value[:3] + "****" + value[-4:]
    area = 3 if value[1] in "12" else 4
    return value[:area] + "*" * (len(value) - area - 2) + value[-2:]


def mask_account(value: str) -> str:
    """``6222021234567890123`` → ``622202*********0123``."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(value: str) -> str:
    """``张三丰`` → ``张**``; ``Li Wei`` → ``L*****``."""
    value = printable(value).strip()
    return value[:1] + "*" * max(len(value) - 1, 1) if value else ""


def mask_address(value: str) -> str:
    """Keep the first six characters (province and city, usually) of an address."""
    value = printable(value).strip()
    return value[:6] + "***" if len(value) > 6 else value[:2] + "***"
