"""The StopNCII-compatible surface: the records, checkpoints and feedback that Meta's
`threatexchange` client (StopNCIIAPI, 1.2.17) speaks, mapped onto our feed and feedback.

Positions, not clocks. StopNCII's "timestamps" become feed positions here:
`position = seq + POSITION_OFFSET`, where seq is the feed's commit-ordered sequence
number. A record's `lastModtimestamp` is the position of its signal's latest feed entry;
`startTimestamp=S` returns the signals whose latest entry is after S; `nextSetTimestamp`
is the position up to which this answer covered the feed. Because seqs are handed out
in commit order, nothing can commit behind a position once it was served, so a client
that stores `nextSetTimestamp` can never skip a change. The offset makes the client's
default first start (10, meant as 1970) read as "from the beginning".

Only ImagePDQ (our `pdq`) and VideoMD5 (our `md5`) exist in StopNCII: our `phash` and
`sha256` signals are not served here (the /v1/feed carries them), and a submission of
another StopNCII type is refused.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from federation import cases, feed, feedback, idempotency, platform_cases
from federation.crypto import pins
from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.tokens import new_token, token_digest
from federation.db import writes
from federation.errors import FederationError, InvalidInput, InvalidSignal, Unauthorized
from federation.feedback import FeedbackItem
from federation.idempotency import IdempotencyPolicy
from federation.list_trust import Review
from federation.models import (
    Case,
    CaseSignal,
    CaseState,
    FeedbackLatest,
    FeedEntry,
    FeedOp,
    MemberStatus,
    Partner,
    Signal,
    utcnow,
)
from federation.partner_registry import check_access, get_partner
from federation.signals import HEX_LENGTHS, parse_signal
from federation.signing_keys import Signers

POSITION_OFFSET = 10
MAX_PAGE = 1000
DEFAULT_PAGE = 800  # what threatexchange asks for
PAGE_TOKEN_TTL = dt.timedelta(hours=1)

TYPES = {"pdq": "ImagePDQ", "md5": "VideoMD5"}
_OUR_TYPE = {name: ours for ours, name in TYPES.items()}
# threatexchange 1.2.17 sends str(StopNCIISignalType.ImagePDQ) in SubmitHashes, which on
# Python 3.11+ is "StopNCIISignalType.ImagePDQ": accept that spelling too.
_ENUM_PREFIX = "StopNCIISignalType."
STOPNCII_TYPES = ("Unknown", "ImagePDQ", "VideoMD5", "VideoTMK", "Text", "URL")

TO_FEEDBACK_VALUE = {"match_pending_review": "PendingReview", "blocked": "Blocked",
                     "not_blocked": "NotBlocked", "deleted": "Deleted"}
# "Withdrawn" from a platform means it removed a withdrawn hash, as "Deleted" does.
FROM_FEEDBACK_VALUE = {"PendingReview": "match_pending_review", "Blocked": "blocked",
                       "NotBlocked": "not_blocked", "Deleted": "deleted", "Withdrawn": "deleted"}
# None, QualityUnknown and Unknown carry no verdict: Meta's client uses them for items
# that only carry tags. Such an item is accepted and ignored, never fatal to its batch.
TAG_ONLY = ("None", "QualityUnknown", "Unknown")
FEEDBACK_VALUES = (*FROM_FEEDBACK_VALUE, *TAG_ONLY)
IGNORED = "ignored"
# FetchHashes shows how many platforms gave each verdict, never which: its `source`.
AGGREGATE_SOURCE = "federation:aggregate"
_CASE_STATUS: dict[str, str] = {CaseState.ACTIVE: "Active", CaseState.WITHDRAWN: "Withdrawn"}
_QUALITY_TAG = re.compile(r"quality:(\d{1,3})")

FUNCTION_KEY_PREFIX = "fsf_"
SUBSCRIPTION_KEY_PREFIX = "fss_"
_TOKEN_PURPOSE = "stopncii-page-token"  # noqa: S105 - an HMAC label, not a secret
_TOKEN_FORMAT = struct.Struct(">BQQQ")  # version, start position, cursor seq, issued (unix s)
_TOKEN_VERSION = 1
_TAG_BYTES = 16


class InvalidPageToken(FederationError):
    status = 400
    code = "invalid_page_token"
    title = "nextPageToken is not one we issued, or it has expired; fetch again from your checkpoint"


# --- credentials -----------------------------------------------------------------------

@dataclass(frozen=True)
class StopNCIIKeys:
    partner: Partner
    function_key: str  # sent as x-functions-key; shown once
    subscription_key: str  # sent as Ocp-Apim-Subscription-Key; shown once


@writes
def issue_keys(session: Session, partner_name: str) -> StopNCIIKeys:
    """A new StopNCII key pair for the partner, replacing any earlier pair.

    Only digests are stored. The pair carries the partner's scopes, like its token.
    Raises NotFound.
    """
    partner = get_partner(session, partner_name)
    function_key, subscription_key = new_token(FUNCTION_KEY_PREFIX), new_token(SUBSCRIPTION_KEY_PREFIX)
    partner.stopncii_function_digest = token_digest(function_key)
    partner.stopncii_subscription_digest = token_digest(subscription_key)
    return StopNCIIKeys(partner, function_key, subscription_key)


def authenticate(session: Session, function_key: str | None, subscription_key: str | None,
                 scope: str) -> Partner:
    """The partner holding this key pair, if it may use `scope`.

    Raises Unauthorized (a key missing or not valid), PartnerSuspended, InsufficientScope.
    """
    if not function_key or not subscription_key:
        raise Unauthorized("send both x-functions-key and Ocp-Apim-Subscription-Key",
                           code="missing_token")
    partner = session.scalar(select(Partner).where(
        Partner.stopncii_subscription_digest == token_digest(subscription_key)))
    if partner is None or not hmac.compare_digest(partner.stopncii_function_digest or b"",
                                                  token_digest(function_key)):
        raise Unauthorized("these StopNCII keys are not valid", code="invalid_token")
    return check_access(partner, scope)


# --- FetchHashes ------------------------------------------------------------------------

def fetch_hashes(session: Session, pepper: bytes, *, start_timestamp: int, page_size: int,
                 page_token: str | None, now: dt.datetime | None = None) -> dict:
    """One page of FetchHashes: snapshots of the signals changed after start_timestamp.

    Raises CheckpointAhead (a start beyond our head), InvalidPageToken (forged, expired,
    for another start, or beyond our head), InvalidInput (page size).
    """
    now = now or utcnow()
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidInput(f"pageSize must be 1 to {MAX_PAGE}", code="invalid_page_size")
    # The head is read first: every seq up to it has committed (commit order), so the
    # reads below see all of them, and the answer may claim to cover the feed up to it.
    head = feed.head(session)
    start_seq = max(start_timestamp - POSITION_OFFSET, 0)
    if start_seq > head:
        raise feed.CheckpointAhead(f"startTimestamp {start_timestamp} is beyond our latest position "
                              f"{head + POSITION_OFFSET}")
    cursor = start_seq
    if page_token:
        cursor = _open_token(pepper, page_token, start_timestamp, head, now)

    latest = aliased(FeedEntry)
    rows = session.execute(
        select(FeedEntry.seq, FeedEntry.op, FeedEntry.signal_id, Signal.type, Signal.value)
        .join(Signal, Signal.id == FeedEntry.signal_id)
        .where(FeedEntry.seq > cursor, FeedEntry.seq <= head, Signal.type.in_(tuple(TYPES)),
               # only a signal's latest entry (as of head): records are snapshots
               ~exists().where(latest.signal_id == FeedEntry.signal_id,
                               latest.seq > FeedEntry.seq, latest.seq <= head))
        .order_by(FeedEntry.seq).limit(page_size + 1)).all()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    # A full page ends at its last record; the last page covers everything to the head
    # (entries of types StopNCII lacks, and older entries of re-changed signals, included).
    covered = rows[-1].seq if has_more else head
    records = _records(session, rows)
    return {
        "count": len(records),
        "nextPageToken": _seal_token(pepper, start_timestamp, covered, now) if has_more else None,
        "nextSetTimestamp": covered + POSITION_OFFSET,
        "hasMoreRecords": has_more,
        "hashRecords": records,
    }


def _records(session: Session, rows) -> list[dict]:
    ids = [row.signal_id for row in rows]
    case_numbers: dict[int, dict[str, str]] = {i: {} for i in ids}
    feedbacks: dict[int, list[dict]] = {i: [] for i in ids}
    if ids:
        for signal_id, record_id, status in session.execute(
                select(CaseSignal.signal_id, CaseSignal.record_id, Case.status)
                .join(Case, Case.id == CaseSignal.case_id)
                .where(CaseSignal.signal_id.in_(ids)).order_by(CaseSignal.id)):
            case_numbers[signal_id][record_id] = _CASE_STATUS[status]
        # How many active platforms hold each verdict, never which (docs/list-hygiene.md).
        for signal_id, verdict, platforms in session.execute(
                select(FeedbackLatest.signal_id, FeedbackLatest.verdict, func.count())
                .join(Partner, Partner.id == FeedbackLatest.partner_id)
                .where(FeedbackLatest.signal_id.in_(ids), Partner.status == MemberStatus.ACTIVE)
                .group_by(FeedbackLatest.signal_id, FeedbackLatest.verdict)
                .order_by(FeedbackLatest.signal_id, FeedbackLatest.verdict)):
            feedbacks[signal_id].append({"feedbackValue": TO_FEEDBACK_VALUE[verdict],
                                         "tags": [f"platforms:{platforms}"], "source": AGGREGATE_SOURCE})
    return [{"lastModtimestamp": row.seq + POSITION_OFFSET,
             "signalType": TYPES[row.type],
             "hashValue": row.value,
             "hashStatus": "Active" if row.op == FeedOp.ADD else "Withdrawn",
             "caseNumbers": case_numbers[row.signal_id],
             "CSPFeedbacks": feedbacks[row.signal_id]} for row in rows]


def _token_key(pepper: bytes) -> bytes:
    return pins.keyed_digest(pepper, _TOKEN_PURPOSE, "v1")


def _seal_token(pepper: bytes, start: int, cursor: int, now: dt.datetime) -> str:
    payload = _TOKEN_FORMAT.pack(_TOKEN_VERSION, start, cursor, int(now.timestamp()))
    tag = hmac.new(_token_key(pepper), payload, hashlib.sha256).digest()[:_TAG_BYTES]
    return b64u_encode(payload + tag)


def _open_token(pepper: bytes, token: str, start: int, head: int, now: dt.datetime) -> int:
    """The cursor seq inside a page token we issued. Raises InvalidPageToken."""
    try:
        raw = b64u_decode(token)
    except (ValueError, TypeError):
        raise InvalidPageToken("nextPageToken is not base64url") from None
    if len(raw) != _TOKEN_FORMAT.size + _TAG_BYTES:
        raise InvalidPageToken("nextPageToken has the wrong length")
    payload, tag = raw[:_TOKEN_FORMAT.size], raw[_TOKEN_FORMAT.size:]
    expected = hmac.new(_token_key(pepper), payload, hashlib.sha256).digest()[:_TAG_BYTES]
    if not hmac.compare_digest(tag, expected):
        raise InvalidPageToken("nextPageToken was not issued by this server")
    version, token_start, cursor, issued = _TOKEN_FORMAT.unpack(payload)
    if version != _TOKEN_VERSION or token_start != start:
        raise InvalidPageToken("nextPageToken belongs to another startTimestamp")
    age = now.timestamp() - issued
    if age > PAGE_TOKEN_TTL.total_seconds() or age < -feedback.MAX_CLOCK_SKEW.total_seconds():
        raise InvalidPageToken("nextPageToken has expired; fetch again from your checkpoint")
    if cursor > head:
        # Only after a restore of the database to an earlier state.
        raise InvalidPageToken("nextPageToken is beyond this feed's head")
    return cursor


# --- SubmitFeedback and SubmitHashes ----------------------------------------------------

def feedback_items(hash_feedbacks: list[dict], *, now: dt.datetime) -> list[FeedbackItem | None]:
    """SubmitFeedback's `hashFeedbacks` as our items, None for a tag-only item (TAG_ONLY).
    SubmitFeedback carries no signal type: 64 hex characters are taken as ImagePDQ, 32
    as VideoMD5.

    Raises InvalidSignal (a value of another length or not hex), InvalidInput (a value
    that is no verdict).
    """
    items: list[FeedbackItem | None] = []
    for index, entry in enumerate(hash_feedbacks):
        value = entry["hashValue"]
        kind = {HEX_LENGTHS["pdq"]: "pdq", HEX_LENGTHS["md5"]: "md5"}.get(len(value))
        if kind is None:
            raise InvalidSignal(f"hashFeedbacks[{index}].hashValue is neither a PDQ (64 hex) "
                                "nor an MD5 (32 hex)")
        signal = feedback.signal_ref(kind, value)
        verdict = _verdict(entry["feedbackValue"], f"hashFeedbacks[{index}]")
        items.append(None if verdict is None else FeedbackItem(signal, verdict, now))
    return items


def submit_feedback(session: Session, idempotency_policy: IdempotencyPolicy, partner_id: int,
                    hash_feedbacks: list[dict], *, review: Review | None = None,
                    idempotency_key: str | None = None, now: dt.datetime | None = None) -> dict:
    """Record SubmitFeedback; answer per hash like /v1/feedback does per item, with
    `ignored` for a tag-only item.

    Raises InvalidSignal, InvalidInput, Conflict (Idempotency-Key reused).
    """
    now = now or utcnow()
    parsed = feedback_items(hash_feedbacks, now=now)
    items = [item for item in parsed if item is not None]
    results: list[dict] = []
    if items:
        body, _ = feedback.submit_feedback(session, idempotency_policy, partner_id, items, review=review,
                                           idempotency_key=idempotency_key, now=now)
        results = body["results"]
    statuses = iter(results)
    return {"count": len(parsed),
            "hashFeedbacks": [{"hashValue": entry["hashValue"].lower(),
                               "status": IGNORED if item is None else next(statuses)["status"]}
                              for entry, item in zip(hash_feedbacks, parsed, strict=True)]}


def submit_hashes(session: Session, signers: Signers, idempotency_policy: IdempotencyPolicy,
                  partner_id: int, hash_records: list[dict], *, review: Review | None = None,
                  idempotency_key: str | None = None, now: dt.datetime | None = None) -> dict:
    """Record SubmitHashes as one platform case, with each record's CSPFeedbacks as the
    partner's verdict on its own hash, in one transaction. With an idempotency key, the
    same request again returns the first answer.

    An ImagePDQ needs its quality as a tag `quality:NN` (StopNCII has no field for it and
    we refuse PDQs below quality 50). `lastModtimestamp` (unix seconds) dates the feedback.
    Raises InvalidSignal, InvalidInput, Conflict (Idempotency-Key reused).
    """
    now = now or utcnow()
    signals, items = [], []
    for index, record in enumerate(hash_records):
        where = f"hashRecords[{index}]"
        kind = _OUR_TYPE.get(record["signalType"].removeprefix(_ENUM_PREFIX))
        if kind is None:
            raise InvalidSignal(f"{where}.signalType must be ImagePDQ or VideoMD5; this federation "
                                "shares no other StopNCII type", code="unknown_signal_type")
        quality = _quality(record["CSPFeedbacks"], where) if kind == "pdq" else None
        signal = parse_signal(kind, record["hashValue"], quality)
        signals.append(signal)
        occurred_at = _occurred_at(record.get("lastModtimestamp"), now, where)
        for feedback_entry in record["CSPFeedbacks"]:
            verdict = _verdict(feedback_entry["feedbackValue"], where)
            if verdict is not None:  # a tag-only item (its quality tag was read above)
                items.append(FeedbackItem(signal, verdict, occurred_at))
    cases.check_signal_count(signals)
    seen: dict[tuple[str, str], int] = {}
    for index, signal in enumerate(signals):
        if seen.setdefault(signal.key, index) != index:
            raise InvalidInput(f"hashRecords[{seen[signal.key]}] and hashRecords[{index}] are the "
                               "same hash", code="duplicate_item", indexes=[seen[signal.key], index])
    if items:
        feedback.check_items(items, now=now)

    def write() -> dict:
        opened, added = platform_cases.open_platform_case(session, signers, partner_id, signals)
        if items:
            feedback.record_items(session, partner_id, items, review=review)
        ids = {link.signal.key: link.record_id for link in opened.links}
        return {"count": len(signals), "addedToFeed": len(added),
                "hashRecords": [{"signalType": TYPES[s.type], "hashValue": s.value,
                                 "caseNumber": ids[s.key]} for s in signals]}

    body, _ = idempotency.write_once(
        session, idempotency_policy, scope=f"stopncii-hashes:{partner_id}", key=idempotency_key,
        request=hash_records, write=write, codec=idempotency.PLAIN_JSON)
    return body



def _verdict(value: str, where: str) -> str | None:
    """Our verdict for a StopNCII feedbackValue; None for a tag-only value."""
    if value in TAG_ONLY:
        return None
    verdict = FROM_FEEDBACK_VALUE.get(value)
    if verdict is None:
        raise InvalidInput(f"{where}.feedbackValue must be one of {', '.join(FEEDBACK_VALUES)}",
                           code="invalid_verdict")
    return verdict


def _quality(csp_feedbacks: list[dict], where: str) -> int:
    for entry in csp_feedbacks:
        for tag in entry.get("tags") or ():
            match = _QUALITY_TAG.fullmatch(str(tag))
            if match:
                return int(match.group(1))
    raise InvalidSignal(f"{where}: an ImagePDQ needs its quality as a tag 'quality:NN' "
                        "(50-100) in CSPFeedbacks", code="pdq_quality_missing")


def _occurred_at(timestamp: int | None, now: dt.datetime, where: str) -> dt.datetime:
    if timestamp is None:
        return now
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidInput(f"{where}.lastModtimestamp is not a unix time in seconds",
                           code="invalid_timestamp") from None
