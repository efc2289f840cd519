// Module Web Worker that hashes one file per message, off the main thread so
// the page stays responsive. Nothing here touches the network: the file's
// bytes and pixels stay in this worker and only hashes are posted back.
//
// In:  {id, file: File|Blob, kind: "photo"|"file"}
//      {id, file: ImageBitmap, kind: "frame"}         one frame of a video (video.js)
//      {id, file: {y, stride, width, height, fullRange}, kind: "luma"}   its Y plane
// Out: {id, type: "progress", done, total}           bytes hashed so far
//      {id, type: "result", signals: [...]}           pdq (photos, frames), md5, sha256
//      {id, type: "error", code, message, signals}    signals: md5 and sha256
//                                                     when the bytes were read
import { Md5 } from "./md5.js";
import { Sha256 } from "./sha256.js";
import { pdqFromLuma, pdqFromRgba } from "./pdq.js";
import { HEAD_BYTES, imageSupport } from "./image-format.js";

// A few MiB per read: large enough that per-read overhead vanishes, small
// enough that a 2 GB video never sits in memory.
const CHUNK_BYTES = 4 * 1024 * 1024;

// Photos are scaled so their long side is at most this before PDQ. PDQ blurs
// everything down to 64x64 anyway: on the reference corpus a browser "high"
// quality resize to 2048 moves a 12-megapixel photo's hash by at most 4 bits of
// 256 from Meta's reference (1024 moved one by 10, the conformance limit), and
// smaller photos are not resized at all. It bounds our own buffers at ~40 MB: a
// 100-megapixel photo would otherwise need 400 MB of RGBA plus 800 MB of float
// luminance here. The browser itself still decodes the full image once
// (createImageBitmap cannot decode at a reduced size); if the device cannot
// hold that, the decode fails and we answer corrupt_image.
const MAX_LONG_SIDE = 2048;

class HashingFailure extends Error {
  constructor(code, message, signals = []) {
    super(message);
    this.code = code;
    this.signals = signals;
  }
}

self.addEventListener("message", async ({ data: { id, file, kind } }) => {
  const progress = (done) => self.postMessage({ id, type: "progress", done, total: file.size });
  try {
    const signals = await hashFile(file, kind, progress);
    self.postMessage({ id, type: "result", signals });
  } catch (error) {
    const failure = error instanceof HashingFailure
      ? error
      : new HashingFailure("internal_error", String(error));
    const { code, message, signals } = failure;
    self.postMessage({ id, type: "error", code, message, signals });
  }
});

async function hashFile(file, kind, progress) {
  if (kind === "luma") {
    // A video frame's Y plane (video.js): {y: Uint8Array, stride, width, height, fullRange}.
    const { y, stride, width, height, fullRange } = file;
    const luma = new Float32Array(width * height);
    // Limited range (16..235, nearly every video) is stretched to 0..255: the
    // luminance PDQ would compute from the RGB that FFmpeg makes of it.
    const scale = fullRange ? 1 : 255 / 219;
    const offset = fullRange ? 0 : 16;
    for (let row = 0; row < height; row++) {
      for (let col = 0, p = row * stride, q = row * width; col < width; col++) {
        luma[q + col] = Math.min(255, Math.max(0, (y[p + col] - offset) * scale));
      }
    }
    const pdq = pdqFromLuma(luma, width, height);
    return [{ type: "pdq", value: pdq.hash, quality: pdq.quality }];
  }
  if (kind === "frame") {
    const pixels = readPixels(file);
    const pdq = pdqFromRgba(pixels.data, pixels.width, pixels.height);
    return [{ type: "pdq", value: pdq.hash, quality: pdq.quality }];
  }
  if (kind !== "photo" && kind !== "file") {
    throw new HashingFailure("unknown_kind", `kind must be "photo" or "file", not ${kind}`);
  }
  if (file.size === 0) throw new HashingFailure("empty_file", "The file is empty.");
  const { md5, sha256, head } = await digestFile(file, progress);
  const signals = [{ type: "md5", value: md5 }, { type: "sha256", value: sha256 }];
  if (kind === "file") return signals;
  const pdq = await photoPdq(file, head, signals);
  return [{ type: "pdq", value: pdq.hash, quality: pdq.quality }, ...signals];
}

// MD5 and SHA-256 of the whole file, read chunk by chunk. The next chunk is
// read while the current one is hashed, so disk and CPU overlap.
async function digestFile(file, progress) {
  const md5 = new Md5();
  const sha256 = new Sha256();
  let head = null;
  let pending = readChunk(file, 0);
  for (let offset = 0; offset < file.size; ) {
    const chunk = await pending;
    const end = offset + chunk.length;
    if (end < file.size) pending = readChunk(file, end);
    head ??= chunk.slice(0, HEAD_BYTES);
    md5.update(chunk);
    sha256.update(chunk);
    offset = end;
    progress(offset);
  }
  return { md5: md5.digest(), sha256: sha256.digest(), head };
}

async function readChunk(file, offset) {
  try {
    return new Uint8Array(await file.slice(offset, offset + CHUNK_BYTES).arrayBuffer());
  } catch (error) {
    // E.g. the file was moved or changed on disk after it was chosen.
    throw new HashingFailure("unreadable_file", `The file could not be read: ${error.message}`);
  }
}

async function photoPdq(file, head, signals) {
  const support = imageSupport(head);
  if (support === null) {
    throw new HashingFailure("not_an_image", "This file is not a picture.", signals);
  }
  if (support === "unsupported") {
    throw new HashingFailure("unsupported_format", "This browser cannot open this kind of picture.", signals);
  }
  let bitmap;
  try {
    bitmap = await decodeCapped(file);
  } catch (error) {
    throw new HashingFailure("corrupt_image", `The picture could not be opened: ${error.message}`, signals);
  }
  const pixels = readPixels(bitmap);
  return pdqFromRgba(pixels.data, pixels.width, pixels.height);
}

// Decode as the browser shows the photo: EXIF orientation applied. Colour
// profiles are NOT applied ("none"), because platforms hash with decoders
// (Pillow, OpenCV) that ignore them; converting would move us away from them.
// Transparency: a 2D canvas keeps colour premultiplied by alpha, so a fully
// transparent pixel reads back black, where Pillow's convert("RGB") keeps its
// hidden colour. The corpus's RGBA images still conform; cut-outs with large
// transparent areas may hash further from a platform's Pillow hash.
async function decodeCapped(file) {
  const full = await createImageBitmap(file, {
    imageOrientation: "from-image",
    colorSpaceConversion: "none",
  });
  const scale = MAX_LONG_SIDE / Math.max(full.width, full.height);
  if (scale >= 1) return full;
  try {
    return await createImageBitmap(full, {
      resizeWidth: Math.max(1, Math.round(full.width * scale)),
      resizeHeight: Math.max(1, Math.round(full.height * scale)),
      resizeQuality: "high",
    });
  } finally {
    full.close(); // frees the full-size decode now, not at garbage collection
  }
}

function readPixels(bitmap) {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, width, height);
}
