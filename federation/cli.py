"""The operator's `federation` command: serve, migrate, and (as they arrive) manage
partners, organisations, keys and statistics."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import click
from flask import Flask
from werkzeug.local import LocalProxy

from federation.app import create_app
from federation.config import ConfigError
from federation.errors import FederationError, NotFound
from federation.models import CaseworkerStatus, MemberStatus

# Key ids and public keys are base64url, so one in 64 begins with "-". Without this, click
# reads such a value as an unknown option and fails with a usage error.
DASHED_VALUES = {"ignore_unknown_options": True}


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Federation: hash sharing against non-consensual intimate images."""
    ctx.obj = LocalProxy(_LazyApp(ctx))


class _LazyApp:
    """The app, built on a command's first use of it: commands that need no app (and so
    no secret, such as `keys new-kek`) run without FEDERATION_KEK or a database."""

    def __init__(self, ctx: click.Context) -> None:
        self._ctx = ctx
        self._app: Flask | None = None

    def __call__(self) -> Flask:
        if self._app is None:
            try:
                self._app = create_app()
            except ConfigError as error:
                raise click.ClickException(str(error)) from None
            self._ctx.call_on_close(self._app.extensions["federation.db"].engine.dispose)
        return self._app


@main.group("db")
def db_group() -> None:
    """Database schema (Alembic is the only way it changes)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(app, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from alembic.util import CommandError

    from federation.migrate import upgrade

    try:
        upgrade(app.config["DATABASE_URL"], revision)
    except CommandError as error:  # e.g. a backup from a newer release, restored under this one
        raise click.ClickException(
            f"cannot upgrade the database: {error} (a revision this release does not know comes "
            "from a newer release: run that release, see docs/operations.md)") from None
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
@click.option("--bind", envvar="FEDERATION_BIND", default="127.0.0.1:8000", show_default=True,
              help="address to serve on (env FEDERATION_BIND)")
@click.option("--workers", envvar="FEDERATION_WORKERS", type=int, default=None,
              help="gunicorn workers (env FEDERATION_WORKERS; default SQLite: 1, else 2)")
@click.option("--front", envvar="FEDERATION_FRONT", type=click.Choice(["auto", "nginx", "none"]),
              default="auto", show_default=True,
              help="nginx: a buffering nginx on --bind, gunicorn behind it on a private socket; "
                   "none: gunicorn alone (only behind another buffering proxy); "
                   "auto: nginx if installed (env FEDERATION_FRONT)")
@click.option("--no-migrate", is_flag=True, help="do not upgrade the database first")
@click.option("--demo", is_flag=True, help="ensure a signing key and print a demo partner's token")
@click.pass_obj
def serve(app, bind: str, workers: int | None, front: str, no_migrate: bool, demo: bool) -> None:
    """Run the service with gunicorn (behind nginx if installed), after upgrading the database."""
    from federation.front.nginx import find_nginx
    from federation.migrate import upgrade
    from federation.serving import run_behind_nginx, run_gunicorn

    nginx_binary = find_nginx() if front != "none" else None
    if front == "nginx" and nginx_binary is None:
        raise click.ClickException("--front nginx: nginx is not installed (apt-get install nginx)")
    if front == "auto" and nginx_binary is None:
        if app.config["ENV"] == "production":
            raise click.ClickException("nginx is not installed: install it (apt-get install nginx), or "
                                       "pass --front none if another buffering proxy stands in front")
        click.echo("nginx not found: serving with gunicorn alone, which slow clients can "
                   "hold (fine for development, not for the internet)", err=True)
    url = app.config["DATABASE_URL"]
    if not no_migrate:
        upgrade(url)
    _ensure_signing_key(app)
    if demo:
        _demo_setup(app, bind)
    if workers is None:
        # SQLite has one writer; one process with threads serves it best.
        workers = 1 if url.startswith("sqlite") else 2
    # Nothing opened above may cross gunicorn's fork: workers sharing a pooled PostgreSQL
    # connection interleave on it (DuplicatePreparedStatement, 500s).
    app.extensions["federation.db"].engine.dispose()
    front_name = "nginx" if nginx_binary else "none"
    click.echo(f"Federation serving on http://{bind} (database: {url.split('://')[0]}, "
               f"front: {front_name}, workers: {workers})")
    if nginx_binary is None:
        run_gunicorn(app, bind=bind, workers=workers)
        return
    run_behind_nginx(app, bind=bind, workers=workers, nginx_binary=nginx_binary)


@main.command("front-config")
@click.option("--listen", default="80", show_default=True, help="nginx `listen` value")
@click.option("--upstream", default="127.0.0.1:8001", show_default=True,
              help="where gunicorn listens (`HOST:PORT` or `unix:PATH`)")
@click.option("--access-log", default="/var/log/nginx/federation.access.log", show_default=True)
@click.pass_obj
def front_config(app, listen: str, upstream: str, access_log: str) -> None:
    """Print the nginx configuration (http level) for an nginx you run yourself.

    Set FEDERATION_PROXY_HOPS to one more than the proxies in front of that nginx, and
    run gunicorn on UPSTREAM (`federation serve --front none --bind UPSTREAM`).
    """
    from federation.front.nginx import site_config

    click.echo(site_config(listen=listen, upstream=upstream, access_log=access_log,
                           max_body=int(app.config["MAX_CONTENT_LENGTH"])), nl=False)


def _ensure_signing_key(app) -> None:
    from federation import signing_keys

    with _session(app) as session:
        key = signing_keys.ensure_key(session, app.config["KEK_BYTES"])
        session.commit()
        click.echo(f"signing key: {key.kid}")


def _demo_setup(app, bind: str) -> None:
    from federation import partner_registry

    with _session(app) as session:
        try:
            issued = partner_registry.rotate_token(session, "demo")
        except NotFound:
            issued = partner_registry.add_partner(session, "demo", partner_registry.SCOPES, "Demo Platform")
        session.commit()
        click.echo(f"demo partner 'demo' (all scopes), token shown once:\n  {issued.token}")
        click.echo(f"try: curl -H 'Authorization: Bearer {issued.token}' http://{bind}/v1/feed")


def _show_once(what: str, secret: str) -> None:
    """Print a credential the operator must store now: we keep only its digest."""
    click.echo(f"{what} (store it now; it is not kept and cannot be shown again):")
    click.echo(secret)


@contextlib.contextmanager
def _session(app):
    with app.app_context():
        session = app.extensions["federation.db"].sessions()
        try:
            yield session
        finally:
            session.close()


@contextlib.contextmanager
def _service(app):
    """A session for one operator command, whose services commit their own writes; a
    domain error (unknown name, bad scope...) becomes a one-line message and exit status 1."""
    with _session(app) as session:
        try:
            yield session
        except FederationError as error:
            raise click.ClickException(error.detail) from None


# --- partners --------------------------------------------------------------------------

@main.group("partners")
def partners_group() -> None:
    """Member platforms and their tokens."""


@partners_group.command("add")
@click.argument("name")
@click.option("--scopes", default="feed:read,feedback:write", show_default=True,
              help="comma-separated: feed:read, feedback:write, signals:write")
@click.option("--display-name", help="the name people see in their case status")
@click.pass_obj
def partners_add(app, name: str, scopes: str, display_name: str | None) -> None:
    """Onboard a platform and print its token (shown only this once)."""
    from federation import partner_registry

    with _service(app) as session:
        issued = partner_registry.add_partner(session, name, partner_registry.parse_scopes(scopes), display_name)
    click.echo(f"partner {name} added with scopes {issued.partner.scopes}")
    _show_once("token", issued.token)


@partners_group.command("list")
@click.pass_obj
def partners_list(app) -> None:
    """List partners with status and scopes (never tokens)."""
    from federation import partner_registry

    with _session(app) as session:
        for partner in partner_registry.list_partners(session):
            click.echo(f"{partner.name}\t{partner.status}\t{partner.scopes}\t{partner.display_name}")


def _status_commands(group: click.Group, noun: str, service: Callable[[], Callable[..., object]], *,
                     suspend_help: str, resume_help: str) -> None:
    """`suspend NAME` and `resume NAME` for a group of members (partners, organisations);
    `service()` gives its `set_status` (imported when a command runs)."""

    def change(app, name: str, status: MemberStatus) -> None:
        with _service(app) as session:
            service()(session, name, status)
        click.echo(f"{noun} {name} is {status}")

    for command, status, help_text in (("suspend", MemberStatus.SUSPENDED, suspend_help),
                                       ("resume", MemberStatus.ACTIVE, resume_help)):
        @group.command(command, help=help_text)
        @click.argument("name")
        @click.pass_obj
        def run(app, name: str, status: MemberStatus = status) -> None:
            change(app, name, status)


def _partner_status():
    from federation import partner_registry

    return partner_registry.set_status


def _organisation_status():
    from federation import organisations

    return organisations.set_status


_status_commands(partners_group, "partner", _partner_status,
                 suspend_help="Refuse the partner's token (403) until resumed.",
                 resume_help="Accept the partner's token again.")


@partners_group.command("rotate-token")
@click.argument("name")
@click.pass_obj
def partners_rotate(app, name: str) -> None:
    """Issue a new token; the old one stops working at once."""
    from federation import partner_registry

    with _service(app) as session:
        issued = partner_registry.rotate_token(session, name)
    click.echo(issued.token)


@partners_group.command("stopncii-keys")
@click.argument("name")
@click.pass_obj
def partners_stopncii_keys(app, name: str) -> None:
    """Issue the partner's StopNCII key pair (replacing any earlier pair); shown only once.

    For threatexchange/HMA: TX_STOPNCII_KEYS=FUNCTION_KEY,SUBSCRIPTION_KEY,URL/stopncii/v1.
    The pair has the partner's scopes.
    """
    from federation import stopncii

    with _service(app) as session:
        keys = stopncii.issue_keys(session, name)
    click.echo(f"StopNCII keys for {name} (scopes {keys.partner.scopes}); store them now, "
               "they are not kept and cannot be shown again:")
    click.echo(f"x-functions-key: {keys.function_key}")
    click.echo(f"Ocp-Apim-Subscription-Key: {keys.subscription_key}")


# --- safety organisations ----------------------------------------------------------------

@main.group("orgs")
def orgs_group() -> None:
    """Safety organisations (helplines, shelters) and their caseworkers."""


@orgs_group.command("add")
@click.argument("name")
@click.option("--display-name", help="the name people see on the referral page and slip")
@click.pass_obj
def orgs_add(app, name: str, display_name: str | None) -> None:
    """Onboard an organisation and print its token (shown only this once)."""
    from federation import organisations

    with _service(app) as session:
        issued = organisations.add_organisation(session, name, display_name)
    click.echo(f"organisation {name} added ({issued.organisation.display_name})")
    _show_once("token", issued.token)


@orgs_group.command("list")
@click.pass_obj
def orgs_list(app) -> None:
    """List organisations with status and active caseworkers (never tokens)."""
    from federation import organisations

    with _session(app) as session:
        for org in organisations.list_organisations(session):
            active = [c.name for c in organisations.list_caseworkers(session, org.name)
                      if c.status == CaseworkerStatus.ACTIVE]
            click.echo(f"{org.name}\t{org.status}\t{org.display_name}\tcaseworkers: {', '.join(active) or '-'}")


_status_commands(orgs_group, "organisation", _organisation_status,
                 suspend_help="Refuse its credentials and codes, and show it nothing, until resumed.",
                 resume_help="Accept its credentials and codes again.")


@orgs_group.command("caseworker-add")
@click.argument("org")
@click.argument("name")
@click.pass_obj
def orgs_caseworker_add(app, org: str, name: str) -> None:
    """Give a caseworker of ORG a credential of their own (shown only this once)."""
    from federation import organisations

    with _service(app) as session:
        issued = organisations.add_caseworker(session, org, name)
    click.echo(f"caseworker {name} added to {org}")
    click.echo("credential (give it to them now; it is not kept and cannot be shown again):")
    click.echo(issued.token)


@orgs_group.command("caseworker-revoke")
@click.argument("org")
@click.argument("name")
@click.pass_obj
def orgs_caseworker_revoke(app, org: str, name: str) -> None:
    """Refuse the caseworker's credential from now on and sign them out."""
    from federation import organisations

    with _service(app) as session:
        organisations.revoke_caseworker(session, org, name)
    click.echo(f"caseworker {name} of {org} is revoked")


