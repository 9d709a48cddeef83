"""Field paths of the application schema, and nothing else, in messages.

Pydantic names a bad field by where it was found, so an unknown key of the input
becomes the "field" of its error: a key that is an id number, a phone, rich markup
(``[/bold]``), an escape sequence or a line break would be echoed into every message.
:func:`schema_path` keeps only what the schema itself names: field names of the
models, and list indexes where the schema has a list. Anything else is replaced by
``(unknown field)``, after the part of the path that is the schema's.
"""

from __future__ import annotations

import re
import types
from functools import lru_cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["UNKNOWN", "schema_path"]

UNKNOWN = "(unknown field)"
_WHOLE = "(application)"
# A name as the schema spells its fields, or an index of at most three digits (every list
# of the schema holds at most 120 items: a longer number never is an index).
_TOKEN = re.compile(r"(?:\[(\d{1,3})\]|(?:^|\.)([a-z_][a-z0-9_]*))(?=[.[]|$)")


@lru_cache(maxsize=1024)
def schema_path(path: str, schema: type[BaseModel]) -> str:
    """``path`` when it names a field of ``schema``, else its schema part and ``(unknown field)``.

    Past a field that holds a plain value (where pydantic may add the name of a type it
    tried), the path ends at that field.
    """
    if path == _WHOLE:
        return path
    at: Any = schema
    known = ""
    position = 0
    while position < len(path):
        is_model = isinstance(at, type) and issubclass(at, BaseModel)
        if known and not is_model and not isinstance(at, tuple):
            return known  # past a plain value: the name of a type pydantic tried, not a field
        match = _TOKEN.match(path, position)
        if match is None:
            break
        index, name = match.groups()
        if name is not None and is_model and name in at.model_fields:
            at = _unwrap(at.model_fields[name].annotation)
            known += f".{name}" if known else name
        elif index is not None and isinstance(at, tuple):
            at = at[1]
            known += f"[{index}]"
        else:
            break
        position = match.end()
    else:
        return known or _WHOLE
    return f"{known}.{UNKNOWN}" if known else UNKNOWN


def _unwrap(annotation: Any) -> Any:
    """A model class, ``("list", item)`` for a list, or the plain type of a value."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kept = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(kept[0]) if len(kept) == 1 else annotation
    if origin is list:
        return ("list", _unwrap(get_args(annotation)[0]))
    return annotation
