"""Test videos made here, from pictures generated here (never downloaded), with PyAV.

A video is a few *scenes*, each a generated picture (random shapes on a gradient) that the
camera pans across for two seconds, so every second shows a different picture and the
frames of one scene still differ. `transcode` re-encodes one with changes, as a platform
would.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

SCENE_SECONDS = 2


def scene(seed: int, width: int, height: int) -> np.ndarray:
    """A picture with structure at many scales: a gradient, then shapes of random colour."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    a, b = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(2)]
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a[i] * (1 - t) + b[i] * t) for i in range(3)))
    for _ in range(40):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 20, width // 3), rng.randrange(height // 20, height // 3)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.choice((draw.ellipse, draw.rectangle))
        shape([x0, y0, x0 + w, y0 + h], fill=colour)
    return np.asarray(image)


def frames(seed: int, seconds: float, fps: int, width: int, height: int):
    """RGB frames of a video: a new scene every SCENE_SECONDS, panned across."""
    scenes: dict[int, np.ndarray] = {}
    for i in range(max(1, round(seconds * fps))):
        t = i / fps
        number = int(t // SCENE_SECONDS)
        if number not in scenes:
            scenes.clear()
            scenes[number] = scene(seed * 1000 + number, width * 5 // 4, height * 5 // 4)
        picture = scenes[number]
        progress = (t % SCENE_SECONDS) / SCENE_SECONDS
        dx, dy = int(progress * width // 4), int(progress * height // 8)
        yield picture[dy:dy + height, dx:dx + width]


def write(path: Path, pictures, *, fps: int = 15, codec: str = "libx264", bit_rate: int | None = None,
          options: dict | None = None, container_options: dict | None = None) -> Path:
    """Encode RGB frames (all of one size) to `path`; the container follows its suffix."""
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        stream = None
        for picture in pictures:
            if stream is None:
                stream = container.add_stream(codec, rate=Fraction(fps))
                stream.width, stream.height = picture.shape[1], picture.shape[0]
                stream.pix_fmt = "yuv420p" if codec != "mjpeg" else "yuvj420p"
                stream.options = dict(options or {"preset": "veryfast"} if codec == "libx264" else options or {})
                if bit_rate:
                    stream.bit_rate = bit_rate
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return path


def make(path: Path, seed: int, seconds: float = 8, fps: int = 15, width: int = 320, height: int = 240,
         **options) -> Path:
    return write(path, frames(seed, seconds, fps, width, height), fps=fps, **options)


def decoded(path: Path):
    """The RGB frames of a video file, decoded."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def transcode(source: Path, target: Path, change: Callable[[np.ndarray], np.ndarray] = lambda f: f,
              **options) -> Path:
    """Decode `source`, change each frame, and encode it again (other bytes, same video)."""
    with av.open(str(source)) as container:
        fps = round(container.streams.video[0].average_rate or 15)
    return write(target, (change(f) for f in decoded(source)), fps=fps, **options)
