"""The runnable examples in docs/ run, against a live server on loopback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.factories import add_partner, case_payload, random_signal

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_follow_feed_example_tracks_adds_and_deletes(app, client, live_server, tmp_path):
    token = add_partner(app, scopes="feed:read")
    kept, withdrawn = random_signal("md5"), random_signal("pdq")
    client.post("/v1/cases", json=case_payload([kept]))
    receipt = client.post("/v1/cases", json=case_payload([withdrawn])).get_json()
    state = tmp_path / "state.json"

    def run():
        done = subprocess.run([sys.executable, str(EXAMPLES / "follow_feed.py"), live_server, token, str(state)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(state.read_text())

    first = run()
    assert set(first["active"]) == {f"md5:{kept['value']}", f"pdq:{withdrawn['value']}"}
    client.post("/v1/cases/withdraw", json={"reference": receipt["reference"], "pin": receipt["pin"]})
    second = run()
    assert set(second["active"]) == {f"md5:{kept['value']}"} and second["after"] == 3
