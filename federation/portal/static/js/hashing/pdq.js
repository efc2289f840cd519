// PDQ perceptual hash (Meta, 2017), written from the published description
// and the reference implementation's behaviour, so that hashes made here
// match what member platforms compute with Meta's C++ code.
//
// Pipeline: RGB -> float luminance -> tent blur (two Jarosz box passes per
// axis) -> sample 64x64 -> quality from gradients -> 16x16 DCT -> one bit per
// coefficient, set when it exceeds the median.

const DOWNSAMPLE = 64;
const DCT_SIZE = 16;
const JAROSZ_PASSES = 2;
// Below this size the reference gives up: an all-zero hash of quality 0.
const MIN_HASHABLE_DIM = 5;

const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

// Row i, column j: sqrt(2/64) * cos(pi/128 * (i+1) * (2j+1)). Row 0 of a full
// DCT (the average) is skipped: it says nothing about structure.
const DCT_MATRIX = buildDctMatrix();

function buildDctMatrix() {
  const matrix = new Float64Array(DCT_SIZE * DOWNSAMPLE);
  const scale = Math.sqrt(2 / DOWNSAMPLE);
  for (let i = 0; i < DCT_SIZE; i++) {
    for (let j = 0; j < DOWNSAMPLE; j++) {
      matrix[i * DOWNSAMPLE + j] =
        scale * Math.cos((Math.PI / 2 / DOWNSAMPLE) * (i + 1) * (2 * j + 1));
    }
  }
  return matrix;
}

/**
 * Hash an RGBA pixel buffer (as from ImageData: 4 bytes a pixel, row-major).
 * Alpha is ignored, as the reference does after converting to RGB.
 * Returns {hash: 64 lower-case hex digits, quality: integer 0..100}.
 */
export function pdqFromRgba(rgba, width, height) {
  if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) {
    return { hash: "0".repeat(64), quality: 0 };
  }
  return pdqFromLuma(lumaFromRgba(rgba, width, height), width, height);
}

/**
 * Hash a float luminance image (0..255, row-major, width x height); it is
 * overwritten. For video frames read as their Y plane (video.js).
 */
export function pdqFromLuma(luma, width, height) {
  if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) {
    return { hash: "0".repeat(64), quality: 0 };
  }
  const scratch = new Float32Array(width * height);
  tentFilter(luma, scratch, width, height);
  const small = decimate(luma, width, height);
  const quality = qualityMetric(small);
  const coefficients = dct64To16(small);
  return { hash: bitsToHex(coefficients), quality };
}

function lumaFromRgba(rgba, width, height) {
  const luma = new Float32Array(width * height);
  for (let p = 0, q = 0; p < luma.length; p++, q += 4) {
    luma[p] = LUMA_R * rgba[q] + LUMA_G * rgba[q + 1] + LUMA_B * rgba[q + 2];
  }
  return luma;
}

// Window per pass: half of (input / 64), rounded up, so that two passes of a
// box filter (a tent) cover one output cell.
function jaroszWindow(oldDimension) {
  return Math.floor((oldDimension + 2 * DOWNSAMPLE - 1) / (2 * DOWNSAMPLE));
}

// In place on `buffer`; `scratch` is the same size and is overwritten.
function tentFilter(buffer, scratch, width, height) {
  const windowAlongRows = jaroszWindow(width);
  const windowAlongCols = jaroszWindow(height);
  for (let pass = 0; pass < JAROSZ_PASSES; pass++) {
    boxAlongRows(buffer, scratch, width, height, windowAlongRows);
    boxAlongCols(scratch, buffer, width, height, windowAlongCols);
  }
}

// A window of w samples centred on the output: for even w the extra sample is
// on the right, as in the reference. Near the edges the window is clipped and
// the mean taken over what remains.
function windowReach(windowSize) {
  const right = Math.floor((windowSize + 2) / 2) - 1;
  return { left: windowSize - 1 - right, right };
}

function boxAlongRows(input, output, width, height, windowSize) {
  const { left, right } = windowReach(windowSize);
  for (let row = 0; row < height; row++) {
    const base = row * width;
    let sum = 0;
    // Prime the sum with the samples left of column 0's right edge.
    for (let x = 0; x < right && x < width; x++) sum += input[base + x];
    for (let x = 0; x < width; x++) {
      const entering = x + right;
      const leaving = x - left - 1;
      if (entering < width) sum += input[base + entering];
      if (leaving >= 0) sum -= input[base + leaving];
      const count = Math.min(entering, width - 1) - Math.max(x - left, 0) + 1;
      output[base + x] = sum / count;
    }
  }
}