@main.command("stats")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of lines")
@click.pass_obj
def stats(app, as_json: bool) -> None:
    """Counts across the federation; nothing that identifies a case."""
    import json

    from federation import referral_reports

    with _session(app) as session:
        counts = referral_reports.operator_stats(session)
    if as_json:
        click.echo(json.dumps(counts, indent=2, sort_keys=True))
        return
    for line in _flatten(counts):
        click.echo(line)


def _flatten(counts: dict, prefix: str = ""):
    for name, value in counts.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}\t{value}"


# --- the feed --------------------------------------------------------------------------

@main.group("feed")
def feed_group() -> None:
    """The signed feed platforms follow."""


@feed_group.command("publish-held")
@click.pass_obj
def feed_publish_held(app) -> None:
    """Publish held reports, oldest first, as far as the feed's budget allows.

    Reports are held when people's reports arrive faster than
    FEDERATION_FEED_PERSON_ENTRIES_PER_MINUTE; run this every minute (cron, a systemd
    timer) so they go out even when no new report comes to drain them. Prints counts only.
    """
    from federation import cases
    from federation.services import services

    with _session(app) as session:
        done = cases.publish_held(session, services(app).signers, services(app).feed_budget)
    oldest = done.oldest_held_at.isoformat() if done.oldest_held_at else "-"
    click.echo(f"published {done.released} held reports ({done.entries} feed entries); "
               f"still held: {done.still_held} (oldest held since {oldest})")


