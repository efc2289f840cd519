"""The partner kit's hasher against Meta's reference outputs and against bad input."""
from __future__ import annotations

import csv
import hashlib
import io
import struct
import zlib
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageOps

from partners.hashing import (
    FileHashes,
    ImageTooLarge,
    PhotoHashes,
    UnreadableImage,
    hash_file,
    hash_image,
    hash_photo,
)
from partners.pdq import ZERO_HASH, hex_to_bits, pdq_from_rgb

MAX_BITS_FROM_REFERENCE = 10  # the reference's own bar for other implementations
MAX_QUALITY_DIFFERENCE = 5
MATCH_DISTANCE = 31


def distance(a: str, b: str) -> int:
    return int(np.count_nonzero(hex_to_bits(a) != hex_to_bits(b)))


def reference_hex(rgb: np.ndarray) -> tuple[str, int]:
    """Meta's C++ PDQ (pdqhash bindings) as hex: its bit array is most significant first."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


@pytest.fixture(scope="module")
def pdq_corpus(corpus_dir: Path) -> Path:
    return corpus_dir / "pdq-reference"


@pytest.fixture(scope="module")
def expected(pdq_corpus: Path) -> list[dict[str, str]]:
    with open(pdq_corpus / "expected.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_hash_photo_agrees_with_reference_on_every_good_corpus_image(pdq_corpus, expected):
    good = [row for row in expected if int(row["pdq_quality"]) >= 80]
    assert len(good) >= 40  # the corpus is really there
    failures = []
    for row in good:
        got = hash_photo(pdq_corpus / row["file"])
        bits = distance(got.pdq, row["pdq_exif_oriented"])
        quality_gap = abs(got.pdq_quality - int(row["pdq_quality"]))
        if bits > MAX_BITS_FROM_REFERENCE or quality_gap > MAX_QUALITY_DIFFERENCE:
            failures.append(f"{row['file']}: {bits} bits, quality {got.pdq_quality}")
    assert not failures


def test_exif_oriented_photos_differ_from_unoriented_reference(pdq_corpus, expected):
    # Proves the agreement above depends on applying the orientation: the rotated
    # phone photos must be far from the reference's unoriented hash.
    for row in expected:
        if "exif-rotn" in row["file"] and not row["file"].endswith("-1.jpg"):
            got = hash_photo(pdq_corpus / row["file"])
            assert distance(got.pdq, row["pdq"]) > 2 * MATCH_DISTANCE, row["file"]


def test_full_resolution_pdq_matches_reference_nearly_bit_for_bit(pdq_corpus, expected):
    for row in expected[:12]:
        with Image.open(pdq_corpus / row["file"]) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        got, quality = pdq_from_rgb(rgb)
        assert distance(got, row["pdq_exif_oriented"]) <= 2, row["file"]
        assert quality == int(row["pdq_quality"])


def smooth_random_rgb(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A random image with structure at PDQ's scale (pure noise has no stable median)."""
    coarse = rng.uniform(0, 255, size=(8, 8, 3)).astype(np.float32)
    image = Image.fromarray(coarse.astype(np.uint8), "RGB").resize((cols, rows), Image.BICUBIC)
    noise = rng.normal(0, 4, size=(rows, cols, 3))
    return np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(5, 5), (7, 300), (64, 64), (65, 63), (128, 129),
                                   (300, 7), (257, 1000), (1001, 383)])
def test_pdq_from_rgb_matches_reference_on_odd_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    rgb = smooth_random_rgb(rng, *shape)
    want, want_quality = reference_hex(rgb)
    got, quality = pdq_from_rgb(rgb)
    assert distance(got, want) <= 2
    assert abs(quality - want_quality) <= 1


def test_images_too_small_to_hash_give_the_reference_zero_hash():
    rgb = np.full((4, 100, 3), 200, dtype=np.uint8)
    assert reference_hex(rgb) == (ZERO_HASH, 0)
    assert pdq_from_rgb(rgb) == (ZERO_HASH, 0)


def test_low_detail_images_get_low_quality(pdq_corpus, expected):
    low = [row for row in expected if int(row["pdq_quality"]) < 50]
    assert low
    for row in low:
        assert hash_photo(pdq_corpus / row["file"]).pdq_quality < 50, row["file"]


