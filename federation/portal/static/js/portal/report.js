// The report flow on one page: choose -> make hashes -> check -> agree and send
// -> reference and PIN. Files are read only by the hashing workers on this
// device; the only thing that leaves the page is the JSON list of hashes.

import "./trusted-types.js";
import { hashFile, HashingError } from "../hashing/client.js";
import { el, focusHeading, say } from "./dom.js";
import { MAX_SIGNALS_PER_CASE, packParts } from "./parts.js";
import { Submission } from "./submit.js";
import { cleanName, formatSize, t, waitWords } from "./text.js";

// Matches the number of hashes the API takes in one case: more files than this
// would make an unwieldy number of references and a very long page.
const MAX_FILES = 500;
// The API refuses PDQ below this quality: too featureless to match safely.
const MIN_PDQ_QUALITY = 50;
// Codes where the file's MD5 and SHA-256 were still made and can be offered.
const FILE_HASH_OFFERED = new Set(["not_an_image", "unsupported_format", "corrupt_image"]);

const $ = (id) => document.getElementById(id);
const list = $("file-list");
const entries = []; // {file, kind, row, parts, status, signals, offered, usedAsFile, done, url}
let step = null;
let submission = null;
let sending = false;

// Opened from a safety organisation's link (/r/CODE): the code goes with the report,
// in the body. The address bar and history entry lose it at once, so the code is not
// left on a shared device; a reload then simply reports without it.
const referralNode = $("referral");
const referral = referralNode
  ? { code: referralNode.dataset.code, organisation: referralNode.dataset.organisation } : null;
// The report page's address in the page's language (the server renders it).
const reportUrl = document.querySelector(".progress-steps").dataset.reportUrl;
if (referral || $("referral-problem")) history.replaceState(null, "", reportUrl);

// --- steps -------------------------------------------------------------------

function show(name) {
  step = name;
  document.body.dataset.step = name;
  for (const node of document.querySelectorAll("[data-step]")) node.hidden = node.dataset.step !== name;
  for (const item of document.querySelectorAll(".progress-steps li")) {
    if (item.dataset.for === name) item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
  }
  const listed = ["choose", "hash", "review"].includes(name);
  list.hidden = !listed || entries.length === 0;
  $("files-empty").hidden = name !== "choose" || entries.length > 0;
}

function goTo(name) {
  show(name);
  focusHeading($(`${name}-title`));
}

// --- choose ------------------------------------------------------------------

$("photos").addEventListener("change", (event) => addFiles(event.target, "photo"));
$("others").addEventListener("change", (event) => addFiles(event.target, "file"));
$("show-thumbs").addEventListener("change", (event) => {
  list.classList.toggle("thumbs-blurred", !event.target.checked);
});

// Rows are added a batch at a time, letting the page draw in between, so
// choosing hundreds of files never freezes it (Quick exit must always work).
const ROWS_PER_BATCH = 50;
let adding = Promise.resolve();

function addFiles(input, kind) {
  const files = [...input.files];
  input.value = ""; // choosing the same file again still fires "change"
  adding = adding.then(() => addInBatches(files, kind));
}

async function addInBatches(files, kind) {
  const room = Math.max(0, MAX_FILES - entries.length);
  const added = files.slice(0, room);
  say($("choose-message"), files.length > room ? t("too_many_files", { max: MAX_FILES, added: added.length }) : "");
  for (let start = 0; start < added.length; start += ROWS_PER_BATCH) {
    if (start > 0) await nextFrame();
    const rows = added.slice(start, start + ROWS_PER_BATCH).map((file) => {
      const entry = newEntry(file, kind);
      entries.push(entry);
      return entry.row;
    });
    list.append(...rows);
    show("choose");
  }
}

function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

