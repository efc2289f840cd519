"""Rate limits per client: named fixed-window limits and per-network PIN locks, counted
in this process or, when FEDERATION_REDIS_URL is set, in Redis shared by every worker.

Clients are networks, not single addresses (`client_network`): an IPv4 address, or the
/64 an IPv6 address belongs to (one household or phone gets a whole /64, so counting
single IPv6 addresses would count nothing).

No address is stored anywhere. Every counter's name is an HMAC of the client under a
*rotating* key (`KeyRing`): a random 32-byte key per UTC day, shared by the workers
through Redis (SET NX with an expiry) or kept in this process, and forgotten two days
later. It is never the pepper, so once a day's key is gone nobody, the operator included,
can test an address against a copy of Redis or of the audit table. Across a rotation a
counter carries over: the first use of a name under the new key copies the count and the
time left from the previous key's name (kept one more day for that), so a window or a
lock running at midnight runs on as if nothing happened.

Two kinds of limit:
- `RateLimit`: at most `limit` events per client per fixed window. `hit` counts an
  attempt and refuses it past the limit (reports, status and withdraw); `record_failure`
  and `retry_after` count failures only (referral-code guesses), so people using their
  own codes are never slowed down.
- `NetworkLocks`: wrong PINs per (case, network); every `max_failures` wrong PINs lock
  that network out of that case, each lock twice as long as the one before, capped.

If Redis cannot be reached the checks let the request through and log it (without the
client): a person must not be kept from reporting by our outage.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from federation.errors import LockedOut

log = logging.getLogger(__name__)

Clock = Callable[[], float]
DAY = 86400
_KEY_LIFETIME = 2 * DAY  # a day as the current key, then a day as the previous one


def client_network(address: str | None) -> str:
    """The client a request is counted against: `ip:A.B.C.D`, or `ip6:PREFIX/64`."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"addr:{address}"  # not an address (a test client, a Unix socket)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip6:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


@dataclass(frozen=True)
class Limit:
    limit: int
    window_seconds: int


# --- the rotating key -----------------------------------------------------------------

