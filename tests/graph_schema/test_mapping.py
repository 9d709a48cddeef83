"""The mapping from one application to the records both stores write (graph_schema/mapping.py)."""

from __future__ import annotations

import orjson

from graph_schema.mapping import application_graph, application_row, graph_from_row, row_from_graph
from graph_schema.schema import Label, RelType
from tests.builders import application, mobile
from tianwang.application import parse_application
from tianwang.keys import employer_key, personal_keys
from tianwang.privacy import PersonalDataKeyer

KEYER = PersonalDataKeyer(b"m" * 32)


def _app(n: int = 1, **overrides: object):  # type: ignore[no-untyped-def]
    return parse_application(application(n, **overrides))


def test_no_raw_personal_value_in_any_record() -> None:
    raw = application(7)
    row = application_row(parse_application(raw), KEYER)
    text = orjson.dumps(list(row)).decode()
    a = raw["applicant"]
    for value in (a["id_number"], a["phone"], a["bank_account"], a["name"], a["address"],
                  a["emergency_contacts"][0]["phone"], a["emergency_contacts"][0]["name"]):
        assert value not in text


def test_keys_given_or_computed_give_the_same_row() -> None:
    app = _app(3)
    assert application_row(app, KEYER, personal_keys(app, KEYER)) == application_row(app, KEYER)


def test_the_application_node_carries_its_applicant_key() -> None:
    app = _app(4)
    keys = personal_keys(app, KEYER)
    graph = application_graph(app, KEYER)
    assert graph.application["applicant_key"] == keys.id_hash
    people = [n for n in graph.nodes if n.label is Label.PERSON]
    assert [p.key for p in people] == [keys.id_hash]
    submitted = [r for r in graph.relationships if r.type is RelType.SUBMITTED]
    assert [(r.source_key, r.target_key) for r in submitted] == [(keys.id_hash, app.application_id)]


def test_a_repeated_phone_is_one_node_and_one_link() -> None:
    data = application(5)
    own = data["applicant"]["phone"]
    data["applicant"]["emergency_contacts"] = [
        {"name": "李四", "phone": mobile(42)}, {"name": "李五", "phone": mobile(42)}, {"name": "王五", "phone": own},
    ]
    graph = application_graph(parse_application(data), KEYER)
    phones = [n.key for n in graph.nodes if n.label is Label.PHONE]
    assert len(phones) == len(set(phones)) == 2
    contacts = [r.target_key for r in graph.relationships if r.type is RelType.LISTS_CONTACT]
    assert len(contacts) == len(set(contacts)) == 2
    record = orjson.loads(graph.record_json)
    assert [c["phone_hash"] for c in record["applicant"]["emergency_contacts"]] == list(
        personal_keys(parse_application(data), KEYER).contact_hashes)


def test_the_applicant_as_driver_is_not_a_second_person() -> None:
    data = application(6)
    data["vehicle"]["user_id_number"] = data["applicant"]["id_number"]
    graph = application_graph(parse_application(data), KEYER)
    assert sum(n.label is Label.PERSON for n in graph.nodes) == 1
    users = [r for r in graph.relationships if r.type is RelType.VEHICLE_USER]
    assert len(users) == 1 and users[0].target_key == personal_keys(parse_application(data), KEYER).id_hash


def test_employer_is_keyed_by_credit_code_else_by_normalised_name() -> None:
    with_code = _app(8)
    assert personal_keys(with_code, KEYER).employer_key == with_code.applicant.employer.credit_code
    data = application(9)
    data["applicant"]["employer"] = {"name": "acme  trading"}
    keys = personal_keys(parse_application(data), KEYER)
    assert keys.employer_key == employer_key("ACME TRADING", None) == "name:ACMETRADING"


def test_rows_and_graphs_convert_both_ways() -> None:
    row = application_row(_app(10), KEYER)
    assert row_from_graph(graph_from_row(row)) == row


def test_another_secret_gives_other_personal_keys() -> None:
    app = _app(11)
    personal = {Label.PERSON, Label.PHONE, Label.ADDRESS, Label.BANK_ACCOUNT}

    def keys_under(keyer: PersonalDataKeyer) -> set[str]:
        return {n.key for n in application_graph(app, keyer).nodes if n.label in personal}

    mine, other = keys_under(KEYER), keys_under(PersonalDataKeyer(b"n" * 32))
    assert len(mine) == 5 and not mine & other
