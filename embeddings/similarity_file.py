"""The file of one or more similarity indexes: a JSON header, then each index's FAISS bytes.

:func:`save_indexes` writes named :class:`~embeddings.similarity.SimilarityIndex`
objects and a JSON-able ``extra`` (the known-fraud detector keeps its embedder's state
and its calibration there) to one file, atomically; :func:`load_indexes` reads them
back and :func:`read_header` reads only the metadata. A file of another layout
version (:data:`~embeddings.similarity.FORMAT_VERSION`) is refused.

Examples
--------
>>> import tempfile, numpy as np
>>> from embeddings.similarity import SimilarityIndex
>>> index = SimilarityIndex.build(np.eye(3), ["A", "B", "C"], embedder="demo")
>>> path = Path(tempfile.mkdtemp()) / "demo.twsim"
>>> save_indexes(path, {"fraud": index}, {"note": "kept"})
>>> indexes, extra = load_indexes(path)
>>> len(indexes["fraud"]), extra, read_header(path)["indexes"][0]["metadata"]["embedder"]
(3, {'note': 'kept'}, 'demo')
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embeddings.similarity import FORMAT_VERSION, SimilarityIndex, SimilarityIndexError

__all__ = ["load_indexes", "read_header", "save_indexes"]

_MAGIC = b"TWSIMIX\n"


def save_indexes(path: str | Path, indexes: Mapping[str, SimilarityIndex],
                 extra: Mapping[str, Any] | None = None) -> None:
    """Write ``indexes`` (by name) and ``extra`` (JSON-able) to one file, atomically.

    Layout: a magic line, the length of a JSON header (8 bytes, little-endian), the
    header (format version, each index's metadata and id table, ``extra``), then each
    index's serialised FAISS bytes in the order the header lists them.
    """
    path = Path(path)
    blobs, sections = [], []
    for name, index in indexes.items():
        state, blob = index.serialise()
        sections.append({"name": name, "bytes": len(blob), **state})
        blobs.append(blob)
    header = json.dumps({"format_version": FORMAT_VERSION, "indexes": sections, "extra": dict(extra or {})},
                        separators=(",", ":")).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as out:
        out.write(_MAGIC + struct.pack("<Q", len(header)) + header)
        for blob in blobs:
            out.write(blob)
    os.replace(tmp, path)


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of an index file (metadata only; the vectors are not read)."""
    with Path(path).open("rb") as f:
        return _read_header(f, Path(path))


def _read_header(f: Any, path: Path) -> dict[str, Any]:
    if f.read(len(_MAGIC)) != _MAGIC:
        raise SimilarityIndexError(f"{path} is not a Tianwang similarity index file")
    (length,) = struct.unpack("<Q", f.read(8))
    header: dict[str, Any] = json.loads(f.read(length))
    if header.get("format_version") != FORMAT_VERSION:
        raise SimilarityIndexError(
            f"{path} has format version {header.get('format_version')!r}; this version reads {FORMAT_VERSION}")
    return header


def load_indexes(path: str | Path) -> tuple[dict[str, SimilarityIndex], dict[str, Any]]:
    """The indexes (by name) and ``extra`` of a file written by :func:`save_indexes`."""
    path = Path(path)
    if not path.is_file():
        raise SimilarityIndexError(f"similarity index file {path} does not exist")
    with path.open("rb") as f:
        header = _read_header(f, path)
        indexes = {s["name"]: SimilarityIndex.deserialise(s, f.read(s["bytes"])) for s in header["indexes"]}
    return indexes, header["extra"]
