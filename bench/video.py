"""vPDQ: does a re-encoded, resized, cropped, clipped, marked or re-timed copy still match,
does anything unrelated match, and how fast do the browser and the kit hash a video?

Every video is made here from generated pictures (tests/videos.py: random shapes on a
gradient, a new scene every 2 s, panned), never downloaded, and encoded with PyAV.

1. Robustness. Reported originals (720p, 15 fps, H.264), each with six variants a
   platform might receive: a lower bitrate, 480p, a 10% crop, a 20 s clip from the
   middle, a logo in a corner, and another frame rate. Recall of vPDQ (the kit's rule,
   reference thresholds) and of MD5 (0 by construction: every variant has other bytes),
   and false matches of 50+ unrelated videos against the originals (goal 0).
2. Compatibility. The kit's frame hashes against Meta's C++ PDQ (`pdqhash`) on the same
   decoded frames, and the browser's against the kit's on the same file.
3. Speed, on a 60 s 720p 30 fps H.264 video: the kit (exact and fast decoding, one core)
   against the same decoder with `pdqhash` per sampled frame (interleaved, medians of
   process CPU); the portal's hashing in headless Chromium, wall time and the CPU of the
   browser processes this script started, for two key-frame spacings.

Run from the repository root:  .venv/bin/python -m bench.video [--quick]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pdqhash
from PIL import Image, ImageDraw

from partners.matching import MatchIndex
from partners.video import hash_video
from tests import videos
from tests.functional.browser_support import chromium_missing_reason, hashing_harness, launch_chromium


def resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def crop10(frame: np.ndarray) -> np.ndarray:
    """Keep the middle 90% of each side (10% of width and of height cut), at the original size."""
    h, w = frame.shape[:2]
    dy, dx = h // 20, w // 20
    return resize(frame[dy:h - dy, dx:w - dx], w, h)


def logo(frame: np.ndarray) -> np.ndarray:
    """A platform's watermark: a half-transparent white badge with a mark, 12% x 6% of the
    frame, in the bottom right corner."""
    image = Image.fromarray(frame).convert("RGBA")
    badge = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    w, h = image.size
    box = [w - w * 14 // 100, h - h * 8 // 100, w - w * 2 // 100, h - h * 2 // 100]
    draw.rounded_rectangle(box, radius=h // 100, fill=(255, 255, 255, 128))
    draw.ellipse([box[0] + 4, box[1] + 4, box[0] + 4 + (box[3] - box[1]) - 8, box[3] - 4], fill=(220, 0, 0, 160))
    return np.asarray(Image.alpha_composite(image, badge).convert("RGB"))


def variants(original: Path, root: Path, fps: int) -> dict[str, Path]:
    frames = list(videos.decoded(original))
    h, w = frames[0].shape[:2]
    middle = len(frames) // 2
    made = {
        "lower bitrate": videos.write(root / "bitrate.mp4", frames, fps=fps, bit_rate=250_000),
        "480p": videos.write(root / "480p.mp4", (resize(f, 854, 480) for f in frames), fps=fps),
        "10% crop": videos.write(root / "crop.mp4", (crop10(f) for f in frames), fps=fps),
        "20 s clip from the middle": videos.write(root / "clip.mp4", frames[middle - 10 * fps:middle + 10 * fps],
                                                  fps=fps),
        "logo overlay": videos.write(root / "logo.mp4", (logo(f) for f in frames), fps=fps),
        "10 fps (was 15)": videos.write(root / "10fps.mp4",
                                        [frames[i * 3 // 2] for i in range(len(frames) * 2 // 3)], fps=10),
    }
    assert (w, h) == (1280, 720)
    return made


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def robustness(root: Path, originals: int, unrelated: int, seconds: int) -> None:
    fps = 15
    index = MatchIndex()
    md5s: dict[str, str] = {}
    queries: list[tuple[str, str, Path]] = []   # (variant, expected record, file)
    for n in range(originals):
        folder = root / f"o{n}"
        folder.mkdir()
        original = videos.make(folder / "original.mp4", seed=100 + n, seconds=seconds, fps=fps,
                               width=1280, height=720)
        index.add_video(f"r_{n}", [(f.pdq, f.quality) for f in hash_video(original).frames])
        md5s[f"r_{n}"] = md5(original)
        queries += [(name, f"r_{n}", path) for name, path in variants(original, folder, fps).items()]
    found: dict[str, list[float]] = {}
    md5_hits: dict[str, int] = {}
    for name, expected, path in queries:
        matches = index.match_video([(f.pdq, f.quality) for f in hash_video(path).frames])
        wrong = [m for m in matches if m.record_id != expected]
        assert not wrong, (name, path, wrong)
        share = next((m.query_percent for m in matches if m.record_id == expected), 0.0)
        found.setdefault(name, []).append(share)
        md5_hits[name] = md5_hits.get(name, 0) + (md5(path) in md5s.values())
    print(f"\n## Robustness: {originals} originals of {seconds} s, 1280x720 15 fps H.264, "
          "the kit's rule with reference thresholds\n")
    print("| variant | vPDQ recall | query frames matched (min / median) | MD5 recall |")
    print("|---|---|---|---|")
    for name, shares in found.items():
        recall = sum(s >= 80 for s in shares) / len(shares)
        print(f"| {name} | {recall:.0%} ({sum(s >= 80 for s in shares)}/{len(shares)}) | "
              f"{min(shares):.0f}% / {statistics.median(shares):.0f}% | {md5_hits[name]}/{len(shares)} |")
    false = 0
    for n in range(unrelated):
        path = videos.make(root / f"u{n}.mp4", seed=5000 + n, seconds=12, fps=10, width=320, height=180)
        false += bool(index.match_video([(f.pdq, f.quality) for f in hash_video(path).frames]))
    print(f"\nUnrelated videos matching any original: **{false} of {unrelated}** (goal 0); "
          f"no variant matched another original.")


def compatibility(path: Path, page) -> None:
    kit = hash_video(path)
    decoded = list(videos.decoded(path))
    fps = round(av.open(str(path)).streams.video[0].average_rate)
    distances, quality_deltas = [], []
    for frame in kit.frames:
        rgb = decoded[frame.time_ms * fps // 1000]
        bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
        expected = np.packbits(bits.astype(np.uint8)).tobytes().hex()
        distances.append((int(frame.pdq, 16) ^ int(expected, 16)).bit_count())
        quality_deltas.append(abs(frame.quality - int(quality)))
    fast = hash_video(path, mode="fast")
    fast_d = [(int(a.pdq, 16) ^ int(b.pdq, 16)).bit_count() for a, b in zip(kit.frames, fast.frames, strict=False)]
    print(f"\n## Compatibility on {path.name} ({len(kit.frames)} frames)\n")
    print(f"- kit (exact) vs `pdqhash` on the same "
          f"full-size decoded RGB frame: distance max {max(distances)}, mean {statistics.mean(distances):.1f}, "
          f"median {statistics.median(distances)}; quality within {max(quality_deltas)}")
    print(f"- kit fast vs kit exact (the frame a few frames later): max {max(fast_d)}, "
          f"median {statistics.median(fast_d)}")
    if page is not None:
        page.set_input_files("#files", str(path))
        [outcome] = page.evaluate("kind => window.hashChosen(kind)", "video")
        browser = next(s for s in outcome["signals"] if s["type"] == "vpdq")["frames"]
        kit_by_time = {f.time_ms: f.pdq for f in kit.frames}
        browser_d = [(int(f["pdq"], 16) ^ int(kit_by_time[f["time_ms"]], 16)).bit_count()
                     for f in browser if f["time_ms"] in kit_by_time]
        print(f"- browser (the Y plane of the frame <video> shows) vs kit, same file: {len(browser_d)} frames, "
              f"max {max(browser_d)}, mean {statistics.mean(browser_d):.1f}, median {statistics.median(browser_d)}")


def baseline(path: Path) -> int:
    """The same decoder and sampling, Meta's C++ PDQ (`pdqhash`) on each full-size frame."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        next_ms = 0
        for frame in container.decode(stream):
            ms = round(frame.time * 1000)
            if ms >= next_ms:
                pdqhash.compute(frame.to_ndarray(format="rgb24"))
                count += 1
                next_ms = (ms // 1000 + 1) * 1000
    return count


def cpu_seconds(work) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def kit_speed(path: Path, repeat: int, seconds: float) -> None:
    runs: dict[str, list[float]] = {"kit exact": [], "kit fast": [], "PyAV + pdqhash per frame": []}
    for _ in range(repeat):   # interleaved: A B C A B C ...
        runs["kit exact"].append(cpu_seconds(lambda: hash_video(path)))
        runs["PyAV + pdqhash per frame"].append(cpu_seconds(lambda: baseline(path)))
        runs["kit fast"].append(cpu_seconds(lambda: hash_video(path, mode="fast")))
    print(f"\n## Kit speed: {path.name}, {seconds:.0f} s 1280x720 30 fps H.264, one core "
          f"(decoder threads off), CPU seconds of this process, median of {repeat}\n")
    print("| what | CPU s (runs) | x real time |")
    print("|---|---|---|")
    base = statistics.median(runs["PyAV + pdqhash per frame"])
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} ({', '.join(f'{t:.2f}' for t in times)}) | {seconds / median:.0f}x |")
    print(f"\nkit exact vs baseline: {base / statistics.median(runs['kit exact']):.2f}x; "
          f"kit fast vs baseline: {base / statistics.median(runs['kit fast']):.2f}x")


