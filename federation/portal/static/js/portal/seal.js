// Opening `pin_sealed` from a replayed POST /v1/cases (see federation/cases.py):
// base64url(nonce(12) || AES-256-GCM ciphertext) under
// HKDF-SHA256(ikm = Idempotency-Key, salt = empty, info = "federation/pin-seal/v1").
// Only the page that made the key can open it, so a person whose first answer
// was lost still gets their PIN, and the PIN never travels in clear twice.

const INFO = new TextEncoder().encode("federation/pin-seal/v1");
const NONCE_BYTES = 12;

export async function openSealedPin(idempotencyKey, sealed) {
  const ikm = await crypto.subtle.importKey(
    "raw", new TextEncoder().encode(idempotencyKey), "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: INFO },
    ikm, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
  const blob = base64urlDecode(sealed);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: blob.slice(0, NONCE_BYTES) }, key, blob.slice(NONCE_BYTES));
  return new TextDecoder().decode(plain);
}

function base64urlDecode(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
