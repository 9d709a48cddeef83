"""Property-based tests (issue 19, hostile input): any change to a valid application, to any depth and of
any type, is either accepted or refused by name without its value; and an NDJSON file of arbitrary lines
ingests to the end, every line accounted for, the valid ones stored."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_schema.embedded import EmbeddedGraphStore
from tests.builders import application
from tianwang.application import parse_application
from tianwang.errors import ApplicationValidationError
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer

#: values of every JSON kind, nested a little, with the strings an attacker likes
_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40), st.sampled_from(["", " ", "\u0000", "\u202e", "１３８００１３８０００", "9" * 400,
                                           "110105194912310021", "13800138000", "<script>", "' OR 1=1 --"]),
)
_VALUES = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


BASE = application(1)
PATHS = _paths(BASE)


def _mutated(path: tuple[Any, ...], value: Any, drop: bool) -> dict[str, Any]:
    app = copy.deepcopy(BASE)
    node: Any = app
    for step in path[:-1]:
        node = node[step]
    if drop and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return app


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), _VALUES, st.booleans())
def test_a_changed_application_is_accepted_or_refused_by_field_without_its_value(path, value, drop) -> None:
    raw = orjson.dumps(_mutated(path, value, drop), option=orjson.OPT_NON_STR_KEYS) if _json_safe(value) else None
    if raw is None:
        return
    try:
        parse_application(raw)
    except ApplicationValidationError as exc:
        assert exc.errors and all(e.field for e in exc.errors)
        message = str(exc)
        for secret in ("110105194912310021", "13800138000", "<script>", "9" * 400):
            if secret in orjson.dumps(value).decode():
                assert secret not in message


def _json_safe(value: Any) -> bool:
    try:
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return False  # an integer past 64 bits: not JSON orjson writes, and not what the parser gets
    return True


_LINES = st.lists(st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(str.encode),
    st.builds(lambda p, v, d: orjson.dumps(_mutated(p, v, d), option=orjson.OPT_NON_STR_KEYS)
              if _json_safe(v) else b"{}", st.sampled_from(PATHS), _VALUES, st.booleans()),
    st.integers(min_value=2, max_value=400).map(lambda n: orjson.dumps(application(n))),
), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES)
def test_an_ndjson_file_of_anything_ingests_to_the_end_with_every_line_counted(lines: list[bytes]) -> None:
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.ndjson"
        path.write_bytes(b"\n".join(lines) + b"\n")
        store = EmbeddedGraphStore(Path(tmp) / "graph.db", PersonalDataKeyer(b"k" * 32))
        try:
            report = ingest_file(path, store, workers=0)
            counted = [line for line in lines if line.strip()]
            assert report.created + report.unchanged + report.rejected == len(counted)
            assert store.counts().nodes.get("Application", 0) == report.created
            for error in report.errors:
                assert error.line >= 1 and "110105194912310021" not in str(error)
        finally:
            store.close()
