"""Live propagation: GET /v1/feed?after=N&wait=S answers as soon as an entry above N is
committed (PostgreSQL: LISTEN/NOTIFY; SQLite: short polling), the number of waiting
requests per process is bounded, bad values are refused, and `sync --watch` uses it."""
from __future__ import annotations

import json
import threading
import time

import pytest

from partners.client import FederationClient
from partners.store import LocalStore
from partners.sync import watch
from tests.factories import add_partner, bearer, case_payload, random_signal

TEST_DB = __import__("os").environ.get("FEDERATION_TEST_DB", "sqlite")


@pytest.fixture
def waiting_server(make_app, clean_database):
    """The app, allowing `waiters` long polls per process, on a threaded server."""
    from werkzeug.serving import make_server

    from tests.functional.browser_support import serve_in_thread

    def start(waiters: int = 4):
        app = make_app(FEED_WAITERS=waiters)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        return serve_in_thread(server)
    return start


def report(base: str) -> tuple[float, str]:
    """A person's report over HTTP; (monotonic time of its 201, the md5 it carried)."""
    import http.client

    signal = random_signal("md5")
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/v1/cases", body=json.dumps(case_payload([signal])),
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    assert response.status == 201
    return time.monotonic(), signal["value"]


class LongPoll(threading.Thread):
    def __init__(self, base: str, token: str, after: int, wait: int) -> None:
        super().__init__(daemon=True)
        self.client, self.after, self.wait = FederationClient(base, token, timeout=90), after, wait
        self.page, self.answered = None, None

    def run(self) -> None:
        try:
            self.page = self.client.page(self.after, 100, wait=self.wait)
            self.answered = time.monotonic()
        finally:
            self.client.close()


def test_a_long_poll_answers_as_soon_as_an_entry_is_committed(app, waiting_server):
    token = add_partner(app, scopes="feed:read")
    with waiting_server() as base:
        report(base)  # head 1
        for after in (1, 2, 3):  # three rounds: a 5 s fallback poll cannot pass them all by luck
            poll = LongPoll(base, token, after=after, wait=30)
            poll.start()
            time.sleep(0.3)  # let it reach the waiting state (a head of `after`): not a result check
            assert poll.is_alive(), "answered without waiting"
            committed, value = report(base)
            poll.join(timeout=10)
            assert poll.page is not None and [e["value"] for e in poll.page.entries] == [value]
            assert poll.answered - committed < 1.0, f"{poll.answered - committed:.2f} s after the 201"


def test_a_long_poll_with_no_news_answers_empty_when_its_time_is_up(app, waiting_server):
    token = add_partner(app, scopes="feed:read")
    with waiting_server() as base:
        client = FederationClient(base, token)
        started = time.monotonic()
        page = client.page(0, 10, wait=1)
        elapsed = time.monotonic() - started
        client.close()
    assert page.entries == [] and page.next == 0 and page.retry_after is None
    assert 1.0 <= elapsed < 5


def test_waiters_are_bounded_and_the_rest_are_answered_at_once(app, waiting_server):
    token = add_partner(app, scopes="feed:read")
    with waiting_server(waiters=1) as base:
        holder = LongPoll(base, token, after=0, wait=30)
        holder.start()
        client = FederationClient(base, token)
        deadline = time.monotonic() + 10
        while True:  # once the holder has the one slot, another long poll is not held
            if not holder.is_alive() and holder.page is not None and holder.page.retry_after:
                holder = LongPoll(base, token, after=0, wait=30)  # our probe had the slot then
                holder.start()
            started = time.monotonic()
            page = client.page(0, 10, wait=1)  # a probe that takes the slot gives it back soon
            if page.retry_after is not None:
                break
            assert time.monotonic() < deadline, "the second long poll never found the slot taken"
        assert time.monotonic() - started < 2 and page.entries == [] and page.retry_after == 2
        client.close()
        _, value = report(base)
        holder.join(timeout=10)
        assert [e["value"] for e in holder.page.entries] == [value]


