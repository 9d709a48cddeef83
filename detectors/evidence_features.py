"""Point-in-time evidence about one application, for :mod:`detectors.graph_evidence`.

Weak signs add up: one shared emergency contact says little, the same contact listed by
four unrelated applicants over three weeks, one of them confirmed fraud, says a lot; a
shared address and contact with one other applicant is what a household looks like.
:class:`EvidenceMemory` remembers, for each application it has seen, when and where it
was made, its own identity flags and which earlier applications it was linked to;
:meth:`EvidenceMemory.row` turns one application's links (``context.links``, read as of
its own time) into numbers a model can weigh:

* per kind of link (applicant id, phone, device, account, address, driver, contacts): how
  many linked applications are confirmed fraud, how long the sharing has gone on, how many
  fall within 30 days, at how many dealers and at this one, and how many carried identity
  flags of their own (a low face match, a phone not the id's);
* across kinds: distinct linked identities, the kinds they link through, how many kinds
  the closest one shares (a household shares two or three with one person, a careful ring
  one each with many), and confirmed fraud two hops away (linked to what this is linked to);
* the same id earlier: its lowest face score, another phone, another dealer, days since;
* the dealer over its last deals: volume, confirmed fraud rate, the share of deals priced
  above the model's usual price and the price of this deal against it.

A label counts only from when it was known: for the training history ``label_delay_days``
after the application (investigations take time), for a verdict from when it is given.
Nothing here is personal data: ids of applications and HMAC keys only.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tianwang.keys import vehicle_model_name

if TYPE_CHECKING:
    from detectors.context import Link, ScoringContext

__all__ = ["EVIDENCE_FEATURE_NAMES", "EVIDENCE_KINDS", "EvidenceMemory"]

#: The kinds of link followed, in feature order (all contacts count as one kind).
EVIDENCE_KINDS: tuple[str, ...] = ("person", "phone", "device", "account", "address", "vehicle_user", "contact")
_PER_KIND = ("confirmed", "span_days", "within_30d", "dealers", "same_dealer", "flagged")
_CROSS = ("identities", "kinds", "max_kinds_one_identity", "identities_several_kinds", "confirmed",
          "confirmed_2hop", "flagged_2hop", "linked_2hop", "max_price_to_income", "expensive", "max_tells",
          "tells_2plus")
_SAME_ID = ("min_face", "other_phone", "other_dealer", "days_since")
_DEALER = ("deals", "fraud_rate", "labelled", "above_price_share", "above_price_mean", "above_top_share",
           "price_ratio", "price_over_top", "price_ratio_missing")

#: Column names, in order.
EVIDENCE_FEATURE_NAMES: tuple[str, ...] = (
    *(f"{kind}_{name}" for kind in EVIDENCE_KINDS for name in _PER_KIND),
    *(f"linked_{name}" for name in _CROSS),
    *(f"same_id_{name}" for name in _SAME_ID),
    *(f"dealer_{name}" for name in _DEALER),
)

_DAY = 86400.0
_NEVER = math.inf
_MVNO = ("170", "171", "162", "165", "167")


@dataclass(frozen=True, slots=True)
class _Seen:
    """One application as remembered: time, dealer, phone key, flags, and the applications it linked to."""

    at: float
    dealer: str
    phone: str
    face: float
    flagged: bool
    linked: tuple[str, ...]
    price_to_income: float  # the car's price over a year's declared income
    tells: int  # tell-tales of a made-up identity: no bureau score, thin file, no phone record, virtual operator,
    # employer without credit code, no social insurance


class EvidenceMemory:
    """What the detector remembers of applications and labels (thread-safe, bounded).

    Parameters
    ----------
    capacity : int
        Applications remembered; the oldest seen are forgotten first.
    dealer_window : int
        Latest deals per dealer kept for its statistics.
    """

    def __init__(self, capacity: int = 1_000_000, dealer_window: int = 500) -> None:
        self.capacity = capacity
        self.dealer_window = dealer_window
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._labels: dict[str, tuple[bool, float]] = {}  # application id -> (fraud, known from)
        self._dealers: dict[str, list[tuple[float, str, float, str]]] = {}  # (time, application id, price, model)
        self._model_price: dict[str, tuple[float, float]] = {}  # model -> (median, 95th percentile)
        self._figures: dict[str, _DealFigures] = {}  # dealer -> its deals' figures (derived, not pickled)
        self._label_version = 0  # moves with every change of the labels: the figures' label columns are stale
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def __getstate__(self) -> dict[str, object]:
        with self._lock:
            return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_figures", "_label_version")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._figures = {}
        self._label_version = 0
        self._lock = threading.Lock()

    # -- what is known ----------------------------------------------------------------------
    def set_model_prices(self, prices: Mapping[str, tuple[float, float]]) -> None:
        """The usual price of each vehicle model and the top of its range: the median and 95th percentile
        of the training history's prices."""
        with self._lock:
            self._model_price = dict(prices)
            self._figures.clear()  # priced against the old figures: rebuilt when next read

    def price_ratios(self, context: ScoringContext) -> tuple[float, float] | None:
        """The deal's price over its model's usual price and over the top of its range (``None`` for a
        model not seen in training)."""
        app = context.application
        usual = self._model_price.get(vehicle_model_name(app.vehicle.brand, app.vehicle.model))
        return (app.loan.vehicle_price / usual[0], app.loan.vehicle_price / usual[1]) if usual else None

    def label(self, application_id: str, fraud: bool, known_from: float = -_NEVER) -> None:
        """Record a label, counted from ``known_from`` (a timestamp; now by default)."""
        with self._lock:
            self._labels[application_id] = (fraud, known_from)
            self._label_version += 1

    def forget_labels(self) -> None:
        with self._lock:
            self._labels.clear()
            self._label_version += 1

    @property
    def confirmed(self) -> int:
        return sum(1 for fraud, _ in self._labels.values() if fraud)

    def _fraud(self, application_id: str, at: float) -> bool | None:
        entry = self._labels.get(application_id)
        if entry is None or entry[1] > at:
            return None
        return entry[0]

    def remember(self, context: ScoringContext) -> None:
        """Remember one application (again: no change)."""
        app_id = context.application_id
        with self._lock:
            if app_id in self._seen:
                return
        a = context.application.applicant
        face = a.face_match_score if a.face_match_score is not None else 1.0
        flagged = (face < 0.85 or a.liveness_passed is False
                   or (a.id_registered_phone is not None and a.id_registered_phone != a.phone))
        f = context.facts
        tells = ((context.application.credit.bureau_score is None) + f.thin_file + (a.id_registered_phone is None)
                 + a.phone.startswith(_MVNO) + (a.employer.credit_code is None)
                 + (a.employer.social_insurance_employer is None))
        seen = _Seen(context.as_of, context.application.dealer_id, context.keys.phone_hash, face, flagged,
                     tuple(sorted(_linked(context))), min(f.price_to_annual_income or 0.0, 20.0), int(tells))
        app = context.application
        deal = (seen.at, app_id, app.loan.vehicle_price, vehicle_model_name(app.vehicle.brand, app.vehicle.model))
        with self._lock:
            self._seen[app_id] = seen
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            deals = self._dealers.setdefault(seen.dealer, [])
            at = bisect.bisect_right(deals, deal)  # where bisect.insort puts it
            deals.insert(at, deal)
            figures = self._figures.get(seen.dealer)
            if figures is not None:
                figures.insert(at, deal, self._model_price, self._labels.get(app_id))
            if len(deals) > self.dealer_window:
                del deals[0]
                if figures is not None:
                    figures.drop_first()

    # -- one row ----------------------------------------------------------------------------
    def row(self, context: ScoringContext) -> np.ndarray:
        """The evidence row of ``context`` (``len(EVIDENCE_FEATURE_NAMES)`` floats), as of its time."""
        at = context.as_of
        dealer = context.application.dealer_id
        with self._lock:
            out: list[float] = []
            by_identity: dict[str, set[str]] = {}
            every: set[str] = set()
            for kind in EVIDENCE_KINDS:
                links = _links_of(context, kind)
                others = {o for link in links for o in link.others}
                every |= others
                for link in links:
                    for identity in link.identity_keys:
                        by_identity.setdefault(identity, set()).add(kind)
                out.extend(self._per_kind(others, at, dealer))
            out.extend(self._cross(every, by_identity, at, context.application_id))
            out.extend(self._same_id(context, at, dealer))
            out.extend(self._dealer(context, at, dealer))
        return np.asarray(out, dtype=np.float64)

    def _per_kind(self, others: set[str], at: float, dealer: str) -> list[float]:
        confirmed = within = same_dealer = flagged = 0
        first = at
        dealers = set()
        for other in others:
            if self._fraud(other, at):
                confirmed += 1
            seen = self._seen.get(other)
            if seen is None:
                continue
            first = min(first, seen.at)
            within += at - seen.at <= 30 * _DAY
            dealers.add(seen.dealer)
            same_dealer += seen.dealer == dealer
            flagged += seen.flagged
        return [float(confirmed), (at - first) / _DAY, float(within), float(len(dealers)), float(same_dealer),
                float(flagged)]

    def _cross(self, every: set[str], by_identity: Mapping[str, set[str]], at: float, own: str) -> list[float]:
        kinds = {k for ks in by_identity.values() for k in ks}
        most = max((len(ks) for ks in by_identity.values()), default=0)
        several = sum(1 for ks in by_identity.values() if len(ks) >= 2)
        confirmed = sum(1 for o in every if self._fraud(o, at))
        second: set[str] = set()
        for other in every:
            seen = self._seen.get(other)
            if seen is not None:
                second.update(seen.linked)
        second -= every
        second.discard(own)
        confirmed2 = sum(1 for o in second if self._fraud(o, at))
        flagged2 = 0
        for o in second:
            seen = self._seen.get(o)
            flagged2 += seen is not None and seen.flagged
        near = [seen for seen in (self._seen.get(o) for o in every) if seen is not None]
        return [float(len(by_identity)), float(len(kinds)), float(most), float(several), float(confirmed),
                float(confirmed2), float(flagged2), math.log1p(len(second)),
                max((s.price_to_income for s in near), default=0.0), float(sum(s.price_to_income > 2.5 for s in near)),
                float(max((s.tells for s in near), default=0)), float(sum(s.tells >= 2 for s in near))]

    def _same_id(self, context: ScoringContext, at: float, dealer: str) -> list[float]:
        earlier = [self._seen[o] for o in _others(context, "person") if o in self._seen]
        if not earlier:
            return [1.0, 0.0, 0.0, 365.0]
        phone = context.keys.phone_hash
        return [min(s.face for s in earlier), float(any(s.phone != phone for s in earlier)),
                float(any(s.dealer != dealer for s in earlier)), min(365.0, (at - max(s.at for s in earlier)) / _DAY)]

    def _dealer(self, context: ScoringContext, at: float, dealer: str) -> list[float]:
        deals = self._dealers.get(dealer, [])
        end = bisect.bisect_left(deals, (at, ""))
        figures = self._figures.get(dealer)
        if figures is None:
            figures = self._figures[dealer] = _DealFigures.of(deals, self._model_price, self._labels,
                                                              self._label_version)
        elif figures.label_version != self._label_version:
            figures.relabel(deals, self._labels, self._label_version)
        known = figures.known[:end]
        if not known or max(known) <= at:  # every label of these deals known by now (the usual case)
            labelled, fraud = sum(figures.labelled[:end]), sum(figures.fraud[:end])
        else:  # some known only later (a backtest's history, investigated after this deal)
            labelled = fraud = 0
            for when, has, bad in zip(known, figures.labelled, figures.fraud, strict=False):
                if has and when <= at:
                    labelled += 1
                    fraud += bad
        priced = sum(figures.priced[:end])
        own = self.price_ratios(context)
        n = max(priced, 1)
        return [math.log1p(end), (fraud + 0.5) / (labelled + 10.0), math.log1p(labelled),
                sum(figures.above[:end]) / n, sum(figures.excess[:end]) / n, sum(figures.above_top[:end]) / n,
                own[0] if own else 1.0, own[1] if own else 0.8, float(own is None)]


