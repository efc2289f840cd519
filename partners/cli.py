"""`federation-partner`: sync the feed, match files, report back, sign deletion receipts, audit the log.

Settings come from options or the environment: FEDERATION_SERVER, FEDERATION_PARTNER_TOKEN,
FEDERATION_PARTNER_STORE (default ./federation-partner.db). The token is never printed.
"""
from __future__ import annotations

import json
import os
import sys
import time

import click

from federation.rules import (
    VPDQ_MATCH_DISTANCE,
    VPDQ_MIN_QUALITY,
    VPDQ_QUERY_MATCH_PERCENT,
    VPDQ_REPORTED_MATCH_PERCENT,
)
from partners import receipts as receipting
from partners import report as reporting
from partners import sync as syncing
from partners.client import FederationClient, FeedError
from partners.store import LocalStore

# Key ids and public keys are base64url, so one in 64 begins with "-". Without this, click
# reads such a value as an unknown option and fails with a usage error.
DASHED_VALUES = {"ignore_unknown_options": True}


class Context:
    def __init__(self, server: str | None, token: str | None, store: str) -> None:
        self.server, self.token, self.store_path = server, token, store

    def client(self) -> FederationClient:
        if not self.server or not self.token:
            raise click.UsageError("set --server and --token (or FEDERATION_SERVER, FEDERATION_PARTNER_TOKEN)")
        return FederationClient(self.server, self.token, timeout=90)  # above a 60 s long poll

    def store(self) -> LocalStore:
        return LocalStore(self.store_path)


@click.group()
@click.option("--server", envvar="FEDERATION_SERVER", help="the federation's base URL")
@click.option("--token", envvar="FEDERATION_PARTNER_TOKEN", help="your partner token (fpt_...)")
@click.option("--store", envvar="FEDERATION_PARTNER_STORE", default="federation-partner.db", show_default=True,
              help="local SQLite store of the active hashes and your checkpoint")
@click.pass_context
def main(ctx: click.Context, server: str | None, token: str | None, store: str) -> None:
    """The federation's partner kit."""
    ctx.obj = Context(server, token, store)


@main.command()
@click.option("--watch", is_flag=True, help="keep following, with backoff on errors")
@click.option("--wait", default=25, show_default=True, type=click.IntRange(0, 60),
              help="with --watch: long-poll, syncing as soon as an entry is committed (0: poll every --interval)")
@click.option("--interval", default=30.0, show_default=True, help="seconds between polls with --watch --wait 0")
@click.option("--polls", type=int, default=None, help="with --watch: stop after this many polls")
@click.option("--limit", default=syncing.PAGE_LIMIT, show_default=True, help="entries per page (1-5000)")
@click.option("--trust-new-keys", is_flag=True, help="accept newly published signing keys without `trust`")
@click.option("--report-deleted", is_flag=True, help="report `deleted` for the deletes applied")
@click.option("--log-only", is_flag=True,
              help="bind entries by the signed checkpoint and Merkle tree only, without checking each entry's "
                   "signature: about 3.8x faster, but trusts the federation's database (docs/partner-kit.md)")
@click.option("--quiet", is_flag=True, help="no progress lines")
@click.pass_obj
def sync(obj: Context, watch: bool, wait: int, interval: float, polls: int | None, limit: int, trust_new_keys: bool,
         report_deleted: bool, log_only: bool, quiet: bool) -> None:
    """Follow the feed from the stored checkpoint into the local store, verifying every entry."""
    client, store = obj.client(), obj.store()
    started = time.monotonic()

    def progress(checkpoint: int, head: int | None, applied: int) -> None:
        if quiet:
            return
        rate = applied / max(time.monotonic() - started, 1e-9)
        share = f" / {head:,} ({100 * checkpoint / head:.0f}%)" if head else ""
        click.echo(f"synced to seq {checkpoint:,}{share}, {rate:,.0f} entries/s", err=True)

    def done(result: syncing.SyncResult) -> None:
        if result.trusted_on_first_use:
            click.echo(f"trusted on first use: {', '.join(result.trusted_on_first_use)}", err=True)
        line: dict[str, int | None] = {"checkpoint": result.checkpoint, "applied": result.applied, "adds": result.adds,
                "deletes": result.deletes, "active": store.count()}
        if report_deleted:
            line["reported_deleted"] = reporting.report_deletes(client, store)
        if store.receipt_key():  # after `federation-partner receipt-key`: sign what was deleted,
            line["receipts_sent"] = receipting.send_receipts(client, store)
            line["cosigned"] = receipting.cosign(client, store)  # and witness the checkpoint
        click.echo(json.dumps(line))

    try:
        if watch:
            syncing.watch(client, store, interval=interval, polls=polls, on_result=done, wait=wait,
                          on_error=lambda e: click.echo(f"will retry: {e}", err=True),
                          limit=limit, trust_new_keys=trust_new_keys, progress=progress,
                          verify_signatures=not log_only)
        else:
            done(syncing.sync(client, store, limit=limit, trust_new_keys=trust_new_keys, progress=progress,
                              verify_signatures=not log_only))
    except (syncing.SyncError, FeedError) as error:
        raise click.ClickException(f"sync stopped: {error}") from None
    finally:
        client.close()
        store.close()


