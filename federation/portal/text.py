"""Every word the portal shows, in one place, ready for translation.

`PAGES` is read by the Jinja templates; `SCRIPT` is handed to the ES modules as a JSON
data block (`<script type="application/json">`, which is never executed, so the CSP allows
it). Placeholders in braces (`{count}`) are filled in by the scripts.

Write for a reading age of about 12, for someone who may be frightened: short sentences,
common words, no blame, say what happens next.
"""
from __future__ import annotations

LANGUAGE = "en"

PAGES: dict[str, str] = {
    "site_name": "Stop intimate image sharing",
    "quick_exit": "Quick exit",
    "quick_exit_hint": "Leave this site now. You can also press the Esc key.",
    "skip_to_content": "Skip to main content",
    "nav_report": "Report",
    "nav_status": "Check a report",
    "nav_withdraw": "Withdraw a report",
    "needs_script": "This page needs JavaScript turned on. It makes the hashes on your own "
                    "device, so your photos and videos never leave it.",
    "footer_privacy": "No cookies. No tracking. Your photos and videos never leave your device.",

    # Start
    "start_title": "Stop your intimate photos and videos being shared",
    "start_lead": "If someone shared, or threatens to share, intimate photos or videos of you "
                  "without your agreement, you can ask our member platforms to block them.",
    "start_how_title": "How it works",
    "start_how_1": "You choose the photos or videos on this device.",
    "start_how_2": "Your device turns each one into a hash: a short code, like a fingerprint. "
                   "A hash cannot be turned back into the picture.",
    "start_how_3": "Only the hashes are sent to us. We share them with member platforms, "
                   "which use them to find and block copies.",
    "start_how_4": "You get a reference and a PIN. Use them to check your report or to take it back.",
    "start_not_title": "What this does not do",
    "start_not_1": "Your photos and videos are not uploaded. Nobody sees them.",
    "start_not_2": "We do not ask for your name, email or phone number.",
    "start_not_3": "It cannot remove copies from sites that are not members, or from "
                   "private messages.",
    "start_safety_title": "Staying safe",
    "start_safety_1": "If someone else can see or checks this device, they may be able to see "
                      "that you visited this site. A private or incognito window helps a little. "
                      "A device they cannot get to is safer.",
    "start_safety_2": "Press Quick exit or the Esc key at any time to leave this site straight away.",
    "start_age_question": "Were you 18 or over when the photos or videos were taken?",
    "start_age_yes": "Yes, I was 18 or over",
    "start_age_no": "No, I was under 18",
    "start_help": "You do not have to do this alone. A helpline can talk it through with you.",

    # Under 18
    "minors_title": "There is a service for you",
    "minors_lead": "If the photos or videos were taken when you were under 18, please use "
                   "Take It Down. It works in the same way, on your own device, and was made "
                   "for young people.",
    "minors_service": "Take It Down, by the National Center for Missing & Exploited Children (NCMEC)",
    "minors_address": "takeitdown.ncmec.org",
    "minors_not_your_fault": "This is not your fault. You are not in trouble.",
    "minors_back": "I was 18 or over: go back",

    # Report
    "report_title": "Report photos or videos",
    "step_choose": "Choose",
    "step_hash": "Make hashes",
    "step_review": "Check",
    "step_consent": "Agree and send",
    "step_done": "Your reference and PIN",
    "choose_title": "Choose the photos and videos",
    "choose_lead": "They stay on this device. Only their hashes will be sent.",
    "choose_photos": "Add photos",
    "choose_photos_hint": "For pictures. Finds copies even if they were resized or changed a little.",
    "choose_files": "Add videos or other files",
    "choose_files_hint": "For videos and anything else. Finds exact copies of the file.",
    "choose_empty": "Nothing chosen yet.",
    "choose_show_thumbs": "Show the small pictures clearly (they are blurred so others nearby "
                          "cannot see them)",
    "choose_continue": "Make hashes",
    "hash_title": "Making hashes on your device",
    "hash_lead": "This can take a while for long videos. Keep this page open.",
    "hash_overall": "All files",
    "review_title": "Check what will be sent",
    "review_lead": "This is everything we will send: the hashes below and nothing else. "
                   "Not your photos, not your videos, not their names.",
    "review_back": "Add or remove files",
    "review_continue": "Continue",
    "review_show_body": "Show the exact message we will send",
    "consent_title": "Agree and send",
    "consent_lead": "Please read and tick all three.",
    "consent_adult": "I am 18 or over.",
    "consent_depicted": "I am the person in these photos or videos, or I am helping that "
                        "person and they agreed.",
    "consent_share": "I agree that these hashes are shared with member platforms, so they "
                     "can find and block copies.",
    "consent_send": "Send the hashes",
    "consent_back": "Back",
    "retry": "Try again",
    "done_title": "Your report is in",
    "done_warning": "Write down or save your reference and PIN now. We cannot show them "
                    "again, and nobody can get them back for you, not even us.",
    "done_where": "Keep them somewhere only you can get to.",
    "done_copy": "Copy",
    "done_print": "Print",
    "done_next": "With them you can check your report or withdraw it at any time.",
    "done_finish": "I have saved them",

    # Status
    "status_title": "Check a report",
    "status_lead": "Type the reference and PIN you got when you made the report.",
    "field_reference": "Reference",
    "field_reference_hint": "For example 7KQ2-M9XD-4RTW",
    "field_pin": "PIN",
    "field_pin_hint": "8 numbers",
    "status_submit": "Check",
    "status_platforms_title": "What member platforms told us",

    # Withdraw
    "withdraw_title": "Withdraw a report",
    "withdraw_lead": "Withdrawing tells every member platform to delete your hashes. "
                     "You can make a new report later if you want to.",
    "withdraw_submit": "Withdraw",
    "withdraw_confirm_title": "Are you sure?",
    "withdraw_confirm_text": "All platforms will be told to delete the hashes of this report. "
                             "This cannot be undone.",
    "withdraw_confirm_yes": "Yes, withdraw my report",
    "withdraw_confirm_no": "No, keep it",

    # Coming from a safety organisation's link (/r/CODE)
    "referral_title": "{organisation} sent you this link",
    "referral_lead": "You can make your report here. {organisation} will not see your photos, "
                     "your hashes, your reference or your PIN.",
    "referral_minors": "If the photos or videos were taken when you were under 18, there is a "
                       "service made for you:",
    "referral_minors_link": "Take It Down",
    "referral_unusable": "This link cannot be used any more. It may be old, or it was used "
                         "already. You can still make your report. It will not be shared with anyone.",
    "referral_limited": "We cannot check this link right now. You can still make your report. "
                        "It will not be shared with anyone.",
    "sharing_question": "Share the progress of your report with {organisation}?",
    "sharing_explained": "If you say yes, they can see whether platforms found or took down "
                         "copies, and whether you withdrew. They never see your photos, your "
                         "hashes, your reference or your PIN. They will see that the link was "
                         "used. You can stop sharing at any time on the Check a report page.",
    "sharing_no": "No, do not share it",
    "sharing_yes": "Yes, share the progress with {organisation}",

    # Status: the organisation that referred the report
    "status_sharing_title": "Sharing with the organisation that sent you",
    "sharing_stop": "Stop sharing",

    # Caseworker pages (/caseworker)
    "cw_title": "Caseworkers",
    "cw_sign_in_title": "Sign in as a caseworker",
    "cw_sign_in_lead": "Use the caseworker credential your organisation gave you. You are "
                       "signed out after {minutes} minutes without activity.",
    "cw_token": "Caseworker credential",
    "cw_token_hint": "It starts with fcw_",
    "cw_sign_in": "Sign in",
    "cw_sign_in_failed": "This credential does not work. It may have been revoked, or your "
                         "organisation's access is paused.",
    "cw_signed_in_as": "Signed in as {caseworker} at {organisation}.",
    "cw_sign_out": "Sign out",
    "cw_new_title": "Make a referral",
    "cw_new_lead": "A referral is a link and a code for one person. It works once and "
                   "expires after {days} days. Print the slip or copy the link for them.",
    "cw_new": "Make a referral and its slip",
    "cw_list_title": "Your organisation's referrals",
    "cw_list_empty": "No referrals yet.",
    "cw_col_made": "Made",
    "cw_col_by": "By",
    "cw_col_state": "State",
    "cw_col_case": "Report",
    "cw_state_open": "Not used yet (until {date})",
    "cw_state_expired": "Expired, not used",
    "cw_state_used": "Used. The person did not share their report.",
    "cw_state_shared": "Shared by the person",
    "cw_case_active": "Active: {count} hashes shared with platforms. Reported {date}.",
    "cw_case_withdrawn": "Withdrawn on {date}.",
    "cw_case_no_outcome": "No platform has reported anything yet.",
    "cw_outcome_match_pending_review": "{platform}: found a copy and is checking it.",
    "cw_outcome_blocked": "{platform}: took down copies ({count} times).",
    "cw_outcome_not_blocked": "{platform}: checked a copy and kept it up.",
    "cw_outcome_deleted": "{platform}: deleted the hashes after withdrawal.",
    "cw_privacy": "Caseworker pages use one cookie to keep you signed in. You never see a "
                  "person's photos, hashes, reference or PIN.",
    "cw_back": "Back to referrals",

    # The referral slip (printed for the person)
    "slip_title": "Your link from {organisation}",
    "slip_lead": "Open this link on a phone or computer that only you use. It lets you ask "
                 "member platforms to block intimate photos or videos of you, without "
                 "uploading them.",
    "slip_link": "Link",
    "slip_code": "Code",
    "slip_expires": "Use it before {date}. It works once.",
    "slip_private": "You choose whether {organisation} can follow your report. Nobody there "
                    "sees your photos.",
    "slip_print": "Print the slip",
    "slip_once": "This code is shown only now. If it is lost, make a new referral.",

    # Errors
    "error_title_404": "We cannot find this page",
    "error_title_other": "Something went wrong",
    "error_text": "This is not your fault. Please go back to the start and try again.",
    "error_home": "Go to the start",
}