function newEntry(file, kind) {
  const entry = { file, kind, status: "waiting", signals: [], offered: [], usedAsFile: false, done: 0, url: null };
  const parts = {
    progress: el("progress", { className: "file-progress", max: Math.max(1, file.size), value: 0,
                               attrs: { "aria-label": file.name } }),
    status: el("p", { className: "file-status", text: t("waiting") }),
    problem: el("p", { className: "file-problem", hidden: true }),
    useAsFile: el("button", { type: "button", className: "secondary small use-as-file",
                              text: t("use_as_file"), hidden: true }),
    hashes: el("dl", { className: "hashes", hidden: true }),
    remove: el("button", { type: "button", className: "secondary small remove", text: t("remove"),
                           attrs: { "aria-label": t("remove_named", { name: file.name }) } }),
  };
  entry.parts = parts;
  entry.row = el("li", { className: "file" },
    thumbnail(entry),
    el("div", { className: "file-body" },
      el("p", { className: "file-name", text: file.name }),
      el("p", { className: "file-meta",
                text: `${t(kind === "photo" ? "kind_photo" : "kind_file")} · ${formatSize(file.size)}` }),
      parts.progress, parts.status, parts.problem, parts.useAsFile, parts.hashes),
    parts.remove);
  entry.row.dataset.status = entry.status;
  parts.remove.addEventListener("click", () => removeEntry(entry));
  parts.useAsFile.addEventListener("click", () => {
    entry.usedAsFile = true;
    entry.signals = entry.offered;
    render(entry);
    if (step === "review") renderReview();
  });
  return entry;
}

// Drawn from the file on this device (an object URL); nothing is fetched.
function thumbnail(entry) {
  const { file, kind } = entry;
  const box = el("div", { className: "thumb", attrs: { "aria-hidden": "true" } });
  const isVideo = file.type.startsWith("video/");
  if (kind === "photo" || file.type.startsWith("image/") || isVideo) {
    entry.url = URL.createObjectURL(file);
    const media = isVideo
      ? el("video", { src: entry.url, muted: true, preload: "metadata" })
      : el("img", { src: entry.url, alt: "", loading: "lazy", decoding: "async" });
    media.addEventListener("error", () => media.replaceWith(placeholder(kind)), { once: true });
    box.append(media);
  } else {
    box.append(placeholder(kind));
  }
  return box;
}

function placeholder(kind) {
  return el("span", { className: `placeholder placeholder-${kind}` });
}

function removeEntry(entry) {
  const index = entries.indexOf(entry);
  if (index < 0) return;
  entries.splice(index, 1);
  entry.abort?.abort();
  if (entry.url) URL.revokeObjectURL(entry.url);
  entry.row.remove();
  const next = entries[index] ?? entries[index - 1];
  (next ? next.parts.remove : $("photos")).focus();
  if (step === "review") renderReview();
  else show(step);
}

$("hash-start").addEventListener("click", async () => {
  await adding;
  if (entries.length === 0) {
    say($("choose-message"), t("choose_nothing"));
    return;
  }
  hashAll();
});

// --- make hashes ---------------------------------------------------------------

async function hashAll() {
  goTo("hash");
  updateOverall();
  await Promise.all(entries.filter((entry) => entry.status === "waiting").map(hashEntry));
  renderReview();
  goTo("review");
}

async function hashEntry(entry) {
  // The pool hashes a few files at a time; a file's first progress means it started.
  const onProgress = ({ done }) => {
    if (entry.status === "waiting") {
      entry.status = "hashing";
      render(entry);
    }
    entry.done = done;
    entry.parts.progress.value = done;
    scheduleOverall();
  };
  // Removing the file while it is hashed stops the hashing (video.js, client.js).
  entry.abort = new AbortController();
  const kind = entry.kind === "file" && isVideo(entry.file) ? "video" : entry.kind;
  try {
    const { signals, note } = await hashFile(entry.file, { kind, onProgress, signal: entry.abort.signal });
    entry.status = "hashed";
    entry.signals = dropLowQualityPdq(entry, signals);
    // A video whose pictures could not be read still has its file hashes: say so.
    if (note) entry.problem = t(`problem_${note}`);
  } catch (error) {
    if (error instanceof HashingError && error.code === "cancelled") return;
    entry.status = "problem";
    const code = error instanceof HashingError ? error.code : "internal_error";
    entry.problem = problemText(code);
    entry.offered = FILE_HASH_OFFERED.has(code) ? error.signals : [];
  }
  entry.done = entry.file.size;
  render(entry);
  scheduleOverall();
}

