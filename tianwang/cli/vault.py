"""``tianwang vault status``, ``tianwang vault rotate`` and ``tianwang vault new-key``: the vault's keys.

The vault (:mod:`tianwang.vault`) seals raw personal values in the operational database
under the keys of ``TIANWANG_VAULT_KEYS`` (``key_id:base64key,...``, the first seals).
Rotating a key without downtime:

1. ``tianwang vault new-key 2027-01`` prints a new entry; put it first in
   ``TIANWANG_VAULT_KEYS``, the old key after it, and restart the service's processes
   (one by one: each seals under the new key and opens under both);
2. ``tianwang vault rotate`` re-seals every entry an older key sealed, in small
   transactions beside the running service (stopped, it resumes where it was);
3. ``tianwang vault status`` shows no entry under the old key: take it out of
   ``TIANWANG_VAULT_KEYS`` and restart again.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tianwang.cli.common import DbOption, console, fail_cleanly, out, progress, settings_for
from tianwang.errors import ConfigurationError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    vault_app = typer.Typer(name="vault", no_args_is_help=True,
                            help="The vault of raw personal values: its keys, their rotation.")

    @vault_app.command("status")
    def status(db: DbOption = None) -> None:
        """Entries per key id, and whether each key is the active one, an older one or missing from
        TIANWANG_VAULT_KEYS (exit 1 when entries are under a missing key)."""
        from tianwang.opsdb import OpsDB
        from tianwang.service.vault import key_counts

        with fail_cleanly():
            settings = settings_for(db)
            keys = [kid for kid, _ in settings.vault_key_list]
            ops = OpsDB(settings.operations_url)
            try:
                counts = key_counts(ops)
            finally:
                ops.close()
        missing = 0
        for kid in dict.fromkeys([*keys, *counts]):
            n = counts.get(kid, 0)
            if not keys:
                state = "vault off (TIANWANG_VAULT=false)"
            elif kid == keys[0]:
                state = "active"
            elif kid in keys:
                state = "older: 'tianwang vault rotate' re-seals these" if n else "older: no entry left, may go"
            else:
                state = "MISSING from TIANWANG_VAULT_KEYS: these do not open"
                missing += n
            out.print(f"{kid:<32} {n:>12,}  {state}", soft_wrap=True, highlight=False)
        out.print(f"vault: {sum(counts.values()):,} entries", highlight=False)
        if missing:
            raise typer.Exit(1)

    @vault_app.command("rotate")
    def rotate(
        batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Entries re-sealed per transaction.")] = 500,
        pause: Annotated[float, typer.Option(min=0, max=60, help="Seconds between transactions, to leave the "
                                                                "database to the service.")] = 0.0,
        db: DbOption = None,
    ) -> None:
        """Re-seal under the active key (the first of TIANWANG_VAULT_KEYS) every entry an older key sealed, in
        small transactions while the service runs; run again to resume. Exit 1 when some entries could not be
        re-sealed (under a key missing from TIANWANG_VAULT_KEYS, or damaged), naming how many."""
        from tianwang.opsdb import OpsDB
        from tianwang.service.audit import audit
        from tianwang.service.vault import rotate as rotate_entries
        from tianwang.vault import vault_from_settings

        with fail_cleanly():
            settings = settings_for(db)
            vault = vault_from_settings(settings)
            if vault is None:
                raise ConfigurationError("the vault is off (TIANWANG_VAULT=false): nothing to rotate")
            ops = OpsDB(settings.operations_url)
            try:
                with progress(f"re-sealing under {vault.active_key_id}") as bar:
                    task = bar.add_task("rotate", total=None)

                    def advance(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)
                        if not console.is_terminal and done:
                            console.print(f"rotate: {done:,}/{total:,} entries re-sealed under "
                                          f"{vault.active_key_id}", soft_wrap=True, highlight=False)

                    report = rotate_entries(ops, vault, batch_size=batch_size, pause=pause, progress=advance)
                with ops.session() as session:
                    audit(session, "cli", "vault.rotate", "vault", [vault.active_key_id], resealed=report.resealed,
                          missing_key=report.missing_key, damaged=len(report.damaged))
            finally:
                ops.close()
        for kid, n in sorted(report.missing_key.items()):
            console.print(f"[red]{n:,} entries are under key {kid!r}, missing from TIANWANG_VAULT_KEYS:[/red] "
                          "put it back after the active key and run again", soft_wrap=True)
        for application_id, field in report.damaged[:20]:
            console.print(f"[red]damaged:[/red] {field} of application {application_id}", soft_wrap=True)
        out.print(f"vault: {report.resealed:,} entries re-sealed under {report.active_key_id} in "
                  f"{report.batches:,} transactions; {sum(report.missing_key.values()):,} under missing keys, "
                  f"{len(report.damaged):,} damaged", soft_wrap=True, highlight=False)
        if not report.complete:
            raise typer.Exit(1)

    @vault_app.command("new-key")
    def new_key(key_id: Annotated[str, typer.Argument(help="The new key's id (e.g. 2027-01).")]) -> None:
        """Print a new key entry ('key_id:base64key', 32 random bytes) to put first in TIANWANG_VAULT_KEYS."""
        from tianwang.vault import new_key_entry

        try:
            entry = new_key_entry(key_id)
        except ValueError as exc:
            console.print(f"[red]error:[/red] KEY_ID: {exc}")
            raise typer.Exit(2) from None
        out.print(entry, soft_wrap=True, highlight=False)

    app.add_typer(vault_app)
