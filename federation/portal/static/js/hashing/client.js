// Main-thread API for hashing files in Web Workers (see worker.js for the
// message protocol). The portal calls hashFile(); files never leave the device.
//
//   import { hashFile, HashingError } from ".../hashing/client.js";
//   try {
//     const { signals } = await hashFile(file, { kind: "photo", onProgress });
//   } catch (error) {
//     if (error instanceof HashingError) { error.code; error.signals; }
//   }

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
   * Resolves to {signals: [{type, value, quality?}]}; rejects with HashingError.
   */
  hash(file, { kind = "file", onProgress } = {}) {
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, file, kind, onProgress, resolve, reject });
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
    const settle = (reusable) => {
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
    worker.postMessage({ id: job.id, file: job.file, kind: job.kind });
  }
}

let defaultPool = null;

/** Hash a file with a pool shared by the page; see HashingPool.hash. */
export function hashFile(file, options) {
  defaultPool ??= new HashingPool();
  return defaultPool.hash(file, options);
}
