"""Application schema v1: the pydantic models every loan application is validated against.

One JSON object per application (an HTTP body or one line of an NDJSON file). The
models here are the source of truth for the shape described in DESIGN.md.

Validation is strict: strings stay strings, numbers stay numbers, unknown fields are
rejected, and identifiers are checked (resident id check digit and birth date per
GB 11643, credit codes per GB 32100, mainland phone numbers). Date-times are ISO-8601
strings with a zone in the years 1990 to 2100 (:data:`EARLIEST_YEAR`, :data:`LATEST_YEAR`);
epoch numbers are refused, also as strings of digits. A resident id's birth date is not
after ``submitted_at``. Names (of the applicant, contacts and employer) and the address
hold at least one visible letter or digit, so that every value accepted can be keyed in
the graph (:mod:`graph_schema.mapping`). Validated values are
normalised (upper-case ``X`` in ids, bare digits in phones and accounts), which is
what the graph keys are derived from.

Use :func:`parse_application` rather than the model constructors: it turns pydantic's
errors into one :class:`~tianwang.errors.ApplicationValidationError` that names every
bad field, without echoing any value.

Examples
--------
>>> from tianwang.application import parse_application
>>> parse_application('{"application_id": "A-1"}')  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tianwang.errors.ApplicationValidationError: application 'A-1' is invalid (7 bad field(s)): submitted_at: ...
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from ipaddress import ip_address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from tianwang.errors import ApplicationValidationError, FieldError
from tianwang.identifiers import (
    has_visible_text,
    is_mobile,
    is_valid_credit_code,
    normalize_account,
    normalize_address,
    normalize_phone,
    parse_resident_id,
)
from tianwang.schema_paths import schema_path

__all__ = [
    "APPLICATION_ID_PATTERN",
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "SCHEMA_VERSION",
    "Applicant",
    "Application",
    "Channel",
    "Credit",
    "Document",
    "DocumentType",
    "EmergencyContact",
    "Employer",
    "Loan",
    "LoanProduct",
    "Vehicle",
    "parse_application",
]

SCHEMA_VERSION = 1

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
#: what an application id (and other keys) may look like; request fields naming an application use it too
APPLICATION_ID_PATTERN = _KEY_RE.pattern
_VIN_RE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_HEX_DIGITS = "0123456789abcdef"
# A dotted-quad IPv4 address in canonical form (no leading zeros): what str(ip_address(...)) gives back.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


#: Date-times (``submitted_at``, a document's dates) must fall within these years, both included.
EARLIEST_YEAR, LATEST_YEAR = 1990, 2100
# The start of an ISO-8601 date: a string of digits alone is an epoch number, which is refused.
_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _timestamp_input(value: Any) -> Any:
    """Accept ISO-8601 strings and datetimes only, not epoch numbers (nor strings of one)."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE_RE.match(value)):
        return value
    raise ValueError("must be an ISO-8601 date-time string with a zone (YYYY-MM-DDThh:mm:ss+08:00), not an epoch")


