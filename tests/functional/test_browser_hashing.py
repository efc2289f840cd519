"""The portal's in-browser hashing engine, run in headless Chromium against Meta's reference.

Files reach the page through a real <input type=file>, as a person's photos would, and are
hashed by the portal's own modules (federation/portal/static/js/hashing/).
"""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw

from tests.functional.browser_support import RequestLog, hashing_harness

pytestmark = pytest.mark.browser

# The PDQ reference's own definition of a conforming implementation (corpus README).
MAX_BIT_DISTANCE = 10
MIN_QUALITY_FOR_CONFORMANCE = 80
MAX_QUALITY_DELTA = 5


@pytest.fixture(scope="module")
def harness_url():
    with hashing_harness() as url:
        yield url


class Harness:
    """The harness page in a fresh browser context, with every request it makes recorded."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context()
        self.requests = RequestLog.attach(self.context)
        self.page = self.context.new_page()
        self.page_errors: list[str] = []
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.goto(url)

    def hash(self, paths: list[Path], kind: str) -> list[dict]:
        """Choose ``paths`` in the file input and hash them; one outcome per path, in order."""
        self.page.set_input_files("#files", [str(path) for path in paths])
        outcomes = self.page.evaluate("kind => window.hashChosen(kind)", kind)
        assert [outcome["name"] for outcome in outcomes] == [path.name for path in paths]
        return outcomes

    def hash_one(self, path: Path, kind: str) -> dict:
        return self.hash([path], kind)[0]


@pytest.fixture
def harness(browser, harness_url):
    harness = Harness(browser, harness_url)
    yield harness
    harness.context.close()
    assert harness.page_errors == []


def signals_by_type(outcome: dict) -> dict[str, dict]:
    return {signal["type"]: signal for signal in outcome["signals"]}


def bit_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def file_digests(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


def assert_digests(outcome: dict, path: Path) -> None:
    signals = signals_by_type(outcome)
    assert {kind: signals[kind]["value"] for kind in ("md5", "sha256")} == file_digests(path)


@pytest.fixture(scope="module")
def reference_rows(corpus_dir):
    with open(corpus_dir / "pdq-reference" / "expected.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_photos_conform_to_the_pdq_reference(harness, corpus_dir, reference_rows):
    root = corpus_dir / "pdq-reference"
    outcomes = harness.hash([root / row["file"] for row in reference_rows], "photo")

    conforming = 0  # photos held to the reference's limits
    for row, outcome in zip(reference_rows, outcomes, strict=True):
        assert outcome["error"] is None, (row["file"], outcome)
        signals = signals_by_type(outcome)
        assert signals["md5"]["value"] == row["md5"], row["file"]
        assert signals["sha256"]["value"] == row["sha256"], row["file"]
        if int(row["pdq_quality"]) < MIN_QUALITY_FOR_CONFORMANCE:
            continue
        pdq = signals["pdq"]
        # EXIF orientation applied, as the browser shows the photo (and as it is shared).
        distance = bit_distance(pdq["value"], row["pdq_exif_oriented"])
        assert distance <= MAX_BIT_DISTANCE, (row["file"], distance)
        assert abs(pdq["quality"] - int(row["pdq_quality"])) <= MAX_QUALITY_DELTA, row["file"]
        conforming += 1
    assert conforming, "expected.csv has no photo of quality >= 80 to check against"


def test_exif_orientation_is_applied(harness, corpus_dir, reference_rows):
    # The rotated phone photos hash far from their unrotated pixels: proves the test above
    # would notice if orientation were ignored.
    rotated = [row for row in reference_rows
               if "exif-rotn" in row["file"] and row["pdq"] != row["pdq_exif_oriented"]]
    assert rotated
    outcomes = harness.hash([corpus_dir / "pdq-reference" / row["file"] for row in rotated], "photo")
    for row, outcome in zip(rotated, outcomes, strict=True):
        value = signals_by_type(outcome)["pdq"]["value"]
        assert bit_distance(value, row["pdq"]) > 31, row["file"]


def test_every_corpus_file_digests_exactly(harness, corpus_dir):
    # All files, images or not, of every size the corpus happens to have.
    paths = sorted(p for p in (corpus_dir / "pdq-reference").rglob("*") if p.is_file())
    for path, outcome in zip(paths, harness.hash(paths, "file"), strict=True):
        assert outcome["error"] is None, (path, outcome)
        assert set(signals_by_type(outcome)) == {"md5", "sha256"}
        assert_digests(outcome, path)


@pytest.mark.parametrize("size", [1, 55, 56, 63, 64, 65, 119, 120, 128, 4 * 2**20 - 1, 9 * 2**20 + 123])
def test_digests_at_block_and_chunk_boundaries(harness, tmp_path, size):
    # 64-byte blocks, 56 bytes before padding spills into a second block, 4 MiB read chunks.
    path = tmp_path / f"random-{size}.bin"
    path.write_bytes(np.random.default_rng(size).bytes(size))
    outcome = harness.hash_one(path, "file")
    assert_digests(outcome, path)
    dones = [done for done, total in outcome["progress"]]
    assert dones == sorted(dones) and dones[-1] == size
    assert {total for _, total in outcome["progress"]} == {size}


def test_non_image_as_photo_is_refused_with_its_digests(harness, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a picture\n")
    outcome = harness.hash_one(path, "photo")
    assert outcome["error"] == "not_an_image"
    assert_digests(outcome, path)


def test_truncated_jpeg_is_corrupt_with_its_digests(harness, tmp_path, corpus_dir):
    whole = (corpus_dir / "pdq-reference" / "bridge-mods" / "aaa-orig.jpg").read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(whole[: len(whole) // 2])
    outcome = harness.hash_one(path, "photo")
    assert outcome["error"] == "corrupt_image"
    assert_digests(outcome, path)


def test_format_the_browser_cannot_decode_is_unsupported(harness, tmp_path, corpus_dir):
    path = tmp_path / "photo.tiff"
    Image.open(corpus_dir / "pdq-reference" / "bridge-mods" / "aaa-orig.jpg").save(path)
    outcome = harness.hash_one(path, "photo")
    assert outcome["error"] == "unsupported_format"
    assert_digests(outcome, path)


@pytest.mark.parametrize("kind", ["photo", "file"])
def test_empty_file_is_refused(harness, tmp_path, kind):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    outcome = harness.hash_one(path, kind)
    assert outcome["error"] == "empty_file"
    assert outcome["signals"] == []


@pytest.mark.slow
def test_hundred_megapixel_png_hashes_like_the_reference(harness, tmp_path):
    # Big shapes compress well, so the file stays small while its pixels are 400 MB as RGBA.
    size = 10_000
    image = Image.new("RGB", (size, size), (30, 60, 90))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(7)
    for _ in range(40):
        x0, y0 = (int(v) for v in rng.integers(0, size - 1000, 2))
        x1, y1 = x0 + int(rng.integers(500, 3000)), y0 + int(rng.integers(500, 3000))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.integers(2) else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    path = tmp_path / "huge.png"
    image.save(path, compress_level=1)
    expected, quality = pdqhash.compute(np.asarray(image))
    expected_hex = f"{int(''.join(map(str, expected)), 2):064x}"
    del image

    outcome = harness.hash_one(path, "photo")
    assert outcome["error"] is None, outcome
    pdq = signals_by_type(outcome)["pdq"]
    assert bit_distance(pdq["value"], expected_hex) <= MAX_BIT_DISTANCE
    assert abs(pdq["quality"] - quality) <= MAX_QUALITY_DELTA
    assert_digests(outcome, path)


def test_nothing_leaves_the_machine(harness, corpus_dir, tmp_path):
    photo = corpus_dir / "pdq-reference" / "bridge-mods" / "aaa-orig.jpg"
    other = tmp_path / "video.bin"
    other.write_bytes(os.urandom(100_000))
    harness.hash([photo, other], "photo")
    harness.hash([other], "file")

    urls = [request.url for request in harness.requests.requests]
    assert any(url.endswith("/worker.js") for url in urls)  # the worker's own loads are seen
    assert harness.requests.off_host() == []
    assert harness.requests.with_body() == []