# Text the scripts need, passed to them as JSON. Keep keys in step with the modules.
SCRIPT: dict[str, str] = {
    "remove": "Remove",
    "remove_named": "Remove {name}",
    "kind_photo": "Photo",
    "kind_file": "Video or file",
    "size_bytes": "{size}",
    "waiting": "Waiting",
    "hashing": "Making hashes",
    "hashed": "Done",
    "chosen_count": "{count} chosen",
    "too_many_files": "You can add up to {max} files in one report. We added the first {added}. "
                      "You can make another report for the rest.",
    "problem_not_an_image": "This file is not a photo we can read. We can still protect "
                            "exact copies of it as a file.",
    "problem_unsupported_format": "This browser cannot open this kind of photo (for example "
                                  "HEIC or TIFF). We can still protect exact copies of the file.",
    "problem_corrupt_image": "This photo seems to be damaged, so we could not open it. We can "
                             "still protect exact copies of the file.",
    "problem_empty_file": "This file is empty (0 bytes). There is nothing in it to protect, "
                          "so it will not be sent.",
    "problem_unreadable": "We could not read this file. It will not be sent. If it was moved, "
                          "remove it and add it again.",
    "problem_low_quality": "This photo is too plain (for example, mostly one colour) for "
                           "platforms to find changed copies safely. We will send hashes that "
                           "find exact copies of the file only.",
    "use_as_file": "Protect it as a file",
    "using_as_file": "It will be protected as a file: exact copies only.",
    "hash_pdq": "Photo hash (PDQ)",
    "hash_md5": "File hash (MD5)",
    "hash_sha256": "File hash (SHA-256)",
    "hash_vpdq": "Video hash (vPDQ): finds changed copies too",
    "vpdq_frames": "{frames} pictures from the video",
    "problem_video_undecodable": "This browser could not play this video, so we made hashes that "
                                 "find exact copies of the file only.",
    "problem_video_no_picture": "This file has sound but no picture. We will protect exact copies "
                                "of the file.",
    "problem_video_too_large": "This video's picture is too large to read on this device. We will "
                               "protect exact copies of the file.",
    "problem_video_featureless": "This video is too plain (for example, mostly dark) for platforms "
                                 "to find changed copies safely. We will protect exact copies of "
                                 "the file.",
    "problem_video_partly_read": "Part of this video seems damaged. We used the part before the "
                                 "damage, and the file hashes cover exact copies.",
    "quality": "quality {quality}",
    "review_summary": "Files: {files}. Hashes to send: {hashes}.",
    "review_nothing": "There is nothing to send yet. Go back and add photos or videos.",
    "review_skipped": "Files that will not be sent: {count} (see the notes below).",
    "parts_explained": "One report can hold up to {max} hashes. Yours has {hashes}, so it will "
                       "be sent as {parts} reports. Each gets its own reference and PIN. "
                       "Keep all of them.",
    "consent_missing": "Please tick all three boxes to send.",
    "sending": "Sending the hashes. Please wait.",
    "sending_part": "Sending part {part} of {parts}. Please wait.",
    "network_failed": "We could not reach our server. Your photos are still safe on your "
                      "device. Check your internet connection, then try again.",
    "server_failed": "Our server had a problem. Please try again in a minute.",
    "refused": "We could not accept this report: {detail}",
    "retry": "Try again",
    "part_label": "Report {part} of {parts}",
    "reference": "Reference",
    "pin": "PIN",
    "copied": "Copied.",
    "copy_failed": "Could not copy. Please write them down instead.",
    "copy_text": "Reference: {reference}  PIN: {pin}",
    "reference_missing": "Please type your reference.",
    "pin_invalid": "The PIN is 8 numbers. Please check it.",
    "checking": "Checking. Please wait.",
    "not_found": "We could not find a report with this reference and PIN. Please check both "
                 "and try again. After 5 wrong tries you will have to wait a while.",
    # 429 after wrong PINs, which may not have been the person's own.
    "locked": "There have been too many tries with a wrong PIN for this report. To keep "
              "your report safe, we have paused checks for a while. Please try again in {wait}.",
    # 429 from a limit per network (code rate_limited): not the person's doing.
    "busy": "Many requests came from your network in a short time, so we are pausing them "
            "for a little while. You did nothing wrong. Please try again in {wait}.",
    "report_busy": "Many reports came from your network in a short time, so we are pausing "
                   "new ones for a little while. You did nothing wrong, and nothing was sent. "
                   "Your photos are still safe on your device. Please try again in {wait}.",
    # {wait} in the messages above, from the server's Retry-After, rounded up.
    "wait_one_minute": "1 minute",
    "wait_minutes": "{minutes} minutes",
    "wait_hours": "{hours} hours",
    "status_active": "Your report is active. The {count} hashes in it have been shared with "
                     "member platforms, which use them to find and block copies.",
    "status_held": "Your report is recorded and safe with us. Many reports arrived at the same "
                   "time, so its {count} hashes are waiting in line. They will be sent to member "
                   "platforms shortly. You do not need to do anything.",
    "status_withdrawn": "You withdrew this report on {date}. Member platforms have been told "
                        "to delete its hashes.",
    "status_since": "Reported on {date}.",
    # Hashes withheld from the feed while the operator checks them (docs/list-hygiene.md).
    # Never say which platform asked for the check.
    "status_paused": "We are taking a careful look at part of your report ({count} of its "
                     "hashes), to make sure it only blocks your pictures. While we check, those "
                     "hashes are paused. You do not need to do anything.",
    "status_not_shared": "After a careful check, {count} of the hashes in your report will not be "
                         "shared: they match a picture that many people share, such as a logo or "
                         "a meme, so blocking it would not protect you.",
    "status_restored": "We finished checking part of your report. Its hashes are shared with "
                       "member platforms again.",
    "platforms_none": "No member platform has told us about a copy yet. If one finds a copy "
                      "and acts on it, you will see it here.",
    # One line per platform and verdict (the API's verdict codes, see federation/cases.py).
    "outcome_match_pending_review": "Found a copy and is checking it.",
    "outcome_blocked": "Took down copies. Times: {count}.",
    "outcome_not_blocked": "Checked a copy and decided to keep it up.",
    "outcome_deleted": "Deleted your hashes after you withdrew.",
    "outcome_other": "Sent an update.",
    "withdrawing": "Withdrawing. Please wait.",
    "withdrawn_done": "Done. Your report is withdrawn. Member platforms have been told to "
                      "delete its hashes.",
    # The referral, after sending and on the status page.
    "referral_shared": "{organisation} can follow the progress of your report. You can stop "
                       "this at any time on the Check a report page.",
    "referral_not_shared": "Your report is not shared with {organisation}.",
    "referral_not_applied": "The link from the organisation could not be used, so your report "
                            "is not shared with anyone. Your report is in.",
    "sharing_on": "{organisation} can see the progress of this report (never your photos, "
                  "hashes, reference or PIN).",
    "sharing_off": "{organisation} sent you here. They cannot see this report.",
    "sharing_stopping": "Stopping. Please wait.",
    "sharing_stopped": "Done. {organisation} can no longer see this report.",
}


def page_text() -> dict[str, str]:
    """The text for templates (one language for now; the lookup is the seam for more)."""
    return PAGES


def script_text() -> dict[str, str]:
    return SCRIPT
