"""Hostile values (issue 18): what validation accepts can be keyed, dates are plausible, names visible."""

from __future__ import annotations

import json
from datetime import date

import pytest

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.mapping import application_row
from tianwang.application import parse_application
from tianwang.errors import ApplicationValidationError
from tianwang.identifiers import mask_address, mask_name
from tianwang.keys import employer_key
from tianwang.privacy import PersonalDataKeyer

from ..builders import application, resident_id
from ..scoring.helpers import config

# Blank, punctuation-only and invisible texts: none of them names a person, a company or a place.
BLANK_TEXTS = [
    "###",
    "，，",
    "、。；",
    "\u3000\u3000",  # ideographic spaces
    "\u200b\u200c\u200d",  # zero-width space, non-joiner, joiner
    "\u2060\ufeff",  # word joiner, zero-width no-break space
    "\u202e\u200f",  # bidirectional override and mark
    "\x1c\x1d\x1e",  # separators that Python's str.split() drops and str.strip() in pydantic keeps
    "\u3164\u115f",  # Hangul fillers: letters that render blank
    "\x00\x07",
]

NAME_FIELDS = [
    "applicant.name",
    "applicant.employer.name",
    "applicant.emergency_contacts[0].name",
]


def _set(raw: dict, field: str, value: str) -> dict:
    if field == "applicant.emergency_contacts[0].name":
        raw["applicant"]["emergency_contacts"][0]["name"] = value
    elif field == "applicant.employer.name":
        raw["applicant"]["employer"]["name"] = value
        raw["applicant"]["employer"].pop("credit_code")  # keyed by its name then
    else:
        part, key = field.split(".")
        raw[part][key] = value
    return raw


@pytest.mark.parametrize("value", BLANK_TEXTS)
def test_an_address_the_graph_cannot_key_is_refused_by_validation(value: str) -> None:
    # issue 18 item 1: "###" passed validation and then failed in the mapping ("is empty")
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(application(1, **{"applicant.address": value}))
    assert info.value.fields == ["applicant.address"]
    assert value.strip() not in str(info.value) or not value.strip()


@pytest.mark.parametrize("field", NAME_FIELDS)
@pytest.mark.parametrize("value", BLANK_TEXTS)
def test_a_name_made_only_of_invisible_characters_is_refused(field: str, value: str) -> None:
    # issue 18 items 1 and 11: names of zero-width characters were accepted (and an employer
    # name of str.split() separators keyed every such employer as "name:")
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(_set(application(1), field, value))
    assert info.value.fields == [field]
    assert "letter or digit" in str(info.value) or "at least 1 character" in str(info.value)  # when stripped


@pytest.mark.parametrize(
    "value",
    ["#1", "北京市#朝阳区", "\u200b上海市黄浦区1号\u200b", "x", "王\u200b五", "Ⅻ", "٣"],
)
def test_what_validation_accepts_the_mapping_can_key(value: str, keyer: PersonalDataKeyer) -> None:
    for field in ("applicant.address", *NAME_FIELDS):
        app = parse_application(_set(application(1), field, value))
        row = application_row(app, keyer)  # raised ValueError for "###" before
        assert employer_key(app.applicant.employer.name, None) != "name:"
        assert row.application_id == "APP-000001"


@pytest.mark.parametrize("value", ["99999999999", "1700000000", "1772326800000", "-1", "1.7e9", " 1700000000"])
@pytest.mark.parametrize("field", ["submitted_at", "documents[0].created_at", "documents[0].modified_at"])
def test_an_epoch_in_a_string_is_refused(field: str, value: str) -> None:
    # issue 18 item 7: "99999999999" became 1973-03-03 (read as milliseconds)
    raw = application(1)
    if field == "submitted_at":
        raw["submitted_at"] = value
    else:
        raw["documents"] = [{"type": "bank_statement", field.split(".")[1]: value}]
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(raw)
    assert info.value.fields == [field]
    assert "epoch" in str(info.value)
    assert value.strip() not in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "1989-12-31T23:59:59+08:00", "2101-01-01T00:00:00Z"],
)
@pytest.mark.parametrize("field", ["submitted_at", "documents[0].created_at"])
def test_a_date_in_an_implausible_year_is_refused(field: str, value: str) -> None:
    # issue 18 item 7: year 1 gave an age of -1994 and a hard reject
    raw = application(1)
    if field == "submitted_at":
        raw["submitted_at"] = value
    else:
        raw["documents"] = [{"type": "bank_statement", "created_at": value}]
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(raw)
    assert info.value.fields == [field]
    assert "1990 to 2100" in str(info.value)
    assert value[:10] not in str(info.value)


@pytest.mark.parametrize("value", ["1990-01-01T00:00:00+08:00", "2100-12-31T23:59:59+08:00", "2026-03-01T09:00:00Z"])
def test_the_ends_of_the_plausible_range_are_accepted(value: str) -> None:
    app = parse_application(application(1, submitted_at=value, documents=[{"created_at": value}]))
    assert app.submitted_at.year in (1990, 2026, 2100)


def test_a_birth_date_after_submission_is_refused_naming_the_id() -> None:
    born = resident_id(birth=date(2001, 5, 1))
    raw = application(1, submitted_at="2001-04-30T23:00:00+08:00",
                      **{"applicant.id_number": born, "vehicle.user_id_number": born})
    with pytest.raises(ApplicationValidationError) as info:
        parse_application(raw)
    assert info.value.fields == ["applicant.id_number", "vehicle.user_id_number"]
    assert "birth date is after submitted_at" in str(info.value)
    assert born not in str(info.value)
    # born on the day of submission: an age of 0, not negative
    assert parse_application(application(1, submitted_at="2001-05-01T10:00:00+08:00",
                                         **{"applicant.id_number": born})).birth_date == date(2001, 5, 1)


@pytest.mark.parametrize("name", ["\x00王五六七八九十", "\x1b[31m王五", "王\u202e五", "\u200b王五"])
def test_control_and_format_characters_never_survive_into_masks(name: str, keyer: PersonalDataKeyer) -> None:
    # issue 18 item 11: mask_name("\x00...") gave '\x00********'
    for masked in (mask_name(name), mask_address(name + "北京市朝阳区")):
        assert masked.isprintable(), masked
        assert masked.startswith(("王", "[")), masked
    app = parse_application(application(1, **{"applicant.name": name, "applicant.address": name + "北京市朝阳区1号"}))
    record = json.loads(application_row(app, keyer).record_json)
    for value in (record["applicant"]["name"], record["applicant"]["address"]):
        assert value.isprintable(), value
    assert mask_name("\x00\x00") == ""


def test_scoring_refuses_an_unkeyable_address_as_invalid_and_writes_nothing(keyer, tmp_path, pipelines) -> None:
    # issue 18 item 1: ScoringPipeline.score raised a bare ValueError from the mapping
    store = EmbeddedGraphStore(tmp_path / "graph.db", keyer)
    pipeline = pipelines(store, config({"multi_lending": {}}))
    try:
        before = store.counts()
        for n, address in enumerate(("###", "，，", "\u200b"), start=1):
            with pytest.raises(ApplicationValidationError, match=r"applicant\.address"):
                pipeline.score(application(n, **{"applicant.address": address}))
        assert store.counts() == before
        assert pipeline.score(application(9)).band == "approve"
    finally:
        store.close()
