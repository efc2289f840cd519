// Main-thread API for hashing files in Web Workers (see worker.js for the
// message protocol). The portal calls hashFile(); files never leave the device.
//
//   import { hashFile, HashingError } from ".../hashing/client.js";
//   try {
//     const { signals } = await hashFile(file, { kind: "photo", onProgress });
//   } catch (error) {
//     if (error instanceof HashingError) { error.code; error.signals; }
//   }

import { VideoProblem, videoFrames } from "./video.js";

const WORKER_URL = new URL("./worker.js", import.meta.url);

/** A file could not be hashed. `code` is stable; `signals` holds what could
 * still be computed (md5 and sha256 of a photo that could not be decoded). */
export class HashingError extends Error {
  constructor(code, message, signals = []) {
    super(message);
    this.name = "HashingError";
    this.code = code;
    this.signals = signals;
  }
}

/**
 * A few workers, each hashing one file at a time; more files wait in a queue.
 * Small, because every photo being decoded holds its full-size pixels.
 */
export class HashingPool {
  #size;
  #idle = [];
  #busy = 0;
  #queue = [];
  #nextId = 1;

  constructor({ size = Math.min(2, navigator.hardwareConcurrency || 1) } = {}) {
    this.#size = size;
  }

  /**
   * Hash one File or Blob. kind "photo" gives pdq + md5 + sha256, "file"
   * gives md5 + sha256. onProgress({done, total}) is called as bytes are read.
   * Resolves to {signals: [{type, value, quality?}]}; rejects with HashingError
   * (code "cancelled" when `signal` aborts: a running worker is stopped).
   */
  hash(file, { kind = "file", onProgress, signal } = {}) {
    return new Promise((resolve, reject) => {
      const job = { id: this.#nextId++, file, kind, onProgress, resolve, reject, signal };
      if (signal?.aborted) {
        reject(cancelled());
        return;
      }
      signal?.addEventListener("abort", () => {
        const queued = this.#queue.indexOf(job);
        if (queued >= 0) this.#queue.splice(queued, 1);
        else job.cancel?.();
        reject(cancelled());
      }, { once: true });
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  #dispatch() {
    while (this.#queue.length > 0) {
      const worker = this.#idle.pop() ?? this.#spawn();
      if (!worker) return;
      this.#run(worker, this.#queue.shift());
    }
  }

  #spawn() {
    if (this.#idle.length + this.#busy >= this.#size) return null;
    return new Worker(WORKER_URL, { type: "module" });
  }

  #run(worker, job) {
    this.#busy++;
    let settled = false;
    const settle = (reusable) => {
      if (settled) return;
      settled = true;
      this.#busy--;
      if (reusable) this.#idle.push(worker);
      else worker.terminate();
      this.#dispatch();
    };
    worker.onmessage = ({ data }) => {
      if (data.id !== job.id) return;
      if (data.type === "progress") {
        job.onProgress?.({ done: data.done, total: data.total });
      } else if (data.type === "result") {
        settle(true);
        job.resolve({ signals: data.signals });
      } else if (data.type === "error") {
        settle(true);
        job.reject(new HashingError(data.code, data.message, data.signals));
      }
    };
    // The worker itself failed (it could not load, or crashed): do not reuse it.
    worker.onerror = (event) => {
      event.preventDefault();
      settle(false);
      job.reject(new HashingError("worker_failed", event.message || "The hashing worker stopped."));
    };
    job.cancel = () => settle(false); // terminates the worker mid-file
    worker.postMessage({ id: job.id, file: job.file, kind: job.kind });
  }
}

function cancelled() {
  return new HashingError("cancelled", "Cancelled.");
}

let defaultPool = null;

/** Hash a file with a pool shared by the page; see HashingPool.hash.
 * kind "video" gives vpdq (video.js) + md5 + sha256; a video the browser
 * cannot decode still gives md5 + sha256, with `note` saying why no vpdq. */
export function hashFile(file, options = {}) {
  defaultPool ??= new HashingPool();
  if (options.kind === "video") return hashVideo(defaultPool, file, options);
  return defaultPool.hash(file, options);
}

// The file's bytes are digested in a pool worker while the frames are sampled
// here and hashed in a worker of their own; progress is the mean of the two.
async function hashVideo(pool, file, { onProgress, signal } = {}) {
  // Either half failing (or the person cancelling) stops the other.
  const stop = new AbortController();
  signal?.addEventListener("abort", () => stop.abort(), { once: true });
  let bytes = 0;
  let seconds = 0;
  const report = () => onProgress?.({ done: Math.round(file.size * (bytes + seconds) / 2), total: file.size });
  const digests = pool.hash(file, {
    kind: "file", signal: stop.signal,
    onProgress: ({ done, total }) => { bytes = done / Math.max(1, total); report(); },
  });
  digests.catch(() => stop.abort());
  const frames = videoFrames(file, {
    signal: stop.signal, onProgress: (fraction) => { seconds = fraction; report(); },
  }).then(
    (result) => ({ result }),
    (problem) => ({ problem }),
  );
  const [{ signals }, { result, problem }] = await Promise.all([digests, frames]);
  if (problem?.code === "cancelled") throw cancelled();
  if (problem && !(problem instanceof VideoProblem)) throw problem;
  if (problem) return { signals, note: problem.code };
  return {
    signals: [{ type: "vpdq", frames: result.frames }, ...signals],
    note: result.partial ? "video_partly_read" : null,
  };
}