class _DealFigures:
    """One dealer's deals, row for row with :attr:`EvidenceMemory._dealers`, as columns a prefix of which
    ``sum`` adds up. Against its model's usual price: whether the deal is priced at all, above it by more
    than 3 %, above the top of the range, and by how much above (``0.0`` if not). Its label: whether it has
    one, whether fraud, and from when it is known (``-inf`` without one), as of :attr:`label_version`.
    Derived from the deals, the model prices and the labels, so never pickled: rebuilt when first read."""

    __slots__ = ("above", "above_top", "excess", "fraud", "known", "label_version", "labelled", "priced")

    def __init__(self) -> None:
        self.priced: list[int] = []
        self.above: list[int] = []
        self.above_top: list[int] = []
        self.excess: list[float] = []
        self.labelled: list[int] = []
        self.fraud: list[int] = []
        self.known: list[float] = []
        self.label_version = 0

    @classmethod
    def of(cls, deals: Sequence[tuple[float, str, float, str]], model_price: Mapping[str, tuple[float, float]],
           labels: Mapping[str, tuple[bool, float]], label_version: int) -> _DealFigures:
        figures = cls()
        for at, deal in enumerate(deals):
            figures.insert(at, deal, model_price, labels.get(deal[1]))
        figures.label_version = label_version
        return figures

    def insert(self, at: int, deal: tuple[float, str, float, str], model_price: Mapping[str, tuple[float, float]],
               label: tuple[bool, float] | None) -> None:
        _, _, price, model = deal
        usual = model_price.get(model)
        ratio = price / usual[0] if usual else 1.0
        self.priced.insert(at, 1 if usual else 0)
        self.above.insert(at, 1 if usual and ratio > 1.03 else 0)
        self.above_top.insert(at, 1 if usual and price > usual[1] else 0)
        self.excess.insert(at, max(0.0, ratio - 1.0) if usual else 0.0)
        self.labelled.insert(at, 0 if label is None else 1)
        self.fraud.insert(at, 1 if label is not None and label[0] else 0)
        self.known.insert(at, -_NEVER if label is None else label[1])

    def relabel(self, deals: Sequence[tuple[float, str, float, str]], labels: Mapping[str, tuple[bool, float]],
                label_version: int) -> None:
        """The label columns again, from ``labels`` as they are at ``label_version``."""
        entries = [labels.get(app_id) for _, app_id, _, _ in deals]
        self.labelled = [0 if e is None else 1 for e in entries]
        self.fraud = [1 if e is not None and e[0] else 0 for e in entries]
        self.known = [-_NEVER if e is None else e[1] for e in entries]
        self.label_version = label_version

    def drop_first(self) -> None:
        for column in (self.priced, self.above, self.above_top, self.excess, self.labelled, self.fraud,
                       self.known):
            del column[0]


def _links_of(context: ScoringContext, kind: str) -> list[Link]:
    links = context.links
    if links is None:
        return []
    if kind == "contact":
        return list(links.contacts)
    link = links.get(kind)
    return [link] if link is not None else []


def _others(context: ScoringContext, kind: str) -> Iterable[str]:
    for link in _links_of(context, kind):
        yield from link.others


def _linked(context: ScoringContext) -> set[str]:
    return {o for kind in EVIDENCE_KINDS for o in _others(context, kind)}
