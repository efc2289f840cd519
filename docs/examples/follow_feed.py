"""Follow the Federation feed: verify every entry, apply adds and deletes, keep a checkpoint.

    python follow_feed.py https://federation.example fpt_yourtoken state.json

Needs only the standard library and `federation.crypto` (pip install ncii-federation-partner).
Run it every few seconds to minutes; it resumes from the checkpoint in the state file.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from federation.crypto.errors import UnknownKeyError
from federation.crypto.keys import KeySet, verify_entry


def get_json(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def sync(base: str, token: str, state_path: Path) -> dict:
    state = json.loads(state_path.read_text()) if state_path.exists() else {"after": 0, "active": {}}
    keys = KeySet.from_jwks(get_json(f"{base}/.well-known/federation-keys"))
    while True:
        page = get_json(f"{base}/v1/feed?after={state['after']}&limit=1000", token)
        for entry in page["entries"]:
            if entry["seq"] != state["after"] + 1:
                raise SystemExit(f"gap in the feed before seq {entry['seq']}: refusing to continue")
            try:
                verify_entry(entry, keys)
            except UnknownKeyError:  # the federation rotated its key: fetch the set again
                keys = KeySet.from_jwks(get_json(f"{base}/.well-known/federation-keys"))
                verify_entry(entry, keys)  # raises SignatureError if it still does not verify
            key = f"{entry['type']}:{entry['value']}"
            if entry["op"] == "add":
                state["active"][key] = entry["id"]
            else:
                state["active"].pop(key, None)  # a withdrawal: delete the hash everywhere
            state["after"] = entry["seq"]
        # Write the checkpoint only after the page is applied: a crash re-applies at most
        # one page, and applying an entry twice is harmless (adds and deletes are idempotent).
        temporary = state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, state_path)
        if not page["has_more"]:
            return state


if __name__ == "__main__":
    base_url, bearer_token, path = sys.argv[1:4]
    result = sync(base_url.rstrip("/"), bearer_token, Path(path))
    print(f"at seq {result['after']}: {len(result['active'])} active hashes")
