"""quick_init: the same class as the dataclass made, built with one descriptor call per field."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from detectors.base import Evidence, Reason
from detectors.context import Link
from embeddings.similarity import Neighbour
from graph_schema.values import Node, NodeRef, Relationship
from tianwang.frozen import quick_init


@quick_init
@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    tag: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Twin:  # what the dataclass alone makes of the same fields
    x: int
    y: int = 2
    tag: str | None = field(default=None, kw_only=True)


def test_it_builds_what_the_dataclass_builds() -> None:
    assert inspect.signature(Point) == inspect.signature(Twin)
    p = Point(1)
    assert (p.x, p.y, p.tag) == (1, 2, None) and repr(p) == "Point(x=1, y=2, tag=None)"
    assert Point(1, 3, tag="a") == Point(x=1, y=3, tag="a") and hash(Point(1)) == hash(Point(1))
    assert Point(1) != Point(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 5  # type: ignore[misc]
    assert dataclasses.replace(p, y=7) == Point(1, 7)
    assert pickle.loads(pickle.dumps(p)) == p and copy.deepcopy(p) == p
    with pytest.raises(TypeError):
        Point(1, 2, "positional tag")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", [NodeRef, Node, Relationship, Evidence, Reason, Link, Neighbour])
def test_the_classes_that_use_it_keep_their_dataclass_signature(cls: type) -> None:
    expected = [(f.name, f.default, f.kw_only) for f in dataclasses.fields(cls)]
    got = [(p.name, p.default if p.default is not p.empty else dataclasses.MISSING, p.kind is p.KEYWORD_ONLY)
           for p in inspect.signature(cls).parameters.values()]
    assert got == expected


def test_it_refuses_what_it_cannot_do_alike() -> None:
    with pytest.raises(TypeError, match="frozen=True, slots=True"):
        quick_init(dataclass(frozen=True)(type("Loose", (), {"__annotations__": {"x": int}})))
    with pytest.raises(TypeError, match="frozen=True, slots=True"):
        quick_init(dataclass(slots=True)(type("Thawed", (), {"__annotations__": {"x": int}})))

    @dataclass(frozen=True, slots=True)
    class Later:
        x: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="__post_init__"):
        quick_init(Later)

    @dataclass(frozen=True, slots=True)
    class Made:
        xs: list[int] = field(default_factory=list)

    with pytest.raises(TypeError, match="default_factory"):
        quick_init(Made)

    @dataclass(frozen=True, slots=True)
    class Hidden:
        x: int = field(default=0, init=False)

    with pytest.raises(TypeError, match="plain fields"):
        quick_init(Hidden)

    @dataclass(frozen=True, slots=True)
    class Passing:
        x: int
        y: dataclasses.InitVar[int] = 0

    with pytest.raises(TypeError, match="plain fields"):
        quick_init(Passing)
