"""Keep referral codes out of log lines.

A referral link (`/r/CODE`) is the one URL that carries a secret, by design: it is what a
caseworker hands to a person. Access logs print request lines, so the HTTP servers'
loggers get a filter that rewrites `/r/<code>` to `/r/[redacted]` before any handler
formats the line. No other URL of ours carries a secret (docs/architecture.md, invariant 5).
"""
from __future__ import annotations

import logging
import re

REDACTED = "/r/[redacted]"
_LINK = re.compile(r"/r/[^\s\"'?#/]+")
# gunicorn's access log, and werkzeug's development server (tests, `flask run`).
ACCESS_LOGGERS = ("gunicorn.access", "werkzeug")


class RedactReferralLinks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/r/" in message:
            record.msg, record.args = _LINK.sub(REDACTED, message), ()
        return True


def redact(text: str) -> str:
    return _LINK.sub(REDACTED, text)


def redact_referral_links() -> None:
    """Attach the filter to the access loggers (once, however many apps are made)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactReferralLinks) for f in logger.filters):
            logger.addFilter(RedactReferralLinks())