def test_edits_of_a_photo_match_and_unrelated_photos_do_not(pdq_corpus, expected):
    bridge = pdq_corpus / "bridge-mods"
    original = hash_photo(bridge / "aaa-orig.jpg").pdq
    edits = sorted(p for p in bridge.iterdir() if p.name != "aaa-orig.jpg")
    assert len(edits) == 11
    for edit in edits:
        assert distance(hash_photo(edit).pdq, original) <= MATCH_DISTANCE, edit.name
    unrelated = [row["file"] for row in expected
                 if ("labelme" in row["file"] or "exif-rotn" in row["file"]
                     or row["file"].endswith("pen-and-coaster.png"))
                 and int(row["pdq_quality"]) >= 80]
    assert len(unrelated) >= 9
    for name in unrelated:
        assert distance(hash_photo(pdq_corpus / name).pdq, original) > 2 * MATCH_DISTANCE, name


ORIENTATION_UNDO = {  # what a camera stores for each EXIF orientation, given the view
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATION_UNDO))
def test_every_exif_orientation_hashes_as_displayed(pdq_corpus, orientation):
    with Image.open(pdq_corpus / "bridge-mods" / "aaa-orig.jpg") as image:
        view = image.convert("RGB")
    # 2012 x 1260: big enough that libjpeg decodes at 1/8, and not multiples of 8, so
    # the short last block lands at the other end when an axis is flipped.
    view = view.resize((2012, 1260))
    undo = ORIENTATION_UNDO[orientation]
    stored = view if undo is None else view.transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif)
    buffer.seek(0)
    with Image.open(buffer) as check:
        assert np.asarray(ImageOps.exif_transpose(check)).shape[:2] == (1260, 2012)
    buffer.seek(0)
    want, _ = pdq_from_rgb(np.asarray(view))
    got = hash_photo(buffer)
    assert distance(got.pdq, want) <= 4
    assert distance(got.pdq, hash_photo_plain(view)) <= 4
    assert imagehash.hex_to_hash(got.phash) - imagehash.phash(view) <= 4


def hash_photo_plain(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    buffer.seek(0)
    return hash_photo(buffer).pdq


def test_phash_is_imagehash_phash_of_the_displayed_photo(pdq_corpus, expected):
    for row in expected:
        if int(row["pdq_quality"]) < 80:
            continue
        with Image.open(pdq_corpus / row["file"]) as image:
            want = imagehash.phash(ImageOps.exif_transpose(image).convert("RGB"))
        got = imagehash.hex_to_hash(hash_photo(pdq_corpus / row["file"]).phash)
        assert got - want <= 4, row["file"]


def test_corpus_files_in_every_mode_and_format_agree_with_reference(pdq_corpus, expected):
    rows = [row for row in expected if row["file"].startswith("misc-images/modes/")]
    assert {row["mode"] for row in rows} >= {"1", "CMYK", "L", "LA", "P", "RGB", "RGBA"}
    for row in rows:
        got = hash_photo(pdq_corpus / row["file"])
        assert distance(got.pdq, row["pdq_exif_oriented"]) <= MAX_BITS_FROM_REFERENCE, row["file"]


PILLOW_MODES = ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK",
                "YCbCr", "LAB", "HSV", "I", "I;16", "I;16L", "I;16B", "F"]


@pytest.mark.parametrize("mode", PILLOW_MODES)
def test_every_pillow_mode_hashes_like_the_rgb_image(pdq_corpus, mode):
    with Image.open(pdq_corpus / "bridge-mods" / "aaa-orig.jpg") as image:
        rgb = image.convert("RGB").resize((400, 251))
    want = hash_image(rgb)
    if mode == "La":
        converted = rgb.convert("LA").convert("La")
    elif mode.startswith("I;16"):
        converted = rgb.convert("L").convert(mode)
    else:
        converted = rgb.convert(mode)
    assert converted.mode == mode
    got = hash_image(converted)
    assert distance(got.pdq, want.pdq) <= MAX_BITS_FROM_REFERENCE
    assert got.pdq_quality >= 80


