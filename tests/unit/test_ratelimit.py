"""Rate limits: named fixed windows and per-network PIN locks, in this process and in
Redis (the same rules for both), keyed under a rotating key that is never the pepper."""
from __future__ import annotations

import logging

import pytest

from federation.errors import LockedOut
from federation.ratelimit import (
    DAY,
    KeyRing,
    Limit,
    MemoryStore,
    NetworkLocks,
    RateLimit,
    RedisStore,
    TooManyGuesses,
    TooManyRequests,
    client_network,
    guard,
    limit,
    make_backend,
)

LIMIT = Limit(limit=3, window_seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = 100 * DAY + 1000.0

    def __call__(self) -> float:
        return self.now


def memory_limit(clock: Clock, rule: Limit = LIMIT) -> RateLimit:
    return RateLimit("test", rule, MemoryStore(clock), KeyRing(clock=clock))


def test_failures_window():
    clock = Clock()
    counter = memory_limit(clock)
    for _ in range(2):
        counter.record_failure("ip:203.0.113.9")
    assert counter.retry_after("ip:203.0.113.9") == 0  # under the limit
    clock.now += 20
    counter.record_failure("ip:203.0.113.9")
    # The window started at the first failure: 40 of its 60 seconds are left.
    assert counter.retry_after("ip:203.0.113.9") == 40
    assert counter.retry_after("ip:198.51.100.1") == 0  # another client
    clock.now += 40
    assert counter.retry_after("ip:203.0.113.9") == 0  # the window ended
    counter.record_failure("ip:203.0.113.9")
    assert counter.retry_after("ip:203.0.113.9") == 0  # a new window, one failure


def test_hit_counts_every_attempt_and_refuses_past_the_limit():
    clock = Clock()
    counter = memory_limit(clock)
    assert [counter.hit("ip:203.0.113.9") for _ in range(3)] == [0, 0, 0]
    clock.now += 15
    assert counter.hit("ip:203.0.113.9") == 45  # the fourth, refused until the window ends
    assert counter.hit("ip:198.51.100.1") == 0
    clock.now += 45
    assert counter.hit("ip:203.0.113.9") == 0


def test_limit_raises_429_with_retry_after_and_a_stable_code():
    counter = memory_limit(Clock(), Limit(1, 60))
    limit(counter, "ip:x")
    with pytest.raises(TooManyRequests) as raised:
        limit(counter, "ip:x")
    assert isinstance(raised.value, LockedOut) and raised.value.status == 429
    assert raised.value.retry_after == 60 and raised.value.code == "rate_limited"


@pytest.mark.parametrize("address, network", [
    ("203.0.113.9", "ip:203.0.113.9"),
    ("2001:db8:1:2:aaaa::1", "ip6:2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "ip6:2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "ip6:2001:db8:1:3::/64"),
    ("::ffff:203.0.113.9", "ip:203.0.113.9"),
    (None, "addr:None"),
])
def test_client_network(address, network):
    assert client_network(address) == network


def test_memory_holds_no_address_and_keys_are_not_the_pepper():
    clock = Clock()
    store, keys = MemoryStore(clock), KeyRing(clock=clock)
    counter = RateLimit("test", LIMIT, store, keys)
    counter.hit("ip:203.0.113.9")
    assert "203.0.113.9" not in repr(store._counts)
    # The name is an HMAC under today's key: tomorrow's key makes another name.
    [name] = store._counts
    clock.now += DAY
    counter.hit("ip:203.0.113.9")
    assert len(store._counts) == 2 and name in store._counts


def test_key_ring_rotates_daily_and_forgets_old_keys():
    clock = Clock()
    ring = KeyRing(clock=clock)
    day, today, yesterday = ring.keys()
    assert yesterday is None and len(today) == 32
    clock.now += DAY
    day2, tomorrow, previous = ring.keys()
    assert day2 == day + 1 and previous == today and tomorrow != today
    clock.now += DAY
    ring.keys()
    assert day not in ring._keys  # two days on, the first key is gone


def test_a_window_running_at_the_rotation_runs_on():
    clock = Clock()
    clock.now = 101 * DAY - 30  # 30 seconds before midnight UTC
    counter = memory_limit(clock)
    for _ in range(3):
        counter.hit("ip:203.0.113.9")
    clock.now += 40  # a new day, a new key
    assert counter.hit("ip:203.0.113.9") == 20  # still over: the count came along
    clock.now += 20
    assert counter.hit("ip:203.0.113.9") == 0  # the window ended when it would have


def test_network_locks_lock_only_that_network_and_double():
    clock = Clock()
    locks = NetworkLocks(MemoryStore(clock), KeyRing(clock=clock), max_failures=5,
                         lock_seconds=lambda n: min(60 * 2 ** (n - 1), 3600), remember_seconds=7200)
    for _ in range(4):
        assert locks.record_failure(7, "ip:a") == 0
    assert locks.record_failure(7, "ip:a") == 60
    assert locks.retry_after(7, "ip:a") == 60
    assert locks.retry_after(7, "ip:b") == 0  # another network
    assert locks.retry_after(8, "ip:a") == 0  # another case
    clock.now += 60
    assert locks.retry_after(7, "ip:a") == 0
    results = [locks.record_failure(7, "ip:a") for _ in range(5)]
    assert results == [0, 0, 0, 0, 120]  # the second lock is twice as long
    locks.forget(7, "ip:a")  # the right PIN from that network
    assert locks.retry_after(7, "ip:a") == 0
    assert [locks.record_failure(7, "ip:a") for _ in range(5)][-1] == 60


def test_redis_limit_shared_between_workers(redis_space):
    client, prefix = redis_space.client, redis_space.prefix
    store, clock = RedisStore(client), Clock()
    worker_a = RateLimit("test", LIMIT, store, KeyRing(client, prefix, clock), prefix)
    worker_b = RateLimit("test", LIMIT, store, KeyRing(client, prefix, clock), prefix)
    assert [worker_a.hit("ip:203.0.113.9"), worker_b.hit("ip:203.0.113.9"),
            worker_a.hit("ip:203.0.113.9")] == [0, 0, 0]
    assert 1 <= worker_b.hit("ip:203.0.113.9") <= 60
    assert worker_b.hit("ip:198.51.100.1") == 0
    # Redis holds the day's random key and digests, never the address.
    keys = list(client.scan_iter(f"{prefix}*"))
    assert keys and not any(b"203.0.113.9" in key for key in keys)
    assert all(b"203.0.113.9" not in (client.get(key) or b"") for key in keys)
    [ring_key] = [key for key in keys if b"rate-key" in key]
    assert 0 < client.ttl(ring_key) <= 2 * DAY


def test_redis_network_locks(redis_space):
    client, prefix = redis_space.client, redis_space.prefix
    locks = NetworkLocks(RedisStore(client), KeyRing(client, prefix), max_failures=2,
                         lock_seconds=lambda n: 60 * n, remember_seconds=600, prefix=prefix)
    assert locks.record_failure(1, "ip:a") == 0
    assert locks.record_failure(1, "ip:a") == 60
    assert 1 <= locks.retry_after(1, "ip:a") <= 60 and locks.retry_after(1, "ip:b") == 0
    locks.forget(1, "ip:a")
    assert locks.retry_after(1, "ip:a") == 0


def test_redis_outage_lets_requests_through_and_says_so(caplog):
    backend = make_backend("redis://127.0.0.1:1/0")
    counter = RateLimit("test", LIMIT, backend.store, backend.keys)
    with caplog.at_level(logging.WARNING, logger="federation.ratelimit"):
        counter.record_failure("ip:203.0.113.9")
        assert counter.retry_after("ip:203.0.113.9") == 0
        assert counter.hit("ip:203.0.113.9") == 0
    assert "rate-limit counter unavailable" in caplog.text
    assert "203.0.113.9" not in caplog.text


def test_make_backend_picks_redis_only_when_configured():
    assert isinstance(make_backend("").store, MemoryStore)
    assert isinstance(make_backend("redis://127.0.0.1:6379/0").store, RedisStore)


def test_guard_raises_429_with_retry_after():
    counter = memory_limit(Clock())
    guard(counter, "ip:x")
    for _ in range(3):
        counter.record_failure("ip:x")
    with pytest.raises(TooManyGuesses) as raised:
        guard(counter, "ip:x")
    assert isinstance(raised.value, LockedOut) and raised.value.status == 429
    assert raised.value.retry_after == 60 and raised.value.code == "too_many_guesses"
