"""Watchlist: identities, phones, devices, bank accounts and employers on a list.

The list itself is kept by a :class:`~tianwang.scoring.watchlist.WatchlistStore`
(keyed by the same HMAC keys as the graph, never raw values); the pipeline hands
this detector a lookup through the context. A hit on a kind in ``hard_kinds``
(by default a listed identity) decides alone when ``on_hit`` is ``decide``; other
hits add their weight to the vote.

Examples
--------
>>> WatchlistDetector({"on_hit": "sometimes"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings for detector 'watchlist': on_hit: Input should be ...
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from detectors.base import Detector, DetectorSettings, Evidence, Reason, Vote
from detectors.context import ScoringContext
from tianwang.identifiers import mask_account, mask_id_number, mask_phone
from tianwang.keys import WATCHLIST_KINDS
from tianwang.stats import sigmoid

__all__ = ["WATCHLIST_KINDS", "WatchlistDetector", "WatchlistSettings"]

WatchlistKind = Literal["id", "phone", "device", "account", "employer"]
_DEFAULT_WEIGHTS: dict[WatchlistKind, float] = {"id": 8.0, "phone": 4.0, "device": 3.0, "account": 4.0, "employer": 2.0}


class WatchlistSettings(DetectorSettings):
    """``on_hit``: ``decide`` (a hit on ``hard_kinds`` decides alone) or ``weigh`` (every hit only weighs)."""

    on_hit: Literal["decide", "weigh"] = "decide"
    hard_kinds: list[WatchlistKind] = Field(default_factory=lambda: list[WatchlistKind](["id"]))
    weights: dict[WatchlistKind, float] = Field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    bias: float = Field(default=-6.0, ge=-15, le=0)
    check_contacts: bool = True


class WatchlistDetector(Detector):
    """Looks the application's identities, phones, device, account and employer up on the watchlist."""

    name = "watchlist"
    version = "1"
    layer = "fast"
    inline = True
    Settings = WatchlistSettings

    def _score(self, context: ScoringContext) -> Vote:
        s: WatchlistSettings = self.settings
        baseline = sigmoid(s.bias)
        lookup = context.watchlist
        if lookup is None:
            return Vote(baseline, 0.0, (), baseline)
        app, keys = context.application, context.keys
        a = app.applicant
        # (kind, key, field, masked display)
        candidates: list[tuple[str, str, str, str]] = [
            ("id", keys.id_hash, "applicant.id_number", mask_id_number(a.id_number)),
            ("phone", keys.phone_hash, "applicant.phone", mask_phone(a.phone)),
            ("employer", keys.employer_key, "applicant.employer", a.employer.name),
        ]
        if keys.vehicle_user_hash and app.vehicle.user_id_number:
            candidates.append(("id", keys.vehicle_user_hash, "vehicle.user_id_number",
                               mask_id_number(app.vehicle.user_id_number)))
        if keys.registered_phone_hash and a.id_registered_phone:
            candidates.append(("phone", keys.registered_phone_hash, "applicant.id_registered_phone",
                               mask_phone(a.id_registered_phone)))
        if keys.device_id:
            candidates.append(("device", keys.device_id, "applicant.device_id", keys.device_id[:4] + "****"))
        if keys.account_hash and a.bank_account:
            candidates.append(("account", keys.account_hash, "applicant.bank_account", mask_account(a.bank_account)))
        if s.check_contacts:
            for i, (h, c) in enumerate(zip(keys.contact_hashes, a.emergency_contacts, strict=True)):
                candidates.append(("phone", h, f"applicant.emergency_contacts[{i}].phone", mask_phone(c.phone)))
        listed = lookup.lookup_many([(kind, key) for kind, key, _, _ in candidates])  # one read for every kind
        z = s.bias
        reasons = []
        hard = False
        order = {kind: i for i, kind in enumerate(dict.fromkeys(c[0] for c in candidates))}
        for kind, key, field, display in sorted(candidates, key=lambda c: order[c[0]]):  # grouped by kind
            if (kind, key) not in listed:
                continue
            weight = s.weights.get(kind, 0.0)  # type: ignore[call-overload]
            z += weight
            why = listed[(kind, key)]
            text = f"{field.split('.')[-1].replace('_', ' ')} {display} is on the watchlist" + (
                f" ({why})" if why else "")
            reasons.append(Reason(f"WATCHLIST_{kind.upper()}", text, (Evidence(field, display, detail=why),),
                                  weight))
            hard = hard or (s.on_hit == "decide" and kind in s.hard_kinds)
        reasons.sort(key=lambda r: -r.strength)
        return Vote(sigmoid(z), 1.0, tuple(reasons), baseline, hard=hard)

    supports_training: ClassVar[bool] = False
