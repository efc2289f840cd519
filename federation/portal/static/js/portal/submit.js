// Sending a report: one POST /v1/cases per part (see parts.js), each with an
// Idempotency-Key made once, when the person first presses Send, and reused on
// every retry. A retry after a lost answer therefore returns the same case; its
// PIN then comes sealed to the key and is opened here (seal.js).

import { openSealedPin } from "./seal.js";

export class Submission {
  /** parts: arrays of signals; consent: the API's three booleans; referral: the
   * referral code and sharing answer, sent with the first part only (a code is
   * single-use). The bodies are fixed now, so a retry sends exactly the same request. */
  constructor(parts, consent, referral = {}) {
    this.parts = parts.map((signals, index) => ({
      key: newIdempotencyKey(),
      body: JSON.stringify({ signals, consent, ...(index === 0 ? referral : {}) }),
      receipt: null,
    }));
  }

  /** Send the parts that have no receipt yet. onPart(number, total) before each.
   * Resolves to {ok: true, receipts} or {ok: false, reason, detail, retryAfter}; reason
   * is "network", "server" or "busy" (worth retrying; "busy" after retryAfter seconds)
   * or "refused" (it will not change). */
  async send(onPart = () => {}) {
    for (const [index, part] of this.parts.entries()) {
      if (part.receipt) continue;
      onPart(index + 1, this.parts.length);
      const outcome = await sendPart(part);
      if (!outcome.ok) return outcome;
      part.receipt = outcome.receipt;
    }
    return { ok: true, receipts: this.parts.map((part) => part.receipt) };
  }
}

async function sendPart(part) {
  let response;
  let body;
  try {
    response = await fetch("/v1/cases", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": part.key },
      body: part.body,
      cache: "no-store",
      credentials: "omit",
    });
    body = await response.json();
  } catch {
    // No answer, or the answer was cut off: the case may exist. The retry finds out.
    return { ok: false, reason: "network" };
  }
  if (response.status === 429) {
    // Too many reports from this network: nothing was stored; the same request may be
    // sent again after Retry-After.
    return { ok: false, reason: "busy", retryAfter: response.headers.get("Retry-After") };
  }
  if (response.status >= 500) return { ok: false, reason: "server" };
  if (!response.ok) return { ok: false, reason: "refused", detail: body.detail || body.title };
  try {
    const pin = body.pin ?? (await openSealedPin(part.key, body.pin_sealed));
    return { ok: true, receipt: { reference: body.reference, pin, signalCount: body.signal_count,
                                  referral: body.referral ?? null } };
  } catch {
    return { ok: false, reason: "server" };
  }
}

// A random UUID: 122 random bits, enough to seal the replayed PIN. randomUUID
// needs a secure context (https or localhost), like the WebCrypto that opens it.
function newIdempotencyKey() {
  return crypto.randomUUID();
}
