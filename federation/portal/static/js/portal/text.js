// The portal's words, rendered by the server into a JSON data block (never
// executed, so the CSP allows it). All text lives in federation/portal/text.py.

const TEXT = JSON.parse(document.getElementById("portal-text").textContent);

/** The text for `key`, with {placeholders} filled from `values`. */
export function t(key, values = {}) {
  const template = TEXT[key];
  if (template === undefined) throw new Error(`no text for ${key}`);
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** A date from the API (ISO 8601) in the page's language, e.g. "3 May 2025". */
export function formatDate(iso) {
  return new Date(iso).toLocaleDateString(document.documentElement.lang, {
    day: "numeric", month: "long", year: "numeric",
  });
}

/** Bytes as a person reads them: "820 KB", "1.2 MB". */
export function formatSize(bytes) {
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const shown = unit === 0 || value >= 10 ? Math.round(value) : value.toFixed(1);
  return `${shown} ${units[unit]}`;
}

/** How long to wait, in words, from a Retry-After header's seconds: rounded up to
 * minutes, or to hours past two hours. */
export function waitWords(retryAfter) {
  const seconds = Number(retryAfter) || 60;
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  if (minutes === 1) return t("wait_one_minute");
  if (minutes <= 120) return t("wait_minutes", { minutes });
  return t("wait_hours", { hours: Math.ceil(minutes / 60) });
}
