"""Every word the portal shows, in English, in one place: the source of the gettext catalogs.

`PAGES` is read by the Jinja templates (`t.key`, or `tr("key", name=value)` when the text
has placeholders); `SCRIPT` is handed to the ES modules as a JSON data block
(`<script type="application/json">`, which is never executed, so the CSP allows it) and
read there with `t("key", {name: value})`. Both are translated per request from the
catalogs in `translations/` (see `federation/portal/i18n.py` and docs/portal/README.md,
"Languages"). `N_` marks a text for `pybabel extract` and returns it unchanged; `NP_`
marks a text whose words depend on a number: its number is always the `{count}`
placeholder, and each language gives as many forms as its plural rules need.

Placeholders are in braces (`{count}`, `{organisation}`); a translation must keep
exactly the placeholders of its English text (tests/unit/test_catalogs.py checks).

Write for a reading age of about 12, for someone who may be frightened: short sentences,
common words, no blame, say what happens next.

To add a text: add a key here with `N_(...)` or `NP_(...)`, use it in a template or a
module, refresh the catalogs with pybabel and translate the new entry in every
`translations/*/LC_MESSAGES/messages.po` (the commands are in docs/portal/README.md,
"Languages"; tests/unit/test_catalogs.py fails until every language has it).
"""
from __future__ import annotations

from typing import NamedTuple


class Plural(NamedTuple):
    """A text with a singular and a plural English form, chosen by `{count}`."""

    singular: str
    plural: str


Message = str | Plural


def N_(text: str) -> str:
    """Mark `text` for translation (extracted by pybabel; translated when a page renders)."""
    return text


def NP_(singular: str, plural: str) -> Plural:
    """Mark a text with plural forms, chosen by its `{count}` placeholder."""
    return Plural(singular, plural)



