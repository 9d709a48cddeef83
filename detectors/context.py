"""What a detector sees of one application: the :class:`ScoringContext`.

The pipeline builds one context per application, once, before any detector runs:
the validated :class:`~tianwang.application.Application` (raw, in memory only, never
logged), the HMAC keys of its personal data, derived figures (:mod:`detectors.facts`),
and, when a graph view is given, :class:`GraphLinks`: for each thing the application
shares with others (its applicant, phone, device, account, address, contacts, the
vehicle and its driver), how many other applications and identities share it, as the
graph stood at the application's own time. Detectors then read only the context, so
they make no graph queries of their own and can run in parallel under time budgets.

Graph reads per application: one ``neighbours`` call (two SQL statements on the
embedded store) for each of up to nine attribute nodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from detectors.facts import ApplicationFacts, application_facts
from graph_schema.schema import Label, RelType
from graph_schema.values import NodeRef, Subgraph
from tianwang.application import Application
from tianwang.frozen import quick_init
from tianwang.identifiers import is_mobile, mask_account, mask_address, mask_id_number, mask_phone
from tianwang.keys import PersonalKeys, personal_keys
from tianwang.privacy import PersonalDataKeyer

if TYPE_CHECKING:
    from graph_schema.view import GraphView

__all__ = [
    "LINK_KIND_NAMES",
    "SINGLE_LINK_KINDS",
    "ApplicantResolver",
    "DocumentLookup",
    "GraphLinks",
    "LabelledContext",
    "Link",
    "PersonalKeys",
    "ScoringContext",
    "WatchlistLookup",
    "build_context",
    "personal_keys",
]

#: Other applications read per attribute node: enough to count a ring, cheap for a hub.
NEIGHBOUR_LIMIT = 40


@quick_init
@dataclass(frozen=True, slots=True)
class Link:
    """One attribute of the application and the other applications that share it.

    ``applications`` counts other applications linked to the attribute (any way),
    ``identities`` the distinct other applicants among them, ``as_applicant_phone``
    and ``as_contact`` how many use a phone as their own or list it as a contact,
    ``recent`` those within the window, ``recent_dealers`` the distinct dealers of
    those and of the application itself. ``others`` are the ids of the other
    applications read (in the order read), ``identity_keys`` the id keys of their
    applicants (sorted), for detectors that follow the links further (rings, GNN).
    Counts stop at :data:`NEIGHBOUR_LIMIT`.
    """

    kind: str
    display: str
    applications: int = 0
    identities: int = 0
    recent: int = 0
    recent_dealers: int = 0
    as_applicant_phone: int = 0
    as_contact: int = 0
    as_vehicle_user: int = 0
    mobile: bool = True
    others: tuple[str, ...] = ()
    identity_keys: tuple[str, ...] = ()

    @property
    def sample(self) -> tuple[str, ...]:
        """Up to five of the other applications' ids, sorted, for evidence."""
        return tuple(sorted(self.others)[:5])


#: The kinds of link an application has at most one of, as :class:`GraphLinks` fields;
#: contact phones (``GraphLinks.contacts``, kind ``contact``) may be several.
SINGLE_LINK_KINDS: tuple[str, ...] = ("person", "phone", "device", "account", "address", "vehicle", "vehicle_user")

#: What each kind of :class:`Link` is called in a reason a person reads.
LINK_KIND_NAMES: dict[str, str] = {
    "person": "identity",
    "phone": "phone",
    "device": "device",
    "account": "bank account",
    "address": "address",
    "vehicle": "vehicle",
    "vehicle_user": "vehicle driver",
    "contact": "emergency contact",
}


#: (kind, ((count, its flat name), ...)) for :meth:`GraphLinks.counts`, named once
_COUNT_NAMES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = tuple(
    (kind, tuple((name, f"{kind}_{name}") for name in ("applications", "identities", "recent", "recent_dealers",
                                                      "as_applicant_phone", "as_contact", "as_vehicle_user")))
    for kind in SINGLE_LINK_KINDS)


