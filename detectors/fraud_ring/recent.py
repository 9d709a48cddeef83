"""The online graph of recent applications: who linked to whom since the last ring run, and the rings they form.

Between two ring runs, :class:`RecentGraph` remembers, for every identity the detector
has observed, when it applied and where, when it first shared a strong attribute
(:func:`tianwang.rings.links.is_strong`), its inflated deals and its confirmed fraud;
and which identities share an attribute, since when. :meth:`RecentGraph.local_ring` is
the ring an application forms with the identities it links to and theirs (two hops),
described by the batch job's own :func:`~tianwang.rings.statistics.ring_shares`. Every
read is as of the application's time, so a replayed application sees only what was
known then. Thread-safe.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tianwang.rings.links import is_strong
from tianwang.rings.statistics import ring_shares

if TYPE_CHECKING:
    from detectors.context import LabelledContext, ScoringContext

__all__ = ["DirectLink", "LocalRing", "RecentGraph"]

#: ``(kind, display, identity, sharing)``: a link of an application to another identity, shared by ``sharing``.
DirectLink = tuple[str, str, str, int]


@dataclass(slots=True)
class _Seen:
    """What is remembered of one identity, with times, so that a replay sees only what was known then."""

    times: list[float] = field(default_factory=list)
    dealers: list[str] = field(default_factory=list)  # one per time
    strong_at: float = math.inf  # when it first shared a strong attribute
    confirmed: int = 0
    inflated_at: list[float] = field(default_factory=list)

    def known_at(self, moment: float) -> bool:
        return bool(self.times) and min(self.times) <= moment


@dataclass(frozen=True, slots=True)
class LocalRing:
    """A ring formed since the last run: applicants, applications, shares and risk."""

    size: int
    applications: int
    density: float
    burst_share: float
    top_dealer_share: float
    confirmed: int
    risk: float


class RecentGraph:
    """Identities observed since the last ring run, their links and confirmed fraud (see the module docstring).

    ``labels`` are the confirmed fraud applications (training labels, then verdicts);
    ``verdict_capacity`` bounds how many applications' applicants are kept for verdicts.
    """

    def __init__(self, verdict_capacity: int = 1_000_000) -> None:
        self.verdict_capacity = verdict_capacity
        self.labels: dict[str, bool] = {}
        self._seen: dict[str, _Seen] = {}
        self._applicant_of: OrderedDict[str, str] = OrderedDict()  # application id -> id key, latest only
        # identity -> identity it shares an attribute with -> when that link was first seen (insertion-ordered,
        # so runs repeat)
        self._adjacent: dict[str, dict[str, float]] = {}
        self._inflated_at: dict[str, deque[tuple[float, str]]] = {}  # dealer -> recent (time, identity) inflated
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        """Whether any identity has been observed."""
        return bool(self._seen)

    def _remember(self, identity: str) -> _Seen:
        seen = self._seen.get(identity)
        if seen is None:
            seen = self._seen[identity] = _Seen()
        return seen

    # -- labels ---------------------------------------------------------------------------
    def start_over(self, history: Sequence[LabelledContext]) -> None:
        """Take the history's fraud as the confirmed fraud (fitting again starts over)."""
        with self._lock:
            self.labels = {h.context.application_id: h.fraud for h in history if h.fraud}
            for seen in self._seen.values():
                seen.confirmed = 0
            for h in history:
                if h.fraud:
                    self._remember(h.context.keys.id_hash).confirmed += 1

    def confirmed_labels(self, among: Iterable[str] | None = None) -> dict[str, bool]:
        """A copy of the confirmed fraud labels (only those of the applications ``among``, when given)."""
        with self._lock:
            if among is None:
                return dict(self.labels)
            return {a: self.labels[a] for a in among if a in self.labels}

    def verdict(self, application_id: str, fraud: bool) -> bool:
        """Count a confirmed fraud towards its applicant (or take back one overturned); ``False`` if unknown."""
        with self._lock:
            own = self._applicant_of.get(application_id)
            if own is None:
                return False
            was = self.labels.get(application_id, False)
            if fraud and not was:
                self.labels[application_id] = True
                self._remember(own).confirmed += 1
            elif not fraud and was:
                del self.labels[application_id]
                self._remember(own).confirmed -= 1
        return True

    # -- observing ------------------------------------------------------------------------
    def observe(self, context: ScoringContext, direct: Sequence[DirectLink],
                inflated_window_days: float | None) -> None:
        """Remember an application: its time and dealer, its links, and (with a window) its inflated deal."""
        own = context.keys.id_hash
        with self._lock:
            if context.application_id in self._applicant_of:
                # seen already: an event delivered twice (Kafka is at least once; a replica starting reads the
                # last minute of events again), or one this process scored itself. It counts once
                return
            self._applicant_of[context.application_id] = own
            if len(self._applicant_of) > self.verdict_capacity:
                self._applicant_of.popitem(last=False)
            seen = self._remember(own)
            seen.times.append(context.as_of)
            seen.dealers.append(context.application.dealer_id)
            if inflated_window_days is not None:
                seen.inflated_at.append(context.as_of)
                recent = self._inflated_at.setdefault(context.application.dealer_id, deque())
                recent.append((context.as_of, own))
                horizon = context.as_of - inflated_window_days * 86_400.0
                while recent and recent[0][0] < horizon:
                    recent.popleft()
            for kind, _, identity, _ in direct:
                if identity == own:
                    continue
                for a, b in ((own, identity), (identity, own)):
                    links = self._adjacent.setdefault(a, {})
                    links[b] = min(links.get(b, math.inf), context.as_of)
                if is_strong(kind):
                    seen.strong_at = min(seen.strong_at, context.as_of)
                    other = self._seen.get(identity)
                    if other is not None:
                        other.strong_at = min(other.strong_at, context.as_of)

    def inflated_neighbours(self, dealer_id: str, own: str, as_of: float, window_days: float) -> list[str]:
        """Identities other than ``own`` with inflated deals at ``dealer_id`` in the window before ``as_of``."""
        with self._lock:
            recent = self._inflated_at.get(dealer_id, ())
            return list(dict.fromkeys(
                identity for when, identity in recent  # earlier deals only: what was known at the time
                if identity != own and 0.0 <= as_of - when <= window_days * 86_400.0
            ))

    # -- local rings ----------------------------------------------------------------------
    def local_ring(self, context: ScoringContext, direct: Sequence[DirectLink], *, inflated: bool, max_local: int,
                   min_size: int) -> LocalRing | None:
        """The ring the application forms with the identities it links to and theirs (two hops), as of its time.

        ``inflated``: whether the application is an inflated deal itself.
        """
        own = context.keys.id_hash
        now = context.as_of
        with self._lock:
            # only identities observed by now apply: of others nothing is known of times or dealers
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
                    if len(group) >= max_local:
                        break
                    if since <= now and seen_by_now(other):
                        group.setdefault(other)
            members = list(group)
            if len(members) < min_size:
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
            strong = int(any(is_strong(kind) for kind, _, _, _ in direct)) + sum(1 for x in seen if x.strong_at <= now)
            confirmed = sum(x.confirmed for x in seen)
            inflated_deals = int(inflated) + sum(1 for x in seen for when in x.inflated_at if when <= now)
        shares = ring_shares(
            size=[len(members)],
            applications=[len(times)],
            internal_links=[edges],
            strong_members=[strong],
            top_dealer_applications=[max(dealers.count(d) for d in set(dealers))],
            confirmed=[confirmed],
            inflated=[inflated_deals],
            application_ring=np.zeros(len(times), dtype=np.int64),
            application_times=np.asarray(times, dtype=np.float64),
        )
        return LocalRing(len(members), len(times), float(shares.density[0]), float(shares.burst_share[0]),
                         float(shares.top_dealer_share[0]), confirmed, float(shares.risk[0]))
