import json

import pytest

from tests.builders import DELETE, application
from tianwang.application import Application, parse_application
from tianwang.errors import ApplicationValidationError


def test_a_valid_application_is_normalised() -> None:
    raw = application(
        1, **{"applicant.phone": "+86 139-0000-0001", "applicant.bank_account": "6222 0200 0000 0000 001"}
    )
    app = parse_application(json.dumps(raw))
    assert isinstance(app, Application)
    assert app.applicant.phone == "13900000001"
    assert app.applicant.bank_account == "6222020000000000001"
    assert app.submitted_at.utcoffset() is not None
    assert parse_application(raw) == app


def test_every_bad_field_is_named_once_without_values() -> None:
    raw = application(
        1,
        **{
            "applicant.id_number": "110105194912310021",
            "applicant.phone": "12345",
            "applicant.employer.credit_code": "91110000600037341M",
            "applicant.face_match_score": 1.5,
            "applicant.emergency_contacts": [{"name": "李四", "phone": "999"}],
            "loan.down_payment": 250000,
            "loan.term_months": 0,
            "loan.amount": -1,
            "credit.inquiries_3m": "3",
            "submitted_at": "2026-03-01T09:00:00",
            "channel": "fax",
            "vehicle.vin": "LVGBE40K18G12345O",
            "documents": [{"sha256": "xyz"}],
            "surprise": 1,
        },
    )
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(raw)
    error = info.value
    assert error.fields == [
        "submitted_at",
        "channel",
        "applicant.id_number",
        "applicant.phone",
        "applicant.face_match_score",
        "applicant.employer.credit_code",
        "applicant.emergency_contacts[0].phone",
        "loan.down_payment",
        "loan.amount",
        "loan.term_months",
        "vehicle.vin",
        "credit.inquiries_3m",
        "documents[0].sha256",
        "(unknown field)",  # an unknown key is not echoed: it may be personal data
    ]
    message = str(error)
    assert error.application_id == "APP-000001"
    assert "14 bad field(s)" in message
    for value in ("110105194912310021", "12345", "91110000600037341M", "LVGBE40K18G12345O"):
        assert value not in message
    assert "down_payment: must not be above vehicle_price" in message
    assert "check digit does not match" in message


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"submitted_at": 1772326800}, "submitted_at"),
        ({"applicant.monthly_income": "18000"}, "applicant.monthly_income"),
        ({"applicant.liveness_passed": "yes"}, "applicant.liveness_passed"),
        ({"loan.annual_rate": 5.88}, "loan.annual_rate"),
        ({"loan.vehicle_price": float("nan")}, "loan.vehicle_price"),
        ({"applicant.id_registered_phone": "01088886666"}, "applicant.id_registered_phone"),
        ({"applicant": DELETE}, "applicant"),
        ({"documents": [{"created_at": "yesterday"}]}, "documents[0].created_at"),
    ],
)
def test_strict_types(override: dict, field: str) -> None:
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(application(1, **override))
    assert info.value.fields == [field]


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(ApplicationValidationError, match="not valid JSON"):
        parse_application("{nope")
    with pytest.raises(ApplicationValidationError, match="must be a JSON object"):
        parse_application("[1, 2]")


def test_optional_fields_may_be_absent() -> None:
    raw = application(1)
    for key in ("id_registered_phone", "face_match_score", "liveness_passed", "device_id", "ip", "bank_account"):
        raw["applicant"].pop(key)
    raw.pop("documents")
    raw["vehicle"].pop("vin")
    app = parse_application(raw)
    assert app.documents == [] and app.applicant.device_id is None
