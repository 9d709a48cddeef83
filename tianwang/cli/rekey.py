"""``tianwang rekey``: move the embedded store to a new personal-data secret, offline, into a new folder.

The new secret is read from an environment variable (``--new-secret-env``, default
``TIANWANG_NEW_SECRET``), never from the command line. The raw values come from the
vault (``TIANWANG_VAULT_KEYS``, the operational database of the settings) and from
``--source`` files of the original applications for those without vault entries. The
old store is only read; stop the service and every ingest first (rekey holds the old
store's write lock while it copies). See ``docs/operations.md`` for the swap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tianwang.cli.common import DbOption, console, fail_cleanly, out, settings_for
from tianwang.errors import ConfigurationError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("rekey")
    def rekey(
        to: Annotated[Path, typer.Option("--to", help="A new or empty folder for the rekeyed graph.db and "
                                                      "scoring.db.")],
        source: Annotated[list[Path] | None, typer.Option(
            "--source", exists=True, dir_okay=False,
            help="NDJSON of the original applications, for those without vault entries (repeatable).")] = None,
        new_secret_env: Annotated[str, typer.Option(
            help="The environment variable holding the new secret (32+ bytes).")] = "TIANWANG_NEW_SECRET",
        batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Applications per batch.")] = 2000,
        drop_unmapped_watchlist: Annotated[bool, typer.Option(
            help="Leave out watchlist entries whose value no application holds (else the rekey is refused).")]
        = False,
        db: DbOption = None,
    ) -> None:
        """Rewrite the embedded store and its scoring records under a new TIANWANG_SECRET into a new folder
        (the old one is only read): every personal key, record hash and the fingerprint. Refused, with counts
        and nothing written, when some applications have neither vault entries nor a --source line."""
        from tianwang.opsdb import OpsDB
        from tianwang.privacy import PersonalDataKeyer
        from tianwang.service.audit import audit
        from tianwang.service.rekey import rekey_embedded
        from tianwang.vault import vault_from_settings

        with fail_cleanly():
            settings = settings_for(db)
            if settings.store != "embedded":
                raise ConfigurationError("tianwang rekey moves the embedded store (TIANWANG_STORE=embedded); for "
                                         "Neo4j see docs/operations.md")
            secret = os.environ.get(new_secret_env, "").encode()
            if len(secret) < 32:
                raise ConfigurationError(f"{new_secret_env} must hold the new secret, at least 32 bytes")
            old, new = PersonalDataKeyer(settings.secret_bytes), PersonalDataKeyer(secret)
            vault = vault_from_settings(settings)
            ops = OpsDB(settings.operations_url) if vault is not None else None
            done = {"vault": 0, "source": 0}

            def advance(stage: str, n: int) -> None:
                done[stage] += n
                console.print(f"rekey: {done['vault']:,} applications read, {done['source']:,} source lines "
                              "matched", soft_wrap=True, highlight=False)

            try:
                report = rekey_embedded(settings.db_path, to, old, new, ops=ops, vault=vault, sources=source or (),
                                        batch_size=batch_size, drop_unmapped_watchlist=drop_unmapped_watchlist,
                                        progress=advance)
                if ops is not None:
                    with ops.session() as session:
                        audit(session, "cli", "store.rekey", "store", [new.fingerprint()],
                              previous_fingerprint=old.fingerprint(), applications=report.applications,
                              from_vault=report.from_vault, from_source=report.from_source)
            finally:
                if ops is not None:
                    ops.close()
        counts = report.counts
        out.print(f"rekeyed {report.applications:,} applications ({report.from_vault:,} from the vault, "
                  f"{report.from_source:,} from --source) into {to} in {report.seconds:.1f} s: "
                  f"{counts['nodes']:,} nodes, {counts['relationships']:,} relationships; watchlist "
                  f"{report.watchlist:,} entries ({report.watchlist_unmapped:,} left out), document index "
                  f"{report.documents:,} ({report.documents_unmapped:,} left out), decision log {report.decisions:,}; "
                  f"fingerprint {new.fingerprint()}", soft_wrap=True, highlight=False)
        out.print(f"next: keep {settings.db_path.parent} as a backup, move {to}/graph.db and {to}/scoring.db over "
                  f"its graph.db and scoring.db, set TIANWANG_SECRET to the new secret, start the service",
                  soft_wrap=True, highlight=False)
