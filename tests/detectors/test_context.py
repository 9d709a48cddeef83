"""The scoring context reads who applied from the graph, without parsing neighbours' records."""

from __future__ import annotations

from pathlib import Path

from detectors.context import ApplicantResolver, build_context
from graph_schema.embedded import EmbeddedGraphStore
from tests.builders import application
from tianwang.application import parse_application
from tianwang.keys import personal_keys
from tianwang.privacy import PersonalDataKeyer


class _NoRecordReads(ApplicantResolver):
    def resolve(self, application_id: str, view: object) -> str | None:  # type: ignore[override]
        raise AssertionError(f"read the record of {application_id}")


def test_links_count_identities_from_the_application_nodes(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    first = parse_application(application(1))
    same_phone = application(2)
    same_phone["applicant"]["phone"] = first.applicant.phone
    second = parse_application(same_phone)
    with EmbeddedGraphStore(tmp_path / "g.db", keyer) as store:
        store.upsert_application(first)
        store.upsert_application(second)
        keys = personal_keys(second, keyer)
        context = build_context(second, keyer, keys=keys, view=store.as_of(second.submitted_ts),
                                applicants=_NoRecordReads())
    assert context.keys is keys
    assert context.links is not None and context.links.phone is not None
    assert context.links.phone.identities == 1
    assert context.links.phone.identity_keys == (personal_keys(first, keyer).id_hash,)
