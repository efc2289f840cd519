"""Partner kit benchmark: the PDQ match index and the photo hasher, against baselines.

Every number is measured in the same run as its baseline, on the same data, and
printed as the median of ``--repeat`` runs with the ratio to the baseline.

1. index: queries per second (one thread) and bytes per hash of partners.index.PDQIndex
   at each ``--sizes`` count of random PDQ hashes; half the queries are near-duplicates
   of stored hashes (1..31 bits flipped), half unrelated. Baselines: faiss
   IndexBinaryFlat (brute force) and IndexBinaryMultiHash(256, 16, 16) with nflip=1
   (what Meta's HMA uses), both through range_search with radius 32 (faiss returns
   distances strictly below the radius, i.e. <= 31), omp threads = 1. Recall and
   precision are computed against IndexBinaryFlat's exact answers: both must be 1.0.
2. hashing: photos per second of partners.hashing.hash_photo (PDQ + pHash, EXIF
   orientation applied) against Meta's C++ PDQ (``pdqhash.compute``) after a full
   Pillow decode and exif_transpose, on the corpus's 12-megapixel phone photos and on
   the whole corpus; with the largest PDQ bit distance between the two (on images of
   quality >= 80).
3. sync: a first sync of 1,000,000 entries from gunicorn on PostgreSQL, verified and
   applied to a local store, verification on every core against one process.

Run from the repository root (10 M hashes need about 6 GB of memory and ten minutes
or so on two cores, mostly building the faiss multi-hash index and the brute-force
baseline queries):

    .venv/bin/python -m bench.partner                      # 1 M hashes + hashing
    .venv/bin/python -m bench.partner --sizes 1000000 10000000 --repeat 3
    .venv/bin/python -m bench.partner --only hashing
"""
from __future__ import annotations

import argparse
import csv
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from partners.index import PDQIndex

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_DISTANCE = 31
SECTIONS = ("index", "hashing", "sync", "latency", "store", "serve")


