"""How long a person waits for their browser to hash a phone photo and a video.

Times the portal's hashing engine (federation/portal/static/js/hashing/) in headless Chromium
on a 12-megapixel phone photo from the PDQ reference corpus and on a generated 200 MB file,
and, in the same run, Meta's C++ PDQ through `pdqhash` (Pillow decode included) on the same
photo and hashlib on the same file. Browser times are measured inside the page, from
hashFile() to its result, after one warm-up run that loads the worker.

Run from the repository root:  .venv/bin/python -m bench.browser_hashing [--repeat N]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageOps

from tests.functional.browser_support import chromium_missing_reason, hashing_harness, launch_chromium

REPO_ROOT = Path(__file__).resolve().parents[1]
PHOTO = Path("pdq-reference", "reg-test-input", "exif-rotn", "exif-rotn-1.jpg")
VIDEO_BYTES = 200 * 1000 * 1000


def default_corpus() -> Path:
    return Path(os.environ.get("FEDERATION_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))


def browser_milliseconds(page, path: Path, kind: str, repeat: int) -> list[float]:
    """Hash ``path`` ``repeat`` times in the page (after a warm-up); each run's milliseconds."""
    page.set_input_files("#files", str(path))
    times = []
    for _ in range(repeat + 1):
        [outcome] = page.evaluate("kind => window.hashChosen(kind)", kind)
        if outcome["error"]:
            raise RuntimeError(f"{path.name}: {outcome['error']}: {outcome['message']}")
        times.append(outcome["milliseconds"])
    return times[1:]


def python_milliseconds(work, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return times


def pillow_pdq(path: Path) -> None:
    with Image.open(path) as image:
        pixels = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    pdqhash.compute(pixels)


def hashlib_digests(path: Path) -> None:
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * 2**20):
            md5.update(chunk)
            sha256.update(chunk)


def report(label: str, times: list[float]) -> float:
    median = statistics.median(times)
    print(f"{label:<48} median {median:8.1f} ms   (runs: {', '.join(f'{t:.0f}' for t in times)})")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each (default 7)")
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    args = parser.parse_args()

    if reason := chromium_missing_reason():
        print(reason, file=sys.stderr)
        return 1
    photo = args.corpus / PHOTO
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright, hashing_harness() as url:
        video = Path(tmp, "video.bin")
        video.write_bytes(os.urandom(VIDEO_BYTES))
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(url)
        with Image.open(photo) as image:
            print(f"photo: {PHOTO} ({image.width}x{image.height}, {photo.stat().st_size / 1e6:.1f} MB)")
        print(f"video: {VIDEO_BYTES / 1e6:.0f} MB of random bytes; {args.repeat} timed runs each\n")

        browser_photo = report("browser: photo (decode, PDQ, MD5, SHA-256)",
                               browser_milliseconds(page, photo, "photo", args.repeat))
        python_photo = report("python: Pillow decode + pdqhash.compute",
                              python_milliseconds(lambda: pillow_pdq(photo), args.repeat))
        browser_video = report("browser: 200 MB file (MD5, SHA-256)",
                               browser_milliseconds(page, video, "file", args.repeat))
        python_video = report("python: hashlib MD5 + SHA-256",
                              python_milliseconds(lambda: hashlib_digests(video), args.repeat))
        browser.close()

    print(f"\nphoto: browser / python = {browser_photo / python_photo:.2f}")
    print(f"200 MB file: browser / python = {browser_video / python_video:.2f}"
          f"   (browser {VIDEO_BYTES / 1e6 / (browser_video / 1000):.0f} MB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
