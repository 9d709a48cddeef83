"""The fraud_ring detector: follows an application's links to rings and scores it (see :mod:`detectors.fraud_ring`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from detectors.base import Detector, DetectorSettings, Reason, Vote
from detectors.context import LabelledContext, ScoringContext
from detectors.fraud_ring.dealer import DealerCurve
from detectors.fraud_ring.reasons import Attachment, attach_strength, dealer_reason, local_reason, ring_reason
from detectors.fraud_ring.recent import DirectLink, RecentGraph
from detectors.fraud_ring.settings import FraudRingSettings
from tianwang.identifiers import mask_id_number
from tianwang.keys import vehicle_model_name
from tianwang.rings.index import RingIndex
from tianwang.rings.lifecycle import RingIndexSource
from tianwang.rings.links import phone_kind

if TYPE_CHECKING:
    from graph_schema.store import GraphStore
    from tianwang.rings.index import RingSummary

__all__ = ["FraudRingDetector"]


class FraudRingDetector(Detector):
    """Votes with the risk of the ring an application belongs to or joins, and its dealer's ring share.

    Parameters
    ----------
    settings : mapping or FraudRingSettings, optional
        See :mod:`detectors.fraud_ring`.
    rings : RingIndexSource or RingIndex, optional
        Where the rings come from (see :meth:`use_rings`); by default a source built from
        the settings, reading the store :meth:`bind` gives it.
    """

    name = "fraud_ring"
    version = "1"
    layer = "deep"
    inline = True
    needs_graph = True
    supports_training = True
    Settings: ClassVar[type[DetectorSettings]] = FraudRingSettings

    def __init__(self, settings: Mapping[str, Any] | DetectorSettings | None = None, *,
                 rings: RingIndexSource | RingIndex | None = None) -> None:
        super().__init__(settings)
        s: FraudRingSettings = self.settings
        self._rings = RingIndexSource(risky=s.risky, resolution=s.resolution, min_size=s.min_size,
                                      refresh_every=s.refresh_every, refresh_in_background=s.refresh_in_background,
                                      reload_seconds=s.reload_seconds)
        if rings is not None:
            self.use_rings(rings)
        self._recent = RecentGraph(s.verdict_capacity)
        self._dealer = DealerCurve(s)
        self._last: tuple[str, Attachment | None] | None = None

    # -- where the rings come from ----------------------------------------------------------
    def use_rings(self, rings: RingIndexSource | RingIndex) -> None:
        """Take rings from ``rings``: a source (with its store and renewal), or a fixed index (no store)."""
        self._rings = rings if isinstance(rings, RingIndexSource) else RingIndexSource(index=rings)

    def bind(self, store: GraphStore) -> None:
        """Read and renew rings from ``store`` (the pipeline calls this with its store)."""
        self._rings.bind(store)

    def succeed(self, previous: object) -> None:
        """Take over the rings of the instance this one replaces (a bundle or configuration put in force on a
        running service), where both read the same store and renew alike: the rings in use, or the load in
        progress, carry on instead of a second export of the whole graph. The pipeline calls this after
        :meth:`bind`."""
        if isinstance(previous, FraudRingDetector) and previous.rings.same_renewal(self._rings):
            self._rings = previous.rings

    @property
    def rings(self) -> RingIndexSource:
        """Where the rings come from."""
        return self._rings

    @property
    def index(self) -> RingIndex | None:
        """The rings in use (``None`` until fitted or loaded)."""
        return self._rings.index

    @property
    def confirmed_fraud(self) -> dict[str, bool]:
        """The applications confirmed as fraud (training labels, then verdicts), for ring risk: a copy."""
        return self._recent.confirmed_labels()

    def confirmed_among(self, application_ids: Iterable[str]) -> dict[str, bool]:
        """:attr:`confirmed_fraud` of these applications only (a read that does not grow with the labels)."""
        return self._recent.confirmed_labels(application_ids)

    # -- fitting and keeping up -------------------------------------------------------------
    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        self._recent.start_over(history)
        moments = [h.context.view.moment for h in history if h.context.view is not None]
        s: FraudRingSettings = self.settings
        index = self._rings.prepare(max(moments), self._recent.confirmed_labels()) if moments else self._rings.index
        details: dict[str, Any] = {
            "rings": len(index) if index is not None else 0,
            "risky_rings": sum(1 for r in index.summaries() if r.risk >= s.risky) if index else 0,
        }
        if not moments or self._rings.store is None:
            details["why"] = "no graph in the history" if not moments else "no graph store bound"
        self._dealer.curve = None
        if index is not None and s.calibrate_dealer:
            details["dealer_calibration"] = self._dealer.calibrate(history, index)
        return details

    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> bool:
        """A confirmed fraud counts towards its applicant's local rings now and its ring's risk at the next run."""
        return self._recent.verdict(application_id, fraud)

    def settle(self) -> None:
        self._rings.wait()

    def observe(self, context: ScoringContext) -> None:
        s: FraudRingSettings = self.settings
        direct = self._direct(context)
        index = self._rings.index
        inflated = index is not None and self._inflated_ratio(context, index) is not None
        window = index.inflated.window_days if inflated and index is not None else None
        self._recent.observe(context, direct, window)
        if self._rings.observed(context.as_of, self._recent.labels) or index is None:
            return  # rings renewed just now: the next run decides who joins
        last = self._last
        if last is not None and last[0] == context.application_id:
            best = last[1]
        else:
            found = self._attachments(context, index, direct)
            best = found[0] if found else None
        if best is not None and not best.member and best.strength() >= s.join_at:
            index.join(context.keys.id_hash, best.ring.ring_id)

    # -- scoring ----------------------------------------------------------------------------
    def _score(self, context: ScoringContext) -> Vote:
        s: FraudRingSettings = self.settings
        self._rings.maybe_reload()
        index = self._rings.index
        if index is None and not (s.local_rings and self._recent):
            return Vote(s.baseline, 0.0, (), s.baseline)
        direct = self._direct(context)
        attachments = self._attachments(context, index, direct) if index is not None else []
        best = attachments[0] if attachments else None
        self._last = (context.application_id, best)
        reasons: list[Reason] = []
        ring_score = 0.0
        if best is not None and index is not None:
            ring_score = best.ring.risk * best.strength()
            reasons.append(ring_reason(best, index, ring_score))
        if s.local_rings and (best is None or not best.member):
            inflated = index is not None and self._inflated_ratio(context, index) is not None
            local = self._recent.local_ring(context, direct, inflated=inflated, max_local=s.max_local,
                                            min_size=s.min_size)
            if local is not None:
                kinds: dict[str, tuple[str, float]] = {}
                for kind, display, _, sharing in direct:
                    kinds.setdefault(kind, (display, self._weight(kind, sharing)))
                local_score = local.risk * attach_strength(sum(w for _, w in kinds.values()))
                if local_score > ring_score:
                    ring_score = local_score
                    reasons = [local_reason(local, kinds, local_score)]
        dealer_score = 0.0
        exposure = self._dealer.exposure(index, context.application.dealer_id)
        if exposure is not None:
            dealer_score = self._dealer.score(exposure.share)
            if dealer_score >= 0.05:
                reasons.append(dealer_reason(exposure, context.application.dealer_id, dealer_score))
        score = 1.0 - (1.0 - ring_score) * (1.0 - dealer_score)
        score = min(max(score, s.baseline), 0.999)
        reasons.sort(key=lambda r: -r.strength)
        return Vote(score, 1.0, tuple(reasons), s.baseline)

    def _direct(self, context: ScoringContext) -> list[DirectLink]:
        """``(kind, display, identity, sharing)`` of every non-hub link to another identity."""
        s: FraudRingSettings = self.settings
        links = context.links
        if links is None:
            return []
        out: list[DirectLink] = []
        singles = (links.person, links.phone, links.device, links.account, links.address, links.vehicle,
                   links.vehicle_user)
        for link in (*singles, *links.contacts):
            if link is None:
                continue
            kind = phone_kind(link.kind, mobile=link.mobile)
            if link.identities > s.max_sharing or not s.link_weights.get(kind, 0.0):
                continue  # a hub (a dealer's tablet, a big office's switchboard) says nothing
            out.extend((kind, link.display, identity, link.identities) for identity in link.identity_keys)
        out.extend(self._inflated_links(context))
        return out

    @staticmethod
    def _inflated_ratio(context: ScoringContext, index: RingIndex) -> float | None:
        """The deal's price over its model's reference price, when that makes it an inflated deal."""
        app = context.application
        return index.inflated.ratio_of(app.loan.vehicle_price, vehicle_model_name(app.vehicle.brand, app.vehicle.model))

    def _inflated_links(self, context: ScoringContext) -> list[DirectLink]:
        """An inflated deal links to the identities with inflated deals at the same dealer within the window."""
        s: FraudRingSettings = self.settings
        index = self._rings.index
        ratio = self._inflated_ratio(context, index) if index is not None else None
        if ratio is None or index is None or not s.link_weights.get("inflated_deal", 0.0):
            return []
        days = index.inflated.window_days
        others = self._recent.inflated_neighbours(context.application.dealer_id, context.keys.id_hash,
                                                  context.as_of, days)
        if not others or len(others) > s.max_sharing:
            return []
        display = (f"{ratio:.2f}x the model's 95th-percentile price, at a dealer where {len(others)} other "
                   f"inflated deal{'s' if len(others) != 1 else ''} were made within {days:g} days")
        return [("inflated_deal", display, identity, len(others)) for identity in others]

    def _weight(self, kind: str, sharing: int) -> float:
        return self.settings.link_weights.get(kind, 0.0) / max(1.0, math.log2(1 + sharing))

    def _attachments(self, context: ScoringContext, index: RingIndex, direct: list[DirectLink]) -> list[Attachment]:
        s: FraudRingSettings = self.settings
        keys = context.keys
        found: dict[str, Attachment] = {}

        def add(ring: RingSummary | None, kind: str, display: str, identity: str | None, sharing: int = 1) -> None:
            if ring is None or ring.risk < s.min_risk:
                return
            att = found.setdefault(ring.ring_id, Attachment(ring))
            if identity is not None:
                att.linked.add(identity)
            if kind not in att.kinds:
                att.kinds[kind] = display
                att.weight += self._weight(kind, sharing)

        own = index.ring_of_person(keys.id_hash)
        if own is not None and own.risk >= s.min_risk:
            found[own.ring_id] = Attachment(own, member=True)
        if keys.vehicle_user_hash and keys.vehicle_user_hash != keys.id_hash:
            user = context.application.vehicle.user_id_number
            add(index.ring_of_person(keys.vehicle_user_hash), "driver_in_ring",
                mask_id_number(user) if user else "driver", None)
        for kind, display, identity, sharing in direct:
            add(index.ring_of_person(identity), kind, display, identity, sharing)
        app = context.application
        model = vehicle_model_name(app.vehicle.brand, app.vehicle.model)
        inflated = index.inflated_ring(app.dealer_id, context.as_of, app.loan.vehicle_price, model)
        if inflated is not None:
            ring, ratio = inflated
            add(ring, "inflated_deal", f"{ratio:.2f}x the model's 95th-percentile price, at this dealer within "
                f"{index.inflated.window_days:g} days of members' inflated deals", None)
        return sorted(found.values(), key=lambda a: -a.ring.risk * a.strength())