// The overall bar is redrawn at most once a frame, however many files report.
let overallPending = false;
function scheduleOverall() {
  if (overallPending) return;
  overallPending = true;
  requestAnimationFrame(() => {
    overallPending = false;
    updateOverall();
  });
}

const VIDEO_NAME = /\.(mp4|m4v|mov|webm|mkv|3gp|ogv)$/i;
function isVideo(file) {
  return file.type.startsWith("video/") || VIDEO_NAME.test(file.name);
}

function dropLowQualityPdq(entry, signals) {
  const low = signals.some((s) => s.type === "pdq" && s.quality < MIN_PDQ_QUALITY);
  if (!low) return signals;
  entry.problem = t("problem_low_quality");
  return signals.filter((s) => s.type !== "pdq");
}

function problemText(code) {
  const known = ["not_an_image", "unsupported_format", "corrupt_image", "empty_file"];
  return t(known.includes(code) ? `problem_${code}` : "problem_unreadable");
}

function updateOverall() {
  const total = entries.reduce((sum, entry) => sum + entry.file.size, 0);
  const done = entries.reduce((sum, entry) => sum + Math.min(entry.done, entry.file.size), 0);
  const finished = entries.filter((entry) => entry.status === "hashed" || entry.status === "problem").length;
  const bar = $("overall-progress");
  bar.max = Math.max(1, total);
  bar.value = total === 0 ? (finished === entries.length ? 1 : 0) : done;
  // Read out by screen readers (role=status): only when the count of finished files changes.
  const words = t("hash_progress", { done: finished, count: entries.length });
  if ($("overall-text").textContent !== words) $("overall-text").textContent = words;
}

function render(entry) {
  const { parts } = entry;
  entry.row.dataset.status = entry.status;
  parts.status.textContent = t(entry.status === "hashing" ? "hashing" : entry.status === "waiting" ? "waiting" : "hashed");
  parts.progress.value = entry.status === "hashing" ? entry.done : entry.status === "waiting" ? 0 : parts.progress.max;
  const note = entry.usedAsFile ? `${entry.problem} ${t("using_as_file")}` : entry.problem;
  say(parts.problem, note ?? "");
  parts.useAsFile.hidden = entry.usedAsFile || entry.offered.length === 0;
  parts.hashes.replaceChildren(...entry.signals.flatMap((signal) => [
    el("dt", { text: signal.type === "pdq"
      ? `${t("hash_pdq")} (${t("quality", { quality: signal.quality })})`
      : t(`hash_${signal.type}`) }),
    el("dd", { className: "hash", text: signal.type === "vpdq"
      ? t("vpdq_frames", { frames: signal.frames.length }) : signal.value }),
  ]));
  parts.hashes.hidden = entry.signals.length === 0;
}

// --- check -------------------------------------------------------------------

function sendable() {
  return entries.filter((entry) => entry.signals.length > 0);
}

function renderReview() {
  const files = sendable();
  const parts = packParts(files.map((entry) => entry.signals));
  const hashes = parts.reduce((sum, part) => sum + part.length, 0);
  say($("review-summary"), files.length
    ? `${t("review_summary", { count: files.length })} ${t("review_hashes", { count: hashes })}`
    : t("review_nothing"));
  say($("review-parts"), parts.length > 1
    ? t("parts_explained", { max: MAX_SIGNALS_PER_CASE, hashes, parts: parts.length }) : "");
  const skipped = entries.length - files.length;
  say($("review-skipped"), skipped > 0 ? t("review_skipped", { count: skipped }) : "");
  $("request-body").textContent = parts
    .map((signals, index) => JSON.stringify(
      { signals, consent: consentPreview(), ...(index === 0 ? referralFields() : {}) }, null, 2))
    .join("\n\n");
  $("review-continue").hidden = files.length === 0;
  show("review");
}

function consentPreview() {
  return { adult: true, depicted_or_acting_for: true, share_with_platforms: true };
}

