// The status page: reference + PIN in, the outcome in plain words out.

import { form, message, postCredentials, readCredentials } from "./credentials.js";
import { say } from "./dom.js";
import { formatDate, t } from "./text.js";

const outcome = document.getElementById("outcome");
const outcomeText = document.getElementById("outcome-text");
const outcomeDate = document.getElementById("outcome-date");
const submit = document.getElementById("credentials-submit");
let busy = false;

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
  const { status, signal_count: count, created_at: created, withdrawn_at: withdrawn } = answer.body;
  outcomeText.textContent = status === "withdrawn"
    ? t("status_withdrawn", { date: formatDate(withdrawn) })
    : t("status_active", { count });
  outcomeDate.textContent = t("status_since", { date: formatDate(created) });
  outcome.dataset.status = status;
  outcome.hidden = false;
});