PAGES: dict[str, Message] = {
    "site_name": N_("Stop intimate image sharing"),
    "quick_exit": N_("Quick exit"),
    "quick_exit_hint": N_("Leave this site now."),
    # Shown only where there is a keyboard: phones have no Esc key (see portal.css, .keys-only).
    "quick_exit_hint_keys": N_("You can also press the Esc key."),
    "skip_to_content": N_("Skip to main content"),
    "nav_report": N_("Report"),
    "nav_status": N_("Check a report"),
    "nav_withdraw": N_("Withdraw a report"),
    "needs_script": N_("This page needs JavaScript turned on. It makes the hashes on your own "
                    "device, so your photos and videos never leave it."),
    "footer_privacy": N_("No cookies. No tracking. Your photos and videos never leave your device."),

    # Start
    "start_title": N_("Stop your intimate photos and videos being shared"),
    "start_lead": N_("If someone shared, or threatens to share, intimate photos or videos of you "
                  "without your agreement, you can ask our member platforms to block them."),
    "start_how_title": N_("How it works"),
    "start_how_1": N_("You choose the photos or videos on this device."),
    "start_how_2": N_("Your device turns each one into a hash: a short code, like a fingerprint. "
                   "A hash cannot be turned back into the picture."),
    "start_how_3": N_("Only the hashes are sent to us. We share them with member platforms, "
                   "which use them to find and block copies."),
    "start_how_4": N_("You get a reference and a PIN. Use them to check your report or to take it back."),
    "start_not_title": N_("What this does not do"),
    "start_not_1": N_("Your photos and videos are not uploaded. Nobody sees them."),
    "start_not_2": N_("We do not ask for your name, email or phone number."),
    "start_not_3": N_("It cannot remove copies from sites that are not members, or from "
                   "private messages."),
    "start_safety_title": N_("Staying safe"),
    "start_safety_1": N_("If someone else can see or checks this device, they may be able to see "
                      "that you visited this site. A private or incognito window helps a little. "
                      "A device they cannot get to is safer."),
    "start_safety_2": N_("Press Quick exit at any time to leave this site straight away."),
    "start_safety_keys": N_("On a computer, the Esc key does the same."),
    "start_age_question": N_("Were you 18 or over when the photos or videos were taken?"),
    "start_age_yes": N_("Yes, I was 18 or over"),
    "start_age_no": N_("No, I was under 18"),
    "start_help": N_("You do not have to do this alone. A support service can talk it through with you."),

    # Under 18
    "minors_title": N_("There is a service for you"),
    "minors_lead": N_("If the photos or videos were taken when you were under 18, please use "
                   "Take It Down. It works in the same way, on your own device, and was made "
                   "for young people."),
    "minors_service": N_("Take It Down, by the National Center for Missing & Exploited Children (NCMEC)"),
    "minors_address": N_("takeitdown.ncmec.org"),
    "minors_not_your_fault": N_("This is not your fault. You are not in trouble."),
    "minors_back": N_("I was 18 or over: go back"),

    # Report
    "report_title": N_("Report photos or videos"),
    "step_choose": N_("Choose"),
    "step_hash": N_("Make hashes"),
    "step_review": N_("Check"),
    "step_consent": N_("Agree and send"),
    "step_done": N_("Your reference and PIN"),
    "choose_title": N_("Choose the photos and videos"),
    "choose_lead": N_("They stay on this device. Only their hashes will be sent."),
    "choose_photos": N_("Add photos"),
    "choose_photos_hint": N_("For pictures. Finds copies even if they were resized or changed a little."),
    "choose_files": N_("Add videos or other files"),
    "choose_files_hint": N_("For videos and anything else. Finds exact copies of the file."),
    "choose_empty": N_("Nothing chosen yet."),
    "choose_show_thumbs": N_("Show the small pictures clearly (they are blurred so others nearby "
                          "cannot see them)"),
    "choose_continue": N_("Make hashes"),
    "hash_title": N_("Making hashes on your device"),
    "hash_lead": N_("This can take a while for long videos. Keep this page open."),
    "hash_overall": N_("All files"),
    "review_title": N_("Check what will be sent"),
    "review_lead": N_("This is everything we will send: the hashes below and nothing else. "
                   "Not your photos, not your videos, not their names."),
    "review_back": N_("Add or remove files"),
    "review_continue": N_("Continue"),
    "review_show_body": N_("Show the exact message we will send"),
    "consent_title": N_("Agree and send"),
    "consent_lead": N_("Please read and tick all three."),
    "consent_adult": N_("I am 18 or over."),
    "consent_depicted": N_("I am the person in these photos or videos, or I am helping that "
                        "person and they agreed."),
    "consent_share": N_("I agree that these hashes are shared with member platforms, so they "
                     "can find and block copies."),
    "consent_send": N_("Send the hashes"),
    "consent_back": N_("Back"),
    "retry": N_("Try again"),
    "done_title": N_("Your report is in"),
    "done_warning": N_("Write down or save your reference and PIN now. We cannot show them "
                    "again, and nobody can get them back for you, not even us."),
    "done_where": N_("Keep them somewhere only you can get to."),
    "done_copy": N_("Copy"),
    "done_print": N_("Print"),
    "done_next": N_("With them you can check your report or withdraw it at any time."),
    "done_finish": N_("I have saved them"),

    # Status
    "status_title": N_("Check a report"),
    "status_lead": N_("Type the reference and PIN you got when you made the report."),
    "field_reference": N_("Reference"),
    "field_reference_hint": N_("For example 7KQ2-M9XD-4RTW"),
    "field_pin": N_("PIN"),
    "field_pin_hint": N_("8 numbers"),
    "status_submit": N_("Check"),
    "status_platforms_title": N_("What member platforms told us"),
    # Once withdrawn: which platforms confirmed deleting, and the proof to download (docs/verify-withdrawal.md).
    "status_deletion_title": N_("Deleted by member platforms"),
    "status_proof_hint": N_("You can download a file that shows which platforms confirmed deleting "
                            "your hashes. It holds no photos and no hashes, and anyone can check it."),
    "status_proof_download": N_("Download the proof"),
    # Under a withdrawn report: what came later (someone else's report of the same picture) is not shown.
    "status_withdrawn_note": N_("Only what platforms did before you withdrew is shown."),

    # Withdraw
    "withdraw_title": N_("Withdraw a report"),
    "withdraw_lead": N_("Withdrawing tells every member platform to delete your hashes. "
                     "You can make a new report later if you want to."),
    "withdraw_submit": N_("Withdraw"),
    "withdraw_confirm_title": N_("Are you sure?"),
    "withdraw_confirm_text": N_("All platforms will be told to delete the hashes of this report. "
                             "This cannot be undone."),
    "withdraw_confirm_yes": N_("Yes, withdraw my report"),
    "withdraw_confirm_no": N_("No, keep it"),

    # Coming from a safety organisation's link (/r/CODE)
    "referral_title": N_("{organisation} sent you this link"),
    "referral_lead": N_("You can make your report here. {organisation} will not see your photos, "
                     "your hashes, your reference or your PIN."),
    "referral_minors": N_("If the photos or videos were taken when you were under 18, there is a "
                       "service made for you:"),
    "referral_minors_link": N_("Take It Down"),
    "referral_unusable": N_("This link cannot be used any more. It may be old, or it was used "
                         "already. You can still make your report. It will not be shared with anyone."),
    "referral_limited": N_("We cannot check this link right now. You can still make your report. "
                        "It will not be shared with anyone."),
    "sharing_question": N_("Share the progress of your report with {organisation}?"),
    "sharing_explained": N_("If you say yes, they can see whether platforms found or took down "
                         "copies, and whether you withdrew. They never see your photos, your "
                         "hashes, your reference or your PIN. They will see that the link was "
                         "used. You can stop sharing at any time on the Check a report page."),
    "sharing_no": N_("No, do not share it"),
    "sharing_yes": N_("Yes, share the progress with {organisation}"),

    # Status: the organisation that referred the report
    "status_sharing_title": N_("Sharing with the organisation that sent you"),
    "sharing_stop": N_("Stop sharing"),

    # Caseworker pages (/caseworker)
    "cw_title": N_("Caseworkers"),
    "cw_sign_in_title": N_("Sign in as a caseworker"),
    "cw_sign_in_lead": NP_("Use the caseworker credential your organisation gave you. You are "
                          "signed out after {count} minute without activity.",
                          "Use the caseworker credential your organisation gave you. You are "
                          "signed out after {count} minutes without activity."),
    "cw_token": N_("Caseworker credential"),
    "cw_token_hint": N_("It starts with fcw_"),
    "cw_sign_in": N_("Sign in"),
    "cw_sign_in_failed": N_("This credential does not work. It may have been revoked, or your "
                         "organisation's access is paused."),
    "cw_signed_in_as": N_("Signed in as {caseworker} at {organisation}."),
    "cw_sign_out": N_("Sign out"),
    "cw_new_title": N_("Make a referral"),
    "cw_new_lead": NP_("A referral is a link and a code for one person. It works once and "
                      "expires after {count} day. Print the slip or copy the link for them.",
                      "A referral is a link and a code for one person. It works once and "
                      "expires after {count} days. Print the slip or copy the link for them."),
    "cw_new": N_("Make a referral and its slip"),
    "cw_list_title": N_("Your organisation's referrals"),
    "cw_list_empty": N_("No referrals yet."),
    "cw_col_made": N_("Made"),
    "cw_col_by": N_("By"),
    "cw_col_state": N_("State"),
    "cw_col_case": N_("Report"),
    "cw_state_open": N_("Not used yet (until {date})"),
    "cw_state_expired": N_("Expired, not used"),
    "cw_state_used": N_("Used. The person did not share their report."),
    "cw_state_shared": N_("Shared by the person"),
    "cw_case_active": NP_("Active: {count} hash shared with platforms. Reported {date}.",
                         "Active: {count} hashes shared with platforms. Reported {date}."),
    "cw_case_withdrawn": N_("Withdrawn on {date}."),
    "cw_case_no_outcome": N_("No platform has reported anything yet."),
    "cw_outcome_match_pending_review": N_("{platform}: found a copy and is checking it."),
    "cw_outcome_blocked": NP_("{platform}: took down {count} copy.",
                             "{platform}: took down {count} copies."),
    "cw_outcome_not_blocked": N_("{platform}: checked a copy and kept it up."),
    "cw_outcome_deleted": N_("{platform}: deleted the hashes after withdrawal."),
    "cw_privacy": N_("Caseworker pages use one cookie to keep you signed in. You never see a "
                  "person's photos, hashes, reference or PIN."),
    "cw_back": N_("Back to referrals"),

    # The referral slip (printed for the person)
    "slip_title": N_("Your link from {organisation}"),
    "slip_lead": N_("Open this link on a phone or computer that only you use. It lets you ask "
                 "member platforms to block intimate photos or videos of you, without "
                 "uploading them."),
    "slip_link": N_("Link"),
    "slip_code": N_("Code"),
    "slip_expires": N_("Use it before {date}. It works once."),
    "slip_private": N_("You choose whether {organisation} can follow your report. Nobody there "
                    "sees your photos."),
    "slip_print": N_("Print the slip"),
    "slip_once": N_("This code is shown only now. If it is lost, make a new referral."),

    # Languages (every page): the switcher, and a language we do not have in the URL.
    "language": N_("Language"),
    "language_unknown": N_("This site is not available in the language you asked for ({requested}). "
                           "It is shown in {language}."),
    "nav_next": N_("What happens next"),
    "nav_platforms": N_("Who receives the hashes"),

    # Support services (start page, after sending, status page)
    "support_title": N_("Talk to someone"),
    "support_lead": N_("These services help people whose intimate images were shared or threatened. "
                       "They are not part of this site and cannot see your report."),
    "support_country": N_("Your country (you do not have to choose)"),
    "support_country_any": N_("Any country"),
    "support_phone": N_("Phone"),
    "support_web": N_("Website"),
    "support_hours": N_("Opening hours"),
    "support_languages": N_("Languages"),
    "support_none": N_("We have no support service listed in your language yet. A local helpline "
                       "or a trusted person can help."),
    "support_none_country": N_("No service listed for this country. These may still help:"),

    # What happens next (/next)
    "next_title": N_("What happens next"),
    "next_lead": N_("What happens after you send your hashes, and how long it usually takes."),
    "next_sent_title": N_("In the first hour"),
    "next_sent": N_("Your hashes are added to our list. Member platforms check the list every few "
                    "minutes, so most of them have your hashes within an hour."),
    "next_match_title": N_("When someone uploads a copy"),
    "next_match": N_("A platform that finds a copy usually checks it by hand before it acts. This "
                     "can take from a few hours to a few days. What it tells us is shown on the "
                     "Check a report page."),
    "next_quiet": N_("If nothing is shown there, it can mean no copy was found. That is good news."),
    "next_withdraw_title": N_("If you change your mind"),
    "next_withdraw": N_("You can withdraw your report at any time. Platforms are told at once to "
                        "delete your hashes, usually within an hour."),
    "next_limits_title": N_("What we cannot do"),
    "next_limits": N_("We cannot remove copies from sites that are not members, from private "
                      "messages or from someone's device. A support service can help with that."),

    # Who receives the hashes (/platforms)
    "platforms_title": N_("Who receives the hashes"),
    "platforms_lead": N_("These member platforms receive your hashes. They use them only to find and "
                         "block copies. They never learn who you are."),
    "platforms_empty": N_("No platform has joined yet."),

    # Errors
    "error_title_404": N_("We cannot find this page"),
    "error_title_other": N_("Something went wrong"),
    "error_text": N_("This is not your fault. Please go back to the start and try again."),
    "error_home": N_("Go to the start"),
}