@dataclass(frozen=True, slots=True)
class GraphLinks:
    """Links of one application by kind; ``contacts`` has one entry per contact phone."""

    person: Link | None = None
    phone: Link | None = None
    device: Link | None = None
    account: Link | None = None
    address: Link | None = None
    vehicle: Link | None = None
    vehicle_user: Link | None = None
    contacts: tuple[Link, ...] = ()
    window_days: float = 7.0

    def get(self, kind: str) -> Link | None:
        return getattr(self, kind, None) if kind != "contacts" else None

    def counts(self) -> dict[str, float]:
        """Flat numeric counts, named ``<kind>_<count>``, for rules and models."""
        out: dict[str, float] = {}
        for kind, names in _COUNT_NAMES:
            link = getattr(self, kind)
            for name, key in names:
                out[key] = float(getattr(link, name)) if link is not None else 0.0
        out["contact_max_applications"] = float(max((c.applications for c in self.contacts), default=0))
        out["contact_max_identities"] = float(max((c.identities for c in self.contacts), default=0))
        out["contact_as_applicant_phone"] = float(sum(c.as_applicant_phone for c in self.contacts))
        out["contact_recent"] = float(max((c.recent for c in self.contacts), default=0))
        # a mobile listed as contact by other applicants who never used it as their own phone:
        # an intermediary, not a family member (whose phone is their own) or an office landline
        out["contact_intermediary_identities"] = float(max(
            (c.identities for c in self.contacts if c.mobile and not c.as_applicant_phone), default=0))
        return out


class ApplicantResolver:
    """Whose application is this: application id to the applicant's id key, cached.

    Application nodes carry their applicant's key (``applicant_key``), and graph links
    read it from there; this resolver serves nodes stored before they carried it. The
    pipeline tells it about every application it writes (:meth:`remember`); an id it has
    not seen is read once from the store's redacted record. At most ``capacity`` ids are
    kept (the oldest are forgotten first).
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._ids: dict[str, str | None] = {}

    def remember(self, application_id: str, id_hash: str) -> None:
        if len(self._ids) >= self.capacity:
            self._ids.pop(next(iter(self._ids)))
        self._ids[application_id] = id_hash

    def resolve(self, application_id: str, view: GraphView) -> str | None:
        try:
            return self._ids[application_id]
        except KeyError:
            record = view.get_application(application_id)
            id_hash = record.record.get("applicant", {}).get("id_hash") if record is not None else None
            if id_hash is not None:
                self.remember(application_id, id_hash)
            return id_hash


class WatchlistLookup(Protocol):
    """What the watchlist detector asks: which of these keys are listed."""

    def lookup(self, kind: str, keys: Sequence[str]) -> dict[str, str | None]:
        """Listed keys among ``keys`` of ``kind``, each with the reason it was listed."""
        ...

    def lookup_many(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Listed ``(kind, key)`` pairs among ``wanted``, each with the reason it was listed."""
        ...


class DocumentLookup(Protocol):
    """What the forged-documents detector asks: who else submitted a document file."""

    def other_identities(self, sha256: str, id_hash: str, as_of: float) -> int:
        """Distinct identities other than ``id_hash`` that submitted ``sha256`` before ``as_of``."""
        ...


@dataclass(slots=True)
class ScoringContext:
    """Everything a detector may read about one application.

    ``application`` holds raw personal data: detectors read it but never log it or put
    it in evidence unmasked.
    """

    application: Application
    keys: PersonalKeys
    facts: ApplicationFacts
    links: GraphLinks | None = None
    view: GraphView | None = None
    watchlist: WatchlistLookup | None = None
    documents: DocumentLookup | None = None
    attachments: Mapping[str, bytes] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    #: The application's time in seconds since the epoch: what every read is as of (detectors ask often).
    as_of: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.as_of = self.application.submitted_ts

    @property
    def application_id(self) -> str:
        return self.application.application_id


@dataclass(frozen=True, slots=True)
class LabelledContext:
    """A context with its label, for :meth:`detectors.base.Detector.fit`."""

    context: ScoringContext
    fraud: bool
    typology: str | None = None


def build_context(
    application: Application,
    keyer: PersonalDataKeyer,
    *,
    keys: PersonalKeys | None = None,
    view: GraphView | None = None,
    window: timedelta = timedelta(days=7),
    watchlist: WatchlistLookup | None = None,
    documents: DocumentLookup | None = None,
    attachments: Mapping[str, bytes] | None = None,
    applicants: ApplicantResolver | None = None,
) -> ScoringContext:
    """Build the context of ``application``; with ``view``, read its graph links as of the view.

    ``keys`` are the application's :func:`~tianwang.keys.personal_keys` under ``keyer`` when
    the caller computed them already (the pipeline keys an application once).
    """
    if keys is None:
        keys = personal_keys(application, keyer)
    links = None
    if view is not None:
        links = graph_links(application, keys, view, window, applicants or ApplicantResolver(capacity=10_000))
    return ScoringContext(
        application=application,
        keys=keys,
        facts=application_facts(application),
        links=links,
        view=view,
        watchlist=watchlist,
        documents=documents,
        attachments=dict(attachments or {}),
    )


