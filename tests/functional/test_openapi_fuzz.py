"""schemathesis against our own OpenAPI: generated requests (valid and not) for every
operation, with every check on (no server errors, documented status codes, content types
and headers, response schemas, errors included; auth enforced). Bounded and seeded so
that a run is repeatable; FEDERATION_FUZZ_EXAMPLES raises the count for a longer run."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet

from federation.api.strict_json import BAD_CHARACTER, MAX_INT_DIGITS
from tests.factories import add_organisation, add_partner, bearer

EXAMPLES = int(os.environ.get("FEDERATION_FUZZ_EXAMPLES", "75"))

@pytest.fixture
def credentials(app, clean_database):
    from federation import stopncii

    partner = add_partner(app, "fuzz", scopes="feed:read feedback:write signals:write")
    organisation, _ = add_organisation(app, "fuzzorg")
    from sqlalchemy.orm import Session

    with Session(app.extensions["federation.db"].engine) as session:
        keys = stopncii.issue_keys(session, "fuzz")
        session.commit()
    return {"partner": bearer(partner), "organisation": bearer(organisation),
            "stopncii": {"x-functions-key": keys.function_key,
                         "Ocp-Apim-Subscription-Key": keys.subscription_key}}


def headers_for(case, credentials) -> dict:
    """Valid credentials for the case's operation, in place of the generated ones. A
    negative case that leaves a required credential header out (to see it refused) is
    sent without it, not given it back."""
    path = case.path
    if path.startswith("/stopncii"):
        wanted = credentials["stopncii"]
    elif path.startswith("/v1/referrals"):
        wanted = credentials["organisation"]
    elif path.startswith(("/v1/feed", "/v1/signals", "/v1/log")):
        wanted = credentials["partner"]
    else:
        return {}
    generated = case.headers or {}
    return {name: value for name, value in wanted.items() if name in generated}


def semantic(case):
    """What a schema cannot say, for valid requests:
    - a log proof's sizes are in order (first <= second, seq <= size);
    - a feedback time (or a StopNCII lastModtimestamp) is in the past;
    - a batch names each hash once, with one verdict (both refused as duplicate_item);
    - a StopNCII ImagePDQ carries its quality as a tag, and its length fits its type;
    - a StopNCII page token is one we issued (a generated one is refused as forged);
    - a vpdq frame's PDQ has the bit balance of a real picture's, frames have distinct
      times, and some frame has quality 50 or more (docs/video.md);
    - no string holds a NUL or a lone surrogate and no integer is over 20 digits
      (refused in any body by federation.api.strict_json);
    - a PDQ or pHash sets half its bits, as a real picture's does (else degenerate_signal);
    - a cosignature is made with the platform's own key, which a generator does not have:
      a generated one is sent for a tree size past the log's (409 log_size_ahead).
    """
    if isinstance(case.query, dict):
        case.query.pop("nextPageToken", None)
        # A proof exists only for first <= second and seq <= size (else invalid_log_range).
        for low, high in (("first", "second"), ("seq", "size")):
            pair = case.query.get(low), case.query.get(high)
            if all(isinstance(v, int) for v in pair) and pair[0] > pair[1]:
                case.query[low], case.query[high] = pair[1], pair[0]
    if case.body is not None and not isinstance(case.body, NotSet):
        case.body = _printable(case.body)
    body = case.body if isinstance(case.body, dict) else {}
    for entry in body.get("signals") if isinstance(body.get("signals"), list) else ():
        if isinstance(entry, dict) and entry.get("type") in ("pdq", "phash") and isinstance(entry.get("value"), str):
            entry["value"] = _balanced(entry["value"], 256 if entry["type"] == "pdq" else 64)
    if case.path == "/v1/log/cosignatures" and "tree_size" in body:
        body["tree_size"] = 2**63 - 1
    for signal in body.get("signals") if isinstance(body.get("signals"), list) else ():
        if isinstance(signal, dict) and isinstance(signal.get("frames"), list):
            _vpdq_frames(signal["frames"])
    for name in ("items", "hashRecords", "hashFeedbacks"):
        if not isinstance(body.get(name), list):
            continue
        entries = [entry for entry in body[name] if isinstance(entry, dict)]
        for entry in entries:
            if "occurred_at" in entry:
                entry["occurred_at"] = "2026-01-01T00:00:00+00:00"
            if name == "hashRecords":
                _stopncii_record(entry)
        seen, kept = set(), []
        for entry in entries:
            key = str(entry.get("value", entry.get("hashValue"))).lower()
            if key not in seen:
                seen.add(key)
                kept.append(entry)
        body[name] = kept
        if "count" in body:
            body["count"] = len(kept)
    return case


def _vpdq_frames(frames: list) -> None:
    for index, frame in enumerate(frames):
        if isinstance(frame, dict):
            frame["pdq"] = _balanced(f"{frame.get('pdq')}{index}", 256)
            frame["time_ms"] = index * 1000
            frame["quality"] = max(50, frame.get("quality") if isinstance(frame.get("quality"), int) else 50)


def _stopncii_record(record: dict) -> None:
    pdq = str(record.get("signalType", "")).endswith("ImagePDQ")
    record["hashValue"] = (str(record.get("hashValue", "")) * 64)[:64 if pdq else 32] or "0" * 64
    if pdq:
        record["hashValue"] = _balanced(record["hashValue"], 256)
    if record.get("lastModtimestamp") is not None:
        record["lastModtimestamp"] = 1_767_225_600  # a unix time in the past
    feedbacks = [f for f in record.get("CSPFeedbacks") or [] if isinstance(f, dict)][:1]
    if pdq:
        feedbacks = feedbacks or [{"feedbackValue": "Blocked"}]
        feedbacks[0]["tags"] = ["quality:80"]
    record["CSPFeedbacks"] = feedbacks


def _balanced(seed: str, bits: int) -> str:
    """A value with exactly half its bits set, chosen by the generated string."""
    import random
    ones = random.Random(seed).sample(range(bits), bits // 2)
    return f"{sum(1 << i for i in ones):0{bits // 4}x}"


def _printable(value):
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > MAX_INT_DIGITS:
        return 0
    if isinstance(value, str):
        return BAD_CHARACTER.sub("x", value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


# Schemathesis's default rejections, and 413: a body over the size limit is refused
# unread (body_too_large), so a negative case that makes a batch longer than its
# maxItems can be answered 413 before any field is looked at (found by schemathesis
# 4.32: a 1.9 MB StopNCII SubmitHashes body).
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]}}})


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_every_operation_holds_to_its_schema(app, credentials, mode):
    counted = []
    for operation in operations(app):
        strategy = operation.as_strategy(generation_mode=mode)
        if mode is schemathesis.GenerationMode.POSITIVE:
            strategy = strategy.map(semantic)

        @given(case=strategy)
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            counted.append(1)
            case.call_and_validate(headers=headers_for(case, credentials))

        try:
            run()
        except Unsatisfiable:
            # Nothing about this operation can be made invalid (no parameters, no body).
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    print(f"{len(counted)} {mode.value} cases")
