"""Failed-guess counters: in this process, and in Redis (the same rules for both)."""
from __future__ import annotations

import logging
import secrets

import pytest

from federation.errors import LockedOut
from federation.ratelimit import Limit, MemoryCounter, RedisCounter, TooManyGuesses, guard, make_counter

LIMIT = Limit(limit=3, window_seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {error}")
    yield client
    client.close()


def test_memory_counter_window():
    clock = Clock()
    counter = MemoryCounter(LIMIT, secrets.token_bytes(32), clock=clock)
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


def test_memory_counter_holds_no_address():
    counter = MemoryCounter(LIMIT, secrets.token_bytes(32))
    counter.record_failure("ip:203.0.113.9")
    assert "203.0.113.9" not in repr(counter._windows)


def test_redis_counter_window_and_keys(redis_client):
    secret = secrets.token_bytes(32)
    counter = RedisCounter(LIMIT, secret, redis_client)
    for _ in range(3):
        assert counter.retry_after("ip:203.0.113.9") == 0
        counter.record_failure("ip:203.0.113.9")
    wait = counter.retry_after("ip:203.0.113.9")
    assert 1 <= wait <= 60
    assert counter.retry_after("ip:198.51.100.1") == 0
    # Keys are digests under the secret: Redis holds no address.
    [key] = redis_client.keys(f"federation:guesses:{counter._name('ip:203.0.113.9').rsplit(':', 1)[1]}")
    assert b"203.0.113.9" not in key and 0 < redis_client.ttl(key) <= 60
    # Two counters with the same secret (two workers) share the count.
    assert RedisCounter(LIMIT, secret, redis_client).retry_after("ip:203.0.113.9") >= 1
    redis_client.delete(key)
    assert counter.retry_after("ip:203.0.113.9") == 0


def test_redis_outage_lets_requests_through_and_says_so(caplog):
    import redis

    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    counter = RedisCounter(LIMIT, secrets.token_bytes(32), down)
    with caplog.at_level(logging.WARNING, logger="federation.ratelimit"):
        counter.record_failure("ip:203.0.113.9")
        assert counter.retry_after("ip:203.0.113.9") == 0
    assert "rate-limit counter unavailable" in caplog.text
    assert "203.0.113.9" not in caplog.text


def test_make_counter_picks_redis_only_when_configured():
    assert isinstance(make_counter(LIMIT, b"k" * 32, ""), MemoryCounter)
    assert isinstance(make_counter(LIMIT, b"k" * 32, "redis://127.0.0.1:6379/0"), RedisCounter)


def test_guard_raises_429_with_retry_after():
    clock = Clock()
    counter = MemoryCounter(LIMIT, b"k" * 32, clock=clock)
    guard(counter, "ip:x")
    for _ in range(3):
        counter.record_failure("ip:x")
    with pytest.raises(TooManyGuesses) as raised:
        guard(counter, "ip:x")
    assert isinstance(raised.value, LockedOut) and raised.value.status == 429
    assert raised.value.retry_after == 60 and raised.value.code == "too_many_guesses"
