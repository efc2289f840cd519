// vPDQ of a video on this device: the PDQ of about one frame a second.
//
// The browser's own <video> decodes (H.264/MP4, VP9/WebM, AV1 in Debian's
// Chromium), reading the file through an object URL a range at a time, so a
// 2 GB video is never in memory at once. For second k the page seeks to k (and
// one millisecond, so a frame that starts exactly at k is the one shown), takes
// the frame as an ImageBitmap at most MAX_SIDE pixels on its long side, and
// hands it to a Web Worker that computes its PDQ (worker.js, kind "frame").
// Nothing is fetched and nothing leaves the page: the URL is a blob: URL of the
// person's own file.
//
// Why not WebCodecs: it decodes but does not read containers, so it would need
// an MP4 and a WebM demuxer of our own; the <video> element has both, and the
// same codecs. The cost: each seek decodes from the key frame before it, so a
// video with key frames far apart (8 s, x264's default) is slower to hash than
// one with a key frame every second or two, as phones record
// (bench/README.md, "Video").
//
// The frames follow the rules the server applies (federation/vpdq.py): quality
// below 50 and bit counts no picture has (federation/rules.py, degenerate)
// are left out here, so the server never refuses a person's video for them.

const MAX_FRAMES = 3600; // rules.VPDQ_MAX_FRAMES: a longer video is sampled more sparsely
const MAX_SIDE = 2048; // as photos (worker.js): PDQ reduces every frame to 64x64 anyway
const MAX_PIXELS = 40_000_000; // partners/video.py MAX_PIXELS: larger frames are not hashed
const MIN_QUALITY = 50; // rules.VPDQ_MIN_QUALITY
const PDQ_MIN_ONES = 112; // rules.BIT_BALANCE["pdq"]
const PDQ_MAX_ONES = 128; // rules.BIT_BALANCE["pdq"]
const METADATA_MS = 20_000; // how long the browser may take to recognise the file
const SEEK_MS = 20_000; // and to show one frame

const WORKER_URL = new URL("./worker.js", import.meta.url);

/** Why a video's frames could not be hashed (its MD5 and SHA-256 still are). */
export class VideoProblem extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * The vPDQ frames of a video File: [{pdq, quality, time_ms}], in time order,
 * only those the server takes. onProgress(fraction) as seconds are done.
 * Rejects with VideoProblem: video_undecodable, video_no_picture,
 * video_too_large, video_featureless, or cancelled when `signal` aborts.
 * A video that breaks off part-way resolves with the frames before the break
 * and `partial: true`.
 */
export async function videoFrames(file, { onProgress = () => {}, signal } = {}) {
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  const url = URL.createObjectURL(file);
  const worker = new Worker(WORKER_URL, { type: "module" });
  const stop = () => {
    worker.terminate();
    video.removeAttribute("src");
    video.load(); // releases the decoder and the file
    URL.revokeObjectURL(url);
  };
  try {
    video.src = url;
    await until(video, "loadedmetadata", METADATA_MS, signal, "video_undecodable");
    if (!video.videoWidth || !video.videoHeight) {
      throw new VideoProblem("video_no_picture", "The file has sound but no picture.");
    }
    if (video.videoWidth * video.videoHeight > MAX_PIXELS) {
      throw new VideoProblem("video_too_large", `${video.videoWidth}x${video.videoHeight} is too large`);
    }
    const duration = await knownDuration(video, signal);
    const interval = Math.max(1, Math.ceil(duration / MAX_FRAMES));
    const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    const size = {
      resizeWidth: Math.max(1, Math.round(video.videoWidth * scale)),
      resizeHeight: Math.max(1, Math.round(video.videoHeight * scale)),
      resizeQuality: "high",
    };
    const frames = [];
    let partial = false;
    let pending = null; // the previous frame's PDQ, computed while this one is sought
    for (let k = 0; k * interval < duration || k === 0; k++) {
      const time = k * interval;
      try {
        await seek(video, Math.min(time + 0.001, Math.max(0, duration - 0.001)), signal);
      } catch (error) {
        if (error.code === "cancelled" || k === 0) throw error;
        partial = true; // damaged or cut off from here on: keep what came before
        break;
      }
      const picture = (scale === 1 && await lumaPlane(video)) || await createImageBitmap(video, size);
      if (pending) frames.push(await pending);
      pending = pdqInWorker(worker, picture, Math.round(time * 1000));
      onProgress(Math.min(1, (time + interval) / duration));
    }
    if (pending) frames.push(await pending);
    const usable = frames.filter(takenByServer);
    if (usable.length === 0) {
      throw new VideoProblem("video_featureless", "No frame has enough detail to match safely.");
    }
    return { frames: usable, partial };
  } finally {
    stop();
  }
}