// The code and the person's answer (default: no). A code is single-use, so when a big
// report goes as several cases, only the first carries it.
function referralFields() {
  if (!referral) return {};
  return { referral_code: referral.code, share_with_referrer: $("share-yes").checked };
}

$("review-back").addEventListener("click", () => goTo("choose"));
$("review-continue").addEventListener("click", () => goTo("consent"));

// --- agree and send ----------------------------------------------------------

const consentBoxes = {
  adult: $("consent-adult"),
  depicted_or_acting_for: $("consent-depicted"),
  share_with_platforms: $("consent-share"),
};

$("consent-back").addEventListener("click", () => {
  renderReview();
  goTo("review");
});
$("send").addEventListener("click", send);
$("retry").addEventListener("click", send);

async function send() {
  // Guard first, before any await: a double click sends one report.
  if (sending) return;
  const consent = Object.fromEntries(Object.entries(consentBoxes).map(([name, box]) => [name, box.checked]));
  if (!submission && !Object.values(consent).every(Boolean)) {
    say($("consent-message"), t("consent_missing"));
    return;
  }
  sending = true;
  say($("consent-message"), "");
  if (!submission) {
    // From here the request is fixed: a retry must send exactly the same body
    // with the same keys, so the answers can no longer be changed.
    submission = new Submission(packParts(sendable().map((entry) => entry.signals)), consent,
      referralFields());
    for (const box of Object.values(consentBoxes)) box.disabled = true;
    for (const radio of document.querySelectorAll("#sharing input")) radio.disabled = true;
    $("consent-back").hidden = true;
  }
  $("send").disabled = true;
  $("retry").disabled = true;
  const outcome = await submission.send((part, parts) => {
    $("send-status").textContent = parts > 1 ? t("sending_part", { part, parts }) : t("sending");
  });
  sending = false;
  $("send-status").textContent = "";
  $("retry").disabled = false;
  if (outcome.ok) {
    finish(outcome.receipts);
    return;
  }
  $("send").hidden = true;
  const retryable = outcome.reason !== "refused";
  $("retry").hidden = !retryable;
  say($("consent-message"), outcome.reason === "network" ? t("network_failed")
    : outcome.reason === "server" ? t("server_failed")
      : outcome.reason === "busy" ? t("report_busy", { wait: waitWords(outcome.retryAfter) })
        : t("refused", { detail: outcome.detail }));
  if (retryable) $("retry").focus();
}

// --- reference and PIN -------------------------------------------------------

function finish(receipts) {
  // The files are no longer needed: let the browser drop them and their previews.
  for (const entry of entries.splice(0)) if (entry.url) URL.revokeObjectURL(entry.url);
  list.replaceChildren();
  $("receipts").replaceChildren(...receipts.map((receipt, index) => receiptBlock(receipt, index, receipts.length)));
  say($("referral-result"), referralResult(receipts[0].referral));
  $("copy").addEventListener("click", () => copy(receipts));
  $("print").addEventListener("click", () => window.print());
  goTo("done");
}

function receiptBlock(receipt, index, count) {
  return el("div", { className: "receipt" },
    count > 1 ? el("p", { className: "receipt-part", text: t("part_label", { part: index + 1, parts: count }) }) : null,
    el("dl", {},
      el("dt", { text: t("reference") }),
      el("dd", { className: "reference", text: receipt.reference }),
      el("dt", { text: t("pin") }),
      el("dd", { className: "pin", text: receipt.pin })));
}

function referralResult(outcome) {
  if (!outcome) return "";
  if (outcome.status !== "applied") return t("referral_not_applied");
  const values = { organisation: cleanName(outcome.organisation) };
  return outcome.shared ? t("referral_shared", values) : t("referral_not_shared", values);
}

async function copy(receipts) {
  const text = receipts.map((receipt) => t("copy_text", receipt)).join("\n");
  try {
    await navigator.clipboard.writeText(text);
    $("copy-message").textContent = t("copied");
  } catch {
    // Select them instead, so the person can copy by hand or write them down.
    getSelection().selectAllChildren($("receipts"));
    $("copy-message").textContent = t("copy_failed");
  }
}

show("choose");