// Same filter down the columns, but walking whole rows at a time so memory is
// read sequentially (a column walk over a large image thrashes the cache).
function boxAlongCols(input, output, width, height, windowSize) {
  const { left, right } = windowReach(windowSize);
  const sums = new Float64Array(width);
  const addRow = (row, sign) => {
    const base = row * width;
    for (let x = 0; x < width; x++) sums[x] += sign * input[base + x];
  };
  for (let y = 0; y < right && y < height; y++) addRow(y, 1);
  for (let y = 0; y < height; y++) {
    const entering = y + right;
    const leaving = y - left - 1;
    if (entering < height) addRow(entering, 1);
    if (leaving >= 0) addRow(leaving, -1);
    const count = Math.min(entering, height - 1) - Math.max(y - left, 0) + 1;
    const base = y * width;
    for (let x = 0; x < width; x++) output[base + x] = sums[x] / count;
  }
}

// Sample the blurred image at the centre of each of the 64x64 target cells.
function decimate(input, width, height) {
  const out = new Float64Array(DOWNSAMPLE * DOWNSAMPLE);
  for (let i = 0; i < DOWNSAMPLE; i++) {
    const y = Math.floor(((i + 0.5) * height) / DOWNSAMPLE);
    for (let j = 0; j < DOWNSAMPLE; j++) {
      const x = Math.floor(((j + 0.5) * width) / DOWNSAMPLE);
      out[i * DOWNSAMPLE + j] = input[y * width + x];
    }
  }
  return out;
}

// The reference's heuristic: sum of neighbour differences, each scaled to a
// percentage of full range and truncated to an integer (so that many tiny
// gradients do not add up), then divided by 90 and capped at 100.
function qualityMetric(small) {
  let gradientSum = 0;
  const step = (u, v) => Math.abs(Math.trunc(((u - v) * 100) / 255));
  for (let i = 0; i < DOWNSAMPLE; i++) {
    for (let j = 0; j < DOWNSAMPLE; j++) {
      const here = small[i * DOWNSAMPLE + j];
      if (i + 1 < DOWNSAMPLE) gradientSum += step(here, small[(i + 1) * DOWNSAMPLE + j]);
      if (j + 1 < DOWNSAMPLE) gradientSum += step(here, small[i * DOWNSAMPLE + j + 1]);
    }
  }
  return Math.min(100, Math.floor(gradientSum / 90));
}

// B = D A D^t, with D the 16x64 DCT matrix: only the 16x16 low frequencies.
function dct64To16(a) {
  const d = DCT_MATRIX;
  const t = new Float64Array(DCT_SIZE * DOWNSAMPLE); // t = D A
  for (let i = 0; i < DCT_SIZE; i++) {
    for (let k = 0; k < DOWNSAMPLE; k++) {
      const dik = d[i * DOWNSAMPLE + k];
      for (let j = 0; j < DOWNSAMPLE; j++) {
        t[i * DOWNSAMPLE + j] += dik * a[k * DOWNSAMPLE + j];
      }
    }
  }
  const b = new Float64Array(DCT_SIZE * DCT_SIZE);
  for (let i = 0; i < DCT_SIZE; i++) {
    for (let j = 0; j < DCT_SIZE; j++) {
      let sum = 0;
      for (let k = 0; k < DOWNSAMPLE; k++) {
        sum += t[i * DOWNSAMPLE + k] * d[j * DOWNSAMPLE + k];
      }
      b[i * DCT_SIZE + j] = sum;
    }
  }
  return b;
}

// Bit k (k = 16 * row + column of the coefficient) is set when that
// coefficient exceeds the median; the median of 256 values is the lower one,
// the 128th smallest, as Torben's selection in the reference returns. The hex
// is the 256-bit number with bit k worth 2^k, most significant digit first:
// the reference's printed form, and what pdqhash's bit vector spells.
function bitsToHex(coefficients) {
  const median = Float64Array.from(coefficients).sort()[coefficients.length / 2 - 1];
  const bytes = new Uint8Array(coefficients.length / 8);
  for (let k = 0; k < coefficients.length; k++) {
    if (coefficients[k] > median) bytes[bytes.length - 1 - (k >> 3)] |= 1 << (k & 7);
  }
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