# --- signing keys ----------------------------------------------------------------------

@main.group("keys")
def keys_group() -> None:
    """Feed-signing keys."""


@keys_group.command("rotate")
@click.pass_obj
def keys_rotate(app) -> None:
    """Make a new active key; the old one is retired but stays published."""
    from federation import signing_keys

    with _session(app) as session:
        key = signing_keys.rotate(session, app.config["KEK_BYTES"])
    click.echo(f"active key: {key.kid}")


@keys_group.command("list")
@click.pass_obj
def keys_list(app) -> None:
    """List keys with status and validity window."""
    from federation import signing_keys

    with _session(app) as session:
        for key in signing_keys.list_keys(session):
            until = key.not_after.isoformat() if key.not_after else "-"
            click.echo(f"{key.kid}\t{key.status}\t{key.not_before.isoformat()}\t{until}")


@keys_group.command("new-kek")
def keys_new_kek() -> None:
    """Print a fresh key-encryption key for FEDERATION_KEK."""
    from federation.crypto.keys import new_kek

    click.echo(new_kek())



# --- trust in the list: the deny list and the review queue (docs/list-hygiene.md) ------

@main.group("deny")
def deny_group() -> None:
    """Known-benign hashes (logos, blank frames, stock pictures) that may never be shared."""


