// Splitting one report into cases the API accepts.
//
// The API holds at most 500 distinct hashes in a case. A photo gives 3 hashes
// (PDQ, MD5, SHA-256), a video 2, so a person with many files can go over. We
// do not drop any: the report is sent as several cases, each with its own
// reference and PIN, all shown together at the end. A file's hashes always stay
// in the same case, so withdrawing a case withdraws whole files. The same hash
// chosen twice (the same photo picked twice) is sent once.

export const MAX_SIGNALS_PER_CASE = 500;

/** fileSignals: one array of {type, value, quality?} per file, in order.
 * Returns the cases to send: arrays of signals, none longer than `max`. */
export function packParts(fileSignals, max = MAX_SIGNALS_PER_CASE) {
  const seen = new Set();
  const parts = [];
  let current = [];
  for (const signals of fileSignals) {
    const fresh = [];
    for (const signal of signals) {
      const key = `${signal.type}:${signal.value}`;
      if (!seen.has(key)) {
        seen.add(key);
        fresh.push(signal);
      }
    }
    if (fresh.length === 0) continue;
    if (current.length + fresh.length > max) {
      parts.push(current);
      current = [];
    }
    current.push(...fresh);
  }
  if (current.length > 0) parts.push(current);
  return parts;
}