function takenByServer(frame) {
  if (frame.quality < MIN_QUALITY) return false;
  let ones = 0;
  for (const digit of frame.pdq) ones += ONES[parseInt(digit, 16)];
  return ones >= PDQ_MIN_ONES && ones <= PDQ_MAX_ONES;
}

const ONES = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];

// The frame's luminance as decoded (its Y plane), where WebCodecs' VideoFrame
// can give it (a secure context: https, or http://127.0.0.1). Through a canvas
// the browser would first convert to RGB with its own colour matrix (BT.709 for
// HD in Chromium), which moves PDQ by 10-20 bits from what FFmpeg-based
// hashers (the kit, Meta's vpdq) compute; the Y plane moves it by 0-2.
// Returns null where that is not possible, and the caller draws instead.
async function lumaPlane(video) {
  if (typeof VideoFrame === "undefined") return null;
  let frame;
  try {
    frame = new VideoFrame(video, { timestamp: 0 });
    if (!["I420", "I420A", "I422", "I444", "NV12"].includes(frame.format)) return null;
    const buffer = new Uint8Array(frame.allocationSize());
    const [plane] = await frame.copyTo(buffer); // the Y plane comes first in each of these
    const { x, y, width, height } = frame.visibleRect;
    return {
      y: buffer.subarray(plane.offset + y * plane.stride + x), stride: plane.stride, width, height,
      fullRange: frame.colorSpace?.fullRange === true,
    };
  } catch {
    return null;
  } finally {
    frame?.close();
  }
}

let nextId = 1;
function pdqInWorker(worker, bitmap, timeMs) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const listener = ({ data }) => {
      if (data.id !== id) return;
      worker.removeEventListener("message", listener);
      if (data.type === "result") {
        const [{ value, quality }] = data.signals;
        resolve({ pdq: value, quality, time_ms: timeMs });
      } else {
        reject(new VideoProblem("video_undecodable", data.message));
      }
    };
    worker.addEventListener("message", listener);
    if (bitmap instanceof ImageBitmap) worker.postMessage({ id, file: bitmap, kind: "frame" }, [bitmap]);
    else worker.postMessage({ id, file: bitmap, kind: "luma" }, [bitmap.y.buffer]);
  });
}

// A WebM written by a browser's MediaRecorder says nothing of its length until
// it has been read to the end: seeking far past it makes the browser find out.
async function knownDuration(video, signal) {
  if (Number.isFinite(video.duration) && video.duration > 0) return video.duration;
  await seek(video, 1e9, signal, { presented: false });
  if (!Number.isFinite(video.duration) || video.duration <= 0) {
    throw new VideoProblem("video_undecodable", "The video's length could not be found.");
  }
  return video.duration;
}

// "seeked" can fire before the frame at the new time is the one the element
// holds (seen under load: the last frame of the previous second was read).
// requestVideoFrameCallback fires once the new frame is presented; a seek that
// lands on the frame already shown presents nothing, hence the short wait.
const PRESENT_MS = 1000;

async function seek(video, time, signal, { presented = true } = {}) {
  const shown = presented && typeof video.requestVideoFrameCallback === "function"
    ? new Promise((resolve) => {
      const handle = video.requestVideoFrameCallback(() => resolve(true));
      setTimeout(() => { video.cancelVideoFrameCallback(handle); resolve(false); }, SEEK_MS);
    })
    : null;
  const done = until(video, "seeked", SEEK_MS, signal, "video_undecodable");
  video.currentTime = time;
  await done;
  if (shown) await Promise.race([shown, new Promise((resolve) => setTimeout(resolve, PRESENT_MS))]);
}

// Resolves on `event`; rejects on the element's error, after `ms`, or on abort.
function until(video, event, ms, signal, code) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new VideoProblem("cancelled", "Cancelled."));
      return;
    }
    const finish = (settle, value) => {
      clearTimeout(timer);
      video.removeEventListener(event, onEvent);
      video.removeEventListener("error", onError);
      signal?.removeEventListener("abort", onAbort);
      settle(value);
    };
    const onEvent = () => finish(resolve);
    const onError = () => finish(reject, new VideoProblem(code, video.error?.message || "cannot be decoded"));
    const onAbort = () => finish(reject, new VideoProblem("cancelled", "Cancelled."));
    const timer = setTimeout(() => finish(reject, new VideoProblem(code, "the browser took too long")), ms);
    video.addEventListener(event, onEvent);
    video.addEventListener("error", onError);
    signal?.addEventListener("abort", onAbort);
  });
}
