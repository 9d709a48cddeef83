"""``tianwang serve``, ``tianwang keys`` and ``tianwang users``: the HTTP service and who may call it.

``serve`` runs the FastAPI application (``api.app:create_app``) under uvicorn, named by
its import string so that this layer never imports ``api``. ``keys`` creates, lists and
revokes API keys for systems; ``users`` adds people's accounts. Both write to the
operational database (``TIANWANG_DATABASE_URL``, default ``operations.db`` beside the
embedded store's file).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from tianwang.cli.common import DbOption, StoreOption, console, fail_cleanly, out, settings_for

__all__ = ["register"]

RolesOption = Annotated[list[str], typer.Option("--role", help="A role: scorer, investigator, analyst, approver, "
                                                "admin (repeatable).")]


def _accounts(db: Path | None):
    from tianwang.opsdb import OpsDB
    from tianwang.service.accounts import Accounts

    settings = settings_for(db)
    return Accounts(OpsDB(settings.operations_url), settings.secret_bytes, token_ttl=settings.token_ttl)


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``keys`` and ``users`` to ``app``."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
        workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
        store: StoreOption = None,
        db: DbOption = None,
        log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
        config: Annotated[Path | None, typer.Option(
            "--config", exists=True, dir_okay=False, readable=True,
            help="Detector and strategy YAML (default: TIANWANG_SCORING_CONFIG, else the shipped one).")] = None,
        ssl_certfile: Annotated[Path | None, typer.Option(
            exists=True, dir_okay=False, readable=True, help="Serve HTTPS with this certificate (PEM).")] = None,
        ssl_keyfile: Annotated[Path | None, typer.Option(
            exists=True, dir_okay=False, readable=True, help="The certificate's private key (PEM).")] = None,
        forwarded_allow_ips: Annotated[str, typer.Option(
            help="Proxies whose X-Forwarded-Proto/-For are believed (comma-separated; a TLS proxy in front).")]
        = "127.0.0.1",
    ) -> None:
        """Start the HTTP service (OpenAPI at /docs; the embedded store unless TIANWANG_NEO4J_URI is set);
        HTTPS with --ssl-certfile and --ssl-keyfile, or behind a TLS proxy named in --forwarded-allow-ips."""
        import uvicorn

        if (ssl_certfile is None) != (ssl_keyfile is None):
            console.print("give both --ssl-certfile and --ssl-keyfile, or neither")
            raise typer.Exit(2)

        # the worker processes read their settings from the environment
        if db is not None:
            os.environ["TIANWANG_DB_PATH"] = str(db)
            os.environ.setdefault("TIANWANG_STORE", "embedded")
        if store is not None:
            os.environ["TIANWANG_STORE"] = store.value
        if config is not None:
            os.environ["TIANWANG_SCORING_CONFIG"] = str(config.resolve())
        with fail_cleanly():
            settings = settings_for(None)  # fail here, readably, on bad settings
        scheme = "https" if ssl_certfile is not None else "http"
        console.print(f"Tianwang listening on {scheme}://{host}:{port}, on the {settings.store} store (the workbench: "
                      f"{scheme}://{host}:{port}/, OpenAPI: {scheme}://{host}:{port}/docs)")
        from tianwang.logs import SERVICE_LOG_CONFIG

        # JSON lines, one access line per request from the service's own middleware (uvicorn's is off)
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, log_config=SERVICE_LOG_CONFIG, access_log=False, server_header=False,
                    ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                    ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
                    proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)

    keys_app = typer.Typer(name="keys", help="API keys for systems (the approval system, scripts).",
                           no_args_is_help=True)

    @keys_app.command("create")
    def keys_create(
        client: Annotated[str, typer.Option("--client", help="Who the key is for, e.g. approval-system.")],
        roles: RolesOption,
        db: DbOption = None,
    ) -> None:
        """Create an API key and print it once (only its hash is kept)."""
        with fail_cleanly():
            raw, record = _accounts(db).create_key(client, roles, created_by="cli")
        console.print(f"key {record.prefix} for {client} with roles {', '.join(record.roles)}; "
                      "it is shown only now, store it safely:")
        out.print(raw, highlight=False)

    @keys_app.command("list")
    def keys_list(db: DbOption = None) -> None:
        """List API keys by prefix (never the keys themselves)."""
        with fail_cleanly():
            keys = _accounts(db).list_keys()
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("prefix", "client", "roles", "created", "last used", "revoked"):
            table.add_column(column, no_wrap=True)
        for key in keys:
            table.add_row(key.prefix, key.client, ",".join(key.roles), f"{key.created_at:%Y-%m-%d}",
                          f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
                          f"{key.revoked_at:%Y-%m-%d}" if key.revoked_at else "-")
        out.print(table)

    @keys_app.command("revoke")
    def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix (see keys list).")],
                    db: DbOption = None) -> None:
        """Revoke an API key."""
        with fail_cleanly():
            _accounts(db).revoke_key(prefix)
        console.print(f"key {prefix} revoked")

    audit_app = typer.Typer(name="audit", help="The audit log.", no_args_is_help=True)

    @audit_app.command("verify")
    def audit_verify(db: DbOption = None) -> None:
        """Check the audit log's hash chain: a deleted, altered or reordered line is named (exit 1)."""
        from tianwang.opsdb import OpsDB
        from tianwang.service.audit import verify_chain

        with fail_cleanly():
            ops = OpsDB(settings_for(db).operations_url)
            try:
                with ops.session() as session:
                    report = verify_chain(session)
            finally:
                ops.close()
        for problem in report.problems:
            console.print(problem)
        before = (f" ({report.before_chain:,} written before the chain began, not checked)"
                  if report.before_chain else "")
        out.print(f"audit log: {report.lines:,} lines{before}; chain {'intact' if report.intact else 'BROKEN'}")
        if not report.intact:
            raise typer.Exit(1)

    users_app = typer.Typer(name="users", help="People's accounts (investigators, analysts, approvers, admins).",
                            no_args_is_help=True)

    @users_app.command("add")
    def users_add(
        username: Annotated[str, typer.Argument(help="Login name.")],
        roles: RolesOption,
        display_name: Annotated[str, typer.Option(help="Name shown in the workbench.")] = "",
        password_env: Annotated[str | None, typer.Option(
            help="Read the password from this environment variable instead of asking.")] = None,
        db: DbOption = None,
    ) -> None:
        """Add a person's account (the password is asked for, or read from --password-env)."""
        if password_env:
            password = os.environ.get(password_env, "")
        else:
            password = getpass.getpass("password: ")
            if getpass.getpass("again: ") != password:
                console.print("[red]error:[/red] the passwords differ")
                raise typer.Exit(2)
        with fail_cleanly():
            user_id = _accounts(db).add_user(username, password, roles, display_name=display_name)
        console.print(f"user {username} ({user_id}) with roles {', '.join(roles)}")

    app.add_typer(keys_app)
    app.add_typer(users_app)
    app.add_typer(audit_app)
