"""The fraud_ring detector's reasons: the ring an application belongs to or joins, the ring it forms, its dealer.

Reasons name the ring, the attributes shared (masked, as the links display them), the
ring's confirmed fraud applications, and the dealer's share of applications in risky rings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from detectors.base import Evidence, Reason
from detectors.context import LINK_KIND_NAMES

if TYPE_CHECKING:
    from detectors.fraud_ring.recent import LocalRing
    from tianwang.rings.index import DealerExposure, RingIndex, RingSummary

__all__ = ["KIND_NAMES", "Attachment", "attach_strength", "dealer_reason", "local_reason", "ring_reason"]

#: Link kinds in reasons: the graph's, a driver who is a ring member, an inflated deal at a ring's dealer,
#: and a landline (a phone or contact number that is not a mobile).
KIND_NAMES = {**LINK_KIND_NAMES, "driver_in_ring": "vehicle driver", "inflated_deal": "an inflated price:",
              "landline": "landline"}


@dataclass
class Attachment:
    """How an application attaches to a ring: as a member, or by the kinds of attribute it shares with members."""

    ring: RingSummary
    member: bool = False
    kinds: dict[str, str] = field(default_factory=dict)  # kind -> display
    linked: set[str] = field(default_factory=set)
    weight: float = 0.0

    def strength(self) -> float:
        return 1.0 if self.member else attach_strength(self.weight)


def attach_strength(weight: float) -> float:
    """``1 - exp(-1.5 * weight)``: how firmly links of this total weight attach an application to a ring."""
    return 1.0 - math.exp(-1.5 * weight)


def _confirmed(ring: RingSummary) -> tuple[Evidence, ...]:
    return tuple(Evidence("ring.confirmed_fraud", neighbour=a) for a in ring.confirmed[:3])


def ring_reason(att: Attachment, index: RingIndex, strength: float) -> Reason:
    """``RING_MEMBER`` or ``LINKED_TO_RING``."""
    ring = att.ring
    confirmed = f", {len(ring.confirmed)} confirmed fraud" if ring.confirmed else ""
    grown = index.joined_since(ring.ring_id)
    about = f"ring {ring.ring_id} ({ring.size + grown} applicants, risk {ring.risk:.2f}{confirmed})"
    evidence = [Evidence("ring_id", ring.ring_id, detail=f"risk {ring.risk:.2f}")]
    if att.member:
        return Reason("RING_MEMBER", f"the applicant is a member of {about}", (*evidence, *_confirmed(ring)), strength)
    shared = ", ".join(f"{KIND_NAMES.get(k, k)} {d}" for k, d in att.kinds.items())
    evidence += [Evidence(k, d) for k, d in att.kinds.items()]
    who = f"{len(att.linked)} member{'s' if len(att.linked) != 1 else ''} of" if att.linked else "a member of"
    return Reason("LINKED_TO_RING", f"shares {shared} with {who} {about}", (*evidence, *_confirmed(ring)), strength)


def local_reason(local: LocalRing, kinds: dict[str, tuple[str, float]], strength: float) -> Reason:
    """``FORMS_RING``: ``kinds`` maps each kind shared to its display and weight."""
    shared = ", ".join(f"{KIND_NAMES.get(k, k)} {d}" for k, (d, _) in kinds.items())
    confirmed = f", {local.confirmed} confirmed fraud" if local.confirmed else ""
    return Reason(
        "FORMS_RING",
        f"shares {shared} with others who form a ring of {local.size} applicants since the last ring run "
        f"({local.burst_share:.0%} of their applications within three weeks, "
        f"{local.top_dealer_share:.0%} at one dealer{confirmed}; risk {local.risk:.2f})",
        tuple(Evidence(k, d) for k, (d, _) in kinds.items()),
        strength,
    )


def dealer_reason(exposure: DealerExposure, dealer_id: str, strength: float) -> Reason:
    """``DEALER_RING_SHARE``."""
    return Reason(
        "DEALER_RING_SHARE",
        f"{exposure.share:.0%} of this dealer's applications belong to risky rings "
        f"({exposure.in_risky_rings} of {exposure.applications})",
        (Evidence("dealer_id", dealer_id, detail=f"{exposure.in_risky_rings}/{exposure.applications}"),),
        strength,
    )