@deny_group.command("add")
@click.argument("hash_type", metavar="TYPE", required=False, type=click.Choice(["pdq", "phash", "md5", "sha256"]))
@click.argument("value", required=False)
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False),
              help="hash this file with the partner kit's hasher and deny each of its hashes")
@click.option("--reason", required=True, help="why it is benign (kept for the audit, at most 200 characters)")
@click.pass_obj
def deny_add(app, hash_type: str | None, value: str | None, path: str | None, reason: str) -> None:
    """Deny TYPE VALUE, or every hash of --file; what the list shares of it leaves the feed."""
    from federation import list_trust
    from federation.services import services

    hashes = _hashes_to_deny(hash_type, value, path)
    with _service(app) as session:
        for kind, hex_value in hashes:
            done = list_trust.deny(session, services(app).signers, kind, hex_value, reason)
            state = "added" if done.added else "already denied"
            click.echo(f"{kind}\t{state}\twithheld {done.withheld} shared signals")


def _hashes_to_deny(hash_type: str | None, value: str | None, path: str | None) -> list[tuple[str, str]]:
    if path is None:
        if hash_type is None or value is None:
            raise click.UsageError("give TYPE and VALUE, or --file")
        return [(hash_type, value)]
    if hash_type is not None or value is not None:
        raise click.UsageError("give TYPE and VALUE, or --file, not both")
    from partners.hashing import ImageTooLarge, UnreadableImage, hash_file, hash_photo

    digests = hash_file(path)
    found = [("md5", digests.md5), ("sha256", digests.sha256)]
    try:
        photo = hash_photo(path)
    except (UnreadableImage, ImageTooLarge):  # not a picture: its digests only
        return found
    return [("pdq", photo.pdq), ("phash", photo.phash), *found]