def test_palette_with_transparency_hashes_without_warning(pdq_corpus):
    with Image.open(pdq_corpus / "bridge-mods" / "aaa-orig.jpg") as image:
        palette = image.convert("RGB").resize((400, 251)).convert("P")
    palette.info["transparency"] = bytes(range(8))
    buffer = io.BytesIO()
    palette.save(buffer, "PNG")
    buffer.seek(0)
    assert hash_photo(buffer).pdq_quality >= 80  # warnings are errors in this suite


def test_sixteen_bit_grey_is_scaled_not_clipped(pdq_corpus):
    with Image.open(pdq_corpus / "bridge-mods" / "aaa-orig.jpg") as image:
        grey = np.asarray(image.convert("L").resize((400, 251)), dtype=np.uint16)
    eight, sixteen = io.BytesIO(), io.BytesIO()
    Image.fromarray(grey.astype(np.uint8)).save(eight, "PNG")
    Image.fromarray(grey * 257).save(sixteen, "PNG")
    eight.seek(0)
    sixteen.seek(0)
    with Image.open(sixteen) as check:
        assert check.mode.startswith("I")
    sixteen.seek(0)
    assert distance(hash_photo(sixteen).pdq, hash_photo(eight).pdq) <= 2


# ---- bad input ---------------------------------------------------------------------

def test_truncated_jpeg_is_unreadable(pdq_corpus):
    data = (pdq_corpus / "bridge-mods" / "aaa-orig.jpg").read_bytes()
    with pytest.raises(UnreadableImage):
        hash_photo(io.BytesIO(data[: len(data) // 2]))


@pytest.mark.parametrize("data", [b"", b"not an image at all\n" * 10,
                                  b"\xff\xd8\xff\xe0" + bytes(100), b"\x89PNG\r\n\x1a\n" + bytes(40)])
def test_bytes_that_are_not_an_image_are_unreadable(data):
    with pytest.raises(UnreadableImage):
        hash_photo(io.BytesIO(data))


def test_missing_file_is_not_disguised_as_a_bad_image(tmp_path):
    with pytest.raises(FileNotFoundError):
        hash_photo(tmp_path / "absent.jpg")


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge image (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_too_large():
    with pytest.raises(ImageTooLarge):
        hash_photo(io.BytesIO(png_declaring(100_000, 100_000)))


def test_image_just_over_the_pixel_limit_is_refused_not_warned(pdq_corpus, monkeypatch):
    # Between MAX_IMAGE_PIXELS and twice that, Pillow only warns: we refuse.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1600 * 1004 * 2 // 3)
    with pytest.raises(ImageTooLarge):
        hash_photo(pdq_corpus / "bridge-mods" / "aaa-orig.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1600 * 1004)
    assert hash_photo(pdq_corpus / "bridge-mods" / "aaa-orig.jpg").pdq_quality == 100


# ---- file hashes -------------------------------------------------------------------

def test_file_hashes_match_the_corpus(pdq_corpus, expected):
    for row in expected[:10]:
        assert hash_file(pdq_corpus / row["file"]) == FileHashes(md5=row["md5"], sha256=row["sha256"])


def test_file_hashes_stream_large_files_and_accept_file_objects(tmp_path):
    data = np.random.default_rng(7).bytes(3 * 1024 * 1024 + 17)
    path = tmp_path / "video.mp4"
    path.write_bytes(data)
    want = FileHashes(md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest())
    assert hash_file(path) == want
    assert hash_file(str(path)) == want
    with open(path, "rb") as handle:
        assert hash_file(handle) == want
        assert not handle.closed  # the caller's file stays the caller's


def test_photo_hashes_are_lower_case_hex_of_the_right_length(pdq_corpus):
    got = hash_photo(pdq_corpus / "bridge-mods" / "aaa-orig.jpg")
    assert isinstance(got, PhotoHashes)
    assert len(got.pdq) == 64 and got.pdq == got.pdq.lower()
    assert len(got.phash) == 16 and got.phash == got.phash.lower()
    int(got.pdq, 16), int(got.phash, 16)
