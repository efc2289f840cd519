// The buffering and padding that MD5 and SHA-256 share (Merkle-Damgard with
// 64-byte blocks). Subclasses supply compressBlock() and the output encoding.
// Written for streaming: update() takes chunks of any size and only copies the
// few bytes of an unfinished block; whole blocks are read in place.

const BLOCK_BYTES = 64;
const LENGTH_OFFSET = BLOCK_BYTES - 8;

export class BlockHash {
  #pending = new Uint8Array(BLOCK_BYTES);
  #pendingView = new DataView(this.#pending.buffer);
  #pendingBytes = 0;
  #totalBytes = 0;
  #lengthLittleEndian;

  constructor({ lengthLittleEndian }) {
    this.#lengthLittleEndian = lengthLittleEndian;
  }

  /** Feed the next bytes (a Uint8Array). Returns this, for chaining. */
  update(bytes) {
    this.#totalBytes += bytes.length;
    let offset = 0;
    if (this.#pendingBytes > 0) {
      offset = Math.min(BLOCK_BYTES - this.#pendingBytes, bytes.length);
      this.#pending.set(bytes.subarray(0, offset), this.#pendingBytes);
      this.#pendingBytes += offset;
      if (this.#pendingBytes < BLOCK_BYTES) return this;
      this.compressBlock(this.#pendingView, 0);
      this.#pendingBytes = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; offset + BLOCK_BYTES <= bytes.length; offset += BLOCK_BYTES) {
      this.compressBlock(view, offset);
    }
    this.#pending.set(bytes.subarray(offset), 0);
    this.#pendingBytes = bytes.length - offset;
    return this;
  }

  /** Finish and return the digest as lower-case hex. The hash cannot be fed after this. */
  digest() {
    const pending = this.#pending;
    pending[this.#pendingBytes++] = 0x80;
    if (this.#pendingBytes > LENGTH_OFFSET) {
      pending.fill(0, this.#pendingBytes);
      this.compressBlock(this.#pendingView, 0);
      this.#pendingBytes = 0;
    }
    pending.fill(0, this.#pendingBytes);
    // The message length in bits, as a 64-bit integer: files can exceed 512 MiB,
    // so it does not fit 32 bits and is split by hand (no BigInt needed).
    const bits = this.#totalBytes * 8;
    const high = Math.floor(bits / 2 ** 32);
    const low = bits >>> 0;
    const littleEndian = this.#lengthLittleEndian;
    this.#pendingView.setUint32(LENGTH_OFFSET, littleEndian ? low : high, littleEndian);
    this.#pendingView.setUint32(LENGTH_OFFSET + 4, littleEndian ? high : low, littleEndian);
    this.compressBlock(this.#pendingView, 0);
    return this.encodeState();
  }
}

/** Hex of 32-bit words, each written in the given byte order. */
export function wordsToHex(words, littleEndian) {
  const view = new DataView(new ArrayBuffer(words.length * 4));
  words.forEach((word, i) => view.setInt32(i * 4, word, littleEndian));
  return Array.from(new Uint8Array(view.buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}
