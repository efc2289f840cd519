"""Counting failed guesses: a fixed window per client, shared through Redis when configured.

Only failures count (an unknown, expired or used referral code), so people using their
own codes are never slowed down. Once a client has `limit` failures in a window, every
look-up from it is refused until the window ends, right codes included: otherwise the
limit would leak which guess was right. Client keys are HMAC'd under the pepper before
they are stored, so neither Redis nor memory holds an IP address.

Without FEDERATION_REDIS_URL the counters live in this process, which is right for the
single-process embedded setup; several workers need Redis to share them (otherwise the
limit applies per worker). If Redis cannot be reached the check lets the request through
and logs it: an 80-bit code is not guessable in the time it takes to notice, and a
person must not be kept from reporting by our outage.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from federation.errors import LockedOut

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    limit: int
    window_seconds: int


class GuessCounter(Protocol):
    def retry_after(self, key: str) -> int:
        """Seconds until this client may try again; 0 when it may now."""

    def record_failure(self, key: str) -> None:
        """Count one failed guess by this client."""


class MemoryCounter:
    """Counters in this process, behind a lock. `clock` is injectable for tests."""

    def __init__(self, limit: Limit, secret: bytes, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self._secret, self._clock = limit, secret, clock
        self._windows: dict[bytes, tuple[int, float]] = {}  # key -> (failures, window end)
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        now = self._clock()
        with self._lock:
            failures, ends = self._windows.get(_key(self._secret, key), (0, now))
        if ends <= now or failures < self.limit.limit:
            return 0
        return max(1, math.ceil(ends - now))

    def record_failure(self, key: str) -> None:
        now = self._clock()
        digest = _key(self._secret, key)
        with self._lock:
            if len(self._windows) > 100_000:  # bound memory: drop windows that have ended
                self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
            failures, ends = self._windows.get(digest, (0, now))
            if ends <= now:
                failures, ends = 0, now + self.limit.window_seconds
            self._windows[digest] = (failures + 1, ends)


class RedisCounter:
    """Counters in Redis: INCR, with the window's expiry set by the first failure."""

    def __init__(self, limit: Limit, secret: bytes, client, prefix: str = "federation:guesses:") -> None:
        self.limit, self._secret, self._redis, self._prefix = limit, secret, client, prefix

    def retry_after(self, key: str) -> int:
        name = self._name(key)
        try:
            failures, ttl = self._redis.pipeline().get(name).ttl(name).execute()
        except Exception:
            log.warning("rate-limit counter unavailable; allowing the request", exc_info=True)
            return 0
        if failures is None or int(failures) < self.limit.limit:
            return 0
        return max(1, int(ttl)) if ttl and ttl > 0 else self.limit.window_seconds

    def record_failure(self, key: str) -> None:
        name = self._name(key)
        try:
            # NX: only the first failure of a window sets its end (Redis >= 7).
            self._redis.pipeline().incr(name).expire(name, self.limit.window_seconds, nx=True).execute()
        except Exception:
            log.warning("rate-limit counter unavailable; failure not counted", exc_info=True)

    def _name(self, key: str) -> str:
        return self._prefix + _key(self._secret, key).hex()


def make_counter(limit: Limit, secret: bytes, redis_url: str | None) -> GuessCounter:
    """A Redis counter when `redis_url` is set, else one in this process."""
    if not redis_url:
        return MemoryCounter(limit, secret)
    import redis

    return RedisCounter(limit, secret, redis.Redis.from_url(redis_url, socket_timeout=1,
                                                            socket_connect_timeout=1))


def _key(secret: bytes, key: str) -> bytes:
    return hmac.new(secret, b"rate-limit\x00" + key.encode(), hashlib.sha256).digest()


class TooManyGuesses(LockedOut):
    code = "too_many_guesses"
    title = "Too many codes that did not work; try again later"


def guard(counter: GuessCounter, key: str) -> None:
    """Raise TooManyGuesses (429 with Retry-After) while this client is over its limit."""
    seconds = counter.retry_after(key)
    if seconds:
        raise TooManyGuesses(seconds)
