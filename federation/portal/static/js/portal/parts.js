// Splitting one report into cases the API accepts.
//
// The API holds at most 500 distinct hashes in a case. A photo gives 3 hashes
// (PDQ, MD5, SHA-256), a video 2, so a person with many files can go over. We
// do not drop any: the report is sent as several cases, each with its own
// reference and PIN, all shown together at the end. A file's hashes always stay
// in the same case, so withdrawing a case withdraws whole files. The same hash
// chosen twice (the same photo picked twice) is sent once.

export const MAX_SIGNALS_PER_CASE = 500;
// The API takes request bodies up to 1 MiB; a video's vPDQ can be 400 kB (an
// hour of frames), so a case also closes before its hashes pass this many bytes.
export const MAX_BYTES_PER_CASE = 800_000;

/** fileSignals: one array of {type, value, quality?} per file, in order.
 * Returns the cases to send: arrays of signals, none longer than `max`. */
export function packParts(fileSignals, max = MAX_SIGNALS_PER_CASE, maxBytes = MAX_BYTES_PER_CASE) {
  const seen = new Set();
  const parts = [];
  let current = [];
  let bytes = 0;
  for (const signals of fileSignals) {
    const fresh = [];
    for (const signal of signals) {
      // A vpdq signal is its frames (the server computes its value).
      const key = `${signal.type}:${signal.value ?? JSON.stringify(signal.frames)}`;
      if (!seen.has(key)) {
        seen.add(key);
        fresh.push(signal);
      }
    }
    if (fresh.length === 0) continue;
    const size = JSON.stringify(fresh).length;
    if (current.length > 0 && (current.length + fresh.length > max || bytes + size > maxBytes)) {
      parts.push(current);
      current = [];
      bytes = 0;
    }
    current.push(...fresh);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}
