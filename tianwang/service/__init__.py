"""The service layer: what the HTTP API does, without HTTP.

:func:`open_service` is the composition root of a service process: it opens the
runtime (store, records, pipeline; :func:`tianwang.runtime.open_runtime`) and the
operational database (:class:`tianwang.opsdb.OpsDB`), and builds the accounts, the
vault (:mod:`tianwang.vault`, from ``TIANWANG_VAULT_KEYS``) and, with
``TIANWANG_KAFKA_BOOTSTRAP`` set, the event publisher (:mod:`tianwang.service.events`). The
modules beside it hold one use case each (scoring, cases, feedback, rings, analysts,
jobs, webhooks); ``api/`` only translates HTTP to calls of these and back.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from tianwang.opsdb import OpsDB
from tianwang.runtime import Runtime, open_runtime
from tianwang.service.accounts import Accounts
from tianwang.service.events import events_from_settings
from tianwang.service.replicas import ReplicaFeed
from tianwang.settings import Settings, load_settings
from tianwang.vault import Vault, vault_from_settings

__all__ = ["Service", "open_service"]


@dataclass
class Service:
    """What a service process holds: settings, runtime, operational database, accounts, vault."""

    settings: Settings
    runtime: Runtime
    ops: OpsDB
    accounts: Accounts
    #: seals raw personal values with each decision; ``None`` when ``TIANWANG_VAULT=false``
    vault: Vault | None = None
    #: long-lived helpers the use cases attach (webhook sender, job runner ...), closed in reverse
    extras: dict[str, Any] = field(default_factory=dict)
    _resources: ExitStack = field(default_factory=ExitStack, repr=False)

    def close(self) -> None:
        self._resources.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_service(settings: Settings | None = None, *, store: str | None = None, config: Path | None = None,
                 ops_url: str | None = None, runtime: Runtime | None = None) -> Service:
    """Open everything a service process needs.

    Parameters
    ----------
    settings : Settings, optional
        Default: the environment.
    store : {"embedded", "neo4j"}, optional
        Overrides the settings' choice of graph store.
    config : Path, optional
        The detector and strategy file (default: the shipped one).
    ops_url : str, optional
        The operational database's URL (default: ``TIANWANG_DATABASE_URL``, else
        ``operations.db`` beside the embedded store's file).
    runtime : Runtime, optional
        A runtime already open (tests); it is closed with the service.
    """
    settings = settings or load_settings()
    resources = ExitStack()
    try:
        if runtime is None:
            runtime = open_runtime(settings, store=store, config=config, decision_log=False)
        resources.callback(runtime.close)
        ops = OpsDB(ops_url or settings.operations_url)
        resources.callback(ops.close)
        accounts = Accounts(ops, settings.secret_bytes, token_ttl=settings.token_ttl)
        vault = vault_from_settings(settings)
        events = events_from_settings(settings)  # TIANWANG_KAFKA_BOOTSTRAP: publish what is accepted
        if events is not None:
            resources.callback(events.close)
        feed = None
        if events is not None and settings.kafka_follow:  # and follow what the other replicas accepted
            feed = ReplicaFeed(settings.kafka_bootstrap or "", events.origin, runtime.pipeline).start()
            resources.callback(feed.stop)
    except BaseException:
        resources.close()
        raise
    rings = getattr(runtime.pipeline.loaded.detectors.get("fraud_ring"), "rings", None)
    if rings is not None:  # the rings a batch job stored, in use from the first request (loaded in the background)
        rings.maybe_reload()
    service = Service(settings, runtime, ops, accounts, vault, _resources=resources)
    if events is not None:
        service.extras["events"] = events
    if feed is not None:
        service.extras["replica_feed"] = feed
    return service
