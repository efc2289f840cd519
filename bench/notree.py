"""WSGI entry for bench/cases.py --tree-comparison: the service with the Merkle tree not
maintained (federation.tlog.extend a no-op), the baseline the tree's cost is measured
against. Never serve this: its checkpoints and proofs are wrong."""
from federation import tlog

tlog.extend = lambda *args, **kwargs: None  # type: ignore[assignment]

from federation.wsgi import app  # noqa: E402 - after the patch, which publish looks up at call time

__all__ = ["app"]