def _plausible_year(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be within the years {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Timestamp = Annotated[
    AwareDatetime, Field(strict=False), BeforeValidator(_timestamp_input), AfterValidator(_plausible_year)
]
"""An ISO-8601 date-time with a time zone (``2026-03-01T09:30:00+08:00``) in the years 1990 to 2100.

Epoch numbers are refused, as numbers and as strings of digits.
"""

Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A non-negative amount in CNY."""

Count = Annotated[int, Field(ge=0)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


_BLANK = "must contain a letter or digit (it is blank, punctuation or invisible characters only)"


def _visible(value: str) -> str:
    if not has_visible_text(value):
        raise ValueError(_BLANK)
    return value


def _keyable_address(value: str) -> str:
    try:
        normalize_address(value)  # the form the graph keys an address by (graph_schema.mapping)
    except ValueError:
        raise ValueError(_BLANK) from None
    return _visible(value)


Name = Annotated[ShortText, AfterValidator(_visible)]
"""A name of a person or an organisation: at least one visible letter or digit."""
Key = Annotated[str, Field(min_length=1, max_length=128)]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, str_strip_whitespace=True)


Channel = Literal["dealer_app", "online", "branch"]
"""Where the application was taken."""

LoanProduct = Literal["standard", "balloon", "nev", "commercial"]
"""The loan product applied for."""

DocumentType = Literal["bank_statement", "income_proof", "id_card", "other"]
"""Kinds of supporting document."""


def _check_phone(value: str, *, mobile_only: bool) -> str:
    phone = normalize_phone(value)
    if mobile_only and not is_mobile(phone):
        raise ValueError("must be a mainland mobile number (1[3-9] + 9 digits)")
    return phone


def _check_resident_id(value: str) -> str:
    parse_resident_id(value)
    return value.strip().upper()


class EmergencyContact(_Model):
    """A person the applicant lists as a contact; the phone may be a landline."""

    name: Name
    phone: str

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _check_phone(value, mobile_only=False)


class Employer(_Model):
    """The employer the applicant declares."""

    name: Name
    credit_code: str | None = None
    social_insurance_employer: ShortText | None = None

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if not is_valid_credit_code(value):
            raise ValueError("is not a unified social credit code with a valid check character (GB 32100)")
        return value


class Applicant(_Model):
    """The person applying, with what they declare and what was checked at intake."""

    id_number: str
    name: Name
    phone: str
    address: Annotated[ShortText, AfterValidator(_keyable_address)]
    occupation: ShortText
    id_registered_phone: str | None = None
    face_match_score: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    liveness_passed: bool | None = None
    employer: Employer
    monthly_income: Money
    device_id: Key | None = None
    ip: str | None = None
    bank_account: str | None = None
    emergency_contacts: Annotated[list[EmergencyContact], Field(max_length=20)] = []

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        return _check_resident_id(value)

    @field_validator("phone", "id_registered_phone")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        return None if value is None else _check_phone(value, mobile_only=True)

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _IPV4_RE.fullmatch(value):  # the common case, already canonical
            return value
        try:
            return str(ip_address(value))
        except ValueError:
            raise ValueError("is not an IPv4 or IPv6 address") from None

    @field_validator("bank_account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return None if value is None else normalize_account(value)


class Loan(_Model):
    """The loan applied for. ``annual_rate`` is a fraction: 0.0588 means 5.88 %."""

    vehicle_price: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    down_payment: Money
    amount: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    term_months: Annotated[int, Field(ge=1, le=120)]
    annual_rate: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
    product: LoanProduct

    @field_validator("down_payment")
    @classmethod
    def _down_payment(cls, value: float, info: ValidationInfo) -> float:
        price = info.data.get("vehicle_price")
        if price is not None and value > price:
            raise ValueError("must not be above vehicle_price")
        return value


class Vehicle(_Model):
    """The vehicle financed, and who will drive it when that is not the applicant."""

    brand: ShortText
    model: ShortText
    vin: str | None = None
    is_new: bool
    user_id_number: str | None = None

    @field_validator("vin")
    @classmethod
    def _vin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if not _VIN_RE.match(value):
            raise ValueError("must be 17 characters of A-Z and 0-9 without I, O or Q")
        return value

    @field_validator("user_id_number")
    @classmethod
    def _user_id(cls, value: str | None) -> str | None:
        return None if value is None else _check_resident_id(value)


class Credit(_Model):
    """Credit bureau fields at the time of the application."""

    inquiries_3m: Count
    open_loans: Count
    credit_cards: Count
    card_limit_total: Money
    card_used_total: Money
    monthly_debt_payments: Money
    worst_delinquency_days: Count
    bureau_score: Annotated[int, Field(ge=0, le=1000)] | None = None


class Document(_Model):
    """A supporting document and what was read from it; every field is optional."""

    type: DocumentType | None = None
    sha256: str | None = None
    producer: Annotated[str, Field(max_length=200)] | None = None
    created_at: Timestamp | None = None
    modified_at: Timestamp | None = None
    template_id: Annotated[str, Field(max_length=128)] | None = None
    issuer_name: Annotated[str, Field(max_length=200)] | None = None
    seal_company: Annotated[str, Field(max_length=200)] | None = None
    stated_monthly_income: Money | None = None
    monthly_deposits: Annotated[list[Money], Field(max_length=120)] | None = None
    salary_deposits: Annotated[list[Money], Field(max_length=120)] | None = None

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower()
        if len(value) != 64 or value.strip(_HEX_DIGITS):
            raise ValueError("must be 64 hexadecimal characters")
        return value


class Application(_Model):
    """One auto-loan application, schema v1."""

    application_id: Annotated[str, Field(pattern=_KEY_RE.pattern)]
    submitted_at: Timestamp
    dealer_id: Annotated[str, Field(pattern=_KEY_RE.pattern)]
    channel: Channel
    applicant: Applicant
    loan: Loan
    vehicle: Vehicle
    credit: Credit
    documents: Annotated[list[Document], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _born_before_submission(self) -> Application:
        # Both ids are valid here (GB 11643): the birth date is characters 7 to 14, YYYYMMDD.
        day = self.submitted_at.strftime("%Y%m%d")
        late = [(part, "id_number" if part == "applicant" else "user_id_number")
                for part, number in (("applicant", self.applicant.id_number), ("vehicle", self.vehicle.user_id_number))
                if number is not None and number[6:14] > day]
        if late:
            raise ValidationError.from_exception_data("Application", [
                InitErrorDetails(type=PydanticCustomError("birth_after_submission", "birth date is after submitted_at"),
                                 loc=loc, input=None) for loc in late
            ])
        return self

    @property
    def submitted_ts(self) -> float:
        """``submitted_at`` as seconds since the epoch (UTC)."""
        return self.submitted_at.timestamp()

    @property
    def birth_date(self) -> date:
        """The applicant's birth date, read from the resident id."""
        return parse_resident_id(self.applicant.id_number)[1]


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(application)"


def _message(error: Mapping[str, Any]) -> str:
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def errors_from_pydantic(exc: ValidationError) -> list[FieldError]:
    """Field errors of a pydantic :class:`ValidationError`, without the input values.

    Fields are named by their path in the schema; an unknown key of the input (it may
    be personal data, markup or terminal control) is named ``(unknown field)``.
    """
    return [FieldError(schema_path(_field_path(tuple(e["loc"])), Application), _message(e))
            for e in exc.errors(include_input=False)]


def _guess_id(data: Any) -> str | None:
    if isinstance(data, Mapping):
        value = data.get("application_id")
        if isinstance(value, str) and _KEY_RE.match(value):
            return value
    return None


def parse_application(data: str | bytes | Mapping[str, Any]) -> Application:
    """Validate one application from JSON text or a mapping.

    Raises
    ------
    ApplicationValidationError
        Naming every bad field (dotted paths such as ``applicant.phone`` or
        ``applicant.emergency_contacts[0].phone``), never their values.
    """
    try:
        if isinstance(data, str | bytes):
            return Application.model_validate_json(data)
        if not isinstance(data, Mapping):
            raise ApplicationValidationError([FieldError("(application)", "must be a JSON object")])
        return Application.model_validate(data)
    except ValidationError as exc:
        errors = errors_from_pydantic(exc)
        parsed: Any = data
        if isinstance(data, str | bytes):
            kinds = {e["type"] for e in exc.errors(include_input=False) if not e["loc"]}
            if "json_invalid" in kinds:
                raise ApplicationValidationError([FieldError("(application)", "not valid JSON")]) from None
            if kinds & {"model_type", "model_attributes_type", "dict_type"}:
                raise ApplicationValidationError([FieldError("(application)", "must be a JSON object")]) from None
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
        raise ApplicationValidationError(errors, _guess_id(parsed)) from None