def default_corpus() -> Path:
    return Path(os.environ.get("FEDERATION_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))


def faiss_bytes(faiss, index) -> int:
    """A faiss index's size as serialised (codes plus hash tables; a lower bound in memory)."""
    return faiss.serialize_index_binary(index).size


def median_rate(work: Callable[[], object], items: int, repeat: int) -> float:
    """Items per second: the median over ``repeat`` timed runs after one warm-up."""
    work()
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates)


# ---- 1. index ----------------------------------------------------------------------

def make_queries(stored: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Half near-duplicates (1..31 random bits flipped), half random; and their sources."""
    near = count // 2
    sources = rng.integers(0, len(stored), near)
    queries = rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)
    queries[:near] = stored[sources]
    flips = rng.integers(1, MAX_DISTANCE + 1, near)
    ranks = np.argsort(rng.random((near, 256)), axis=1)  # a random order of the 256 bits
    for i in range(near):
        bits = ranks[i, :flips[i]]
        masks = np.zeros(4, dtype=np.uint64)
        np.bitwise_or.at(masks, bits // 64, np.uint64(1) << (bits % 64).astype(np.uint64))
        queries[i] ^= masks
    return queries, sources


def faiss_results(lims: np.ndarray, ids: np.ndarray) -> list[set[int]]:
    return [set(ids[lims[i]:lims[i + 1]].tolist()) for i in range(len(lims) - 1)]


def bench_index(count: int, query_count: int, repeat: int, seed: int) -> None:
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(seed)
    print(f"\n== index: {count:,} random PDQ hashes, {query_count} queries "
          f"(half near-duplicates at 1..{MAX_DISTANCE} bits) ==")
    stored = rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)
    queries, sources = make_queries(stored, query_count, rng)
    as_bytes = stored.view(np.uint8).reshape(count, 32)
    query_bytes = np.ascontiguousarray(queries).view(np.uint8).reshape(-1, 32)

    # Ours.
    start = time.perf_counter()
    index = PDQIndex.from_words(stored)
    build = time.perf_counter() - start
    ours_bytes = index.nbytes / count
    ours = []
    ours_qps = median_rate(lambda: ours.append(index.search_batch(queries)), query_count, repeat)
    ours = ours[-1]
    planted_found = all(src in ours[i][0].tolist() for i, src in enumerate(sources))
    print(f"ours    build {build:6.1f} s  {ours_bytes:6.1f} B/hash  "
          f"{ours_qps:9.0f} queries/s  planted near-duplicates all found: {planted_found}")
    index = None  # freed before the next index is built
    gc.collect()

    # faiss brute force: the exact answers, and a baseline.
    flat = faiss.IndexBinaryFlat(256)
    flat.add(as_bytes)
    flat_bytes = faiss_bytes(faiss, flat) / count
    flat_queries = min(query_count, max(100, int(4e8 // count)))  # ~1-2 s per run
    truth = []

    def flat_search() -> None:
        lims, distances, ids = flat.range_search(query_bytes[:flat_queries], MAX_DISTANCE + 1)
        assert distances.size == 0 or distances.max() <= MAX_DISTANCE
        truth.append(faiss_results(lims, ids))

    flat_qps = median_rate(flat_search, flat_queries, repeat)
    truth = truth[-1]
    print(f"faiss IndexBinaryFlat               {flat_bytes:6.1f} B/hash         "
          f"{flat_qps:9.0f} queries/s  ({flat_queries} queries)")
    flat = None
    gc.collect()

    found = [set(ours[i][0].tolist()) for i in range(flat_queries)]
    true_total = sum(len(t) for t in truth)
    hits = sum(len(f & t) for f, t in zip(found, truth, strict=False))
    recall = hits / true_total if true_total else 1.0
    precision = hits / sum(len(f) for f in found) if any(found) else 1.0
    print(f"ours vs exact: recall {recall:.4f}  precision {precision:.4f}  "
          f"({true_total} true matches in {flat_queries} queries)")

    # faiss multi-index hashing, as in HMA.
    start = time.perf_counter()
    mih = faiss.IndexBinaryMultiHash(256, 16, 16)
    mih.nflip = 1
    mih.add(as_bytes)
    mih_build = time.perf_counter() - start
    mih_bytes = faiss_bytes(faiss, mih) / count
    mih_queries = min(query_count, max(50, int(2e9 // count)))
    mih_qps = median_rate(lambda: mih.range_search(query_bytes[:mih_queries], MAX_DISTANCE + 1),
                          mih_queries, repeat)
    print(f"faiss MultiHash(256,16,16) nflip=1 build {mih_build:6.1f} s  {mih_bytes:6.1f} B/hash serialised  "
          f"{mih_qps:9.0f} queries/s  ({mih_queries} queries)")
    mih = None
    gc.collect()

    best = max(flat_qps, mih_qps)
    print(f"RESULT index N={count:,}: ours {ours_qps:.0f} q/s, {ours_bytes:.1f} B/hash "
          f"(MultiHash {mih_bytes:.1f}); "
          f"x{ours_qps / flat_qps:.1f} IndexBinaryFlat, x{ours_qps / mih_qps:.1f} MultiHash, "
          f"x{ours_qps / best:.1f} the faster; recall {recall:.4f}")


# ---- 2. hashing --------------------------------------------------------------------

def bench_hashing(corpus: Path, repeat: int) -> None:
    import pdqhash
    from PIL import Image, ImageOps

    from partners.hashing import hash_photo
    from partners.pdq import hex_to_bits

    folder = corpus / "pdq-reference"
    with open(folder / "expected.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))

    def reference(path: Path) -> str:
        with Image.open(path) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        bits, _quality = pdqhash.compute(rgb)
        return np.packbits(bits.astype(np.uint8)).tobytes().hex()

    sets = {
        "12-megapixel phone photos": [r for r in rows if "exif-rotn" in r["file"]],
        "whole PDQ corpus": rows,
    }
    print("\n== hashing: partners.hashing.hash_photo (PDQ + pHash) vs pdqhash after a full decode ==")
    for name, chosen in sets.items():
        paths = [folder / r["file"] for r in chosen]
        # Paired runs, ours then the reference, so that load on a shared machine hits
        # both alike; the ratio is the median of the per-run ratios.
        ours_rates, reference_rates = [], []
        for run in range(repeat + 1):
            ours_rate = median_rate(lambda paths=paths: [hash_photo(p) for p in paths], len(paths), 1)
            reference_rate = median_rate(lambda paths=paths: [reference(p) for p in paths], len(paths), 1)
            if run:  # the first pair warms caches
                ours_rates.append(ours_rate)
                reference_rates.append(reference_rate)
        ratio = statistics.median(o / r for o, r in zip(ours_rates, reference_rates, strict=False))
        ours_rate, reference_rate = statistics.median(ours_rates), statistics.median(reference_rates)
        worst = 0
        for row, path in zip(chosen, paths, strict=False):
            if int(row["pdq_quality"]) >= 80:
                ours = hex_to_bits(hash_photo(path).pdq)
                worst = max(worst, int((ours != hex_to_bits(reference(path))).sum()))
        print(f"RESULT hashing {name} ({len(paths)} files): ours {ours_rate:.1f} photos/s, "
              f"pdqhash {reference_rate:.2f} photos/s, x{ratio:.1f}; "
              f"max PDQ distance to pdqhash {worst} bits")


# ---- 3. sync -----------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """`pid` and every process below it (gunicorn's master and its workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def _gunicorn_pid(port: str) -> int:
    """The gunicorn master we started on this port (bench.harness keeps its Popen to itself)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                command = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"gunicorn" in b" ".join(command) and f"127.0.0.1:{port}".encode() in command:
                return int(proc.name)
    raise RuntimeError("gunicorn master not found")


def process_cpu(pid: int) -> float:
    """utime + stime of a living process (OSError once it has gone)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: list[int]) -> dict[int, float]:
    cpu = {}
    for pid in pids:
        try:
            cpu[pid] = process_cpu(pid)
        except OSError:  # exited
            continue
    return cpu


def _client_cpu() -> float:
    """CPU seconds of this process and of the children it reaped (the sync's verifying pool)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _server_pids(base: str, database: str) -> list[int]:
    """gunicorn (master, workers) and the PostgreSQL backends serving our database."""
    import psycopg

    from bench.harness import PG_ADMIN
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        backends = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,))]
    return _children(_gunicorn_pid(base.rsplit(":", 1)[1])) + backends


PHASES = ("setup", "fetch", "verify", "apply", "index", "wall")


def _first_sync(base: str, token: str, database: str, path: Path, *, signatures: bool,
                limit: int) -> dict[str, float]:
    """One first sync into a new store, then the index built from it, timed by phase
    (SyncResult.seconds): fetch (waiting for pages: HTTP and JSON decode not hidden by
    fetching ahead), verify (order, leaves and tree against the checkpoint, and for B the
    Ed25519 checks), apply (store appends, then the bulk resolution), index
    (partners.scan.load_index, as `match` and `serve` build it); setup (keys, checkpoint)."""
    from partners.client import FederationClient
    from partners.scan import load_index
    from partners.store import LocalStore
    from partners.sync import sync

    gc.collect()
    server = _server_pids(base, database)
    server_cpu = _cpu_of(server)
    cpu, wall = _client_cpu(), time.perf_counter()
    client = FederationClient(base, token)
    with LocalStore(path) as store:
        # The kit's defaults otherwise: B verifies on every core (its process pool's CPU
        # is counted below, from the children this process reaps).
        result = sync(client, store, verify_signatures=signatures, limit=limit)
        seconds = dict(result.seconds)
        synced = time.perf_counter()
        store.finish_bulk()
        seconds["apply"] += time.perf_counter() - synced
        seconds["setup"] = synced - wall - sum(result.seconds.values())  # keys, checkpoint, store
        indexed = time.perf_counter()
        index = load_index(store)
        index.pdq.wait()  # its tables are built in the background: indexed means built
        seconds["index"] = time.perf_counter() - indexed
        active = store.count()
    client.close()
    seconds["wall"] = time.perf_counter() - wall
    seconds["cpu"] = _client_cpu() - cpu
    after = _cpu_of(_server_pids(base, database))
    seconds["server_cpu"] = sum(after[pid] - server_cpu.get(pid, 0.0) for pid in after)
    seconds["entries"] = result.applied
    assert active == result.applied, (active, result.applied)
    del index
    path.unlink()
    return seconds


def bench_sync(count: int, repeat: int, limit: int, paths: tuple[str, ...] = ("A", "B")) -> None:
    """A verified first sync of `count` entries from gunicorn on PostgreSQL into a fresh
    store, end to end (fetch, verify, apply, index): A, entries bound to the signed
    checkpoint by the Merkle tree (`verify_signatures=False`), against B, the same with
    each entry's Ed25519 signature checked too (the kit's path before the log), run
    A B A B ... in one process, `repeat` times each; medians. `paths` can leave B out
    (at 10M it takes a quarter of an hour a run)."""
    import tempfile

    from bench.feed import seed
    from bench.harness import gunicorn, postgres_database, service_env
    from federation.config import parse_secret

    print(f"\n== sync: verified first sync of {count:,} entries, end to end, pages of {limit:,} ==")
    with postgres_database() as url:
        database = url.rsplit("/", 1)[1]
        env = service_env(url)
        token = seed(url, parse_secret("KEK", env["FEDERATION_KEK"]), count)
        with gunicorn(env, workers=2) as base, tempfile.TemporaryDirectory() as tmp:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
            for _ in range(repeat):
                for name in paths:
                    run = _first_sync(base, token, database, Path(tmp) / "store.db",
                                      signatures=name == "B", limit=limit)
                    runs[name].append(run)
                    print(f"run {name}: {count / run['wall']:,.0f} entries/s, " + ", ".join(
                        f"{phase} {run[phase]:.1f} s" for phase in PHASES)
                        + f", client CPU {run['cpu']:.1f} s, server CPU {run['server_cpu']:.1f} s", flush=True)
    labels = {"A": "A log (checkpoint + Merkle)", "B": "B per-entry Ed25519 + log"}
    print("| path | entries/s wall | per client CPU-s | setup s | fetch s | verify s | apply s | index s | wall s "
          "| client CPU s | gunicorn+PostgreSQL CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rates = {}
    for name, done in runs.items():
        mid = {key: statistics.median(run[key] for run in done) for key in done[0]}
        rates[name] = statistics.median(count / run["wall"] for run in done)
        print(f"| {labels[name]} | {rates[name]:,.0f} | {statistics.median(count / r['cpu'] for r in done):,.0f} | "
              + " | ".join(f"{mid[key]:.1f}" for key in (*PHASES, "cpu", "server_cpu")) + " |")
        print(f"RESULT sync {count:,} {name}: runs " + ", ".join(f"{count / r['wall']:,.0f}/s" for r in done))
    ratio = f", B {rates['B']:,.0f}/s, A/B x{rates['A'] / rates['B']:.2f}" if "B" in rates else ""
    print(f"RESULT sync {count:,} entries end to end: A {rates['A']:,.0f}/s{ratio}; "
          f"goal >= 100,000/s: {'met' if rates['A'] >= 100_000 else 'missed'}")


# ---- 4. latency under a sync -------------------------------------------------------

def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def new_record_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Ids in the federation's format ("r_" + 16 random bytes, base64url)."""
    import base64

    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8).tobytes()
    return ["r_" + base64.urlsafe_b64encode(raw[i:i + 16]).rstrip(b"=").decode() for i in range(0, 16 * count, 16)]


