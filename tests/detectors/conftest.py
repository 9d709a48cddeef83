"""Shared fixtures of the detector tests: contexts of builder applications and of generated data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from detectors.context import LabelledContext, ScoringContext, build_context
from tianwang.application import parse_application
from tianwang.privacy import PersonalDataKeyer

from ..builders import application

TUNING_FREE_SEED = 20240611  # not the seed used to tune the defaults, nor the reporting seed


@pytest.fixture
def context_of(keyer: PersonalDataKeyer) -> Callable[..., ScoringContext]:
    """``context_of(n, **overrides)``: the context (no graph) of a builder application."""

    def build(n: int = 1, **overrides: Any) -> ScoringContext:
        return build_context(parse_application(application(n, **overrides)), keyer)

    return build


@pytest.fixture(scope="session")
def generated_contexts(tmp_path_factory: pytest.TempPathFactory) -> list[LabelledContext]:
    """Contexts (without graph links) of 6,000 generated applications with their labels."""
    from fixtures.generator import generate

    folder: Path = tmp_path_factory.mktemp("generated")
    generate(6000, TUNING_FREE_SEED, folder)
    keyer = PersonalDataKeyer(b"tianwang-test-secret-0123456789abcdef")
    labels = {}
    for raw in (folder / "labels.ndjson").read_bytes().splitlines():
        row = orjson.loads(raw)
        labels[row["application_id"]] = (row["label"] == "fraud", row["typology"])
    out = []
    for raw in (folder / "applications.ndjson").read_bytes().splitlines():
        app = parse_application(raw)
        fraud, typology = labels[app.application_id]
        out.append(LabelledContext(build_context(app, keyer), fraud, typology))
    return out

