"""Small graphs with planted rings for the ring tests."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import T0, account, application, mobile
from tianwang.application import Application, parse_application

#: Applications 1-4 share phones, a device and an account in a web; 5-7 share one address
#: with 1 and each other only (a household); 8-9 stand alone.
RING = (1, 2, 3, 4)


def app(n: int, **overrides: object) -> Application:
    return parse_application(application(n, **overrides))


def ring_applications() -> list[Application]:
    ring_phone, organiser = mobile(7000), mobile(7001)
    web = [
        app(1, **{"applicant.phone": ring_phone, "applicant.device_id": "dev-ring"}),
        app(2, **{"applicant.phone": ring_phone, "applicant.emergency_contacts": [{"name": "甲", "phone": organiser}]}),
        app(3, **{"applicant.device_id": "dev-ring", "applicant.bank_account": account(77)}),
        app(
            4,
            **{
                "applicant.bank_account": account(77),
                "applicant.emergency_contacts": [{"name": "甲", "phone": organiser}],
            },
        ),
    ]
    home = "北京市海淀区中关村大街1号"
    later = (T0 + timedelta(days=90)).isoformat()
    household = [app(n, **{"applicant.address": home, "submitted_at": later}) for n in (5, 6, 7)]
    household[1] = app(6, **{"applicant.address": home, "submitted_at": (T0 + timedelta(days=150)).isoformat()})
    return [*web, *household, app(8, dealer_id="D-SH-002"), app(9)]


def deal_applications() -> list[Application]:
    """100 Camrys at 191-290k at five dealers; APP-000101..103 at 350k at D-BJ-009 two days apart, APP-000104
    there 100 days later, APP-000105 at 350k at another dealer, APP-000106 a 350k Lexus (too few sold to price)."""
    apps = [
        app(n, dealer_id=f"D-BJ-{n % 5 + 1:03d}", **{"loan.vehicle_price": 190_000 + 1000 * n}) for n in range(1, 101)
    ]
    inflated = {"loan.vehicle_price": 350_000, "loan.amount": 290_000}
    apps += [
        app(100 + k, dealer_id="D-BJ-009", submitted_at=(T0 + timedelta(days=2 * k)).isoformat(), **inflated)
        for k in (1, 2, 3)
    ]
    apps.append(app(104, dealer_id="D-BJ-009", submitted_at=(T0 + timedelta(days=100)).isoformat(), **inflated))
    apps.append(app(105, dealer_id="D-SH-002", **inflated))
    apps.append(app(106, dealer_id="D-BJ-009", **{**inflated, "vehicle.brand": "Lexus", "vehicle.model": "ES"}))
    return apps