@deny_group.command("remove")
@click.argument("hash_type", metavar="TYPE", type=click.Choice(["pdq", "phash", "md5", "sha256"]))
@click.argument("value")
@click.pass_obj
def deny_remove(app, hash_type: str, value: str) -> None:
    """Take a hash off the deny list; what it kept out is shared again where reported."""
    from federation import list_trust
    from federation.services import services

    with _service(app) as session:
        added = list_trust.undeny(session, services(app).signers, hash_type, value)
    click.echo(f"removed; published again: {added}")


@deny_group.command("list")
@click.pass_obj
def deny_list_command(app) -> None:
    """Denied hashes: type, value, who added it, when, why."""
    from federation import list_trust

    with _session(app) as session:
        for entry in list_trust.denied_entries(session):
            click.echo(f"{entry.type}\t{entry.value}\t{entry.added_by}\t{entry.added_at.isoformat()}\t{entry.reason}")


@main.group("review")
def review_group() -> None:
    """Signals withheld from the feed for a check: disputed by platforms, or flooding."""


@review_group.command("list")
@click.option("--denied", is_flag=True, help="include signals the deny list keeps out")
@click.pass_obj
def review_list(app, denied: bool) -> None:
    """Id, type, value, why, since when, confirmations, disputes, active cases reporting it."""
    from federation import list_trust

    with _session(app) as session:
        queue = list_trust.review_queue(session, include_denied=denied)
    if not queue:
        click.echo("nothing waits for review")
    for item in queue:
        click.echo(f"{item.signal_id}\t{item.type}\t{item.value}\t{item.withheld}\t{item.since.isoformat()}"
                   f"\tconfirmed={item.confirmed}\tdisputed={item.disputed}\tcases={item.cases}")


@review_group.command("restore")
@click.argument("signal_id", type=int)
@click.pass_obj
def review_restore(app, signal_id: int) -> None:
    """It is what it claims: publish it again (platforms match it after their next sync)."""
    from federation import list_trust
    from federation.services import services

    with _service(app) as session:
        added = list_trust.restore(session, services(app).signers, signal_id)
    click.echo(f"restored signal {signal_id}; feed adds: {added}")


@review_group.command("reject")
@click.argument("signal_id", type=int)
@click.option("--reason", default="rejected after review", show_default=True)
@click.pass_obj
def review_reject(app, signal_id: int, reason: str) -> None:
    """It is not NCII: keep it out, and deny it so no report brings it back."""
    from federation import list_trust

    with _service(app) as session:
        list_trust.reject(session, signal_id, reason)
    click.echo(f"rejected signal {signal_id}; it is on the deny list")


# --- operations: key revocation, maintenance (issue 18; docs/operations.md) ---------------

