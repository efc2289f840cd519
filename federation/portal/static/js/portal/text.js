// The portal's words in the page's language, rendered by the server into a JSON
// data block (never executed, so the CSP allows it). They come from the same
// gettext catalogs as the page (federation/portal/text.py, translations/): a key
// is a string, or, for a text with plural forms, one string per CLDR plural
// category of the language ({one: "...", other: "..."}), chosen here by the
// `count` value with Intl.PluralRules.

const TEXT = JSON.parse(document.getElementById("portal-text").textContent);
const LANG = document.documentElement.lang || "en";
// Latin digits everywhere, as the server's Babel formats them, so a number or a
// date reads the same in the page's HTML and in what the scripts add to it.
const LOCALE = `${LANG}-u-nu-latn`;
const plurals = new Intl.PluralRules(LOCALE);
const numbers = new Intl.NumberFormat(LOCALE);

/** The text for `key`, with {placeholders} filled from `values` (numbers by locale;
 * for a text with plural forms, the form for `values.count`). */
export function t(key, values = {}) {
  let template = TEXT[key];
  if (template === undefined) throw new Error(`no text for ${key}`);
  if (typeof template === "object") template = template[plurals.select(Number(values.count))] ?? template.other;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? shown(values[name]) : whole));
}

function shown(value) {
  return typeof value === "number" ? numbers.format(value) : String(value);
}

/** Remove the characters that could reorder the text around a name from another site
 * (a platform's or an organisation's): bidirectional embeddings, overrides, isolates.
 * The name is then shown in a <bdi>, isolated from the sentence around it. */
export function cleanName(name) {
  return String(name).replace(/[\u202a-\u202e\u2066-\u2069]/g, "");
}

/** A date from the API (ISO 8601) in the page's language, in CLDR's long form, as the
 * server's pages show dates: "May 3, 2026", "3 de mayo de 2026". */
export function formatDate(iso) {
  return new Intl.DateTimeFormat(LOCALE, { dateStyle: "long", timeZone: "UTC" }).format(new Date(iso));
}

/** Bytes as a person reads them, in the page's language: "820 kB", "1.2 MB". */
export function formatSize(bytes) {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  const key = `${unit}:${digits}`;
  if (!sizeFormats.has(key)) {
    sizeFormats.set(key, new Intl.NumberFormat(LOCALE, {
      style: "unit", unit: units[unit], unitDisplay: unit === 0 ? "long" : "short", maximumFractionDigits: digits,
    }));
  }
  return sizeFormats.get(key).format(value);
}
// Made once each: hundreds of rows are drawn at a time.
const sizeFormats = new Map();

/** How long to wait, in words, from a Retry-After header's seconds: rounded up to
 * minutes, or to hours past two hours. */
export function waitWords(retryAfter) {
  const seconds = Number(retryAfter) || 60;
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  if (minutes <= 120) return t("wait_minutes", { count: minutes });
  return t("wait_hours", { count: Math.ceil(minutes / 60) });
}
