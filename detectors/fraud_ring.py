"""Fraud rings: does this application belong to, or join, a risky ring?

The ring batch job (:mod:`tianwang.rings`) groups applicants who share phones,
devices, accounts, addresses, contacts or vehicle drivers into rings and gives each a
risk. This detector holds those rings in a :class:`~tianwang.rings.index.RingIndex`
and, for each application, follows its graph links (the identities that share each of
its attributes, as the graph stood at its own time) to the rings of those identities:

* an applicant who is a ring member gets the ring's risk;
* one linked to ring members joins the ring with a strength that grows with the kinds
  of attribute shared (a phone, a device, an account or a driver count fully, a
  contact less, an address or a landline least: households share those), each divided
  by ``log2(1 + d)`` when ``d`` other
  identities share the attribute and ignored above ``max_sharing`` (hubs such as a
  dealer's tablet): ``attach = 1 - exp(-1.5 * sum of weights)``, and
  the score is ``risk * attach``. When ``attach`` reaches ``join_at`` the applicant is
  added to the ring in memory, so later applications linked to them find it too,
  until the next batch run decides again;
* a deal priced far above its model's usual price, at a dealer where members of a
  risky ring bought such deals within the same weeks, links to that ring like a
  shared attribute (``inflated_deal``; the batch job links such deals the same way),
  and so do inflated deals the detector has seen at that dealer since the last run,
  which can form a local ring (``FORMS_RING``) before the next run;
* a dealer with an unusual share of its applications in risky rings adds a dealer
  score (dealer collusion). When fitted, it is the fraud rate the training history
  shows at such dealers among applicants in no risky ring (a logistic curve in the
  dealer's share, ``calibrate_dealer``; at most ``dealer_max``): that is all the dealer
  share says of an application that shares nothing with a ring, and far less than a
  shared phone does. Without enough history (``dealer_min_fraud`` fraud cases) it is
  the hand-set ``dealer_max * sigmoid(dealer_share_slope * (share - dealer_share_mid))``.

Reasons name the ring, the attributes shared (masked), and the ring's confirmed fraud
applications.

Where the rings come from: with ``refresh_every`` > 0 the detector runs ring
detection itself, when fitted (as of the last training application, with the
training labels as confirmed fraud) and then every ``refresh_every`` applications it
observes (backtests and small deployments; in time order, so a backtest repeats; with
``refresh_in_background`` the run happens in a thread and the request does not wait for
it, which a service with a large graph wants). With 0 it reads
the rings the batch job wrote to the store, and reloads them in the background every
``reload_seconds``.

Examples
--------
>>> FraudRingDetector({"join_at": 2})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings for detector 'fraud_ring': join_at: Input should be ...
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from detectors.base import Detector, DetectorSettings, Evidence, Reason, Vote
from detectors.context import LINK_KIND_NAMES, LabelledContext, ScoringContext
from tianwang.identifiers import mask_id_number
from tianwang.keys import vehicle_model_name
from tianwang.stats import fit_logistic, sigmoid

if TYPE_CHECKING:
    from graph_schema.store import GraphStore
    from tianwang.rings.index import DealerExposure, RingIndex, RingSummary

__all__ = ["FraudRingDetector", "FraudRingSettings"]

log = logging.getLogger(__name__)

#: Link kinds in reasons: the graph's, a driver who is a ring member, an inflated deal at a ring's dealer,
#: and a landline (a phone or contact number that is not a mobile).
_KIND_NAMES = {**LINK_KIND_NAMES, "driver_in_ring": "vehicle driver", "inflated_deal": "an inflated price:",
               "landline": "landline"}
#: Links that do not make an identity's link "strong" (see the ring statistics): what households share
#: (an address, the home landline) and a price pattern.
_WEAK_KINDS = frozenset({"address", "landline", "inflated_deal"})


class FraudRingSettings(DetectorSettings):
    """See the module docstring. ``link_weights`` by link kind (``contact`` for contact phones)."""

    refresh_every: int = Field(default=0, ge=0)
    refresh_in_background: bool = False
    reload_seconds: float = Field(default=300.0, gt=0)
    min_risk: float = Field(default=0.05, ge=0, le=1)
    max_sharing: int = Field(default=10, ge=1)
    join_at: float = Field(default=0.7, ge=0, le=1)
    link_weights: dict[str, float] = Field(default_factory=lambda: {
        "person": 1.0, "phone": 1.0, "device": 1.0, "account": 1.0, "vehicle": 1.0, "vehicle_user": 1.0,
        "driver_in_ring": 1.0, "inflated_deal": 1.0, "contact": 0.8, "address": 0.5, "landline": 0.5,
    })
    dealer_min_applications: int = Field(default=20, ge=1)
    dealer_share_mid: float = Field(default=0.15, ge=0, le=1)
    dealer_share_slope: float = Field(default=25.0, ge=0)
    dealer_max: float = Field(default=0.6, ge=0, le=1)
    calibrate_dealer: bool = True
    dealer_min_fraud: int = Field(default=5, ge=1)
    risky: float = Field(default=0.5, ge=0, le=1)
    resolution: float = Field(default=1.0, gt=0)
    min_size: int = Field(default=3, ge=2)
    baseline: float = Field(default=0.02, gt=0, lt=1)
    local_rings: bool = True
    max_local: int = Field(default=30, ge=3)
    verdict_capacity: int = Field(default=1_000_000, ge=0)
    target_typologies: list[str] | None = None


@dataclass
class _Attachment:
    ring: RingSummary
    member: bool = False
    kinds: dict[str, str] = field(default_factory=dict)
    linked: set[str] = field(default_factory=set)
    weight: float = 0.0

    def strength(self) -> float:
        return 1.0 if self.member else 1.0 - math.exp(-1.5 * self.weight)


@dataclass(slots=True)
class _Seen:
    """What the detector remembers of one identity for local rings, with times, so that an application
    scored as of an earlier moment (a replay) sees only what was known then."""

    times: list[float] = field(default_factory=list)
    dealers: list[str] = field(default_factory=list)  # one per time
    strong_at: float = math.inf  # when it first shared a strong attribute
    confirmed: int = 0
    inflated_at: list[float] = field(default_factory=list)

    def known_at(self, moment: float) -> bool:
        return bool(self.times) and min(self.times) <= moment


@dataclass(frozen=True, slots=True)
class _LocalRing:
    size: int
    applications: int
    density: float
    burst_share: float
    top_dealer_share: float
    confirmed: int
    risk: float


class FraudRingDetector(Detector):
    """Votes with the risk of the ring an application belongs to or joins, and its dealer's ring share."""

    name = "fraud_ring"
    version = "1"
    layer = "deep"
    needs_graph = True
    supports_training = True
    Settings: ClassVar[type[DetectorSettings]] = FraudRingSettings

    def __init__(self, settings: Mapping[str, Any] | DetectorSettings | None = None) -> None:
        super().__init__(settings)
        self._index: RingIndex | None = None
        self._labels: dict[str, bool] = {}
        self._observed = 0
        self._loading = threading.Lock()
        self._loaded_at = 0.0
        self._last: tuple[str, _Attachment | None] | None = None
        self._seen: dict[str, _Seen] = {}
        self._applicant_of: OrderedDict[str, str] = OrderedDict()  # application id -> id key, latest only
        # identity -> identity it shares an attribute with -> when that link was first seen (insertion-ordered,
        # so runs repeat)
        self._adjacent: dict[str, dict[str, float]] = {}
        self._inflated_at: dict[str, deque[tuple[float, str]]] = {}  # dealer -> recent (time, identity) inflated
        self._graph_lock = threading.Lock()
        self._dealer_curve: tuple[float, float] | None = None  # (intercept, slope) of logit P(fraud) in the share

    @property
    def index(self) -> RingIndex | None:
        """The rings in use (``None`` until fitted or loaded)."""
        return self._index

    # -- rings ----------------------------------------------------------------------------
    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        self._labels = {h.context.application_id: h.fraud for h in history if h.fraud}
        with self._graph_lock:
            for seen in self._seen.values():
                seen.confirmed = 0  # fitting again starts over
            for h in history:
                if h.fraud:
                    self._remember(h.context.keys.id_hash).confirmed += 1
        views = [h.context.view for h in history if h.context.view is not None]
        if not views:
            return {"rings": 0, "why": "no graph in the history"}
        view = max(views, key=lambda v: v.moment)
        s: FraudRingSettings = self.settings
        if s.refresh_every:
            self.refresh(view.store, view.moment)
        else:
            self.load(view.store)
        index = self._index
        details: dict[str, Any] = {
            "rings": len(index) if index is not None else 0,
            "risky_rings": sum(1 for r in index.summaries() if r.risk >= s.risky) if index else 0,
        }
        self._dealer_curve = None
        if index is not None and s.calibrate_dealer:
            details["dealer_calibration"] = self._calibrate_dealer(history, index)
        return details

    def _calibrate_dealer(self, history: Sequence[LabelledContext], index: RingIndex) -> dict[str, Any]:
        """Fit P(fraud | dealer share) on history applicants in no risky ring, at dealers with risky-ring members."""
        s: FraudRingSettings = self.settings
        shares, fraud = [], []
        for h in history:
            exposure = self._exposure(index, h.context.application.dealer_id)
            if exposure is None:
                continue
            ring = index.ring_of_person(h.context.keys.id_hash)
            if ring is not None and ring.risk >= s.risky:
                continue
            shares.append(exposure.share)
            fraud.append(h.fraud)
        positives = sum(fraud)
        if positives < s.dealer_min_fraud:
            return {"applications": len(shares), "fraud": positives, "why": "too few fraud cases; hand-set curve"}
        self._dealer_curve = _fit_share_curve(np.asarray(shares), np.asarray(fraud, dtype=np.float64))
        return {"applications": len(shares), "fraud": positives,
                "intercept": round(self._dealer_curve[0], 4), "slope": round(self._dealer_curve[1], 4)}

    def _exposure(self, index: RingIndex | None, dealer_id: str) -> DealerExposure | None:
        """The dealer's ring exposure when it says something: enough applications, some in risky rings."""
        exposure = index.dealer(dealer_id) if index is not None else None
        if exposure is None or exposure.applications < self.settings.dealer_min_applications:
            return None
        return exposure if exposure.in_risky_rings else None

    def _dealer_score(self, share: float) -> float:
        """The fitted curve at a dealer's share of applications in risky rings, or the hand-set one."""
        s: FraudRingSettings = self.settings
        if self._dealer_curve is not None:
            intercept, slope = self._dealer_curve
            return min(s.dealer_max, sigmoid(intercept + slope * share))
        return s.dealer_max * sigmoid(s.dealer_share_slope * (share - s.dealer_share_mid))

    def refresh(self, store: GraphStore, as_of: float) -> RingIndex:
        """Detect rings over ``store`` as of ``as_of`` (not written back) and use them."""
        from tianwang.rings.index import RingIndex
        from tianwang.rings.job import detect_rings_in_export

        s: FraudRingSettings = self.settings
        started = time.perf_counter()
        export = store.export_edges(as_of=as_of)
        previous = {r.ring_id: r.members for r in self._index.summaries()} if self._index is not None else {}
        report = detect_rings_in_export(export, previous=previous, labels=self._labels, resolution=s.resolution,
                                        min_size=s.min_size)
        index = RingIndex.from_detected(export, report.rings, labels=self._labels, risky=s.risky, detected_at=as_of)
        self._index = index
        log.info("rings refreshed", extra={"rings": len(index), "seconds": round(time.perf_counter() - started, 3)})
        return index

    def load(self, store: GraphStore) -> RingIndex:
        """Use the rings the batch job stored (and count dealer exposure over the stored graph)."""
        from tianwang.rings.index import RingIndex, RingSummary

        s: FraudRingSettings = self.settings
        records = store.rings()
        index = RingIndex.build(store.export_edges(), [RingSummary.of_record(r) for r in records], risky=s.risky,
                                detected_at=max((float(r.properties.get("detected_at", 0.0)) for r in records),
                                                default=None))
        self._index = index
        self._loaded_at = time.monotonic()
        return index

    def _maybe_reload(self, context: ScoringContext) -> None:
        s: FraudRingSettings = self.settings
        if s.refresh_every or context.view is None:
            return
        if self._index is not None and time.monotonic() - self._loaded_at < s.reload_seconds:
            return
        if not self._loading.acquire(blocking=False):
            return
        self._loaded_at = time.monotonic()  # one reload at a time, and not again until the period is over
        store = context.view.store

        def run() -> None:
            try:
                self.load(store)
            except Exception as exc:  # keep the rings in use; say why
                log.warning("rings could not be reloaded", extra={"error": type(exc).__name__})
            finally:
                self._loading.release()

        threading.Thread(target=run, name="tianwang-ring-reload", daemon=True).start()

    # -- scoring --------------------------------------------------------------------------
    def _direct(self, context: ScoringContext) -> list[tuple[str, str, str, int]]:
        """``(kind, display, identity, sharing)`` of every non-hub link to another identity."""
        s: FraudRingSettings = self.settings
        links = context.links
        if links is None:
            return []
        out: list[tuple[str, str, str, int]] = []
        singles = (links.person, links.phone, links.device, links.account, links.address, links.vehicle,
                   links.vehicle_user)
        for link in (*singles, *links.contacts):
            if link is None:
                continue
            kind = "landline" if link.kind in ("phone", "contact") and not link.mobile else link.kind
            if link.identities > s.max_sharing or not s.link_weights.get(kind, 0.0):
                continue  # a hub (a dealer's tablet, a big office's switchboard) says nothing
            out.extend((kind, link.display, identity, link.identities) for identity in link.identity_keys)
        out.extend(self._inflated_links(context))
        return out

    def _inflated_ratio(self, context: ScoringContext) -> float | None:
        """The deal's price over its model's reference price, when that makes it an inflated deal."""
        index = self._index
        if index is None:
            return None
        app = context.application
        return index.inflated.ratio_of(app.loan.vehicle_price, vehicle_model_name(app.vehicle.brand, app.vehicle.model))

    def _inflated_links(self, context: ScoringContext) -> list[tuple[str, str, str, int]]:
        """An inflated deal links to the identities with inflated deals at the same dealer within the window."""
        s: FraudRingSettings = self.settings
        ratio = self._inflated_ratio(context)
        if ratio is None or self._index is None or not s.link_weights.get("inflated_deal", 0.0):
            return []
        days = self._index.inflated.window_days
        own = context.keys.id_hash
        with self._graph_lock:
            recent = self._inflated_at.get(context.application.dealer_id, ())
            others = list(dict.fromkeys(
                identity for when, identity in recent  # earlier deals only: what was known at the time
                if identity != own and 0.0 <= context.as_of - when <= days * 86_400.0
            ))
        if not others or len(others) > s.max_sharing:
            return []
        display = (f"{ratio:.2f}x the model's 95th-percentile price, at a dealer where {len(others)} other "
                   f"inflated deal{'s' if len(others) != 1 else ''} were made within {days:g} days")
        return [("inflated_deal", display, identity, len(others)) for identity in others]

    def _weight(self, kind: str, sharing: int) -> float:
        return self.settings.link_weights.get(kind, 0.0) / max(1.0, math.log2(1 + sharing))

    def _attachments(self, context: ScoringContext, index: RingIndex,
                     direct: list[tuple[str, str, str, int]]) -> list[_Attachment]:
        s: FraudRingSettings = self.settings
        keys = context.keys
        found: dict[str, _Attachment] = {}

        def add(ring: RingSummary | None, kind: str, display: str, identity: str | None, sharing: int = 1) -> None:
            if ring is None or ring.risk < s.min_risk:
                return
            att = found.setdefault(ring.ring_id, _Attachment(ring))
            if identity is not None:
                att.linked.add(identity)
            if kind not in att.kinds:
                att.kinds[kind] = display
                att.weight += self._weight(kind, sharing)

        own = index.ring_of_person(keys.id_hash)
        if own is not None and own.risk >= s.min_risk:
            found[own.ring_id] = _Attachment(own, member=True)
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

    def _local_ring(self, context: ScoringContext, direct: list[tuple[str, str, str, int]]) -> _LocalRing | None:
        """The ring the application forms with the identities it links to and theirs (two hops)."""
        from tianwang.rings.statistics import BURST_DAYS, ring_risk

        s: FraudRingSettings = self.settings
        own = context.keys.id_hash
        now = context.as_of
        with self._graph_lock:
            # only identities this detector has seen by now apply: of others it knows no times or dealers
            known = self._seen

            def seen_by_now(identity: str) -> bool:
                found = known.get(identity)
                return found is not None and found.known_at(now)

            first = [identity for _, _, identity, _ in direct if identity != own and seen_by_now(identity)]
            if not first:
                return None
            group = dict.fromkeys([own, *first])
            for identity in first:
                for other, since in self._adjacent.get(identity, {}).items():
                    if len(group) >= s.max_local:
                        break
                    if since <= now and seen_by_now(other):
                        group.setdefault(other)
            members = list(group)
            if len(members) < s.min_size:
                return None
            inside = set(members)
            linked = set(first)

            def neighbours(m: str) -> set[str]:  # links known by now, with the application's own added
                found = {other for other, since in self._adjacent.get(m, {}).items() if since <= now}
                return found | linked if m == own else found | {own} if m in linked else found

            edges = sum(len(neighbours(m) & inside) for m in members) / 2
            seen = [x for x in (known.get(m) for m in members[1:]) if x is not None]
            times, dealers = [now], [context.application.dealer_id]
            for x in seen:
                for when, dealer in zip(x.times, x.dealers, strict=True):
                    if when <= now:
                        times.append(when)
                        dealers.append(dealer)
            # as in observe: an address, a landline or an inflated deal alone does not make a link strong
            own_strong = any(kind not in _WEAK_KINDS for kind, _, _, _ in direct)
            strong = int(own_strong) + sum(1 for x in seen if x.strong_at <= now)
            confirmed = sum(x.confirmed for x in seen)
            inflated = int(self._inflated_ratio(context) is not None) + sum(
                1 for x in seen for when in x.inflated_at if when <= now
            )
        size = len(members)
        density = min(1.0, edges / (size * (size - 1) / 2))
        ordered = sorted(times)
        window = BURST_DAYS * 86_400.0
        burst = max(sum(1 for t in ordered[i:] if t - start <= window) for i, start in enumerate(ordered))
        top_dealer = max(dealers.count(d) for d in set(dealers))
        n_apps = len(times)
        risk = float(ring_risk(size, strong / size, burst / n_apps, top_dealer / n_apps, n_apps >= 1.5 * size,
                               density, min(1.0, confirmed / n_apps), min(1.0, inflated / n_apps)))
        return _LocalRing(size, n_apps, density, burst / n_apps, top_dealer / n_apps, confirmed, risk)

    def _score(self, context: ScoringContext) -> Vote:
        s: FraudRingSettings = self.settings
        self._maybe_reload(context)
        index = self._index
        if index is None and not (s.local_rings and self._seen):
            return Vote(s.baseline, 0.0, (), s.baseline)
        direct = self._direct(context)
        attachments = self._attachments(context, index, direct) if index is not None else []
        best = attachments[0] if attachments else None
        self._last = (context.application_id, best)
        reasons: list[Reason] = []
        ring_score = 0.0
        if best is not None:
            ring_score = best.ring.risk * best.strength()
            reasons.append(self._ring_reason(best, index, ring_score))  # type: ignore[arg-type]
        if s.local_rings and (best is None or not best.member):
            local = self._local_ring(context, direct)
            if local is not None:
                kinds: dict[str, tuple[str, float]] = {}
                for kind, display, _, sharing in direct:
                    kinds.setdefault(kind, (display, self._weight(kind, sharing)))
                attach = 1.0 - math.exp(-1.5 * sum(w for _, w in kinds.values()))
                local_score = local.risk * attach
                if local_score > ring_score:
                    ring_score = local_score
                    reasons = [self._local_reason(local, kinds, local_score)]
        dealer_score = 0.0
        exposure = self._exposure(index, context.application.dealer_id)
        if exposure is not None:
            dealer_score = self._dealer_score(exposure.share)
            if dealer_score >= 0.05:
                reasons.append(Reason(
                    "DEALER_RING_SHARE",
                    f"{exposure.share:.0%} of this dealer's applications belong to risky rings "
                    f"({exposure.in_risky_rings} of {exposure.applications})",
                    (Evidence("dealer_id", context.application.dealer_id,
                              detail=f"{exposure.in_risky_rings}/{exposure.applications}"),),
                    dealer_score,
                ))
        score = 1.0 - (1.0 - ring_score) * (1.0 - dealer_score)
        score = min(max(score, s.baseline), 0.999)
        reasons.sort(key=lambda r: -r.strength)
        return Vote(score, 1.0, tuple(reasons), s.baseline)

    @staticmethod
    def _local_reason(local: _LocalRing, kinds: dict[str, tuple[str, float]], strength: float) -> Reason:
        shared = ", ".join(f"{_KIND_NAMES.get(k, k)} {d}" for k, (d, _) in kinds.items())
        confirmed = f", {local.confirmed} confirmed fraud" if local.confirmed else ""
        return Reason(
            "FORMS_RING",
            f"shares {shared} with others who form a ring of {local.size} applicants since the last ring run "
            f"({local.burst_share:.0%} of their applications within three weeks, "
            f"{local.top_dealer_share:.0%} at one dealer{confirmed}; risk {local.risk:.2f})",
            tuple(Evidence(k, d) for k, (d, _) in kinds.items()),
            strength,
        )

    def _ring_reason(self, att: _Attachment, index: RingIndex, strength: float) -> Reason:
        ring = att.ring
        confirmed = f", {len(ring.confirmed)} confirmed fraud" if ring.confirmed else ""
        grown = index.joined_since(ring.ring_id)
        about = f"ring {ring.ring_id} ({ring.size + grown} applicants, risk {ring.risk:.2f}{confirmed})"
        evidence = [Evidence("ring_id", ring.ring_id, detail=f"risk {ring.risk:.2f}")]
        if att.member:
            return Reason("RING_MEMBER", f"the applicant is a member of {about}",
                          (*evidence, *self._confirmed(ring)), strength)
        shared = ", ".join(f"{_KIND_NAMES.get(k, k)} {d}" for k, d in att.kinds.items())
        evidence += [Evidence(k, d) for k, d in att.kinds.items()]
        who = f"{len(att.linked)} member{'s' if len(att.linked) != 1 else ''} of" if att.linked else "a member of"
        return Reason("LINKED_TO_RING", f"shares {shared} with {who} {about}",
                      (*evidence, *self._confirmed(ring)), strength)

    @staticmethod
    def _confirmed(ring: RingSummary) -> tuple[Evidence, ...]:
        return tuple(Evidence("ring.confirmed_fraud", neighbour=a) for a in ring.confirmed[:3])

    # -- keeping up ----------------------------------------------------------------------
    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> bool:
        """A confirmed fraud counts towards its applicant's local rings now and its ring's risk at the next run."""
        with self._graph_lock:
            own = self._applicant_of.get(application_id)
            if own is None:
                return False
            was = self._labels.get(application_id, False)
            if fraud and not was:
                self._labels[application_id] = True
                self._remember(own).confirmed += 1
            elif not fraud and was:
                del self._labels[application_id]
                self._remember(own).confirmed -= 1
        return True

    def _remember(self, identity: str) -> _Seen:
        seen = self._seen.get(identity)
        if seen is None:
            seen = self._seen[identity] = _Seen()
        return seen

    def observe(self, context: ScoringContext) -> None:
        s: FraudRingSettings = self.settings
        direct = self._direct(context)
        own = context.keys.id_hash
        with self._graph_lock:
            self._applicant_of[context.application_id] = own
            if len(self._applicant_of) > s.verdict_capacity:
                self._applicant_of.popitem(last=False)
            seen = self._remember(own)
            seen.times.append(context.as_of)
            seen.dealers.append(context.application.dealer_id)
            ratio = self._inflated_ratio(context)
            if ratio is not None and self._index is not None:
                seen.inflated_at.append(context.as_of)
                recent = self._inflated_at.setdefault(context.application.dealer_id, deque())
                recent.append((context.as_of, own))
                horizon = context.as_of - self._index.inflated.window_days * 86_400.0
                while recent and recent[0][0] < horizon:
                    recent.popleft()
            for kind, _, identity, _ in direct:
                if identity == own:
                    continue
                for a, b in ((own, identity), (identity, own)):
                    links = self._adjacent.setdefault(a, {})
                    links[b] = min(links.get(b, math.inf), context.as_of)
                if kind not in _WEAK_KINDS:
                    seen.strong_at = min(seen.strong_at, context.as_of)
                    other = self._seen.get(identity)
                    if other is not None:
                        other.strong_at = min(other.strong_at, context.as_of)
        index = self._index
        self._observed += 1
        if s.refresh_every and self._observed % s.refresh_every == 0 and context.view is not None:
            if not s.refresh_in_background:
                self.refresh(context.view.store, context.as_of)
                return
            if self._loading.acquire(blocking=False):
                store, moment = context.view.store, context.as_of

                def run() -> None:
                    try:
                        self.refresh(store, moment)
                    except Exception as exc:  # keep the rings in use; say why
                        log.warning("rings could not be refreshed", extra={"error": type(exc).__name__})
                    finally:
                        self._loading.release()

                threading.Thread(target=run, name="tianwang-ring-refresh", daemon=True).start()
        if index is None:
            return
        last = self._last
        best = last[1] if last is not None and last[0] == context.application_id else None
        if last is None or last[0] != context.application_id:
            found = self._attachments(context, index, direct)
            best = found[0] if found else None
        if best is not None and not best.member and best.strength() >= s.join_at:
            index.join(own, best.ring.ring_id)


def _fit_share_curve(share: np.ndarray, fraud: np.ndarray, l2: float = 1e-3) -> tuple[float, float]:
    """Intercept and non-negative slope of ``logit P(fraud) = a + b * share`` (a little ridge on the slope).

    A falling fit (a larger share making fraud less likely) gives way to the fraud rate alone.
    """
    rate = float(fraud.mean())
    base = math.log((rate + 1e-6) / (1.0 - rate + 1e-6))
    slope, intercept = fit_logistic(share[:, None], fraud, l2=l2, bias=base)
    if not (math.isfinite(intercept) and np.all(np.isfinite(slope))) or slope[0] < 0.0:
        return base, 0.0
    return intercept, float(slope[0])