@keys_group.command("revoke", context_settings=DASHED_VALUES)
@click.argument("kid")
@click.option("--reason", required=True, help="why (kept in the audit log; no secrets)")
@click.pass_obj
def keys_revoke(app, kid: str, reason: str) -> None:
    """Revoke a compromised key: verifiers refuse what it signs after its last entry.

    If it was the active key, a new one replaces it at once. Platforms must then trust
    the new kid (docs/feed.md, "A revoked key").
    """
    from federation import signing_keys

    with _service(app) as session:
        done = signing_keys.revoke(session, kid, app.config["KEK_BYTES"], reason=reason)
    click.echo(f"key {done.kid} revoked after seq {done.last_seq}")
    if done.new_active:
        click.echo(f"new active key: {done.new_active} (tell platforms to trust it)")


@main.command("maintenance")
@click.pass_obj
def maintenance_command(app) -> None:
    """Forget what has outlived its promised lifetime (run every few minutes).

    Expired idempotency records (with their sealed PINs), expired caseworker sessions,
    and the digests of referral codes that expired or were spent. Safe to run twice at
    once. Prints counts only.
    """
    from federation import maintenance
    from federation.services import services

    with _session(app) as session:
        done = maintenance.run(session, services(app).idempotency, services(app).caseworker_sessions)
    if done.skipped:
        click.echo("another maintenance run holds the lock: nothing done")
        return
    click.echo(f"purged: {done.idempotency_records} idempotency records, {done.caseworker_sessions} "
               f"caseworker sessions, {done.referral_codes} referral codes")
# --- support services shown to people (issue 17) ------------------------------------------

@main.group("support")
def support_group() -> None:
    """Helplines and support services the portal shows, by language and country."""


@support_group.command("add")
@click.argument("name")
@click.option("--display-name", required=True, help="the name people see, as the service writes it")
@click.option("--languages", required=True, help="portal language codes it speaks, e.g. 'es,en' or 'pt-br'")
@click.option("--countries", default="", help="ISO 3166 codes it serves, e.g. 'SE,NO'; none: anyone")
@click.option("--phone", default=None)
@click.option("--web", default=None, help="https:// address")
@click.option("--hours", default=None, help="opening hours in the service's words, e.g. 'Mon-Fri 9-17 CET'")
@click.pass_obj
def support_add(app, name: str, display_name: str, languages: str, countries: str, phone: str | None,
                web: str | None, hours: str | None) -> None:
    """List a support service."""
    from federation import support_services

    with _service(app) as session:
        support_services.add_service(session, name, display_name, languages=languages, countries=countries,
                                     phone=phone, web=web, hours=hours)
    click.echo(f"support service {name} added")


@support_group.command("list")
@click.pass_obj
def support_list(app) -> None:
    """name, display name, languages, countries, phone, web, hours (tab-separated)."""
    from federation import support_services

    with _service(app) as session:
        for view in support_services.list_services(session):
            click.echo("\t".join([view.name, view.display_name, ",".join(view.languages),
                                  ",".join(view.countries) or "*", view.phone or "-", view.web or "-",
                                  view.hours or "-"]))


@support_group.command("remove")
@click.argument("name")
@click.pass_obj
def support_remove(app, name: str) -> None:
    """Stop showing a support service."""
    from federation import support_services

    with _service(app) as session:
        support_services.remove_service(session, name)
    click.echo(f"support service {name} removed")
# --- the verifiable log: platforms' receipt keys (docs/log.md) -------------------------

@partners_group.command("receipt-key", context_settings=DASHED_VALUES)
@click.argument("name")
@click.argument("public_key")
@click.pass_obj
def partners_receipt_key(app, name: str, public_key: str) -> None:
    """Register a platform's Ed25519 receipt key (base64url), which signs its deletion
    receipts and cosignatures; prints its kid and witness vkey. Again: no-op."""
    from federation import partner_registry, receipts
    from federation.crypto.encoding import b64u_decode
    from federation.idempotency import IdempotencyPolicy

    try:
        raw = b64u_decode(public_key)
    except ValueError:
        raise click.ClickException("the public key is not base64url") from None
    with _service(app) as session:
        partner_id = partner_registry.get_partner(session, name).id
        registered = receipts.register_key(session, IdempotencyPolicy(), partner_id, raw)
    click.echo(f"kid {registered['kid']}")
    click.echo(f"witness vkey {registered['witness_vkey']}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
