// The status page: reference + PIN in, the outcome in plain words out.

import { form, message, postCredentials, readCredentials } from "./credentials.js";
import { el, say } from "./dom.js";
import { cleanName, formatDate, t } from "./text.js";

const outcome = document.getElementById("outcome");
const outcomeText = document.getElementById("outcome-text");
const outcomeDate = document.getElementById("outcome-date");
const withdrawnNote = document.getElementById("outcome-withdrawn-note");
const platforms = document.getElementById("platforms");
const checks = document.getElementById("checks");
const VERDICTS = ["match_pending_review", "blocked", "not_blocked", "deleted"];
const submit = document.getElementById("credentials-submit");
const sharing = document.getElementById("sharing");
const sharingText = document.getElementById("sharing-text");
const sharingMessage = document.getElementById("sharing-message");
const stopSharing = document.getElementById("stop-sharing");
let busy = false;
// Kept in this page's memory only, for Stop sharing; gone when the page is left.
let checked = null;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (busy) return;
  const credentials = readCredentials();
  if (!credentials) return;
  busy = true;
  submit.disabled = true;
  outcome.hidden = true;
  say(message, t("checking"));
  const answer = await postCredentials("/v1/cases/status", credentials);
  busy = false;
  submit.disabled = false;
  if (!answer.ok) {
    say(message, answer.text);
    return;
  }
  say(message, "");
  checked = credentials;
  showSharing(answer.body.sharing);
  const { status, signal_count: count, created_at: created, withdrawn_at: withdrawn } = answer.body;
  outcomeText.textContent = status === "withdrawn"
    ? t("status_withdrawn", { date: formatDate(withdrawn) })
    : t(answer.body.held ? "status_held" : "status_active", { count });
  outcomeDate.textContent = t("status_since", { date: formatDate(created) });
  checks.replaceChildren(...checkLines(answer.body));
  withdrawnNote.hidden = status !== "withdrawn";
  platforms.replaceChildren(...platformLines(answer.body.platforms ?? []));
  outcome.dataset.status = status;
  outcome.hidden = false;
});

// Hashes paused for a check, not shared after one, or shared again: never which platform.
function checkLines({ status, paused = 0, not_shared: notShared = 0, restored = 0 }) {
  if (status === "withdrawn") return [];
  const lines = [];
  if (paused > 0) lines.push(el("p", { text: t("status_paused", { count: paused }) }));
  if (notShared > 0) lines.push(el("p", { text: t("status_not_shared", { count: notShared }) }));
  if (restored > 0 && paused === 0) lines.push(el("p", { text: t("status_restored") }));
  return lines;
}

// One item per platform, one line per verdict, in our own words (translatable),
// not the API's English.
function platformLines(reports) {
  if (reports.length === 0) return [el("li", { text: t("platforms_none") })];
  return reports.map(({ platform, outcomes }) => el("li", {},
    el("strong", {}, el("bdi", { text: cleanName(platform) })),
    ...outcomes.map(({ verdict, count }) => el("p", {
      className: "platform-outcome",
      text: t(VERDICTS.includes(verdict) ? `outcome_${verdict}` : "outcome_other", { count }),
    }))));
}

// The organisation that referred the report, and whether it may follow it.
function showSharing(referral) {
  say(sharingMessage, "");
  sharing.hidden = !referral;
  if (!referral) return;
  sharingText.replaceChildren(...withName(referral.shared ? "sharing_on" : "sharing_off", referral.organisation));
  stopSharing.hidden = !referral.shared;
}

stopSharing.addEventListener("click", async () => {
  if (busy || !checked) return;
  busy = true;
  stopSharing.disabled = true;
  say(sharingMessage, t("sharing_stopping"));
  const answer = await postCredentials("/v1/cases/stop-sharing", checked);
  busy = false;
  stopSharing.disabled = false;
  if (!answer.ok) {
    say(sharingMessage, answer.text);
    return;
  }
  showSharing(answer.body.sharing);
  sharingMessage.replaceChildren(...withName("sharing_stopped", answer.body.sharing.organisation));
  sharingMessage.hidden = false;
  stopSharing.hidden = true;
});

// A text naming an organisation, with the name isolated in a <bdi> (a right-to-left
// name must not reorder the sentence) and stripped of bidirectional controls.
function withName(key, organisation) {
  const [before, after] = t(key, { organisation: "\u0000" }).split("\u0000");
  return [before, el("bdi", { text: cleanName(organisation) }), after ?? ""];
}