@main.command(context_settings=DASHED_VALUES)
@click.argument("kid")
@click.pass_obj
def trust(obj: Context, kid: str) -> None:
    """Pin a newly published signing key, after checking its KID with the federation."""
    with obj.store() as store:
        try:
            syncing.trust(obj.client(), store, kid)
        except (syncing.SyncError, FeedError) as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"trusted {kid}")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--phash-distance", default=8, show_default=True, help="max pHash distance of 64 bits")
@click.option("--vpdq-distance", default=VPDQ_MATCH_DISTANCE, show_default=True,
              help="videos: two frames match at a PDQ distance up to this (the reference's C++ tool: 30)")
@click.option("--vpdq-quality", default=VPDQ_MIN_QUALITY, show_default=True,
              help="videos: frames below this PDQ quality take no part")
@click.option("--vpdq-query-percent", default=VPDQ_QUERY_MATCH_PERCENT, show_default=True,
              help="videos: share of the upload's frames that must be found in a reported video")
@click.option("--vpdq-reported-percent", default=VPDQ_REPORTED_MATCH_PERCENT, show_default=True,
              help="videos: share of the reported video's frames that must be found in the upload")
@click.option("--video-decoding", type=click.Choice(["exact", "fast"]), default="exact", show_default=True,
              help="fast: skip decoding frames nothing refers to (about 2x on H.264, a few frames off)")
@click.option("--standing/--no-standing", default=None,
              help="ask the server how many platforms confirmed or disputed each match "
                   "[default: when --server and --token are set]")
@click.option("--hide-disputed", is_flag=True,
              help="leave out matches that a platform disputed and none confirmed")
@click.pass_obj
def match(obj: Context, paths: tuple[str, ...], phash_distance: int, vpdq_distance: int, vpdq_quality: int,
          vpdq_query_percent: float, vpdq_reported_percent: float, video_decoding: str,
          standing: bool | None, hide_disputed: bool) -> None:
    """Hash files and folders (or `-`: paths on stdin) and print matches as JSON lines.

    Videos (by suffix: .mp4, .webm, .mov, ...) are matched by MD5 and SHA-256 and by vPDQ:
    a vpdq match reports `query_percent` and `reported_percent` (docs/video.md).
    Each match carries `confirmed` and `disputed` (platforms' counts, never which) when
    the server could be asked. Exit status: 0 if anything matched, 1 if nothing did, 2 on
    a usage error.
    """
    from partners.matching import VideoRule
    from partners.scan import iter_files, load_index, match_path

    rule = VideoRule(vpdq_distance, vpdq_quality, vpdq_query_percent, vpdq_reported_percent)
    if standing is None:
        standing = bool(obj.server and obj.token)
    if hide_disputed and not standing:
        raise click.UsageError("--hide-disputed needs the server's counts: set --server and --token")
    with obj.store() as store:
        index = load_index(store, phash_distance=phash_distance, video_rule=rule)
    if paths == ("-",):
        paths = tuple(line.rstrip("\n") for line in sys.stdin if line.strip())
    lines = []
    for path, warning in iter_files(paths):
        lines.append({"path": path, "error": warning} if warning
                     else match_path(index, path, video_mode=video_decoding))
    if standing:
        _attach_standing(obj, lines, hide_disputed)
    matched = False
    for line in lines:
        matched = matched or bool(line.get("matches"))
        click.echo(json.dumps(line))
    sys.exit(0 if matched else 1)


def _attach_standing(obj: Context, lines: list[dict], hide_disputed: bool) -> None:
    from partners import standing as standings

    ids = [m["record_id"] for line in lines for m in line.get("matches", ())]
    if not ids:
        return
    try:
        known = standings.lookup(obj.client(), ids)
    except FeedError as error:
        # Matching works offline; only the counts are missing. Never hide a match then.
        click.echo(f"warning: platforms' counts unavailable ({error}); no match hidden", err=True)
        return
    for line in lines:
        kept = []
        for found in line.get("matches", ()):
            counts = known.get(found["record_id"])
            found.update(counts or {"confirmed": None, "disputed": None, "withheld": None})
            if not (hide_disputed and standings.disputed(counts)):
                kept.append(found)
        if "matches" in line:
            line["matches"] = kept


@main.command()
@click.argument("source", type=click.File("r"), required=False)
@click.option("--deleted", is_flag=True, help="report `deleted` for deletes applied by sync")
@click.pass_obj
def report(obj: Context, source, deleted: bool) -> None:
    """Send feedback: JSON lines {type, value, verdict, occurred_at[, count, note]} from SOURCE or -."""
    client = obj.client()
    try:
        if source is not None:
            items = (json.loads(line) for line in source if line.strip())
            click.echo(json.dumps(reporting.send(client, items)))
        if deleted:
            with obj.store() as store:
                click.echo(json.dumps({"reported_deleted": reporting.report_deletes(client, store)}))
    except FeedError as error:
        raise click.ClickException(str(error)) from None
    finally:
        client.close()


