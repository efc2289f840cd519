"""The partner kit: follow the feed, verify, match uploads, report back."""
