"""Valid applications for tests, built field by field so each test changes only what it means to."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone
from typing import Any

from tianwang.identifiers import credit_code_check_char, resident_id_check_char

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=CST)


def resident_id(region: str = "110105", birth: date = date(1988, 6, 15), sequence: int = 123) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_char(first17)


def credit_code(body: str = "91110000600037341") -> str:
    return body + credit_code_check_char(body)


def mobile(n: int) -> str:
    return f"139{n:08d}"


def account(n: int) -> str:
    return f"622202{n:013d}"


def application(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid application; ``n`` varies the person, phone, device, address and account.

    ``overrides`` replace top-level fields; nested ones go through dotted keys given as
    a dict, e.g. ``application(2, **{"applicant.phone": "13900000001"})``.
    """
    data: dict[str, Any] = {
        "application_id": f"APP-{n:06d}",
        "submitted_at": (T0 + timedelta(hours=n)).isoformat(),
        "dealer_id": "D-BJ-001",
        "channel": "dealer_app",
        "applicant": {
            "id_number": resident_id(sequence=n % 1000),
            "name": f"王{n}明",
            "phone": mobile(n),
            "address": f"北京市朝阳区建国路{n}号",
            "occupation": "engineer",
            "id_registered_phone": mobile(n),
            "face_match_score": 0.96,
            "liveness_passed": True,
            "employer": {"name": "北京星河科技有限公司", "credit_code": credit_code()},
            "monthly_income": 18000,
            "device_id": f"dev-{n}",
            "ip": "10.8.0.1",
            "bank_account": account(n),
            "emergency_contacts": [{"name": "李四", "phone": mobile(900000 + n)}],
        },
        "loan": {
            "vehicle_price": 200000,
            "down_payment": 60000,
            "amount": 140000,
            "term_months": 36,
            "annual_rate": 0.0588,
            "product": "standard",
        },
        "vehicle": {"brand": "Toyota", "model": "Camry", "vin": f"LVGBE40K18G{n:06d}", "is_new": True},
        "credit": {
            "inquiries_3m": 1,
            "open_loans": 1,
            "credit_cards": 2,
            "card_limit_total": 50000,
            "card_used_total": 8000,
            "monthly_debt_payments": 2000,
            "worst_delinquency_days": 0,
            "bureau_score": 720,
        },
        "documents": [
            {
                "type": "bank_statement",
                "sha256": f"{n:064x}",
                "producer": "ICBC e-Statement",
                "created_at": (T0 - timedelta(days=3)).isoformat(),
                "modified_at": (T0 - timedelta(days=3)).isoformat(),
                "issuer_name": "中国工商银行",
                "monthly_deposits": [18000, 18000, 18000],
                "salary_deposits": [18000, 18000, 18000],
            }
        ],
    }
    for key, value in overrides.items():
        target = data
        *parents, leaf = key.split(".")
        for part in parents:
            target = target[part]
        if value is _DELETE:
            target.pop(leaf, None)
        else:
            target[leaf] = copy.deepcopy(value)
    return data


_DELETE = object()
DELETE = _DELETE
"""Pass as an override value to remove a field."""
