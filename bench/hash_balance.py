"""How many bits a real picture's PDQ and pHash set: the distribution behind the
degenerate-hash bounds in federation/rules.py (docs/list-hygiene.md).

    python -m bench.hash_balance [--generated N]

Pictures: every image in the shared corpus (FEDERATION_CORPUS or ../shared/corpus) and
N pictures made here (smooth noise, shapes, gradients, text, mostly-flat scenes, photos
shrunk to thumbnails), each in a few variants. PDQ is Meta's reference (`pdqhash`) and
the kit's own; pHash is imagehash's. Prints, per hash, the histogram of set bits among
pictures of PDQ quality >= 50 (what the list accepts) and among all.
"""
from __future__ import annotations

import argparse
import collections
import os
import random
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from federation.rules import BIT_BALANCE, MIN_PDQ_QUALITY
from partners import pdq as kit_pdq


def corpus_images() -> list[Image.Image]:
    root = Path(os.environ.get("FEDERATION_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
    images = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"}:
            try:
                with Image.open(path) as image:
                    images.append(image.convert("RGB"))
            except OSError:
                continue
    return images


def generated(n: int, seed: int = 7) -> list[Image.Image]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w, h = rng.choice([(640, 480), (480, 640), (800, 600), (1024, 768), (300, 300)])
        kind = i % 5
        if kind == 0:  # smooth noise: low-frequency texture like skin, sky, walls
            small = np.random.default_rng(seed + i).integers(0, 256, (rng.randint(3, 12), rng.randint(3, 12), 3))
            image = Image.fromarray(small.astype(np.uint8)).resize((w, h), Image.BICUBIC)
        elif kind == 1:  # shapes on a background
            image = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            for _ in range(rng.randint(3, 30)):
                x, y = rng.randrange(w), rng.randrange(h)
                draw.ellipse([x, y, x + rng.randint(10, w // 2), y + rng.randint(10, h // 2)],
                             fill=tuple(rng.randrange(256) for _ in range(3)))
        elif kind == 2:  # gradient with noise
            x = np.linspace(0, 1, w)[None, :, None]
            y = np.linspace(0, 1, h)[:, None, None]
            a, b = rng.random(), rng.random()
            base = (a * x + b * y) * 255 * np.ones((1, 1, 3))
            base = base + np.random.default_rng(i).normal(0, rng.choice([2, 10, 30]), (h, w, 3))
            image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        elif kind == 3:  # text on paper
            image = Image.new("RGB", (w, h), (245, 245, 240))
            draw = ImageDraw.Draw(image)
            font = ImageFont.load_default()
            for row in range(0, h, 14):
                draw.text((10, row), "".join(rng.choice("abcdefghij klmnop") for _ in range(w // 7)),
                          fill=(20, 20, 20), font=font)
        else:  # mostly flat with one small object: the low-quality edge
            image = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            x, y = rng.randrange(w - 40), rng.randrange(h - 40)
            draw.rectangle([x, y, x + rng.randint(5, 60), y + rng.randint(5, 60)],
                           fill=tuple(rng.randrange(256) for _ in range(3)))
        out.append(image.filter(ImageFilter.GaussianBlur(rng.choice([0, 0, 1, 3]))))
    return out


def variants(image: Image.Image) -> list[Image.Image]:
    w, h = image.size
    return [image, image.resize((max(8, w // 8), max(8, h // 8))), image.rotate(90, expand=True),
            image.crop((w // 10, h // 10, w - w // 10, h - h // 10)), image.convert("L").convert("RGB")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=400)
    args = parser.parse_args()
    images = [v for image in corpus_images() + generated(args.generated) for v in variants(image)]
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for image in images:
        rgb = np.asarray(image)
        bits, quality = pdqhash.compute(rgb)
        kit_hex, _ = kit_pdq.pdq_from_luma(kit_pdq.luma_from_rgb(rgb))
        ph = imagehash.phash(image)
        accepted = quality >= MIN_PDQ_QUALITY
        for name, ones in (("pdq (pdqhash)", int(bits.sum())), ("pdq (kit)", int(kit_hex, 16).bit_count()),
                           ("phash", int(str(ph), 16).bit_count())):
            counts[name + (" q>=50" if accepted else " all")][ones] += 1
            if accepted:
                counts[name + " all"][ones] += 1
    print(f"{len(images)} pictures; bounds in federation/rules.py: {BIT_BALANCE}")
    for name in sorted(counts):
        histogram = counts[name]
        print(f"{name:22} n={sum(histogram.values()):5}  min={min(histogram)} max={max(histogram)}  "
              + " ".join(f"{k}:{v}" for k, v in sorted(histogram.items())))


if __name__ == "__main__":
    main()
