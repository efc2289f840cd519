// The reference + PIN form shared by the status and withdraw pages. The two
// values go in a JSON POST body only: never in a URL, never stored.

import { say } from "./dom.js";
import { t, waitWords } from "./text.js";

export const form = document.getElementById("credentials");
export const message = document.getElementById("form-message");
const referenceInput = document.getElementById("reference");
const pinInput = document.getElementById("pin");

/** The typed reference and PIN, or null after saying what is wrong. */
export function readCredentials() {
  const reference = referenceInput.value.trim();
  const pin = pinInput.value.replace(/\s/g, "");
  say(message, "");
  if (!reference) {
    say(message, t("reference_missing"));
    referenceInput.focus();
    return null;
  }
  if (!/^[0-9]{8}$/.test(pin)) {
    say(message, t("pin_invalid"));
    pinInput.focus();
    return null;
  }
  return { reference, pin };
}

/** POST the credentials to an API path. Resolves to {ok: true, body} or
 * {ok: false, text}: the plain words to show for what went wrong. */
export async function postCredentials(path, credentials) {
  let response;
  let body;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(credentials),
      cache: "no-store",
      credentials: "omit",
    });
    body = await response.json();
  } catch {
    return { ok: false, text: t("network_failed") };
  }
  if (response.ok) return { ok: true, body };
  if (response.status === 429) {
    // Too many requests from this network (rate_limited), or a lock after wrong PINs.
    const wait = waitWords(response.headers.get("Retry-After"));
    return { ok: false, text: t(body.code === "rate_limited" ? "busy" : "locked", { wait }) };
  }
  if (response.status === 404) return { ok: false, text: t("not_found") };
  if (response.status === 422) return { ok: false, text: t("pin_invalid") };
  return { ok: false, text: t("server_failed") };
}

/** Clear the PIN field once it has been used, so it is not left on screen. */
export function forgetPin() {
  pinInput.value = "";
}
