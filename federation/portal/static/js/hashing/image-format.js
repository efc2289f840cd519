// Recognise an image format from a file's first bytes, so a failed decode can
// be explained: a photo in a format the browser cannot read (HEIC from an
// iPhone, TIFF, RAW) needs different advice from a damaged file or a file
// that is not a picture at all.

export const HEAD_BYTES = 32;

const DECODABLE = "decodable";
const UNSUPPORTED = "unsupported";

// ISO base media file brands (the "ftyp" box): AVIF decodes in the browser,
// HEIF/HEIC and Canon's CR3 do not.
const AVIF_BRANDS = new Set(["avif", "avis"]);
const UNDECODABLE_BRANDS = new Set(["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1", "crx "]);

const SIGNATURES = [
  { support: DECODABLE, bytes: [0xff, 0xd8, 0xff] }, // JPEG
  { support: DECODABLE, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] }, // PNG
  { support: DECODABLE, ascii: "GIF87a" },
  { support: DECODABLE, ascii: "GIF89a" },
  { support: DECODABLE, ascii: "BM" },
  { support: DECODABLE, bytes: [0x00, 0x00, 0x01, 0x00] }, // ICO
  { support: UNSUPPORTED, bytes: [0x49, 0x49, 0x2a, 0x00] }, // TIFF, and most camera RAW
  { support: UNSUPPORTED, bytes: [0x4d, 0x4d, 0x00, 0x2a] }, // TIFF, big-endian
  { support: UNSUPPORTED, bytes: [0xff, 0x0a] }, // JPEG XL codestream
  { support: UNSUPPORTED, bytes: [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20] }, // JPEG XL container
  { support: UNSUPPORTED, bytes: [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20] }, // JPEG 2000
  { support: UNSUPPORTED, ascii: "8BPS" }, // Photoshop
];

/**
 * Classify the first HEAD_BYTES of a file: "decodable" (an image format the
 * browser decodes), "unsupported" (an image format it does not), or null
 * (not a format we know as an image).
 */
export function imageSupport(head) {
  if (ascii(head, 0, 4) === "RIFF" && ascii(head, 8, 4) === "WEBP") return DECODABLE;
  if (ascii(head, 4, 4) === "ftyp") return isoBrandSupport(head);
  const match = SIGNATURES.find((signature) => startsWith(head, signatureBytes(signature)));
  return match ? match.support : null;
}

// The major brand and the compatible brands that fit in the head: AVIF files
// often list "mif1" too, so any AVIF brand wins.
function isoBrandSupport(head) {
  const brands = [ascii(head, 8, 4)];
  for (let offset = 16; offset + 4 <= head.length; offset += 4) brands.push(ascii(head, offset, 4));
  if (brands.some((brand) => AVIF_BRANDS.has(brand))) return DECODABLE;
  if (brands.some((brand) => UNDECODABLE_BRANDS.has(brand))) return UNSUPPORTED;
  return null; // e.g. an MP4 or MOV video
}

function signatureBytes(signature) {
  return signature.bytes ?? Array.from(signature.ascii, (ch) => ch.charCodeAt(0));
}

function startsWith(head, bytes) {
  return head.length >= bytes.length && bytes.every((byte, i) => head[i] === byte);
}

function ascii(head, offset, length) {
  return String.fromCharCode(...head.subarray(offset, offset + length));
}
