"""PDQ perceptual hash in numpy: our own implementation of Meta's published algorithm.

The steps are those of the PDQ paper (pdqhash-2017-10-09) and Meta's reference code:

1. luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` as float;
2. a tent filter (Jarosz: two passes of a 1-D box filter along each axis) whose
   window is ``ceil(dimension / 128)``, then decimation to 64x64 by sampling the
   centre of each of the 64 bands;
3. a quality score from the 64x64 image: the sum of quantised neighbour
   differences, divided by 90, capped at 100;
4. coefficients 1..16 x 1..16 of the 2-D DCT of the 64x64 image;
5. bit ``16 i + j`` is 1 where coefficient ``(i, j)`` exceeds the median
   (the 128th smallest of the 256, as Torben's method returns).

Everything after the luminance is linear up to the DCT, so the filter and the
decimation fold into one 64 x n matrix per axis: ``out = Mr @ Y @ Mc.T``. Building
``M`` costs O(64 n) and applying it is two matrix products, instead of four
passes over the full image. The result is the same arithmetic as the reference
(sums of window means), only reordered, so it differs from the C++ only by float
rounding.

The hex form follows the reference's ``Hash256::format``: the hash is read as a
256-bit big-endian integer in which bit ``k`` is coefficient ``k = 16 i + j``.
"""
from __future__ import annotations

import math

import numpy as np

HASH_BITS = 256
MIN_HASHABLE_DIM = 5  # the reference gives an all-zero hash, quality 0, below this
_SIDE = 64
_WINDOW_DIVISOR = 128  # two passes, each half of a 1/64 band: ceil(n / 128)

LUMA_COEFFS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# 16 x 64 DCT-II basis rows 1..16 (row 0, the mean, carries no structure).
_DCT = (math.sqrt(2.0 / _SIDE) * np.cos(
    (math.pi / 2.0 / _SIDE) * np.arange(1, 17)[:, None] * (2 * np.arange(_SIDE)[None, :] + 1)
)).astype(np.float32)

ZERO_HASH = "0" * 64


def window_size(dimension: int) -> int:
    """Box-filter window for one pass along an axis of this length (rounded up)."""
    return (dimension + _WINDOW_DIVISOR - 1) // _WINDOW_DIVISOR