def latency_queries(stored: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A shuffled mix: half near-duplicates of stored hashes at distance 0..31 (uniform),
    half random (non-matches); and the source row of each near-duplicate (-1 otherwise)."""
    near = count // 2
    sources = rng.integers(0, len(stored), near)
    queries = rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)
    queries[:near] = stored[sources]
    flips = rng.integers(0, MAX_DISTANCE + 1, near)
    ranks = np.argsort(rng.random((near, 256)), axis=1)
    for i in range(near):
        bits = ranks[i, :flips[i]]
        masks = np.zeros(4, dtype=np.uint64)
        np.bitwise_or.at(masks, bits // 64, np.uint64(1) << (bits % 64).astype(np.uint64))
        queries[i] ^= masks
    source = np.concatenate([sources, np.full(count - near, -1)])
    order = rng.permutation(count)
    return queries[order], source[order]


class SyncLoad:
    """A thread applying adds and deletes at `rate` entries/s (half each), in ticks of
    50 ms, as a partner's sync applies pages; counts what it applied."""

    def __init__(self, add: Callable[[np.ndarray, list[str]], None], delete: Callable[[list[int]], None],
                 stored_count: int, rate: int, seed: int) -> None:
        import threading

        self.add, self.delete, self.rate = add, delete, rate
        self.rng = np.random.default_rng(seed)
        self.victims = iter(self.rng.permutation(stored_count).tolist())
        self.applied = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        per_tick = max(1, self.rate // 40)  # 20 ticks/s, half adds, half deletes
        next_tick = time.perf_counter()
        while not self.stop.is_set():
            words = self.rng.integers(0, 2**64, size=(per_tick, 4), dtype=np.uint64)
            self.add(words, new_record_ids(self.rng, per_tick))
            self.delete([next(self.victims) for _ in range(per_tick)])
            self.applied += 2 * per_tick
            next_tick += 0.05
            self.stop.wait(max(0.0, next_tick - time.perf_counter()))

    def __enter__(self) -> SyncLoad:
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.rate_seen = self.applied / (time.perf_counter() - self.started)


def percentiles(latencies: list[float]) -> str:
    ms = np.array(latencies) * 1e3
    return (f"p50 {np.percentile(ms, 50):.2f} ms  p99 {np.percentile(ms, 99):.2f} ms  "
            f"max {ms.max():.2f} ms  (n={len(ms):,})")


def bench_latency(count: int, query_count: int, seed: int, rate: int, faiss_queries: int) -> None:
    """MatchIndex single-query latency while a sync applies `rate` entries/s; memory per
    hash as process growth; FAISS IndexBinaryFlat (with an id map, under a lock: it is
    not safe to search while adding or removing) on the same queries and the same load."""
    import gc
    import threading

    from partners.hashing import PhotoHashes
    from partners.index import words_to_hex
    from partners.matching import MatchIndex

    rng = np.random.default_rng(seed)
    print(f"\n== latency: {count:,} random PDQ hashes, {query_count:,} single queries, "
          f"a sync applying {rate:,} entries/s (half adds, half deletes) ==")
    stored = rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)
    queries, sources = latency_queries(stored, query_count, rng)
    query_hex = words_to_hex(queries)
    gc.collect()
    before = rss_bytes()
    index = MatchIndex()
    step = 1_000_000
    ids_rng = np.random.default_rng(seed + 1)
    started = time.perf_counter()
    with index.pdq.builds_held():
        for first in range(0, count, step):
            part = stored[first:first + step]
            index.add_many("pdq", new_record_ids(ids_rng, len(part)), words_to_hex(part))
    loaded = time.perf_counter() - started
    index.pdq.wait()
    built = time.perf_counter() - started
    gc.collect()
    grown = rss_bytes() - before
    print(f"RESULT memory N={count:,}: MatchIndex grew the process by {grown / count:.1f} bytes per hash "
          f"(record ids included); arrays held {(index.pdq.nbytes + index._row_records['pdq'].nbytes) / count:.1f}; "
          f"loaded in {loaded:.1f} s, indexed in {built:.1f} s")

    records = index._row_records["pdq"]
    lock = threading.Lock()  # one writer: MatchIndex's own lock does the rest

    def add(words: np.ndarray, ids: list[str]) -> None:
        index.add_many("pdq", ids, words_to_hex(words))

    def delete(rows: list[int]) -> None:
        with lock:
            index.remove_many(records.ids_of(rows))

    def photo(hex_value: str) -> PhotoHashes:
        return PhotoHashes(hex_value, 100, "0" * 16)

    uploads = [photo(h) for h in query_hex]
    for upload in uploads[:200]:  # warm-up
        index.match_photo(upload)
    # Three runs of the same queries: idle (no sync, no build: the machine's own noise),
    # with the sync, and with the sync and a full rebuild started at once. Wall time and
    # the searching thread's CPU time per query: a query that waited (on the machine's
    # other processes, or on the GIL) shows a wall time far above its CPU time.
    import contextlib

    for phase in ("idle", "sync", "sync+rebuild"):
        builds_before = dict(index.pdq.builds)
        latencies, cpu_times = [], []
        missed = 0
        load_before = os.getloadavg()[0]
        with SyncLoad(add, delete, count, rate, seed + 2) if phase != "idle" else contextlib.nullcontext() as load:
            if phase == "sync+rebuild":
                index.pdq.rebuild_in_background()
            for upload, source in zip(uploads, sources.tolist(), strict=True):
                cpu = time.thread_time()
                start = time.perf_counter()
                found = index.match_photo(upload)
                latencies.append(time.perf_counter() - start)
                cpu_times.append(time.thread_time() - cpu)
                if source >= 0 and not found:
                    missed += 1  # its source may have been deleted by the sync meanwhile: counted, not failed
        builds = {k: index.pdq.builds[k] - builds_before[k] for k in builds_before}
        running = index.pdq._builder is not None
        sync = f"sync ran at {load.rate_seen:,.0f} entries/s; " if load is not None else ""
        print(f"RESULT latency N={count:,} ours single, {phase}: wall {percentiles(latencies)}; "
              f"CPU {percentiles(cpu_times)}; {sync}builds finished during it: {builds['full']} full, "
              f"{builds['delta']} delta{' (a full rebuild still running at the end)' if running else ''}; "
              f"near-duplicates not found: {missed}; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    index.pdq.wait()
    start, cpu = time.perf_counter(), time.thread_time()
    for first in range(0, len(uploads), 1000):
        index.match_photos(uploads[first:first + 1000])
    ours_batched = len(uploads) / (time.perf_counter() - start)
    ours_batched_cpu = len(uploads) / (time.thread_time() - cpu)
    print(f"RESULT batched N={count:,} ours: {ours_batched:,.0f} queries/s wall, {ours_batched_cpu:,.0f} per "
          f"CPU-second (batches of 1000, no sync running)")
    index = records = None
    gc.collect()

    if not faiss_queries:
        return
    try:
        import faiss
    except ImportError:
        print("faiss-cpu is not installed: no FAISS baseline")
        return
    faiss.omp_set_num_threads(1)
    flat = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(256))
    flat.add_with_ids(stored.view(np.uint8).reshape(count, 32), np.arange(count, dtype=np.int64))
    next_id = [count]
    query_bytes = np.ascontiguousarray(queries).view(np.uint8).reshape(-1, 32)

    def faiss_add(words: np.ndarray, _ids: list[str]) -> None:
        with lock:
            flat.add_with_ids(np.ascontiguousarray(words).view(np.uint8).reshape(-1, 32),
                              np.arange(next_id[0], next_id[0] + len(words), dtype=np.int64))
            next_id[0] += len(words)

    def faiss_delete(rows: list[int]) -> None:
        with lock:
            flat.remove_ids(np.array(rows, dtype=np.int64))

    latencies, cpu_times = [], []
    chosen = query_bytes[:faiss_queries]
    with SyncLoad(faiss_add, faiss_delete, count, rate, seed + 2) as load:
        for query in chosen:
            start, cpu = time.perf_counter(), time.thread_time()
            with lock:
                flat.range_search(query[None], MAX_DISTANCE + 1)
            latencies.append(time.perf_counter() - start)
            cpu_times.append(time.thread_time() - cpu)
    print(f"RESULT latency N={count:,} faiss IndexBinaryFlat single: wall {percentiles(latencies)}; "
          f"CPU {percentiles(cpu_times)}; "
          f"the first {len(chosen):,} of the same queries; sync ran at {load.rate_seen:,.0f} entries/s")
    batch = chosen[:max(1, min(len(chosen), 1000))]
    start, cpu = time.perf_counter(), time.thread_time()
    flat.range_search(batch, MAX_DISTANCE + 1)
    faiss_batched = len(batch) / (time.perf_counter() - start)
    faiss_batched_cpu = len(batch) / (time.thread_time() - cpu)
    print(f"RESULT batched N={count:,} faiss: {faiss_batched:,.0f} queries/s wall, {faiss_batched_cpu:,.0f} per "
          f"CPU-second; ours / faiss x{ours_batched / faiss_batched:.1f} wall, "
          f"x{ours_batched_cpu / faiss_batched_cpu:.1f} CPU")


# ---- 5. store ----------------------------------------------------------------------

_V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signals (record_id TEXT PRIMARY KEY, type TEXT NOT NULL, value TEXT NOT NULL,
    quality INTEGER, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS signals_type_value ON signals (type, value);
CREATE TABLE IF NOT EXISTS deletes (seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, type TEXT NOT NULL,
    value TEXT NOT NULL, applied_at TEXT NOT NULL, reported INTEGER NOT NULL DEFAULT 0);
"""


def apply_v1(path: Path, pages: list[list[dict]]) -> None:
    """The store before version 2 (the baseline): per-entry statements, random keys in
    two indexes (record id, (type, value)), one transaction per page."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_V1_SCHEMA)
    for page in pages:
        db.execute("BEGIN IMMEDIATE")
        for entry in page:
            if entry["op"] == "add":
                db.execute("DELETE FROM signals WHERE type = ? AND value = ?", (entry["type"], entry["value"]))
                db.execute("INSERT OR REPLACE INTO signals VALUES (?, ?, ?, ?, ?)",
                           (entry["id"], entry["type"], entry["value"], entry.get("quality"), entry["seq"]))
            else:
                db.execute("DELETE FROM signals WHERE record_id = ? OR (type = ? AND value = ?)",
                           (entry["id"], entry["type"], entry["value"]))
                db.execute("INSERT OR IGNORE INTO deletes (seq, record_id, type, value, applied_at)"
                           " VALUES (?, ?, ?, ?, '2026-01-01T00:00:00+00:00')",
                           (entry["seq"], entry["id"], entry["type"], entry["value"]))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (str(page[-1]["seq"]),))
        db.execute("COMMIT")
    db.close()


def apply_v2(path: Path, pages: list[list[dict]]) -> int:
    from partners.store import LocalStore

    with LocalStore(path) as store:
        for page in pages:
            store.apply(page, page[0]["seq"] - 1)
        return store.count()  # resolves bulk mode: part of the time measured


def store_pages(count: int, seed: int, page: int = 5000) -> Iterator[list[dict]]:
    """A first sync's entries, already verified, page by page: 95% adds, 5% deletes of
    earlier adds (made lazily: 10M entries as dicts at once would not fit in memory)."""
    rng = np.random.default_rng(seed)
    recent: list[tuple[str, str]] = []  # adds a delete may pick, bounded
    for first in range(0, count, page):
        size = min(page, count - first)
        ids = new_record_ids(rng, size)
        values = words_to_hex_rows(rng.integers(0, 2**64, size=(size, 4), dtype=np.uint64))
        deleting = rng.random(size) < 0.05
        entries = []
        for i in range(size):
            seq = first + i + 1
            if deleting[i] and recent:
                record, value = recent.pop(int(rng.integers(len(recent))))
                entries.append({"seq": seq, "op": "delete", "id": record, "type": "pdq", "value": value,
                                "quality": 90})
            else:
                entries.append({"seq": seq, "op": "add", "id": ids[i], "type": "pdq", "value": values[i],
                                "quality": 90})
                if len(recent) < 100_000:
                    recent.append((ids[i], values[i]))
        yield entries


def words_to_hex_rows(words: np.ndarray) -> list[str]:
    from partners.index import words_to_hex

    return words_to_hex(words)


def bench_store(count: int, baseline_count: int, repeat: int, seed: int) -> None:
    """Entries/s applied to a fresh store in pages of 5,000 (pre-verified entries, one
    core: this process's CPU time), version 2 against version 1's per-entry statements on
    the same entries, interleaved A B A B; then version 2 alone at `count`."""
    import tempfile

    print(f"\n== store: applying pre-verified entries in pages of 5,000 (v2 vs v1 at {baseline_count:,}) ==")
    with tempfile.TemporaryDirectory() as tmp:
        pages = list(store_pages(baseline_count, seed))
        rates: dict[str, list[float]] = {"v2": [], "v1": []}
        for run in range(repeat):
            for name, work in (("v2", apply_v2), ("v1", apply_v1)):
                path = Path(tmp) / f"{name}-{run}.db"
                wall, cpu = time.perf_counter(), time.process_time()
                work(path, pages)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                rates[name].append(baseline_count / wall)
                print(f"  {name} run {run}: {baseline_count / wall:,.0f} entries/s wall, "
                      f"{baseline_count / cpu:,.0f} per CPU-second")
        v2, v1 = statistics.median(rates["v2"]), statistics.median(rates["v1"])
        print(f"RESULT store {baseline_count:,} entries: v2 {v2:,.0f}/s, v1 {v1:,.0f}/s, x{v2 / v1:.1f} (medians)")
        pages = None
        from partners.store import LocalStore

        path = Path(tmp) / "big.db"
        wall = applied = cpu = 0.0
        with LocalStore(path) as store:
            for page in store_pages(count, seed + 1):  # only applying is timed, not making pages
                started, cpu_started = time.perf_counter(), time.process_time()
                store.apply(page, page[0]["seq"] - 1)
                applied += time.perf_counter() - started
                cpu += time.process_time() - cpu_started
            started, cpu_started = time.perf_counter(), time.process_time()
            active = store.count()
            wall = applied + time.perf_counter() - started
            cpu += time.process_time() - cpu_started
        print(f"RESULT store {count:,} entries v2: {count / wall:,.0f} entries/s including resolution "
              f"({count / applied:,.0f}/s appending, resolution {wall - applied:.1f} s), "
              f"{count / cpu:,.0f} per CPU-second; {active:,} active")


# ---- 6. serve: bench/partner_serve.py ------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sync-entries", type=int, default=1_000_000)
    parser.add_argument("--sync-repeat", type=int, default=2, help="runs of each sync path (A B A B ...)")
    parser.add_argument("--sync-page", type=int, default=5000, help="feed page size of the sync section")
    parser.add_argument("--sync-paths", nargs="+", choices=("A", "B"), default=["A", "B"],
                        help="A: log only; B: per-entry Ed25519 too")
    parser.add_argument("--latency-queries", type=int, default=10_000)
    parser.add_argument("--faiss-queries", type=int, default=10_000,
                        help="single queries for FAISS in the latency section (the first of the same list)")
    parser.add_argument("--store-entries", type=int, default=1_000_000)
    parser.add_argument("--store-baseline-entries", type=int, default=100_000)
    parser.add_argument("--serve-seconds", type=float, default=20.0)
    parser.add_argument("--serve-workers", type=int, nargs="+", default=[1, 2],
                        help="server processes to compare (1: serve; N: serve --workers N)")
    parser.add_argument("--serve-connections", type=int, default=16)
    parser.add_argument("--sync-rate", type=int, default=1_000, help="entries/s applied during the latency run")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    if "index" in args.only:
        for count in args.sizes:
            bench_index(count, args.queries, args.repeat, args.seed)
    if "hashing" in args.only:
        bench_hashing(args.corpus, args.repeat)
    if "sync" in args.only:
        bench_sync(args.sync_entries, args.sync_repeat, args.sync_page, tuple(args.sync_paths))
    if "latency" in args.only:
        for count in args.sizes:
            bench_latency(count, args.latency_queries, args.seed, args.sync_rate, args.faiss_queries)
    if "serve" in args.only:
        for count in args.sizes:
            from bench.partner_serve import bench_serve

            bench_serve(count, args.serve_seconds, args.serve_workers, args.sync_rate, args.seed,
                        args.serve_connections)
    if "store" in args.only:
        bench_store(args.store_entries, args.store_baseline_entries, min(args.repeat, 3), args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