# Text the scripts need, passed to them as JSON. Keep keys in step with the modules.
SCRIPT: dict[str, Message] = {
    "remove": N_("Remove"),
    "remove_named": N_("Remove {name}"),
    "kind_photo": N_("Photo"),
    "kind_file": N_("Video or file"),
    "waiting": N_("Waiting"),
    "hashing": N_("Making hashes"),
    "hashed": N_("Done"),
    "too_many_files": N_("You can add up to {max} files in one report. We added the first {added}. "
                      "You can make another report for the rest."),
    "problem_not_an_image": N_("This file is not a photo we can read. We can still protect "
                            "exact copies of it as a file."),
    "problem_unsupported_format": N_("This browser cannot open this kind of photo (for example "
                                  "HEIC or TIFF). We can still protect exact copies of the file."),
    "problem_corrupt_image": N_("This photo seems to be damaged, so we could not open it. We can "
                             "still protect exact copies of the file."),
    "problem_empty_file": N_("This file is empty (0 bytes). There is nothing in it to protect, "
                          "so it will not be sent."),
    "problem_unreadable": N_("We could not read this file. It will not be sent. If it was moved, "
                          "remove it and add it again."),
    "problem_low_quality": N_("This photo is too plain (for example, mostly one colour) for "
                           "platforms to find changed copies safely. We will send hashes that "
                           "find exact copies of the file only."),
    "use_as_file": N_("Protect it as a file"),
    "using_as_file": N_("It will be protected as a file: exact copies only."),
    "hash_pdq": N_("Photo hash (PDQ)"),
    "hash_md5": N_("File hash (MD5)"),
    "hash_sha256": N_("File hash (SHA-256)"),
    "hash_vpdq": N_("Video hash (vPDQ): finds changed copies too"),
    "vpdq_frames": N_("{frames} pictures from the video"),
    "problem_video_undecodable": N_("This browser could not play this video, so we made hashes that "
                                    "find exact copies of the file only."),
    "problem_video_no_picture": N_("This file has sound but no picture. We will protect exact copies "
                                   "of the file."),
    "problem_video_too_large": N_("This video's picture is too large to read on this device. We will "
                                  "protect exact copies of the file."),
    "problem_video_featureless": N_("This video is too plain (for example, mostly dark) for platforms "
                                    "to find changed copies safely. We will protect exact copies of "
                                    "the file."),
    "problem_video_partly_read": N_("Part of this video seems damaged. We used the part before the "
                                    "damage, and the file hashes cover exact copies."),
    "quality": N_("quality {quality}"),
    # On the check step: what the person chose, then what that makes (a photo gives 3
    # hashes, a video or other file 2), so 9 hashes for 3 photos is not a surprise.
    "review_summary": NP_("You chose {count} file to protect.", "You chose {count} files to protect."),
    "review_hashes": NP_("We will send {count} hash for it (3 for a photo, 2 for a video or other file).",
                         "We will send {count} hashes for them (3 for each photo, 2 for each video "
                         "or other file)."),
    "review_nothing": N_("There is nothing to send yet. Go back and add photos or videos."),
    # On the choose step itself, where "go back" would make no sense.
    "choose_nothing": N_("Please add at least one photo or video first."),
    # Read out as hashing goes on (aria-live), and shown under the overall bar.
    "hash_progress": NP_("{done} of {count} file done.", "{done} of {count} files done."),
    "review_skipped": NP_("{count} file will not be sent (see the note below).",
                         "{count} files will not be sent (see the notes below)."),
    "parts_explained": N_("One report can hold up to {max} hashes. Yours has {hashes}, so it will "
                       "be sent as {parts} reports. Each gets its own reference and PIN. "
                       "Keep all of them."),
    "consent_missing": N_("Please tick all three boxes to send."),
    "sending": N_("Sending the hashes. Please wait."),
    "sending_part": N_("Sending part {part} of {parts}. Please wait."),
    "network_failed": N_("We could not reach our server. Your photos are still safe on your "
                      "device. Check your internet connection, then try again."),
    "server_failed": N_("Our server had a problem. Please try again in a minute."),
    "refused": N_("We could not accept this report: {detail}"),
    "retry": N_("Try again"),
    "part_label": N_("Report {part} of {parts}"),
    "reference": N_("Reference"),
    "pin": N_("PIN"),
    "copied": N_("Copied."),
    "copy_failed": N_("Could not copy. Please write them down instead."),
    "copy_text": N_("Reference: {reference}  PIN: {pin}"),
    "reference_missing": N_("Please type your reference."),
    "pin_invalid": N_("The PIN is 8 numbers. Please check it."),
    "checking": N_("Checking. Please wait."),
    "not_found": N_("We could not find a report with this reference and PIN. Please check both "
                 "and try again. After 5 wrong tries you will have to wait a while."),
    # 429 after wrong PINs, which may not have been the person's own.
    "locked": N_("There have been too many tries with a wrong PIN for this report. To keep "
              "your report safe, we have paused checks for a while. Please try again in {wait}."),
    # 429 from a limit per network (code rate_limited): not the person's doing.
    "busy": N_("Many requests came from your network in a short time, so we are pausing them "
            "for a little while. You did nothing wrong. Please try again in {wait}."),
    "report_busy": N_("Many reports came from your network in a short time, so we are pausing "
                   "new ones for a little while. You did nothing wrong, and nothing was sent. "
                   "Your photos are still safe on your device. Please try again in {wait}."),
    # {wait} in the messages above, from the server's Retry-After, rounded up.
    "wait_minutes": NP_("{count} minute", "{count} minutes"),
    "wait_hours": NP_("{count} hour", "{count} hours"),
    "status_active": NP_("Your report is active. The {count} hash in it has been shared with "
                        "member platforms, which use it to find and block copies.",
                        "Your report is active. The {count} hashes in it have been shared with "
                        "member platforms, which use them to find and block copies."),
    "status_held": NP_("Your report is recorded and safe with us. Many reports arrived at the same "
                      "time, so its {count} hash is waiting in line. It will be sent to member "
                      "platforms shortly. You do not need to do anything.",
                      "Your report is recorded and safe with us. Many reports arrived at the same "
                      "time, so its {count} hashes are waiting in line. They will be sent to member "
                      "platforms shortly. You do not need to do anything."),
    "status_withdrawn": N_("You withdrew this report on {date}. Member platforms have been told "
                           "to delete its hashes."),
    "status_since": N_("Reported on {date}."),
    # Hashes withheld from the feed while the operator checks them (docs/list-hygiene.md).
    # Never say which platform asked for the check.
    "status_paused": NP_("We are taking a careful look at {count} hash in your report, to make sure "
                         "it only blocks your pictures. While we check, it is paused. You do not need "
                         "to do anything.",
                         "We are taking a careful look at {count} hashes in your report, to make sure "
                         "they only block your pictures. While we check, they are paused. You do not "
                         "need to do anything."),
    "status_not_shared": NP_("After a careful check, {count} hash in your report will not be shared: it "
                             "matches a picture that many people share, such as a logo or a meme, so "
                             "blocking it would not protect you.",
                             "After a careful check, {count} hashes in your report will not be shared: "
                             "they match pictures that many people share, such as a logo or a meme, so "
                             "blocking them would not protect you."),
    "status_restored": N_("We finished checking part of your report. Its hashes are shared with member "
                          "platforms again."),
    # Per platform, once withdrawn (deletion receipts, docs/log.md).
    "deletion_confirmed": N_("{platform}: deleted, with a signed receipt, on {date}."),
    "deletion_pending": N_("{platform}: not yet confirmed."),
    "proof_preparing": N_("Preparing the file. Please wait."),
    "proof_saved": N_("The file withdrawal-proof.json is saved in your downloads."),
    "platforms_none": N_("No member platform has told us about a copy yet. If one finds a copy "
                      "and acts on it, you will see it here."),
    # One line per platform and verdict (the API's verdict codes, see federation/cases.py).
    "outcome_match_pending_review": N_("Found a copy and is checking it."),
    "outcome_blocked": NP_("Took down {count} copy.", "Took down {count} copies."),
    "outcome_not_blocked": N_("Checked a copy and decided to keep it up."),
    "outcome_deleted": N_("Deleted your hashes after you withdrew."),
    "outcome_other": N_("Sent an update."),
    "withdrawing": N_("Withdrawing. Please wait."),
    "withdrawn_done": N_("Done. Your report is withdrawn. Member platforms have been told to "
                      "delete its hashes."),
    # The referral, after sending and on the status page.
    "referral_shared": N_("{organisation} can follow the progress of your report. You can stop "
                       "this at any time on the Check a report page."),
    "referral_not_shared": N_("Your report is not shared with {organisation}."),
    "referral_not_applied": N_("The link from the organisation could not be used, so your report "
                            "is not shared with anyone. Your report is in."),
    "sharing_on": N_("{organisation} can see the progress of this report (never your photos, "
                  "hashes, reference or PIN)."),
    "sharing_off": N_("{organisation} sent you here. They cannot see this report."),
    "sharing_stopping": N_("Stopping. Please wait."),
    "sharing_stopped": N_("Done. {organisation} can no longer see this report."),
}