class KeyRing:
    """Today's key and yesterday's (None when there was none), by UTC day of `clock`.

    With `redis` the keys are shared: the first worker to need a day's key makes it
    (SET NX, expiring after two days) and every worker reads the same one. Without,
    each process makes its own. Keys are cached in the process for their day.
    """

    def __init__(self, redis: Any = None, prefix: str = "federation:", clock: Clock = time.time) -> None:
        self._redis, self._prefix, self.clock = redis, prefix, clock
        self._keys: dict[int, bytes] = {}
        self._none_before = -1  # days up to this one had no key (yesterday's, looked up once)
        self._lock = threading.Lock()

    def keys(self) -> tuple[int, bytes, bytes | None]:
        day = int(self.clock() // DAY)
        with self._lock:
            for old in [d for d in self._keys if d < day - 1]:
                del self._keys[old]  # forget keys past their two days
        today = self._key(day, create=True)
        if today is None:
            raise RuntimeError("no rate-limit key for today")  # SET NX then GET: not expected
        return day, today, self._key(day - 1, create=False)

    def _key(self, day: int, *, create: bool) -> bytes | None:
        with self._lock:
            if day in self._keys:
                return self._keys[day]
            if not create and day <= self._none_before:
                return None
        key: bytes | None
        if self._redis is None:
            key = secrets.token_bytes(32) if create else None
        else:
            name = f"{self._prefix}rate-key:{day}"
            # Expire two days after the day began, wherever in the day it was made.
            expiry = max(1, int((day * DAY + _KEY_LIFETIME) - self.clock()))
            if create:
                self._redis.set(name, secrets.token_bytes(32), nx=True, ex=expiry)
            key = self._redis.get(name)
        with self._lock:
            if key is not None:
                key = self._keys.setdefault(day, key)
            elif not create:  # a past day without a key never gets one
                self._none_before = max(self._none_before, day)
        return key


# --- where counts live ------------------------------------------------------------------

class Store(Protocol):
    def incr(self, name: str, ttl: int, *, refresh: bool = False) -> tuple[int, int]:
        """Add one; a new name lives `ttl` seconds (every time, with `refresh`).
        Returns the count and the seconds it has left."""

    def get(self, name: str) -> tuple[int, int]:
        """The count and the seconds it has left; (0, 0) when absent."""

    def seed(self, name: str, count: int, ttl: int) -> None:
        """Set the count unless the name exists."""

    def delete(self, *names: str) -> None: ...


class MemoryStore:
    """Counts in this process, behind a lock. `clock` is injectable for tests."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._counts: dict[str, tuple[int, float]] = {}  # name -> (count, expires at)
        self._lock = threading.Lock()

    def incr(self, name: str, ttl: int, *, refresh: bool = False) -> tuple[int, int]:
        now = self.clock()
        with self._lock:
            if len(self._counts) > 100_000:  # bound memory: drop what has expired
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count, ends = self._live(name, now)
            if not count or refresh:
                ends = now + ttl
            self._counts[name] = (count + 1, ends)
            return count + 1, max(1, math.ceil(ends - now))

    def get(self, name: str) -> tuple[int, int]:
        now = self.clock()
        with self._lock:
            count, ends = self._live(name, now)
        return (count, math.ceil(ends - now)) if count else (0, 0)

    def seed(self, name: str, count: int, ttl: int) -> None:
        now = self.clock()
        with self._lock:
            if not self._live(name, now)[0]:
                self._counts[name] = (count, now + ttl)

    def delete(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counts.pop(name, None)

    def clear(self) -> None:
        """Forget every count (tests start each from nothing)."""
        with self._lock:
            self._counts.clear()

    def _live(self, name: str, now: float) -> tuple[int, float]:
        count, ends = self._counts.get(name, (0, now))
        return (count, ends) if ends > now else (0, now)


class RedisStore:
    """Counts in Redis: INCR, with the expiry set by the first count (EXPIRE NX, Redis 7)."""

    def __init__(self, client: Any) -> None:
        self._redis = client

    def incr(self, name: str, ttl: int, *, refresh: bool = False) -> tuple[int, int]:
        pipe = self._redis.pipeline()
        pipe.incr(name)
        if refresh:
            pipe.expire(name, ttl)
        else:
            pipe.expire(name, ttl, nx=True)
        pipe.ttl(name)
        count, _, left = pipe.execute()
        return int(count), max(1, int(left)) if left and left > 0 else ttl

    def get(self, name: str) -> tuple[int, int]:
        count, left = self._redis.pipeline().get(name).ttl(name).execute()
        if count is None or not left or left <= 0:
            return 0, 0
        return int(count), int(left)

    def seed(self, name: str, count: int, ttl: int) -> None:
        self._redis.set(name, count, nx=True, ex=max(1, ttl))

    def delete(self, *names: str) -> None:
        self._redis.delete(*names)


class _Counted:
    """Names under the rotating key, carried over from the previous key on first use."""

    def __init__(self, purpose: str, store: Store, keys: KeyRing, prefix: str) -> None:
        self._purpose, self.store, self._keys, self._prefix = purpose, store, keys, prefix

    def _names(self, client: str) -> tuple[str, str | None]:
        _, current, previous = self._keys.keys()
        return self._name(current, client), self._name(previous, client) if previous else None

    def _name(self, key: bytes, client: str) -> str:
        digest = hmac.new(key, f"{self._purpose}\x00{client}".encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}{self._purpose}:{digest}"

    def _carried(self, client: str) -> str:
        """Today's name for `client`, holding what yesterday's name held if it is new."""
        current, previous = self._names(client)
        if previous is not None and not self.store.get(current)[0]:
            count, left = self.store.get(previous)
            if count:
                self.store.seed(current, count, left)
        return current

    def _safely(self, what: str, action: Callable[[], int], default: int = 0) -> int:
        try:
            return action()
        except Exception:  # any store failure: fail open, and say so
            log.warning("rate-limit counter unavailable (%s); allowing the request", what, exc_info=True)
            return default


class RateLimit(_Counted):
    """At most `limit.limit` counted events per client in each fixed window."""

    def __init__(self, name: str, limit: Limit, store: Store, keys: KeyRing,
                 prefix: str = "federation:") -> None:
        super().__init__(name, store, keys, prefix)
        self.name, self.limit = name, limit

    def hit(self, client: str) -> int:
        """Count one attempt. Seconds until the client may try again if it is over the
        limit (this attempt is refused), else 0."""
        def count() -> int:
            events, left = self.store.incr(self._carried(client), self.limit.window_seconds)
            return left if events > self.limit.limit else 0
        return self._safely(self.name, count)

    def retry_after(self, client: str) -> int:
        """Seconds until this client may try again; 0 when it may now (counts nothing)."""
        def check() -> int:
            events, left = self.store.get(self._carried(client))
            return left if events >= self.limit.limit else 0
        return self._safely(self.name, check)

    def record_failure(self, client: str) -> None:
        """Count one failed guess by this client."""
        self._safely(self.name, lambda: self.store.incr(self._carried(client),
                                                           self.limit.window_seconds)[0])


GuessCounter = RateLimit  # the referral-code guesses are a RateLimit counting failures


class NetworkLocks(_Counted):
    """Wrong PINs per (case, client network), and the lock they earn that network.

    Every `max_failures`-th wrong PIN from a network locks that network out of that case
    for `lock_seconds(n)` (the n-th lock); other networks are not affected. A network's
    wrong PINs are remembered for `remember_seconds` after the last one, and forgotten
    when the right PIN comes from it.
    """

    def __init__(self, store: Store, keys: KeyRing, *, max_failures: int,
                 lock_seconds: Callable[[int], int], remember_seconds: int,
                 prefix: str = "federation:") -> None:
        super().__init__("pin-network", store, keys, prefix)
        self._max, self._lock_seconds, self._remember = max_failures, lock_seconds, remember_seconds

    def retry_after(self, case_id: int, client: str) -> int:
        """Seconds this network must wait before trying this case again; 0 if it may."""
        return self._safely("pin lock", lambda: self.store.get(self._carried(_lock(case_id, client)))[1])

    def record_failure(self, case_id: int, client: str) -> int:
        """Count a wrong PIN; the length of the lock it started, or 0."""
        def count() -> int:
            failures, _ = self.store.incr(self._carried(_failures(case_id, client)),
                                           self._remember, refresh=True)
            if failures % self._max:
                return 0
            # INCR hands each count to one request only: one lock per multiple, no race.
            seconds = self._lock_seconds(failures // self._max)
            lock = self._carried(_lock(case_id, client))
            self.store.delete(lock)
            self.store.incr(lock, seconds)
            return seconds
        return self._safely("pin lock", count)

    def forget(self, case_id: int, client: str) -> None:
        """The right PIN came from this network: its wrong ones no longer count."""
        def clear() -> int:
            for thing in (_failures(case_id, client), _lock(case_id, client)):
                self.store.delete(*filter(None, self._names(thing)))
            return 0
        self._safely("pin lock", clear)


def _failures(case_id: int, client: str) -> str:
    return f"failures\x00{case_id}\x00{client}"


def _lock(case_id: int, client: str) -> str:
    return f"lock\x00{case_id}\x00{client}"


# --- made once per app ----------------------------------------------------------------

@dataclass(frozen=True)
class Backend:
    """The store and key ring every limit of one app shares."""

    store: Store
    keys: KeyRing
    prefix: str = "federation:"


def make_backend(redis_url: str | None, prefix: str = "federation:", clock: Clock = time.time) -> Backend:
    """Redis when `redis_url` is set, else this process."""
    if not redis_url:
        return Backend(MemoryStore(clock), KeyRing(clock=clock), prefix)
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    return Backend(RedisStore(client), _FailOpenKeyRing(client, prefix, clock), prefix)


class _FailOpenKeyRing(KeyRing):
    """A shared key ring that falls back to this process's keys while Redis is down, so
    the limits fail open (their store is down too) instead of failing the request."""

    def __init__(self, redis: Any, prefix: str, clock: Clock) -> None:
        super().__init__(redis, prefix, clock)
        self._local = KeyRing(clock=clock)

    def keys(self) -> tuple[int, bytes, bytes | None]:
        try:
            return super().keys()
        except Exception:  # Redis down: fail open like the limits
            log.warning("rate-limit key unavailable; using this process's key", exc_info=True)
            return self._local.keys()


def make_limit(backend: Backend, name: str, limit: Limit) -> RateLimit:
    return RateLimit(name, limit, backend.store, backend.keys, backend.prefix)


class TooManyGuesses(LockedOut):
    code = "too_many_guesses"
    title = "Too many codes that did not work; try again later"


class TooManyRequests(LockedOut):
    """A client is over one of the person endpoints' limits (reports, status, withdraw)."""

    code = "rate_limited"
    title = "Too many requests from this network; try again later"


def guard(counter: RateLimit, key: str) -> None:
    """Raise TooManyGuesses (429 with Retry-After) while this client is over its limit."""
    seconds = counter.retry_after(key)
    if seconds:
        raise TooManyGuesses(seconds)


def limit(rate_limit: RateLimit, client: str) -> None:
    """Count this request; raise TooManyRequests (429 with Retry-After) past the limit."""
    seconds = rate_limit.hit(client)
    if seconds:
        raise TooManyRequests(seconds)
