"""Tianwang (天网): graph-based anti-fraud for auto-loan applications.

The public API of the core: the application schema, settings, errors, personal-data
keys, and the graph stores. Importing this package does not import torch or faiss.
"""

from tianwang.application import Application, parse_application
from tianwang.errors import (
    ApplicationConflictError,
    ApplicationNotFoundError,
    ApplicationValidationError,
    ConfigurationError,
    FieldError,
    StoreError,
    StoreUnavailableError,
    TianwangError,
)
from tianwang.privacy import PersonalDataKeyer
from tianwang.settings import Settings, get_settings, load_settings

__version__ = "0.1.0"

_STORE_EXPORTS = ("GraphStore", "GraphView", "NodeRef", "open_store")


def __getattr__(name: str) -> object:
    # The stores live in graph_schema, which imports this package's schema modules;
    # importing them lazily keeps either import order free of cycles.
    if name in _STORE_EXPORTS:
        import graph_schema

        return getattr(graph_schema, name)
    raise AttributeError(f"module 'tianwang' has no attribute {name!r}")


__all__ = [
    "Application",
    "ApplicationConflictError",
    "ApplicationNotFoundError",
    "ApplicationValidationError",
    "ConfigurationError",
    "FieldError",
    "GraphStore",
    "GraphView",
    "NodeRef",
    "PersonalDataKeyer",
    "Settings",
    "StoreError",
    "StoreUnavailableError",
    "TianwangError",
    "__version__",
    "get_settings",
    "load_settings",
    "open_store",
    "parse_application",
]