def _box_bounds(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive [lo, hi] of the box each output sample averages, clipped at the edges.

    The reference centres a window of ``w`` on output ``o`` as
    ``[o - (w - half), o + half - 1]`` with ``half = (w + 2) // 2`` and divides by the
    number of samples inside the image (edges use a shorter window).
    """
    half = (window + 2) // 2
    o = np.arange(n)
    lo = np.maximum(0, o - (window - half))
    hi = np.minimum(n - 1, o + half - 1)
    return lo, hi


def _tent_band(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero band of "box filter twice along an axis of length n, then decimate".

    Returns ``(rows, columns, weights)`` of the entries of that 64 x n matrix. Output
    row r is sample ``s_r = int((r + 0.5) n / 64)`` of ``B @ B``, ``B`` the box-filter
    matrix: the mean over ``k`` in box ``[lo[s_r], hi[s_r]]`` of the means over
    ``[lo[k], hi[k]]``. Only about ``64 x 2w`` entries are non-zero (``w`` the
    window), so they are computed directly, never the dense n-wide rows.
    """
    lo, hi = _box_bounds(n, window_size(n))
    count = (hi - lo + 1).astype(np.float64)
    samples = ((np.arange(_SIDE) + 0.5) * n / _SIDE).astype(np.int64)
    k_lo, k_hi = lo[samples], hi[samples]
    ks = k_lo[:, None] + np.arange(int((k_hi - k_lo).max()) + 1)[None, :]  # 64 x K
    k_valid = ks <= k_hi[:, None]
    ks = np.minimum(ks, n - 1)
    x_lo, x_hi = lo[k_lo], hi[k_hi]
    xs = x_lo[:, None] + np.arange(int((x_hi - x_lo).max()) + 1)[None, :]  # 64 x X
    x_valid = xs <= x_hi[:, None]
    # covered[r, k, x]: the inner box k of output r contains column x.
    covered = (lo[ks][:, :, None] <= xs[:, None, :]) & (xs[:, None, :] <= hi[ks][:, :, None])
    inner = np.where(k_valid, 1.0 / count[ks], 0.0) / count[samples][:, None]
    weights = np.einsum("rk,rkx->rx", inner, covered)
    rows = np.broadcast_to(np.arange(_SIDE)[:, None], xs.shape)
    return rows[x_valid], xs[x_valid], weights[x_valid]


def block_tent_matrix(full_length: int, factor: int = 1, reverse: bool = False) -> np.ndarray:
    """The 64 x ceil(n / factor) tent-and-decimate matrix of an axis of length n.

    With ``factor`` 1 this is the reference's filter exactly (up to rounding): box
    filter twice along the axis, then keep 64 samples. When the image was decoded or
    reduced by an integer ``factor`` (pixel ``p`` is the mean of full-resolution
    pixels ``[p f, p f + f)``, the last block possibly short), the result on the full
    image is approximated by treating each block as constant: column ``p`` is the sum
    of the full matrix's columns in block ``p``. The windows stay those of the full
    image, so only detail inside a block is lost, not the geometry of the filter.

    ``reverse`` is for an axis that EXIF orientation flips: the reference filters the
    flipped axis, so the full matrix is flipped before the blocks (which lie in the
    stored order) are summed.
    """
    rows, columns, weights = _tent_band(full_length)
    if reverse:
        columns = full_length - 1 - columns
    matrix = np.zeros((_SIDE, -(-full_length // factor)))
    np.add.at(matrix, (rows, columns // factor), weights)
    return matrix.astype(np.float32)


def _band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 64 x n matrix whose rows are each non-zero on one short span, as
    (start column per row, 64 x K weights from that column), K the widest span."""
    n = matrix.shape[1]
    nonzero = matrix != 0
    first = nonzero.argmax(axis=1)
    last = n - 1 - nonzero[:, ::-1].argmax(axis=1)
    width = int((last - first).max()) + 1
    starts = np.minimum(first, n - width)
    return starts, np.take_along_axis(matrix, starts[:, None] + np.arange(width), axis=1)


def downsample_64(luma: np.ndarray, full_shape: tuple[int, int] | None = None,
                  factors: tuple[int, int] = (1, 1),
                  reverse: tuple[bool, bool] = (False, False)) -> np.ndarray:
    """Tent-filter and decimate a float luminance image to 64 x 64.

    ``luma`` may be a block-mean reduction of an image of ``full_shape`` by ``factors``
    (see :func:`block_tent_matrix`); rows and columns are in the stored order, and
    ``reverse`` says which axes the caller's orientation flips.

    The products with the two filter matrices use their band structure (each output
    sample reads a span of about 2 windows) as a short loop of vector operations,
    not a dense matrix product: dense, 99% of the work is multiplying zeros, and on
    a busy machine BLAS threads add milliseconds of synchronisation per image.
    """
    rows, cols = full_shape or luma.shape
    row_matrix = block_tent_matrix(rows, factors[0], reverse[0])
    col_matrix = block_tent_matrix(cols, factors[1], reverse[1])
    if row_matrix.shape[1] != luma.shape[0] or col_matrix.shape[1] != luma.shape[1]:
        raise ValueError(f"{luma.shape} is not {full_shape} reduced by {factors}")
    row_starts, row_weights = _band(row_matrix)
    col_starts, col_weights = _band(col_matrix)
    filtered = np.zeros((_SIDE, luma.shape[1]), dtype=np.float32)
    for k in range(row_weights.shape[1]):
        filtered += row_weights[:, k, None] * luma[row_starts + k]
    out = np.zeros((_SIDE, _SIDE), dtype=np.float32)
    for k in range(col_weights.shape[1]):
        out += filtered[:, col_starts + k] * col_weights[:, k]
    return out


def quality_64(image64: np.ndarray) -> int:
    """The reference's heuristic: count significant gradients of the 64 x 64 image."""
    vertical = np.trunc((image64[:-1, :] - image64[1:, :]) * np.float32(100) / np.float32(255))
    horizontal = np.trunc((image64[:, :-1] - image64[:, 1:]) * np.float32(100) / np.float32(255))
    gradient_sum = int(np.abs(vertical).sum()) + int(np.abs(horizontal).sum())
    return min(gradient_sum // 90, 100)


def dct_16(image64: np.ndarray) -> np.ndarray:
    """Coefficients 1..16 x 1..16 of the 2-D DCT of a 64 x 64 image."""
    return _DCT @ image64.astype(np.float32) @ _DCT.T


def bits_to_hex(bits: np.ndarray) -> str:
    """256 booleans, bit k first, to the reference's 64-hex-digit form."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)[::-1]).tobytes().hex()


def hex_to_bits(value: str) -> np.ndarray:
    """Inverse of :func:`bits_to_hex`: 64 hex digits to 256 booleans, bit k first."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(value), dtype=np.uint8))[::-1].astype(bool)


def pdq_from_luma(luma: np.ndarray, full_shape: tuple[int, int] | None = None,
                  factors: tuple[int, int] = (1, 1),
                  reverse: tuple[bool, bool] = (False, False),
                  transpose: bool = False) -> tuple[str, int]:
    """PDQ hash (64 hex) and quality (0..100) of a 2-D float luminance image (0..255).

    By default ``luma`` is the whole image. A caller that decoded at reduced scale
    passes the full image's ``full_shape`` and the integer ``factors`` per axis; one
    that must apply an orientation passes the axes it flips (``reverse``, in stored
    order) and whether it then ``transpose``s: the flips and the transpose act on
    the filter matrices and on the 64 x 64 result instead of on the pixels.
    """
    luma = np.asarray(luma, dtype=np.float32)
    if luma.ndim != 2:
        raise ValueError(f"luminance must be 2-D, got shape {luma.shape}")
    if min(full_shape or luma.shape) < MIN_HASHABLE_DIM:
        return ZERO_HASH, 0
    image64 = downsample_64(luma, full_shape, factors, reverse)
    if transpose:
        image64 = image64.T
    coefficients = dct_16(image64).ravel()
    median = np.partition(coefficients, 127)[127]
    return bits_to_hex(coefficients > median), quality_64(image64)


def luma_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Float32 luminance of an H x W x 3 array (or H x W grey, returned as float)."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 RGB or H x W grey, got shape {rgb.shape}")
    return rgb.astype(np.float32) @ LUMA_COEFFS


def pdq_from_rgb(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ hash (64 hex) and quality of an H x W x 3 RGB array (values 0..255)."""
    return pdq_from_luma(luma_from_rgb(rgb))
