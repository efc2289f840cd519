"""Writer processes for the feed consistency test (a module, so `spawn` can import it)."""
from __future__ import annotations

import random


def write_cases(config: dict, seed: int, operations: int, pool: list[dict], start) -> None:
    """Create and withdraw cases over a small shared pool of signals, in its own process.

    The pool is small on purpose: writers keep reporting and withdrawing the same hashes,
    so adds, deletes and re-adds of one signal race across processes.
    """
    from federation.app import create_app
    from tests.factories import case_payload

    app = create_app(config)
    rng = random.Random(seed)
    mine: list[dict] = []
    start.wait()
    with app.test_client() as client:
        for _ in range(operations):
            if mine and rng.random() < 0.4:
                credentials = mine.pop(rng.randrange(len(mine)))
                response = client.post("/v1/cases/withdraw", json=credentials)
            else:
                signals = rng.sample(pool, rng.randint(1, 4))
                response = client.post("/v1/cases", json=case_payload(signals))
                body = response.get_json()
                mine.append({"reference": body["reference"], "pin": body["pin"]})
            if response.status_code not in (200, 201):
                raise RuntimeError(f"writer {seed}: {response.status_code} {response.get_json()}")
    app.extensions["federation.db"].engine.dispose()
