// The withdraw page: reference + PIN, a confirmation, then done.

import { forgetPin, form, message, postCredentials, readCredentials } from "./credentials.js";
import { say } from "./dom.js";
import { t } from "./text.js";

const confirm = document.getElementById("confirm");
const confirmTitle = document.getElementById("confirm-title");
const confirmMessage = document.getElementById("confirm-message");
const yes = document.getElementById("confirm-yes");
const no = document.getElementById("confirm-no");
const done = document.getElementById("done");
const doneText = document.getElementById("done-text");
let pending = null;
let busy = false;

form.addEventListener("submit", (event) => {
  event.preventDefault();
  pending = readCredentials();
  if (!pending) return;
  confirm.hidden = false;
  confirmTitle.focus();
});

no.addEventListener("click", () => {
  pending = null;
  confirm.hidden = true;
  say(confirmMessage, "");
  document.getElementById("credentials-submit").focus();
});

yes.addEventListener("click", async () => {
  if (busy || !pending) return;
  busy = true;
  yes.disabled = true;
  say(confirmMessage, t("withdrawing"));
  const answer = await postCredentials("/v1/cases/withdraw", pending);
  busy = false;
  yes.disabled = false;
  if (!answer.ok) {
    confirm.hidden = true;
    say(confirmMessage, "");
    say(message, answer.text);
    return;
  }
  pending = null;
  forgetPin();
  form.hidden = true;
  confirm.hidden = true;
  doneText.textContent = t("withdrawn_done");
  done.hidden = false;
  doneText.focus();
});