def graph_links(
    application: Application, keys: PersonalKeys, view: GraphView, window: timedelta, applicants: ApplicantResolver
) -> GraphLinks:
    """Read the links of ``application`` from ``view`` (see :class:`GraphLinks`): the surroundings
    of every linked entity in one read."""
    own = application.application_id
    start = application.submitted_ts - window.total_seconds()
    a = application.applicant
    vin = application.vehicle.vin
    user = application.vehicle.user_id_number
    # (kind, the entity, how a reason shows it); a device id is not personal data (the graph keys
    # devices by it); an account is shown masked
    wanted: dict[str, tuple[NodeRef, str] | None] = {
        "person": (NodeRef(Label.PERSON, keys.id_hash), mask_id_number(a.id_number)),
        "phone": (NodeRef(Label.PHONE, keys.phone_hash), mask_phone(a.phone)),
        "device": (NodeRef(Label.DEVICE, keys.device_id), keys.device_id) if keys.device_id else None,
        "account": (NodeRef(Label.BANK_ACCOUNT, keys.account_hash), mask_account(a.bank_account))
        if keys.account_hash and a.bank_account else None,
        "address": (NodeRef(Label.ADDRESS, keys.address_hash), mask_address(a.address)),
        "vehicle": (NodeRef(Label.VEHICLE, vin), vin[:11] + "******") if vin else None,
        "vehicle_user": (NodeRef(Label.PERSON, keys.vehicle_user_hash), mask_id_number(user))
        if keys.vehicle_user_hash and user and keys.vehicle_user_hash != keys.id_hash else None,
    }
    singles = [(kind, entry) for kind, entry in wanted.items() if entry is not None]
    contacts = list(zip(keys.distinct_contact_hashes, _unique_contacts(application), strict=True))
    refs = [ref for _, (ref, _) in singles] + [NodeRef(Label.PHONE, h) for h, _ in contacts]
    around = iter(view.surroundings(refs, limit=NEIGHBOUR_LIMIT))

    def link(kind: str, ref: NodeRef, display: str) -> Link:
        return _link(next(around), ref, kind, display, own, keys.id_hash, start, application.dealer_id, view,
                     applicants)

    found = {kind: link(kind, ref, display) for kind, (ref, display) in singles}
    phone = found["phone"]
    return GraphLinks(
        person=found["person"],
        phone=replace(phone, mobile=is_mobile(a.phone)),
        device=found.get("device"),
        account=found.get("account"),
        address=found["address"],
        vehicle=found.get("vehicle"),
        vehicle_user=found.get("vehicle_user"),
        contacts=tuple(replace(link("contact", NodeRef(Label.PHONE, h), mask_phone(c.phone)), mobile=is_mobile(c.phone))
                       for h, c in contacts),
        window_days=window.total_seconds() / 86400,
    )


def _unique_contacts(application: Application) -> list[Any]:
    seen: set[str] = set()
    out = []
    for contact in application.applicant.emergency_contacts:
        if contact.phone not in seen:
            seen.add(contact.phone)
            out.append(contact)
    return out


def _link(
    sub: Subgraph,
    ref: NodeRef,
    kind: str,
    display: str,
    own: str,
    own_id: str,
    start: float,
    dealer: str,
    view: GraphView,
    applicants: ApplicantResolver,
) -> Link:
    rel_of: dict[str, RelType] = {}
    for rel in sub.relationships:
        other = rel.source if rel.source != ref else rel.target
        # a phone can be both applicant phone and contact of one application: keep the stronger
        if other.label is Label.APPLICATION and other.key != own and rel_of.get(other.key) is not RelType.USES_PHONE:
            rel_of[other.key] = rel.type
    apps = [n for n in sub.nodes if n.label is Label.APPLICATION and n.key != own]
    identities: set[str] = set()
    recent = 0
    dealers: set[str] = {dealer}
    for node in apps:
        props = node.properties
        # the mapping writes the applicant key on the node; for nodes stored before it did, the resolver reads it
        id_hash = props.get("applicant_key") or applicants.resolve(node.key, view)
        if id_hash and id_hash != own_id:
            identities.add(id_hash)
        if props.get("submitted_at", 0.0) > start:
            recent += 1
            dealers.add(str(props.get("dealer_id")))
    types = list(rel_of.values())
    return Link(
        kind=kind,
        display=display,
        applications=len(apps),
        identities=len(identities),
        recent=recent,
        recent_dealers=len(dealers),
        as_applicant_phone=types.count(RelType.USES_PHONE),
        as_contact=types.count(RelType.LISTS_CONTACT),
        as_vehicle_user=types.count(RelType.VEHICLE_USER),
        others=tuple(n.key for n in apps),
        identity_keys=tuple(sorted(identities)),
    )