@pytest.mark.parametrize("wait", ["61", "-1", "abc", "1.5", "99999999999999999999"])
def test_bad_wait_values_are_refused(app, client, wait):
    token = add_partner(app, scopes="feed:read")
    response = client.get(f"/v1/feed?after=0&wait={wait}", headers=bearer(token))
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "invalid_input"


def test_waiting_past_the_head_is_refused_at_once(app, waiting_server):
    token = add_partner(app, scopes="feed:read")
    with waiting_server() as base:
        client = FederationClient(base, token)
        started = time.monotonic()
        with pytest.raises(Exception, match="checkpoint_ahead"):
            client.page(5, 10, wait=30)
        assert time.monotonic() - started < 2
        client.close()


def test_the_kit_watch_applies_a_report_within_a_second(app, waiting_server, tmp_path):
    token = add_partner(app, scopes="feed:read")
    with waiting_server() as base:
        report(base)
        synced: list[int] = []
        applied: list[float] = []

        def follow() -> None:  # the kit's store is opened in the thread that uses it
            client = FederationClient(base, token, timeout=90)
            with LocalStore(tmp_path / "kit.db") as store:
                watch(client, store, polls=2, wait=30, workers=1,
                      on_result=lambda result: synced.append(result.checkpoint) or applied.append(
                          time.monotonic()))
            client.close()
        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        deadline = time.monotonic() + 20
        while not synced:  # the first sync took the report already there
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # into the long poll
        committed, value = report(base)
        watcher.join(timeout=20)
        assert not watcher.is_alive() and synced == [1, 2]
        assert applied[1] - committed < 1.0, f"applied {applied[1] - committed:.2f} s after the 201"
        with LocalStore(tmp_path / "kit.db") as check:
            assert [s.value for s in check.signals()][-1] == value


def test_long_polls_through_the_front_neither_time_out_nor_take_every_thread(app, tmp_path, test_config,
                                                                             clean_database):
    """`federation serve` with nginx, one gunicorn worker of 4 threads, 2 waiters allowed:
    six platforms long-poll at once; reports are still answered at once, and the two
    held polls answer with the report's entry."""
    import re

    from federation.feed_wait import MAX_WAIT_SECONDS
    from federation.front.nginx import site_config
    from tests.functional.served import nginx_or_skip, serve

    rendered = site_config(listen="127.0.0.1:1", upstream="unix:/x", max_body=1, access_log="off")
    assert int(re.search(r"proxy_read_timeout (\d+)s;", rendered).group(1)) > MAX_WAIT_SECONDS
    nginx_or_skip()
    token = add_partner(app, scopes="feed:read")
    env = {"FEDERATION_WORKERS": "1", "FEDERATION_THREADS": "4", "FEDERATION_FEED_WAITERS": "2",
           "FEDERATION_FRONT": "nginx"}
    with serve(tmp_path, test_config, env=env) as served:
        base = f"http://{served.host}:{served.port}"
        polls = [LongPoll(base, token, after=0, wait=20) for _ in range(6)]
        for poll in polls:
            poll.start()
        deadline = time.monotonic() + 10
        while sum(not poll.is_alive() for poll in polls) < 4:  # four turned away at once
            assert time.monotonic() < deadline, "the polls past the bound were not answered at once"
            time.sleep(0.05)
        assert all(poll.page.retry_after == 2 for poll in polls if not poll.is_alive())
        started = time.monotonic()
        status, _, _ = served.request("POST", "/v1/cases", case_payload([random_signal("md5")]), timeout=10)
        assert status == 201 and time.monotonic() - started < 5
        for poll in polls:
            poll.join(timeout=15)
        held = [poll for poll in polls if poll.page.retry_after is None]
        assert len(held) == 2 and all(len(poll.page.entries) == 1 for poll in held)
