"""Single lookups arriving together are searched together, and each gets its own answer."""
from __future__ import annotations

import threading
import time

import numpy as np

from partners.index import words_to_hex
from partners.matching import MatchIndex
from partners.serve import _Coalescer

THREADS, EACH = 24, 40


class CountingIndex(MatchIndex):
    """A real index that also counts its searches and how many hashes each one held."""

    def __init__(self) -> None:
        super().__init__(background=False)
        self.batches: list[int] = []
        self._counting = threading.Lock()

    def match_values(self, signal_type, values, pdq_qualities=None):
        with self._counting:
            self.batches.append(len(values))
        return super().match_values(signal_type, values, pdq_qualities)


def test_concurrent_single_lookups_each_get_their_own_answer_in_shared_searches():
    rng = np.random.default_rng(7)
    hashes = words_to_hex(rng.integers(0, 2**64, size=(THREADS * EACH, 4), dtype=np.uint64))
    index = CountingIndex()
    index.add_many("pdq", [f"r_{i}" for i in range(len(hashes))], hashes)
    coalescer = _Coalescer()
    wrong: list[tuple[int, object]] = []
    start = threading.Barrier(THREADS)

    def client(thread: int) -> None:
        start.wait()
        for i in range(thread, len(hashes), THREADS):
            answer = coalescer.lookup(index, "pdq", hashes[i], None)
            if [(m.record_id, m.distance) for m in answer] != [(f"r_{i}", 0)]:
                wrong.append((i, answer))

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a lookup waited forever"
    assert wrong == []
    assert sum(index.batches) == len(hashes)
    assert len(index.batches) < len(hashes)  # some searches answered several lookups at once


def test_a_failing_search_fails_each_of_its_lookups_and_the_next_ones_still_run():
    index = MatchIndex(background=False)
    coalescer = _Coalescer()
    try:
        coalescer.lookup(index, "pdq", "not a hash", None)
    except ValueError:
        pass
    else:
        raise AssertionError("a malformed value was searched")
    index.add("r_1", "md5", "a" * 32)
    assert [m.record_id for m in coalescer.lookup(index, "md5", "a" * 32, None)] == ["r_1"]


def test_a_client_hanging_up_is_not_logged_and_nothing_names_its_address(capsys, caplog):
    from partners.serve import Matcher, make_server

    server = make_server(Matcher("unused.db"), "127.0.0.1", 0)
    try:
        for error in (ConnectionResetError(104, "reset"), RuntimeError("bug")):
            try:
                raise error
            except Exception:  # noqa: BLE001 - as socketserver calls handle_error
                server.handle_error(None, ("192.0.2.7", 5555))
    finally:
        server.server_close()
    printed = capsys.readouterr()
    assert "192.0.2.7" not in printed.err + printed.out + caplog.text
    assert "Traceback" not in printed.err
    assert [r.getMessage() for r in caplog.records] == ["a lookup request failed: RuntimeError"]