@main.command()
@click.pass_obj
def status(obj: Context) -> None:
    """The local store: checkpoint and number of active hashes."""
    with obj.store() as store:
        click.echo(json.dumps({"checkpoint": store.checkpoint, "active": store.count(),
                               "trusted_keys": sorted(store.trusted_keys()),
                               "store": os.path.abspath(store.path)}))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (loopback by default; see docs/partner-kit.md before widening)")
@click.option("--port", default=8765, show_default=True)
@click.option("--allow-path", "allow_paths", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="a folder whose files may be looked up by path (repeatable); none: hashes only")
@click.option("--interval", default=30.0, show_default=True, help="seconds between syncs")
@click.option("--no-sync", is_flag=True, help="serve the store as it is, without following the feed")
@click.option("--trust-new-keys", is_flag=True, help="accept newly published signing keys without `trust`")
@click.option("--phash-distance", default=8, show_default=True, help="max pHash distance of 64 bits")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="lookup processes on the port, each with its own index (docs/partner-kit.md)")
@click.pass_obj
def serve(obj: Context, host: str, port: int, allow_paths: tuple[str, ...], interval: float, no_sync: bool,
          trust_new_keys: bool, phash_distance: int, workers: int) -> None:
    """A local HTTP lookup service for your upload pipeline, syncing in the background."""
    import threading

    from partners import serve as serving

    client = None if no_sync else obj.client()
    with obj.store():  # opens (and checks or migrates) the store before listening
        pass
    roots = tuple(os.path.realpath(p) for p in allow_paths)

    def new_matcher() -> serving.Matcher:
        return serving.Matcher(obj.store_path, roots, phash_distance)

    def sync_once(store: LocalStore) -> None:
        assert client is not None  # noqa: S101 - only called with a client
        syncing.sync(client, store, trust_new_keys=trust_new_keys)

    def listening(port: int, how: str = "") -> None:
        click.echo(f"serving on http://{host}:{port}{how} (ready once the first sync is indexed)", err=True)

    try:
        if workers > 1:
            from partners import prefork

            prefork.serve_workers(new_matcher, obj.store_path, host, port, workers,
                                  None if client is None else sync_once, interval, threading.Event(),
                                  lambda bound: listening(bound, f" with {workers} workers"))
        else:
            matcher = new_matcher()
            server = serving.make_server(matcher, host, port)
            listening(int(server.server_address[1]))
            serving.serve(matcher, server, None if client is None else sync_once, interval, threading.Event())
    except KeyboardInterrupt:
        pass
    finally:
        if client is not None:
            client.close()
# --- the verifiable log: receipts, cosigning, audit (docs/log.md) -----------------------

@main.command()
@click.pass_obj
def checkpoint(obj: Context) -> None:
    """Print the log checkpoint this store verified last (with your cosignature, after
    `receipt-key`), to send to a peer platform for `federation-partner audit --peer`."""
    with obj.store() as store:
        held = store.log_checkpoint()
        if held is None:
            raise click.ClickException("no checkpoint yet: run `federation-partner sync` first")
        made = receipting.signer(store)
    origin, served = held
    # The log's own signature, without the cosignatures the federation served with it
    # (a note holds at most 16 signatures), and ours.
    body, _, lines = served.rpartition("\n\n")
    text = body + "\n\n" + "".join(f"{line}\n" for line in lines.splitlines()
                                    if line.startswith(f"\u2014 {origin} "))
    if made is not None:
        from federation.crypto import note

        text += note.cosign(note.parse_checkpoint(body + "\n"), made[1], made[0], int(time.time()))
    click.echo(text, nl=False)


@main.command()
@click.option("--peer", type=click.File("r"), help="a checkpoint a peer platform sent (a file, or - for stdin)")
@click.pass_obj
def audit(obj: Context, peer) -> None:
    """Check that the checkpoint this store holds and another one (a peer's, or the
    federation's current one) describe the same log. Exit status: 0 they agree, 1 they do
    not (evidence of a split view or rewritten history), 2 nothing could be checked."""
    client = obj.client()
    try:
        with obj.store() as store:
            result = syncing.audit(client, store, peer.read() if peer is not None else None)
    except (syncing.SyncError, FeedError) as error:
        click.echo(f"cannot check: {error}", err=True)
        sys.exit(2)
    finally:
        client.close()
    click.echo(result.message)
    sys.exit(0 if result.agree else 1)


@main.command("receipt-key")
@click.pass_obj
def receipt_key(obj: Context) -> None:
    """Make this platform's receipt key (kept in the store) and register it with the
    federation; from then on `sync` sends a signed receipt for every delete it applies."""
    client = obj.client()
    try:
        with obj.store() as store:
            registered = receipting.register_key(client, store)
    except FeedError as error:
        raise click.ClickException(str(error)) from None
    finally:
        client.close()
    click.echo(json.dumps(registered))


if __name__ == "__main__":  # pragma: no cover
    main()
