"""The operator's `federation` command: serve, migrate, and (as they arrive) manage
partners, organisations, keys and statistics."""
from __future__ import annotations

import sys

import click

from federation.app import create_app
from federation.config import ConfigError


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Federation: hash sharing against non-consensual intimate images."""
    try:
        ctx.obj = create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@main.group("db")
def db_group() -> None:
    """Database schema (Alembic is the only way it changes)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(app, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from federation.migrate import upgrade

    upgrade(app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
@click.pass_obj
def db_downgrade(app, revision: str) -> None:
    """Revert migrations down to REVISION."""
    from federation.migrate import downgrade

    downgrade(app.config["DATABASE_URL"], revision)


@db_group.command("current")
@click.pass_obj
def db_current(app) -> None:
    """Show the database's revision."""
    from federation.migrate import current

    current(app.config["DATABASE_URL"])


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", type=int, default=None, help="gunicorn workers (SQLite: 1)")
@click.option("--no-migrate", is_flag=True, help="do not upgrade the database first")
@click.pass_obj
def serve(app, bind: str, workers: int | None, no_migrate: bool) -> None:
    """Run the service with gunicorn, after upgrading the database."""
    from federation.migrate import upgrade
    from federation.serving import run_gunicorn

    url = app.config["DATABASE_URL"]
    if not no_migrate:
        upgrade(url)
    if workers is None:
        # SQLite has one writer; one process with threads serves it best.
        workers = 1 if url.startswith("sqlite") else 2
    click.echo(f"Federation serving on http://{bind} (database: {url.split('://')[0]})")
    run_gunicorn(app, bind=bind, workers=workers)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