def descendants_cpu() -> float:
    """CPU seconds (user + system) of every live process descended from this one."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    mine, total = os.getpid(), 0.0
    for pid, cpu in times.items():
        ancestor = parents.get(pid)
        while ancestor and ancestor != mine:
            ancestor = parents.get(ancestor)
        if ancestor == mine:
            total += cpu
    return total


def browser_speed(page, paths: dict[str, Path], repeat: int, seconds: float) -> None:
    print(f"\n## Browser speed: the portal's hashFile(kind \"video\") in headless Chromium, {seconds:.0f} s "
          "1280x720 30 fps H.264 (vPDQ + MD5 + SHA-256), after a warm-up\n")
    print("| key frames | wall s (runs) | x real time | browser CPU s |")
    print("|---|---|---|---|")
    for label, path in paths.items():
        page.set_input_files("#files", str(path))
        page.evaluate("kind => window.hashChosen(kind)", "video")   # warm-up
        walls, cpus = [], []
        for _ in range(repeat):
            before = descendants_cpu()
            [outcome] = page.evaluate("kind => window.hashChosen(kind)", "video")
            cpus.append(descendants_cpu() - before)
            assert outcome["error"] is None and any(s["type"] == "vpdq" for s in outcome["signals"]), outcome
            walls.append(outcome["milliseconds"] / 1000)
        wall = statistics.median(walls)
        print(f"| {label} | {wall:.1f} ({', '.join(f'{w:.1f}' for w in walls)}) | {seconds / wall:.1f}x | "
              f"{statistics.median(cpus):.1f} |")


def speed_video(path: Path, seconds: int, gop: int) -> Path:
    frames = videos.frames(7, seconds, 30, 1280, 720)
    return videos.write(path, frames, fps=30, options={"preset": "medium", "g": str(gop)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter videos (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--originals", type=int, default=5)
    parser.add_argument("--unrelated", type=int, default=50)
    parser.add_argument("--speed-only", action="store_true", help="skip the robustness part")
    args = parser.parse_args()
    originals, unrelated, seconds = (2, 10, 30) if args.quick else (args.originals, args.unrelated, 30)
    speed_seconds = 20 if args.quick else 60
    print(f"bench/video.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, PyAV {av.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if not args.speed_only:
            robustness(root, originals, unrelated, seconds)
        long_gop = speed_video(root / "speed-gop250.mp4", speed_seconds, 250)
        short_gop = speed_video(root / "speed-gop60.mp4", speed_seconds, 60)
        kit_speed(long_gop, args.repeat, speed_seconds)
        reason = chromium_missing_reason()
        if reason:
            print(f"\nbrowser skipped: {reason}")
            compatibility(long_gop, None)
            return
        from playwright.sync_api import sync_playwright
        with hashing_harness() as url, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(url)
            compatibility(long_gop, page)
            browser_speed(page, {"every 250 frames (8.3 s, x264's default)": long_gop,
                                 "every 60 frames (2 s)": short_gop}, args.repeat, speed_seconds)
            browser.close()
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
